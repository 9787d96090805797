"""API tokens in the Django admin: superusers may see and revoke (delete) them; keys are made on the page."""

from django.contrib import admin

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["key_hash"]

    def has_add_permission(self, request) -> bool:
        return False  # a key is shown once, on /account/api-tokens/ or by `manage.py create_api_token`

    def has_change_permission(self, request, obj=None) -> bool:
        return False
