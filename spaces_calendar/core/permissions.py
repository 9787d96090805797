from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from spaces_calendar.core.models import Role


def tenant_admin_required(view):
    """The user must be an admin of the tenant they are working in (request.tenant)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.membership is None or request.membership.role != Role.ADMIN:
            raise PermissionDenied("Only a tenant admin can do this.")
        return view(request, *args, **kwargs)

    return wrapper
