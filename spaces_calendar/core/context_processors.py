from django.conf import settings


def deployment(request) -> dict:
    return {"SANDBOX": settings.SANDBOX}
