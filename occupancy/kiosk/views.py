"""Pages: the kiosk screen (``/kiosk/`` with a login step, or ``/kiosk/<token>/``) and token management.

The screen is static HTML and JavaScript that polls the JSON API with the token; nothing here reads bookings.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from spaces_calendar.core.permissions import tenant_admin_required

from . import tokens
from .conf import kiosk_settings
from .forms import NewKioskTokenForm
from .models import KioskToken

#: Seconds between two polls of a kiosk screen (a page may ask for another with ``?poll=``).
POLL_S = 15


def _no_leaks(response: HttpResponse) -> HttpResponse:
    """Pages that carry a token: not cached, and never sent on as a Referer."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def kiosk(request: HttpRequest, token: str | None = None) -> HttpResponse:
    if token is not None and tokens.authenticate(token) is None:
        raise Http404("Unknown or revoked kiosk token.")
    context = {"token": token, "poll_s": POLL_S, "max_age_s": kiosk_settings().http_max_age_s}
    return _no_leaks(render(request, "kiosk/kiosk.html", context))


@tenant_admin_required
@require_http_methods(["GET", "POST"])
def kiosk_tokens(request: HttpRequest) -> HttpResponse:
    form = NewKioskTokenForm(request.POST or None, tenant=request.tenant)
    created = raw = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        created, raw = tokens.issue_token(request.tenant, data["name"], rooms=data["rooms"], floor=data["floor"],
                                          building=data["building"], created_by=request.user)
        form = NewKioskTokenForm(tenant=request.tenant)
    listed = KioskToken.objects.filter(tenant=request.tenant).select_related("floor__building", "building",
                                                                             "created_by").prefetch_related("rooms")
    rows = [{"token": token, "scope": tokens.describe_scope(token)} for token in listed]
    # The new token is in this response only (rendered, not redirected): nothing stores it, not even the session.
    context = {"form": form, "rows": rows, "created": created, "raw": raw}
    return _no_leaks(render(request, "kiosk/tokens.html", context, status=400 if form.errors else 200))


@tenant_admin_required
@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    tokens.revoke_token(get_object_or_404(KioskToken, pk=token_id, tenant=request.tenant))
    return redirect("kiosk-tokens")
