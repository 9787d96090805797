from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from spaces_calendar.calendars import registry
from spaces_calendar.calendars.models import CalendarConnection
from spaces_calendar.partner.activation import activation_for


@login_required
def integrations(request: HttpRequest) -> HttpResponse:
    """One tile per registered calendar provider, from its package's metadata, then Cisco Spaces."""
    tenant = request.tenant
    connections = {c.provider: c for c in CalendarConnection.objects.filter(tenant=tenant)} if tenant else {}
    tiles = [
        {"provider": provider.key, "title": provider.title, "text": provider.tile_text,
         "account_label": provider.account_label, "connection": connections.get(provider.key),
         "configured": provider.is_configured(), "connect_url": provider.connect_url}
        for provider in registry.registered()
    ]
    is_admin = request.membership is not None and request.membership.role == "admin"
    context = {"tiles": tiles, "is_admin": is_admin, "spaces_activation": activation_for(tenant)}
    return render(request, "calendars/integrations.html", context)
