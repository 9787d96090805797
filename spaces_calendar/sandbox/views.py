"""The sandbox page: what is simulated, the fake tenant's calendars and buttons that change them, and the fake Cisco
Spaces: an activation token on request and the occupancy data arriving for the tenant's rooms."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from spaces_calendar.core.http import OutboundError
from spaces_calendar.core.models import Role, Tenant
from spaces_calendar.partner.activation import activation_for
from spaces_calendar.sandbox import config, controls_client
from spaces_calendar.sandbox.controls_client import ChangeResult, ControlRefused
from spaces_calendar.sandbox.occupancy_status import room_occupancy
from spaces_calendar.sandbox.seed import DEMO_TENANT_SLUG

#: Where a freshly issued activation token waits for the page to show it, once.
FRESH_ACTIVATION_SLOT = "sandbox_spaces_activation"

CHANGES = {
    "add": lambda form: controls_client.add_meeting(form["room"], subject=form.get("subject", "")),
    "move": lambda form: controls_client.move_meeting(form["room"], form["event_id"], int(form.get("minutes", 30))),
    "cancel": lambda form: controls_client.cancel_meeting(form["room"], form["event_id"]),
}


def is_demo_tenant(tenant: Tenant | None) -> bool:
    """The sandbox's fakes hold the demo tenant's calendars and sensors, and nobody else's."""
    return tenant is not None and tenant.slug == DEMO_TENANT_SLUG


def demo_admin_only(view):
    """Every sandbox view: outside the sandbox it does not exist for anyone; inside, only for the demo tenant's
    members (another tenant's admin, even a superuser, would read and change the demo tenant's meetings), and
    only its admins may use it. Checked before the HTTP method, so that no answer tells others it exists."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.SANDBOX:
            raise Http404("There is no sandbox on this server.")
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_demo_tenant(request.tenant):
            raise Http404("The sandbox belongs to the demo tenant.")
        if request.membership.role != Role.ADMIN:
            raise PermissionDenied("Only a tenant admin can do this.")
        return view(request, *args, **kwargs)

    return wrapper


@demo_admin_only
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    rooms, problem = [], ""
    try:
        rooms = controls_client.fetch_rooms()
    except OutboundError as error:
        problem = f"The fake Microsoft 365 did not answer ({error.kind}). Is the sandbox process running?"
    context = {
        "rooms": rooms,
        "problem": problem,
        "time_zone": config.TIME_ZONE,
        "login_url": settings.MICROSOFT_LOGIN_URL,
        "graph_url": settings.MICROSOFT_GRAPH_URL,
        "ca_bundle": settings.OUTBOUND_CA_BUNDLE,
        "tenant_id": config.MICROSOFT_TENANT_ID,
        **spaces_context(request),
    }
    return render(request, "sandbox/index.html", context)


def spaces_context(request: HttpRequest) -> dict:
    spaces, spaces_problem = None, ""
    try:
        spaces = controls_client.fetch_spaces_state()
    except OutboundError as error:
        spaces_problem = f"The fake Cisco Spaces did not answer ({error.kind}). Is the sandbox process running?"
    return {
        "spaces": spaces,
        "spaces_problem": spaces_problem,
        "spaces_url": settings.SANDBOX_SPACES_URL,
        "spaces_interval": settings.SANDBOX_SPACES_INTERVAL_S,
        "spaces_token": request.session.pop(FRESH_ACTIVATION_SLOT, None),
        "spaces_activation": activation_for(request.tenant),
        "occupancy": room_occupancy(request.tenant),
        "webex_room": config.WEBEX_ROOM,
    }


@demo_admin_only
@require_POST
def spaces_token(request: HttpRequest) -> HttpResponse:
    """Ask the fake Cisco Spaces for an activation token, as an admin would click Generate in Cisco Spaces."""
    try:
        token = controls_client.issue_spaces_token()
    except OutboundError as error:
        messages.error(request, f"The fake Cisco Spaces did not answer ({error.kind}).")
    else:
        request.session[FRESH_ACTIVATION_SLOT] = token.token
    return redirect(reverse("sandbox") + "#spaces")


@demo_admin_only
@require_POST
def change_meeting(request: HttpRequest, action: str) -> HttpResponse:
    if action not in CHANGES or not request.POST.get("room"):
        raise Http404("Unknown sandbox action.")
    try:
        result = CHANGES[action](request.POST)
    except (KeyError, ValueError):
        messages.error(request, "That form was incomplete.")
    except ControlRefused as refusal:
        messages.error(request, f"The fake Microsoft 365 refused: {refusal}")
    except OutboundError as error:
        messages.error(request, f"The fake Microsoft 365 did not answer ({error.kind}).")
    else:
        messages.success(request, describe(result))
    return redirect("sandbox")


def describe(result: ChangeResult) -> str:
    """One sentence for the admin: what changed and whether our webhook heard about it."""
    meeting = result.meeting
    what = {"created": "Booked", "updated": "Moved", "deleted": "Cancelled"}[result.change_type]
    local = f"{meeting.start.strftime('%a %H:%M')}–{meeting.end.strftime('%H:%M')}"
    text = f"{what} “{meeting.subject or 'meeting'}” ({local})."
    if not result.notifications:
        return text + " No change subscription on that room yet, so no notification was sent: link the room first."
    answers = ", ".join(str(status) if status is not None else error for status, error in result.notifications)
    return text + f" Graph notified our webhook; it answered {answers}."
