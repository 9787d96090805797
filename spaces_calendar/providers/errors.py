"""Provider-neutral failures that the sync engine acts on, whichever provider raised them."""

from __future__ import annotations


class ProviderError(Exception):
    """Base of the provider-neutral errors."""


class ConsentRevoked(ProviderError):
    """The customer's admin withdrew our access (or never granted it): mark the connection ``needs_consent``.

    ``reason`` is the provider's machine-readable code (``invalid_client``, ``unauthorized_client``,
    ``invalid_grant``, ...); ``description`` its human-readable text, fit to show the admin.
    """

    def __init__(self, reason: str, description: str = ""):
        super().__init__(f"consent revoked: {reason}" + (f" ({description})" if description else ""))
        self.reason = reason
        self.description = description


class SyncStateExpired(ProviderError):
    """The provider forgot our incremental-sync token (Graph 410 ``syncStateNotFound``, Google 410): full resync."""
