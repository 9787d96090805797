from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from spaces_calendar.calendars.models import Provider
from spaces_calendar.calendars.oauth_state import InvalidState, consume_state, issue_state
from spaces_calendar.core.models import Role
from spaces_calendar.core.permissions import tenant_admin_required
from spaces_calendar.core.tenancy import tenants_of
from spaces_calendar.providers.microsoft.onboarding import admin_consent_url, complete_admin_consent


def _redirect_uri() -> str:
    # Must equal the redirect URI registered on the Entra app, so it is built from the configured public URL.
    return settings.PUBLIC_BASE_URL + reverse("microsoft-callback")


@require_GET
@tenant_admin_required
def connect(request: HttpRequest) -> HttpResponse:
    if not settings.MICROSOFT_CLIENT_ID:
        messages.error(request, "Microsoft 365 is not configured on this server (MICROSOFT_CLIENT_ID is not set).")
        return redirect("integrations")
    state = issue_state(request, provider=Provider.MICROSOFT, tenant_id=request.tenant.pk)
    return redirect(admin_consent_url(_redirect_uri(), state))


@require_GET
@login_required
def callback(request: HttpRequest) -> HttpResponse:
    try:
        tenant_id = consume_state(request, provider=Provider.MICROSOFT, token=request.GET.get("state"))
    except InvalidState as exc:
        return _result(request, ok=False, message=str(exc), status=400)
    tenant = tenants_of(request.user, role=Role.ADMIN).filter(pk=tenant_id).first()
    if tenant is None:
        return _result(request, ok=False, message="You are no longer an admin of this organisation.", status=403)
    outcome = complete_admin_consent(tenant, request.GET)
    return _result(request, ok=outcome.ok, message=outcome.message, status=200 if outcome.ok else 400)


def _result(request: HttpRequest, *, ok: bool, message: str, status: int) -> HttpResponse:
    return render(request, "calendars/connect_result.html",
                  {"ok": ok, "message": message, "provider": "Office 365"}, status=status)
