from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from spaces_calendar.core import health
from spaces_calendar.core.models import Building, Room


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    ok, checks = health.run_checks()
    return JsonResponse({"status": "ok" if ok else "unhealthy", "checks": checks}, status=200 if ok else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    buildings = (
        Building.objects.filter(tenant=tenant).prefetch_related("floors") if tenant else Building.objects.none()
    )
    rooms = Room.objects.filter(tenant=tenant).select_related("floor__building") if tenant else Room.objects.none()
    return render(request, "core/home.html", {"tenant": tenant, "buildings": buildings, "rooms": rooms})
