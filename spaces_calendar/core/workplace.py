"""First run: a signed-in user with no membership creates their workplace (a tenant) and becomes its admin.

Any signed-in user without a membership may do this, not only staff: on a self-hosted install the first user is the
superuser ``manage.py up`` created, and memberships are the only grant of access to data, so a tenant of one's own
exposes nothing of anyone else's. A member who wants a second workplace is out of scope (the Django admin).
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from .models import Membership, Role, Tenant, validate_time_zone

logger = logging.getLogger(__name__)

_SLUG_LENGTH = Tenant._meta.get_field("slug").max_length
#: Tries at a free slug before giving up; only a burst of workplaces with the same name gets this far.
_SLUG_TRIES = 50


class WorkplaceError(ValueError):
    """The workplace cannot be created; the message is for the user."""


def create_workplace(user: AbstractBaseUser, name: str, time_zone: str) -> Tenant:
    """Create a tenant called ``name`` in ``time_zone`` with ``user`` as its admin; its slug is derived from the name
    and made unique. Refused (``WorkplaceError``) when the user already belongs to a workplace; a zone that is not
    an IANA name raises ``ValidationError``."""
    name = " ".join(name.split())
    if not name:
        raise WorkplaceError("Give the workplace a name.")
    validate_time_zone(time_zone)
    with transaction.atomic():
        # Locking the user's row makes a double-submitted form wait for the first one, which then shows up below as
        # a membership, instead of leaving the user with two workplaces (PostgreSQL; SQLite writes one at a time).
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if Membership.objects.filter(user=user).exists():
            raise WorkplaceError("You already belong to a workplace.")
        tenant = _create_tenant(name, time_zone)
        Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
    logger.info("workplace %s created by user %s", tenant.slug, user.pk)
    return tenant


def _create_tenant(name: str, time_zone: str) -> Tenant:
    base = slugify(name)[:_SLUG_LENGTH].strip("-") or "workplace"
    for n in range(1, _SLUG_TRIES + 1):
        suffix = "" if n == 1 else f"-{n}"
        slug = base[:_SLUG_LENGTH - len(suffix)].rstrip("-") + suffix
        if Tenant.objects.filter(slug=slug).exists():
            continue
        try:
            with transaction.atomic():
                return Tenant.objects.create(name=name, slug=slug, time_zone=time_zone)
        except IntegrityError:  # someone took the slug between the check and the insert
            continue
    raise WorkplaceError("Could not find a free short name for this workplace: try a more distinctive name.")
