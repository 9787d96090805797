"""Django admin for the workplace data, scoped so a user sees and edits only their tenants' objects.

Viewers may look; tenant admins may change; superusers see everything.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model, QuerySet

from spaces_calendar.core.models import Building, Floor, Membership, Role, Room, Tenant
from spaces_calendar.core.tenancy import tenants_of


class TenantScopedAdmin(admin.ModelAdmin):
    #: Lookup path from the model to its Tenant ("" for Tenant itself).
    tenant_path = "tenant"

    def _tenant_lookup(self) -> str:
        return f"{self.tenant_path}__in" if self.tenant_path else "pk__in"

    def _tenant_of(self, obj: Model) -> Tenant:
        for part in filter(None, self.tenant_path.split("__")):
            obj = getattr(obj, part)
        return obj

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self._tenant_lookup(): tenants_of(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            administered = tenants_of(request.user, role=Role.ADMIN)
            scopes = {
                Tenant: {"pk__in": administered},
                Building: {"tenant__in": administered},
                Floor: {"building__tenant__in": administered},
                Room: {"tenant__in": administered},
            }
            scopes.update(_calendar_scopes(administered))
            if db_field.related_model in scopes:
                kwargs["queryset"] = db_field.related_model.objects.filter(**scopes[db_field.related_model])
            elif db_field.name == "user":
                kwargs["queryset"] = db_field.related_model.objects.filter(
                    memberships__tenant__in=administered
                ).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _is_member(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        tenants = tenants_of(request.user)
        return tenants.filter(pk=self._tenant_of(obj).pk).exists() if obj else tenants.exists()

    def _is_admin(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        tenants = tenants_of(request.user, role=Role.ADMIN)
        return tenants.filter(pk=self._tenant_of(obj).pk).exists() if obj else tenants.exists()

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and self._is_member(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._is_member(request, obj)

    def has_add_permission(self, request) -> bool:
        return self._is_admin(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._is_admin(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._is_admin(request, obj)


def _calendar_scopes(administered) -> dict:
    from spaces_calendar.calendars.models import CalendarConnection, CalendarLink

    return {
        CalendarConnection: {"tenant__in": administered},
        CalendarLink: {"room__tenant__in": administered},
    }


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_path = ""
    list_display = ["name", "slug", "time_zone", "created_at"]
    prepopulated_fields = {"slug": ["name"]}

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser  # a new customer is onboarded by the operator, not by a tenant admin

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "tenant", "role"]
    list_filter = ["role"]


@admin.register(Building)
class BuildingAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant", "time_zone"]
    search_fields = ["name"]


@admin.register(Floor)
class FloorAdmin(TenantScopedAdmin):
    tenant_path = "building__tenant"
    list_display = ["name", "building", "level"]
    list_select_related = ["building"]


@admin.register(Room)
class RoomAdmin(TenantScopedAdmin):
    list_display = ["name", "floor", "email", "capacity", "time_zone"]
    list_select_related = ["floor__building"]
    search_fields = ["name", "email"]
    readonly_fields = ["tenant"]
