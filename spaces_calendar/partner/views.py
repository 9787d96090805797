from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from spaces_calendar.core.permissions import tenant_admin_required

from . import activation, monitoring
from .errors import ActivationError
from .forms import ActivationTokenForm
from .models import ActivationStatus


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def spaces(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ActivationTokenForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Paste the activation token from Cisco Spaces (it is required and under 8 KB).")
        else:
            try:
                activated = activation.activate(request.tenant, form.cleaned_data["token"])
            except ActivationError as exc:
                messages.error(request, exc.message)
            else:
                name = activated.spaces_tenant_name or activated.spaces_tenant_id
                messages.success(request, f"Cisco Spaces is activated for {name} ({activated.region}).")
        return redirect("partner-spaces")
    context = {
        "activation": activation.activation_for(request.tenant),
        "form": ActivationTokenForm(),
        "env_key_in_use": bool(settings.SPACES_API_KEY),
    }
    return render(request, "partner/spaces.html", context)


@require_POST
@tenant_admin_required
def deactivate(request: HttpRequest) -> HttpResponse:
    """*Deactivate* only asks: deleting the API key cannot be undone here (Cisco Spaces must issue a new activation
    token), so it takes the confirmation page's own form, with ``confirm=yes`` (and, as every POST, the CSRF token).
    No JavaScript involved, and a page still showing the old one-click form asks too."""
    if request.POST.get("confirm") != "yes":
        current = activation.activation_for(request.tenant)
        if current is not None and current.status != ActivationStatus.DEACTIVATED:
            return render(request, "partner/deactivate.html", {"activation": current})
    if activation.deactivate(request.tenant, by=request.user.get_username()):
        messages.success(request, "Cisco Spaces is deactivated here and its API key deleted. Remove the app in "
                                  "Cisco Spaces too if you no longer want to share data.")
    else:
        messages.info(request, "Cisco Spaces was not active.")
    return redirect("partner-spaces")


@never_cache
@require_GET
def app_health(request: HttpRequest) -> JsonResponse:
    return _health_response(monitoring.app_health())


@never_cache
@require_GET
def api_health(request: HttpRequest) -> JsonResponse:
    return _health_response(monitoring.api_health())


def _health_response(report: monitoring.HealthReport) -> JsonResponse:
    return JsonResponse(report.as_json(), status=200 if report.ok else 503)
