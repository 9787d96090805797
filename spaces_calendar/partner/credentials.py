"""The Cisco Spaces API key the firehose and the monitoring report use, wherever it comes from.

Other code calls only :func:`firehose_credentials`. Precedence:

1. ``SPACES_API_KEY`` from the environment wins. It is the operator's explicit choice, meant for single-tenant
   deployments (or a key provisioned outside this app); it belongs to no tenant and its base URL is
   ``SPACES_FIREHOSE_URL``.
2. Otherwise the most recently activated *active* :class:`SpacesActivation`: its key, its tenant, and the partner
   host its token named as base URL. Cisco serves the firehose and the monitoring API from that same host
   (``https://partners.dnaspaces.io`` or ``.eu``), so the region follows the activation without a separate map.
3. Otherwise None: nothing to stream with.

This module must not import ``firehose`` or ``occupancy``: they depend on it, not the other way round.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from spaces_calendar.core.models import Tenant

from .models import ActivationStatus, SpacesActivation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FirehoseCredentials:
    api_key: str = field(repr=False)
    #: Where the firehose and monitoring APIs live, without a trailing slash.
    base_url: str
    #: The tenant whose activation supplied the key; None for ``SPACES_API_KEY``.
    tenant: Tenant | None
    activation_id: int | None = None
    activated_at: datetime | None = None

    @property
    def source(self) -> str:
        return "environment" if self.activation_id is None else "activation"

    def mark_broken(self, reason: str) -> None:
        """Cisco refused this key (401/403): flag its activation so the tenant's admin is asked to re-activate.

        Never raises: the activation may have been deleted, deactivated or replaced meanwhile, and then there is
        nothing to flag (a replaced key got a new ``activated_at``, so a stale report cannot break the new one).
        """
        if self.activation_id is None:
            logger.error("Cisco Spaces refused the SPACES_API_KEY from the environment: %s", reason)
            return
        flagged = SpacesActivation.objects.filter(
            pk=self.activation_id, status=ActivationStatus.ACTIVE, activated_at=self.activated_at
        ).update(status=ActivationStatus.BROKEN, status_reason=reason[:500], updated_at=timezone.now())
        if flagged:
            logger.warning("Cisco Spaces activation %s marked broken: %s", self.activation_id, reason)


def firehose_credentials() -> FirehoseCredentials | None:
    """The API key to use now, its base URL and tenant (see the module docstring for the precedence)."""
    if settings.SPACES_API_KEY:
        return FirehoseCredentials(settings.SPACES_API_KEY, settings.SPACES_FIREHOSE_URL.rstrip("/"), None)
    activation = (
        SpacesActivation.objects.filter(status=ActivationStatus.ACTIVE, api_key__isnull=False)
        .select_related("tenant")
        .order_by("-activated_at", "-pk")
        .first()
    )
    if activation is None:
        return None
    return FirehoseCredentials(
        activation.api_key,
        activation.base_url.rstrip("/"),
        activation.tenant,
        activation.pk,
        activation.activated_at,
    )
