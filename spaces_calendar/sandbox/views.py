"""The sandbox page: what is simulated, each registered calendar provider's part (its fake tenant's calendars and
buttons that change them, from the provider package's ``sandbox_page``), and the fake Cisco Spaces: an activation
token on request and the occupancy data arriving for the tenant's rooms."""

from __future__ import annotations

from functools import wraps
from types import ModuleType

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
from spaces_calendar.sandbox import config, controls_client, pieces
from spaces_calendar.sandbox.occupancy_status import room_occupancy
from spaces_calendar.sandbox.seed import DEMO_TENANT_SLUG

#: Where a freshly issued activation token waits for the page to show it, once.
FRESH_ACTIVATION_SLOT = "sandbox_spaces_activation"


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
    context = {
        "providers": [provider_section(module, request) for module in pieces.page_modules()],
        "time_zone": config.TIME_ZONE,
        "ca_bundle": settings.OUTBOUND_CA_BUNDLE,
        **spaces_context(request),
    }
    return render(request, "sandbox/index.html", context)


def provider_section(module: ModuleType, request: HttpRequest) -> dict:
    """One provider's part of the page: its templates, and what they show (``section.<name>`` in them)."""
    return {"summary_template": module.SUMMARY_TEMPLATE, "template": module.TEMPLATE, **module.page_context(request)}


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
