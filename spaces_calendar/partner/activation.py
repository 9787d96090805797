"""Activating our Cisco Spaces partner app for a tenant with the activation token its admin pastes.

The order matters: the token's ``baseUrl`` is checked against the configured partner hosts before any request (a
forged token must not choose the server we ask for a key); a token this tenant already used is refused before it
reaches Cisco (a second use makes Cisco deactivate the app); and a Spaces tenant that belongs to another of our
tenants is refused before the token is spent. Re-activating replaces the key in the tenant's one row.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from spaces_calendar.core.models import Tenant

from . import client, tokens
from .errors import ActivationError
from .models import ActivationStatus, SpacesActivation
from .tokens import ActivationClaims

logger = logging.getLogger(__name__)


def activation_for(tenant: Tenant | None) -> SpacesActivation | None:
    return SpacesActivation.objects.filter(tenant=tenant).first() if tenant is not None else None


def activate(tenant: Tenant, raw_token: str) -> SpacesActivation:
    """Verify the token, exchange it for an API key and store the key; raises :class:`ActivationError`."""
    try:
        return _activate(tenant, tokens.clean(raw_token), settings.SPACES_APP_ID)
    except ActivationError as error:
        # The token itself is never logged: until it is spent it is as good as the key it buys.
        logger.warning("Cisco Spaces activation refused for tenant %s (%s): %s", tenant.slug, error.kind, error)
        raise


def deactivate(tenant: Tenant, *, by: str) -> bool:
    """Forget the tenant's API key; False if there was no active or broken activation."""
    now = timezone.now()
    reason = f"Deactivated by {by} on {now:%Y-%m-%d %H:%M} UTC."
    changed = (
        SpacesActivation.objects.filter(tenant=tenant)
        .exclude(status=ActivationStatus.DEACTIVATED)
        .update(api_key=None, api_key_hint="", status=ActivationStatus.DEACTIVATED, status_reason=reason,
                updated_at=now)
    )
    if changed:
        logger.info("Cisco Spaces activation of tenant %s deactivated by %s", tenant.slug, by)
    return bool(changed)


def _activate(tenant: Tenant, token: str, expected_app_id: str | None) -> SpacesActivation:
    unverified = tokens.read_unverified(token)
    base_url, region = tokens.partner_host(unverified.base_url)
    fingerprint = hashlib.sha256(token.encode("utf-8")).hexdigest()
    if SpacesActivation.objects.filter(tenant=tenant, token_sha256=fingerprint).exists():
        raise ActivationError(
            "already_used_here",
            "This activation token was already used here. Sending it to Cisco Spaces again would deactivate the "
            "app, so it was not sent: generate a new token in Cisco Spaces if you want to re-activate.",
        )
    claims = _verified_claims(token, base_url, unverified.key_version, expected_app_id)
    _refuse_if_claimed_elsewhere(tenant, claims.spaces_tenant_id)
    api_key = client.activate_on_premise_app(base_url, token, claims, instance_name=f"spaces-calendar/{tenant.slug}")
    return _store(tenant, claims, base_url, region, api_key, fingerprint)


def _verified_claims(token: str, base_url: str, version: str, expected_app_id: str | None) -> ActivationClaims:
    key, cached = client.partner_public_key(base_url, version)
    try:
        return tokens.verify(token, key, expected_app_id=expected_app_id)
    except ActivationError as error:
        if error.kind != "invalid" or not cached:
            raise
    # A cached key may have been rotated since: check once more with a fresh one before calling the token forged.
    key, _ = client.partner_public_key(base_url, version, fresh=True)
    return tokens.verify(token, key, expected_app_id=expected_app_id)


def _refuse_if_claimed_elsewhere(tenant: Tenant, spaces_tenant_id: str) -> None:
    taken = (
        SpacesActivation.objects.filter(spaces_tenant_id=spaces_tenant_id)
        .exclude(tenant=tenant)
        .exclude(status=ActivationStatus.DEACTIVATED)
        .exists()
    )
    if taken:
        raise ActivationError(
            "conflict",
            "This Cisco Spaces account is already connected to another organisation on this server, so the token "
            "was not used. Deactivate it there first.",
        )


def _store(
    tenant: Tenant, claims: ActivationClaims, base_url: str, region: str, api_key: str, fingerprint: str
) -> SpacesActivation:
    fields = {
        "spaces_tenant_id": claims.spaces_tenant_id,
        "spaces_tenant_name": claims.spaces_tenant_name[:200],
        "partner_tenant_id": claims.partner_tenant_id[:100],
        "region": region,
        "base_url": base_url,
        "app_id": claims.app_id,
        "activation_ref_id": claims.activation_ref_id,
        "api_key": api_key,
        "api_key_hint": api_key[-4:],
        "token_sha256": fingerprint,
        "status": ActivationStatus.ACTIVE,
        "status_reason": "",
        "activated_at": timezone.now(),
    }
    try:
        with transaction.atomic():
            activation, created = SpacesActivation.objects.update_or_create(tenant=tenant, defaults=fields)
    except IntegrityError:
        # Another organisation claimed the same Spaces tenant between our check and now; the key is dropped.
        logger.error("Cisco Spaces tenant %s activated concurrently by two tenants", claims.spaces_tenant_id)
        raise ActivationError(
            "conflict", "This Cisco Spaces account was connected to another organisation at the same moment."
        ) from None
    logger.info(
        "Cisco Spaces %s for tenant %s: Spaces tenant %s, region %s",
        "activated" if created else "re-activated",
        tenant.slug,
        claims.spaces_tenant_id,
        region,
    )
    return activation
