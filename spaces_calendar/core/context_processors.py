from django.conf import settings


def deployment(request) -> dict:
    from spaces_calendar.sandbox.views import is_demo_tenant  # the sandbox app imports core: import late

    # The Sandbox page serves the demo tenant only (its fakes hold that tenant's calendars and sensors).
    return {"SANDBOX": settings.SANDBOX,
            "SANDBOX_PAGE": settings.SANDBOX and is_demo_tenant(getattr(request, "tenant", None))}
