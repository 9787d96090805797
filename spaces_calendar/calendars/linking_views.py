"""The room-linking pages: which provider calendar feeds which room. Admin only, scoped to request.tenant.

Every POST answers with a redirect back to the page (post/redirect/get) and says what happened in a message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from spaces_calendar.core.http import AuthError, OutboundError, Throttled
from spaces_calendar.core.models import Room
from spaces_calendar.core.permissions import tenant_admin_required
from spaces_calendar.providers.errors import ConsentRevoked

from . import registry
from .discovery import DiscoveryError, add_calendar_by_email, refresh_calendars
from .linking import LinkError, active_connection, link_calendar, unlink_calendar
from .linking_overview import LinkingOverview, RoomRow, link_suggested, linking_overview
from .models import CalendarConnection, CalendarLink, DiscoveredCalendar, Provider

ConnectionView = Callable[..., HttpResponse]


def _provider_name(provider: str) -> str:
    if not registry.is_registered(provider) or provider not in Provider.values:
        raise Http404("No such calendar provider.")
    return Provider(provider).label


def _back(provider: str) -> HttpResponseRedirect:
    return redirect("calendar-rooms", provider=provider)


def _with_connection(view: ConnectionView) -> Callable[..., HttpResponse]:
    """Hand a POST view the tenant's active connection for ``provider``, or go back saying there is none."""

    @wraps(view)
    def wrapper(request: HttpRequest, provider: str, **kwargs) -> HttpResponse:
        name = _provider_name(provider)
        connection = active_connection(request.tenant.pk, provider)
        if connection is None:
            messages.error(request, f"{name} is not connected: connect it on the Integrations page first.")
            return _back(provider)
        return view(request, connection, **kwargs)

    return wrapper


def failure_message(connection: CalendarConnection, error: Exception) -> str:
    """What to tell an admin when the provider could not answer."""
    name = connection.get_provider_display()
    if isinstance(error, ConsentRevoked):
        return f"{name} no longer grants access: reconnect it on the Integrations page."
    if isinstance(error, AuthError):
        return f"{name} refused access (HTTP {error.status}): if this persists, reconnect it on the Integrations page."
    if isinstance(error, Throttled):
        return f"{name} asked us to slow down: try again in a minute."
    return f"Could not reach {name} ({getattr(error, 'kind', type(error).__name__)}): try again later."


@tenant_admin_required
@require_GET
def rooms(request: HttpRequest, provider: str) -> HttpResponse:
    name = _provider_name(provider)
    connection = active_connection(request.tenant.pk, provider)
    overview = linking_overview(connection) if connection else None
    context = {
        "provider": provider,
        "provider_name": name,
        "connection": connection,
        "overview": overview,
        "rows": _with_options(overview) if overview else [],
    }
    return render(request, "calendars/rooms.html", context)


def _with_options(overview: LinkingOverview) -> list[tuple[RoomRow, str]]:
    """Each row with the ``<option>``s of its calendar select, the suggestion selected. Built here, as one string
    per row, because looping over rooms × calendars in the template takes seconds for a few hundred rooms."""
    options = format_html('<option value="">{}</option>', "– choose a calendar –") + "".join(
        format_html('<option value="{}">{}</option>', calendar.pk, calendar) for calendar in overview.unlinked_calendars
    )
    rows = []
    for row in overview.rows:
        if row.link is not None:
            rows.append((row, ""))
            continue
        html = options
        if row.suggestion is not None:
            pk = row.suggestion.calendar.pk
            html = html.replace(f'<option value="{pk}">', f'<option value="{pk}" selected>', 1)
        rows.append((row, mark_safe(html)))  # noqa: S308 (every piece came escaped out of format_html)
    return rows


@tenant_admin_required
@require_POST
@_with_connection
def refresh(request: HttpRequest, connection: CalendarConnection) -> HttpResponse:
    try:
        result = refresh_calendars(connection)
    except (ConsentRevoked, OutboundError) as error:
        messages.error(request, failure_message(connection, error))
    else:
        messages.success(
            request,
            f"Room list refreshed: {result.listed} room calendar(s) listed, {result.added} new, "
            f"{result.updated} changed, {result.removed} removed.",
        )
    return _back(connection.provider)


@tenant_admin_required
@require_POST
@_with_connection
def add_by_email(request: HttpRequest, connection: CalendarConnection) -> HttpResponse:
    try:
        calendar = add_calendar_by_email(connection, request.POST.get("email", ""))
    except DiscoveryError as error:
        messages.error(request, str(error))
    except (ConsentRevoked, OutboundError) as error:
        messages.error(request, failure_message(connection, error))
    else:
        messages.success(request, f"Added {calendar}: link it to a room below.")
    return _back(connection.provider)


@tenant_admin_required
@require_POST
@_with_connection
def link(request: HttpRequest, connection: CalendarConnection, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room, pk=room_id, tenant=request.tenant)
    calendar_id = request.POST.get("calendar", "")
    if not calendar_id.isdigit():
        messages.error(request, f"Choose a calendar for {room.name} first.")
        return _back(connection.provider)
    calendar = get_object_or_404(DiscoveredCalendar, pk=int(calendar_id), connection=connection)
    try:
        link_calendar(room, calendar)
    except LinkError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Linked {room.name} to {calendar}.")
    return _back(connection.provider)


@tenant_admin_required
@require_POST
@_with_connection
def unlink(request: HttpRequest, connection: CalendarConnection, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room, pk=room_id, tenant=request.tenant)
    current = CalendarLink.objects.filter(room=room, connection=connection).first()
    if current is None:
        messages.info(request, f"{room.name} was not linked.")
    else:
        unlink_calendar(current)
        messages.success(request, f"Unlinked {room.name} from {current.external_calendar_id}.")
    return _back(connection.provider)


@tenant_admin_required
@require_POST
@_with_connection
def link_all_suggested(request: HttpRequest, connection: CalendarConnection) -> HttpResponse:
    result = link_suggested(connection)
    if result.linked or not result.failures:
        messages.success(request, f"Linked {result.linked} room(s) to their suggested calendar.")
    for failure in result.failures:
        messages.error(request, failure)
    return _back(connection.provider)
