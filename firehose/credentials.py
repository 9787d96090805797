"""Which Firehose streams to read: one per active Spaces activation (each has its own API key and tenant), or
the single ``SPACES_API_KEY`` of a single-tenant deployment.

Events name their Spaces tenant; a stream's events are attached only to the tenant that owns the stream, so a
misrouted event can never land in another customer's rooms.
"""

from __future__ import annotations

import logging

from django.conf import settings

from spaces_calendar.core.models import Tenant
from spaces_calendar.partner.credentials import FirehoseCredentials
from spaces_calendar.partner.models import ActivationStatus, SpacesActivation

from .receiver import Credentials

logger = logging.getLogger(__name__)


def all_streams() -> list[Credentials]:
    """Every stream that should be running now."""
    if settings.SPACES_API_KEY:
        env = FirehoseCredentials(settings.SPACES_API_KEY, settings.SPACES_FIREHOSE_URL.rstrip("/"), None)
        owner = Tenant.objects.filter(slug=settings.SPACES_TENANT_SLUG).values_list("pk", flat=True).first()
        return [Credentials("env", env.api_key, env.base_url, resolve_for_environment_key, env.mark_broken,
                            (owner,) if owner is not None else ())]
    streams = []
    for activation in SpacesActivation.objects.filter(status=ActivationStatus.ACTIVE, api_key__isnull=False):
        owner = FirehoseCredentials(activation.api_key, activation.base_url.rstrip("/"), None, activation.pk,
                                    activation.activated_at)
        streams.append(Credentials(f"activation-{activation.pk}", owner.api_key, owner.base_url,
                                   _only(activation.spaces_tenant_id, activation.tenant_id), owner.mark_broken,
                                   (activation.tenant_id,)))
    return streams


def stream_named(name: str) -> Credentials | None:
    return next((stream for stream in all_streams() if stream.stream == name), None)


def _only(spaces_tenant_id: str, tenant_id: int):
    def resolve(event_spaces_tenant: str) -> int | None:
        return tenant_id if event_spaces_tenant == spaces_tenant_id else None

    return resolve


def resolve_for_environment_key(spaces_tenant_id: str) -> int | None:
    """An environment key belongs to no activation: its events go to the tenant whose activation names that
    Spaces tenant, else to ``SPACES_TENANT_SLUG`` (a single-tenant deployment)."""
    owner = (SpacesActivation.objects.filter(spaces_tenant_id=spaces_tenant_id)
             .values_list("tenant_id", flat=True).first())
    if owner is not None:
        return owner
    if settings.SPACES_TENANT_SLUG:
        return Tenant.objects.filter(slug=settings.SPACES_TENANT_SLUG).values_list("pk", flat=True).first()
    return None
