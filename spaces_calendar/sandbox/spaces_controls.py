"""Sandbox-only controls on the fake Cisco Spaces: hand out an activation token, and say what the fake is doing.

In Cisco Spaces a customer's admin clicks *Generate* under *App Activation Token* and copies the token; here the
sandbox page asks this route instead. The routes live under ``/_sandbox/spaces`` on the fake's own server, beside
the partner API and the Firehose; nothing here is authenticated, as the fake listens on loopback only.
"""

from __future__ import annotations

from spaces_calendar.partner.fake import FakeSpacesPartner
from spaces_calendar.partner.firehose_fake import FakeFirehose
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.harness import FakeRequest, FakeResponse

CONTROL_PREFIX = "/_sandbox/spaces"
#: Cisco's tokens last minutes; a sandbox user gets a little longer to paste one.
TOKEN_LIFETIME_S = 600


def register_controls(partner: FakeSpacesPartner, firehose: FakeFirehose) -> None:
    def activation_token(request: FakeRequest) -> FakeResponse:
        token = partner.issue_activation_token(expires_in=TOKEN_LIFETIME_S,
                                               partnerTenantId=config.SPACES_PARTNER_TENANT_ID)
        return FakeResponse.json({"token": token, "expires_in": TOKEN_LIFETIME_S, "base_url": partner.base_url}, 201)

    def state(request: FakeRequest) -> FakeResponse:
        return FakeResponse.json({
            "base_url": partner.base_url,
            "app_id": partner.app_id,
            "spaces_tenant_id": str(partner.tenant_id),
            "events": len(firehose.log),
            "connections": len(firehose.connections),
            "stream_down": firehose.is_down(),
            "active_keys": sum(issued.active for issued in partner.issued_keys),
        })

    partner.server.add_route("POST", f"{CONTROL_PREFIX}/activation-token", activation_token)
    partner.server.add_route("GET", f"{CONTROL_PREFIX}/state", state)
