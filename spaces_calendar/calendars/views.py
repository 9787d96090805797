from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from spaces_calendar.calendars.models import CalendarConnection, Provider
from spaces_calendar.partner.activation import activation_for


@login_required
def integrations(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    connections = {c.provider: c for c in CalendarConnection.objects.filter(tenant=tenant)} if tenant else {}
    tiles = [
        {"provider": Provider.MICROSOFT, "title": "Office 365", "connection": connections.get(Provider.MICROSOFT),
         "configured": bool(settings.MICROSOFT_CLIENT_ID), "connect_url": "microsoft-connect"},
    ]
    is_admin = request.membership is not None and request.membership.role == "admin"
    context = {"tiles": tiles, "is_admin": is_admin, "spaces_activation": activation_for(tenant)}
    return render(request, "calendars/integrations.html", context)
