"""Kiosk tokens in the Django admin, scoped like every tenant object; the new token is shown once, as a message."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet

from spaces_calendar.core.admin import TenantScopedAdmin
from spaces_calendar.core.models import Role, Room
from spaces_calendar.core.tenancy import tenants_of

from . import tokens
from .forms import KioskTokenAdminForm
from .models import KioskToken


@admin.register(KioskToken)
class KioskTokenAdmin(TenantScopedAdmin):
    form = KioskTokenAdminForm
    list_display = ["name", "tenant", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    filter_horizontal = ["rooms"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "rooms" and not request.user.is_superuser:
            kwargs["queryset"] = Room.objects.filter(tenant__in=tenants_of(request.user, role=Role.ADMIN))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj: KioskToken, form, change: bool) -> None:
        raw = None
        if not change:
            raw = tokens.set_secret(obj)
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if raw:
            messages.warning(request, f"Kiosk token for “{obj.name}”: {raw} — copy it now, it is not shown again.")

    def save_related(self, request, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        tokens.forget(form.instance.prefix)  # a narrowed scope applies at once in this process

    def delete_model(self, request, obj: KioskToken) -> None:
        super().delete_model(request, obj)
        tokens.forget(obj.prefix)

    @admin.action(description="Revoke the selected kiosk tokens")
    def revoke(self, request, queryset: QuerySet[KioskToken]) -> None:
        if not request.user.is_superuser:
            queryset = queryset.filter(tenant__in=tenants_of(request.user, role=Role.ADMIN))
        for token in queryset:
            tokens.revoke_token(token)
        messages.success(request, f"Revoked {len(queryset)} kiosk token(s).")
