from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from occupancy import api as report_api
from occupancy import bookings_api, rules_views, sensors_views
from occupancy import views as report_views
from spaces_calendar.calendars import import_views, linking_views, registry
from spaces_calendar.calendars import views as calendar_views
from spaces_calendar.core import views as core_views
from spaces_calendar.partner import views as partner_views

admin.site.site_header = "spaces-calendar administration"

urlpatterns = [
    # First: kiosks poll these thousands of times a minute, and URL resolution walks the list in order.
    path("", include("occupancy.kiosk.urls")),
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("workplace/new/", core_views.new_workplace, name="workplace-new"),
    path("integrations/", calendar_views.integrations, name="integrations"),
    path("integrations/import-rooms/", import_views.start, name="calendar-rooms-import-start"),
    path("integrations/<str:provider>/rooms/import/", import_views.import_rooms, name="calendar-rooms-import"),
    path("integrations/<str:provider>/rooms/", linking_views.rooms, name="calendar-rooms"),
    path("integrations/<str:provider>/rooms/refresh", linking_views.refresh, name="calendar-rooms-refresh"),
    path("integrations/<str:provider>/rooms/add", linking_views.add_by_email, name="calendar-rooms-add"),
    path("integrations/<str:provider>/rooms/link-suggested", linking_views.link_all_suggested,
         name="calendar-rooms-link-suggested"),
    path("integrations/<str:provider>/rooms/<int:room_id>/link", linking_views.link, name="calendar-room-link"),
    path("integrations/<str:provider>/rooms/<int:room_id>/unlink", linking_views.unlink, name="calendar-room-unlink"),
    # Each registered provider's own urls.py (onboarding under integrations/<key>/, webhooks under webhooks/<key>/).
    *registry.url_patterns(),
    path("integrations/spaces/", partner_views.spaces, name="partner-spaces"),
    path("integrations/spaces/deactivate", partner_views.deactivate, name="partner-spaces-deactivate"),
    path("partner/health/app", partner_views.app_health, name="partner-health-app"),
    path("partner/health/api", partner_views.api_health, name="partner-health-api"),
    path("sandbox/", include("spaces_calendar.sandbox.urls")),
    path("", include("spaces_calendar.api_tokens.urls")),
    path("reports/ghost-bookings/", report_views.ghost_bookings, name="reports-ghost-bookings"),
    path("reports/utilization/", report_views.utilization, name="reports-utilization"),
    path("settings/occupancy/", rules_views.occupancy_rules, name="occupancy-rules"),
    path("settings/occupancy/room-grace", rules_views.set_room_grace, name="occupancy-room-grace"),
    path("settings/occupancy/room-grace/<int:room_id>/clear", rules_views.clear_room_grace,
         name="occupancy-room-grace-clear"),
    path("settings/sensors/", sensors_views.sensors, name="sensors"),
    path("settings/sensors/map", sensors_views.map_view, name="sensors-map"),
    path("settings/sensors/rooms/<int:room_id>/unmap", sensors_views.unmap_view, name="sensors-unmap"),
    path("settings/sensors/apply-suggested", sensors_views.apply_suggested, name="sensors-apply-suggested"),
    path("api/v1/reports/ghost-bookings", report_api.GhostBookingsReport.as_view(), name="api-reports-ghost-bookings"),
    path("api/v1/reports/utilization", report_api.UtilizationReport.as_view(), name="api-reports-utilization"),
    path("api/v1/bookings", bookings_api.BookingsView.as_view(), name="api-bookings"),
    path("api/v1/bookings.csv", bookings_api.BookingsCSVView.as_view(), name="api-bookings-csv"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("admin/", admin.site.urls),
]
