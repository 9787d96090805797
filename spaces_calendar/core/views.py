from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from spaces_calendar.core import health
from spaces_calendar.core.forms import TIME_ZONE_LIST_ID, WorkplaceForm, time_zone_names
from spaces_calendar.core.login_protection import lockouts_for
from spaces_calendar.core.models import Building, Room
from spaces_calendar.core.tenancy import SESSION_KEY
from spaces_calendar.core.workplace import WorkplaceError, create_workplace


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
    context = {"tenant": tenant, "buildings": buildings, "rooms": rooms,
               "lockouts": lockouts_for(request.user, request.membership)}
    return render(request, "core/home.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def new_workplace(request: HttpRequest) -> HttpResponse:
    """First run: only a user who belongs to no workplace yet creates one (and becomes its admin)."""
    if request.membership is not None:
        raise PermissionDenied("You already belong to a workplace.")
    form = WorkplaceForm(request.POST or None, initial={"time_zone": settings.TIME_ZONE})
    if request.method == "POST" and form.is_valid():
        try:
            tenant = create_workplace(request.user, form.cleaned_data["name"], form.cleaned_data["time_zone"])
        except WorkplaceError as error:
            form.add_error(None, str(error))
        else:
            request.session[SESSION_KEY] = tenant.pk
            messages.success(request, f"{tenant.name} is ready and you are its admin. Next: connect your calendars, "
                                      "then import your rooms from them.")
            return redirect("integrations")
    context = {"form": form, "time_zones": time_zone_names(), "time_zone_list_id": TIME_ZONE_LIST_ID}
    return render(request, "core/new_workplace.html", context, status=400 if form.errors else 200)
