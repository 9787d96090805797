from django.contrib import admin

from spaces_calendar.core.admin import TenantScopedAdmin

from .models import SpacesActivation


@admin.register(SpacesActivation)
class SpacesActivationAdmin(TenantScopedAdmin):
    list_display = ["tenant", "spaces_tenant_name", "spaces_tenant_id", "region", "status", "activated_at"]
    list_filter = ["status", "region"]
    # The key is never shown, not even encrypted; activations are made and ended on the Cisco Spaces page.
    exclude = ["api_key", "token_sha256"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
