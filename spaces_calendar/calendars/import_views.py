"""The room import pages: review what a connection's directory lists, then create and link it. Tenant admins only.

GET asks the provider (every page of its room list) and shows the plan; POST applies the plan built from the same
discovered calendars, so what is imported is what the admin reviewed, then redirects to the Rooms page.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from spaces_calendar.core.forms import TIME_ZONE_LIST_ID, time_zone_names
from spaces_calendar.core.http import OutboundError
from spaces_calendar.core.permissions import tenant_admin_required
from spaces_calendar.providers.errors import ConsentRevoked

from . import registry, room_import
from .import_forms import FallbackForm, ImportForm
from .linking import active_connection
from .linking_views import failure_message
from .models import CalendarConnection, ConnectionStatus, Provider


def _provider_label(provider: str) -> str:
    if not registry.is_registered(provider) or provider not in Provider.values:
        raise Http404("No such calendar provider.")
    return Provider(provider).label


@tenant_admin_required
@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """The navigation's "Import rooms": the import of the first connected calendar provider."""
    for provider in registry.registered():
        if active_connection(request.tenant.pk, provider.key) is not None:
            return redirect("calendar-rooms-import", provider=provider.key)
    messages.info(request, "Connect a calendar first: its directory lists the rooms to import.")
    return redirect("integrations")


@tenant_admin_required
@require_http_methods(["GET", "POST"])
def import_rooms(request: HttpRequest, provider: str) -> HttpResponse:
    label = _provider_label(provider)
    connection = active_connection(request.tenant.pk, provider)
    if connection is None:
        return _page(request, provider, label, None, None)
    if request.method == "POST":
        return _apply(request, connection, label)
    try:
        plan = room_import.plan(connection)
    except (ConsentRevoked, OutboundError) as error:
        messages.error(request, failure_message(connection, error))
        return _page(request, provider, label, connection if connection.status == ConnectionStatus.ACTIVE else None,
                     None)
    return _page(request, provider, label, connection, ImportForm(plan))


def _apply(request: HttpRequest, connection: CalendarConnection, label: str) -> HttpResponse:
    names = FallbackForm(request.POST).names()
    plan = room_import.plan(connection, refresh=False, **names)
    form = ImportForm(plan, request.POST)
    if not form.is_valid():
        return _page(request, connection.provider, label, connection, form, status=400)
    result = room_import.apply(plan, form.choices())
    if result.rooms or result.linked or result.updated:
        messages.success(request, _summary(result))
    else:
        messages.info(request, "Nothing to import: every room the directory lists already exists and is linked.")
    for failure in result.failures:
        messages.error(request, failure)
    return redirect("calendar-rooms", provider=connection.provider)


def _summary(result: room_import.ImportResult) -> str:
    return (f"Imported: {result.buildings} building(s), {result.floors} floor(s) and {result.rooms} room(s) created, "
            f"{result.linked} room(s) linked to their calendar (the first sync follows in a moment), "
            f"{result.updated} updated. Next: map your sensors to the rooms on the Sensors page.")


def _page(request: HttpRequest, provider: str, label: str, connection: CalendarConnection | None,
          form: ImportForm | None, *, status: int = 200) -> HttpResponse:
    plan = form.plan if form else None
    if form is not None and form.is_bound:
        picked, updates = set(form.data.getlist("room")), set(form.data.getlist("update"))
    else:
        picked, updates = {item.email for item in plan.rooms if item.importable} if plan else set(), set()
    context = {
        "provider": provider,
        "provider_name": label,
        "connection": connection,
        "plan": plan,
        "form": form,
        "buildings": [(building, form.zone_input(building.key) if building.creates else None)
                      for building in plan.buildings] if plan else [],
        "picked": picked,
        "updates": updates,
        "counts": {state: plan.count(state) for state in ("new", "unlinked", "linked", "elsewhere")} if plan else {},
        "time_zones": time_zone_names(),
        "time_zone_list_id": TIME_ZONE_LIST_ID,
    }
    return render(request, "calendars/import_rooms.html", context, status=status)
