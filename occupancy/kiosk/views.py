"""Pages: the kiosk screen (``/kiosk/``) and token management.

The screen is static HTML and JavaScript that polls the JSON API with the token; nothing here reads bookings. The
token never travels in a URL a server sees (where access logs would keep it): the screen takes it pasted, or from
the address's fragment (``/kiosk/#kt_…``, which browsers do not send), and keeps it in the browser.
"""

from __future__ import annotations

from urllib.parse import quote

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from spaces_calendar.core.permissions import tenant_admin_required

from . import tokens
from .conf import kiosk_settings
from .forms import NewKioskTokenForm
from .models import KioskToken

#: Seconds between two polls of a kiosk screen (a page may ask for another with ``?poll=``).
POLL_S = 15


def _no_leaks(response: HttpResponse, referrer_policy: str = "no-referrer") -> HttpResponse:
    """Pages that carry a token: not cached, and their address never sent to another site as a Referer.

    ``no-referrer`` suits a page whose URL may hold the token and that posts no form. A page with forms needs
    ``same-origin``: under ``no-referrer`` Chromium posts ``Origin: null``, which the CSRF check refuses (403), while
    ``same-origin`` still keeps the address from leaving the site.
    """
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = referrer_policy
    return response


@require_GET
def kiosk(request: HttpRequest) -> HttpResponse:
    context = {"poll_s": POLL_S, "max_age_s": kiosk_settings().http_max_age_s}
    return _no_leaks(render(request, "kiosk/kiosk.html", context))


@require_GET
def kiosk_with_token(request: HttpRequest, token: str) -> HttpResponse:
    """The old address, ``/kiosk/<token>/``, which screens set up before still open: on to the screen with the
    token in the fragment, which the page keeps and takes out of the address bar, so it is in no later request
    (this one's line is masked in the access log, ``spaces_calendar/core/access_log.py``). An unknown or revoked
    token is told by the screen, as for a pasted one."""
    if tokens.prefix_of(token) is None:
        raise Http404("Not a kiosk token.")
    query = request.GET.urlencode()  # ?room= or ?floor= and ?poll= as the screen was set up
    target = f"{reverse('kiosk')}{'?' + query if query else ''}#{quote(token, safe='')}"
    return _no_leaks(HttpResponseRedirect(target))


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
    response = render(request, "kiosk/tokens.html", context, status=400 if form.errors else 200)
    return _no_leaks(response, referrer_policy="same-origin")


@tenant_admin_required
@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    tokens.revoke_token(get_object_or_404(KioskToken, pk=token_id, tenant=request.tenant))
    return redirect("kiosk-tokens")
