"""Which tenant a request works for, and the querysets scoped to it."""

from __future__ import annotations

from django.db.models import QuerySet

from spaces_calendar.core.logging import tenant_var
from spaces_calendar.core.models import Membership, Role, Tenant

SESSION_KEY = "active_tenant_id"


def memberships_of(user) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def tenants_of(user, *, role: str | None = None) -> QuerySet[Tenant]:
    """Tenants a user may see; ``role="admin"`` narrows to those they administer. Superusers see all."""
    if user.is_superuser:
        return Tenant.objects.all()
    if not user.is_authenticated:
        return Tenant.objects.none()
    memberships = Membership.objects.filter(user=user)
    if role == Role.ADMIN:
        memberships = memberships.filter(role=Role.ADMIN)
    return Tenant.objects.filter(id__in=memberships.values("tenant_id"))


def active_membership(request) -> Membership | None:
    """The membership the user is working in: the one chosen in the session, else their first."""
    memberships = list(memberships_of(request.user))
    if not memberships:
        return None
    chosen = request.session.get(SESSION_KEY)
    return next((m for m in memberships if m.tenant_id == chosen), memberships[0])


class TenantMiddleware:
    """Sets ``request.membership`` / ``request.tenant`` lazily and tags log lines with the tenant."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        membership = active_membership(request) if request.user.is_authenticated else None
        request.membership = membership
        request.tenant = membership.tenant if membership else None
        if request.tenant is not None:
            tenant_var.set(request.tenant.slug)
        return self.get_response(request)
