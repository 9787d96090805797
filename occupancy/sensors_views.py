"""The Sensors page: which Cisco Spaces location or Webex workspace feeds which room. Tenant admins only.

Scoped to request.tenant: a room that is not the tenant's is a 404, looked up before anything is mapped. Every
POST redirects back (post/redirect/get) saying what happened; a refused mapping shows the reason
``occupancy.sensors`` gives.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from spaces_calendar.core.models import Room
from spaces_calendar.core.permissions import tenant_admin_required

from .sensor_overview import ADDABLE_KINDS, SensorOverview, SourceRow, map_suggested, sensor_overview
from .sensors import KIND_LABEL, MappingError, map_source, unmap_source


@tenant_admin_required
@require_GET
def sensors(request: HttpRequest) -> HttpResponse:
    overview = sensor_overview(request.tenant)
    context = {
        "overview": overview,
        "rows": _with_options(overview),
        "room_options": _room_options(overview.rooms),
        "kinds": ADDABLE_KINDS,
        "zone": request.tenant.time_zone,
    }
    return render(request, "occupancy/sensors.html", context)


@tenant_admin_required
@require_POST
def map_view(request: HttpRequest) -> HttpResponse:
    kind, key, room_id = (request.POST.get(name, "").strip() for name in ("kind", "key", "room"))
    label = f"{KIND_LABEL.get(kind, 'source')} {key}".strip()
    if not room_id.isdigit():
        messages.error(request, f"Choose a room for {label} first.")
        return redirect("sensors")
    room = get_object_or_404(Room, pk=int(room_id), tenant=request.tenant)
    try:
        result = map_source(request.tenant, kind, key, room)
    except MappingError as error:
        messages.error(request, str(error))
    else:
        applied = f" {result.adopted} earlier reading(s) applied." if result.adopted else ""
        messages.success(request, f"Mapped {label} to {room.name}.{applied}")
    return redirect("sensors")


@tenant_admin_required
@require_POST
def unmap_view(request: HttpRequest, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room, pk=room_id, tenant=request.tenant)
    kind = request.POST.get("kind", "")
    try:
        key = unmap_source(request.tenant, kind, room)
    except MappingError as error:
        messages.error(request, str(error))
    else:
        if key:
            messages.success(request, f"Unmapped {KIND_LABEL[kind]} {key} from {room.name}.")
        else:
            messages.info(request, f"{room.name} had no {KIND_LABEL[kind]}.")
    return redirect("sensors")


@tenant_admin_required
@require_POST
def apply_suggested(request: HttpRequest) -> HttpResponse:
    result = map_suggested(request.tenant)
    if result.mapped or not result.failures:
        applied = f" {result.adopted} earlier reading(s) applied." if result.adopted else ""
        messages.success(request, f"Mapped {result.mapped} source(s) to their suggested room.{applied}")
    for failure in result.failures:
        messages.error(request, failure)
    return redirect("sensors")


def _room_options(rooms: list[Room]) -> SafeString:
    """The ``<option>``s of a room picker, built once: looping over sources × rooms in the template is slow."""
    return format_html('<option value="">{}</option>', "– choose a room –") + mark_safe(  # noqa: S308
        "".join(format_html('<option value="{}">{} / {} / {}</option>', room.pk, room.floor.building.name,
                            room.floor.name, room.name) for room in rooms))  # each piece escaped by format_html


def _with_options(overview: SensorOverview) -> list[tuple[SourceRow, SafeString]]:
    """Each unmapped row with its room picker, the suggested room selected."""
    base = _room_options(overview.rooms)
    rows = []
    for row in overview.rows:
        html = base
        if row.room is None and row.suggestion is not None:
            pk = row.suggestion.pk
            html = html.replace(f'<option value="{pk}">', f'<option value="{pk}" selected>', 1)
        rows.append((row, mark_safe(html) if row.room is None else ""))  # noqa: S308 (escaped pieces, see above)
    return rows
