"""A tenant's activation of our Cisco Spaces partner app: which Spaces tenant, where, and the API key it gave us."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from spaces_calendar.core.fields import EncryptedTextField
from spaces_calendar.core.models import Tenant


class ActivationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    #: The partner API refused the key (401/403 on the firehose): a new activation token is needed.
    BROKEN = "broken", "Broken"
    DEACTIVATED = "deactivated", "Deactivated"


class SpacesActivation(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="spaces_activations")
    #: Cisco's ``tenantId`` claim (a number in their tokens, kept as text).
    spaces_tenant_id = models.CharField(max_length=100)
    #: Cisco's ``customer`` claim: the customer's name in Cisco Spaces.
    spaces_tenant_name = models.CharField(max_length=200, blank=True)
    #: Cisco's ``partnerTenantId`` claim: the customer's id in our partner account (firehose APIs take it).
    partner_tenant_id = models.CharField(max_length=100, blank=True)
    #: Label of the partner host's region, from SPACES_PARTNER_HOSTS (never from the token).
    region = models.CharField(max_length=100, blank=True)
    #: The token's ``baseUrl``, once checked against SPACES_PARTNER_HOSTS: partner API and firehose host.
    base_url = models.URLField(max_length=300)
    app_id = models.CharField(max_length=100)
    activation_ref_id = models.CharField(max_length=100)
    api_key = EncryptedTextField(null=True, blank=True)
    #: The key's last four characters, so the page can tell keys apart without decrypting one.
    api_key_hint = models.CharField(max_length=4, blank=True)
    #: SHA-256 of the last activation token used: pasting the same token again would make Cisco deactivate us.
    token_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=ActivationStatus.choices, default=ActivationStatus.ACTIVE)
    status_reason = models.CharField(max_length=500, blank=True)
    activated_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="one_spaces_activation_per_tenant"),
            # One of our tenants per Spaces tenant; a deactivated row no longer claims it.
            models.UniqueConstraint(
                fields=["spaces_tenant_id"],
                condition=~Q(status="deactivated"),
                name="spaces_tenant_activated_once",
            ),
        ]

    def __str__(self) -> str:
        return f"Cisco Spaces {self.spaces_tenant_name or self.spaces_tenant_id} for {self.tenant}"
