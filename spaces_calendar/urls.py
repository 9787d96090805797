from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from spaces_calendar.calendars import views as calendar_views
from spaces_calendar.core import views as core_views
from spaces_calendar.providers.microsoft import views as microsoft_views

admin.site.site_header = "spaces-calendar administration"

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("integrations/", calendar_views.integrations, name="integrations"),
    path("integrations/microsoft/connect", microsoft_views.connect, name="microsoft-connect"),
    path("integrations/microsoft/callback", microsoft_views.callback, name="microsoft-callback"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("admin/", admin.site.urls),
]
