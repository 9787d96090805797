"""Microsoft 365's own URLs, included at the site's root for as long as the provider is registered."""

from django.urls import path

from . import views, webhooks

urlpatterns = [
    path("integrations/microsoft/connect", views.connect, name="microsoft-connect"),
    path("integrations/microsoft/callback", views.callback, name="microsoft-callback"),
    path("webhooks/microsoft/notifications", webhooks.notifications, name="microsoft-notifications"),
    path("webhooks/microsoft/lifecycle", webhooks.lifecycle, name="microsoft-lifecycle"),
]
