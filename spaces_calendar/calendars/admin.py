from django.contrib import admin

from spaces_calendar.calendars.models import Booking, CalendarConnection, CalendarLink, Subscription
from spaces_calendar.core.admin import TenantScopedAdmin


@admin.register(CalendarConnection)
class CalendarConnectionAdmin(TenantScopedAdmin):
    list_display = ["tenant", "provider", "status", "last_synced_at", "last_error", "token_expires_at"]
    list_filter = ["provider", "status"]
    # Credentials are never shown, not even encrypted; status fields are written by onboarding and sync.
    exclude = ["credentials"]
    readonly_fields = ["status", "status_reason", "consented_at", "last_synced_at", "last_error", "last_error_at",
                       "token_expires_at"]


@admin.register(CalendarLink)
class CalendarLinkAdmin(TenantScopedAdmin):
    tenant_path = "room__tenant"
    list_display = ["room", "external_calendar_id", "connection", "last_synced_at", "last_error"]
    list_select_related = ["room", "connection__tenant"]
    exclude = ["sync_state"]


@admin.register(Subscription)
class SubscriptionAdmin(TenantScopedAdmin):
    tenant_path = "link__room__tenant"
    list_display = ["external_id", "link", "expires_at"]
    exclude = ["client_state"]

    def has_add_permission(self, request) -> bool:
        return False  # created with the provider, never by hand

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Booking)
class BookingAdmin(TenantScopedAdmin):
    tenant_path = "room__tenant"
    list_display = ["room", "start", "end", "subject", "private", "cancelled"]
    list_filter = ["cancelled", "private"]
    list_select_related = ["room"]
    date_hierarchy = "start"

    def has_add_permission(self, request) -> bool:
        return False  # bookings come from the calendars

    def has_change_permission(self, request, obj=None) -> bool:
        return False
