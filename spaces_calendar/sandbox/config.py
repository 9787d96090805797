"""Fixed identities of the sandbox's fake providers, shared by the settings (the app's side) and the runner.

Deliberately free of Django and of the fakes themselves: the settings module imports it. The values are stable so
that a connection made in one sandbox session still works after ``manage.py up`` is restarted.
"""

from __future__ import annotations

from typing import NamedTuple

#: The demo Entra tenant (directory) id. A GUID, as the consent callback only trusts GUID-shaped tenant ids.
MICROSOFT_TENANT_ID = "0d5a1b0c-5e1d-4d3a-9c0f-5a2db0c0ffee"
MICROSOFT_CLIENT_ID = "5a9dbe0c-0000-4000-8000-5a9dbe0c0001"
#: Not a secret: only the fake Entra on this machine accepts it.
MICROSOFT_CLIENT_SECRET = "sandbox-client-secret-only-the-fake-accepts"  # noqa: S105
#: The fakes' ports when the web serves on 8000 (``PORT``'s default); another ``PORT`` gets four of its own
#: (``sandbox_ports``), so a second instance on one machine does not die on the first one's.
MICROSOFT_CONSENT_PORT = 8440
MICROSOFT_LOGIN_PORT = 8441
MICROSOFT_GRAPH_PORT = 8442
#: One TLS server for the fake Cisco Spaces partner API and its Firehose, as at Cisco (one host for both).
SPACES_PORT = 8443
#: Our partner app as the fake Cisco Spaces knows it (an activation token for any other app is refused).
SPACES_APP_ID = "app-5A9DBE0C5A1E4DA4B0C05A9DBE0C0001"
#: The demo customer in Cisco Spaces: its ``tenantId`` (a number, as Cisco's tokens carry it), name and our partner
#: account's id for it. Events on the Firehose carry the same ids, so they reach the activating tenant.
SPACES_TENANT_ID = 73105
SPACES_TENANT_NAME = "Sandbox Demo Co"
SPACES_PARTNER_TENANT_ID = "40CCAC387B1545FE904F6B709D9F1BFB"
#: The demo room with a Webex Room Kit: Spaces gets its people count as Webex telemetry, keyed by workspace.
WEBEX_ROOM = "Delta"
#: A Webex workspace id is the base64 of a ``ciscospark://`` URN, without padding.
WEBEX_WORKSPACE_ID = (
    "Y2lzY29zcGFyazovL3VybjpURUFNOmV1LWNlbnRyYWwtMV9rL1BMQUNFLzVhOWRiZTBjLWQ3NGEtNGM2ZS05YjBlLTVhMmRiMGMwZGUxNw"
)
#: Where the demo mailboxes live, as in :mod:`spaces_calendar.sandbox.seed`.
DEMO_MAIL_DOMAIN = "sandbox-demo.example.com"
TIME_ZONE = "Europe/Oslo"


class SandboxPorts(NamedTuple):
    consent: int
    login: int
    graph: int
    spaces: int


_DEFAULT_WEB_PORT = 8000
_FIRST_BLOCK, _BLOCKS = 1024 // 4, (65536 - 1024) // 4  # blocks of four ports, from 1024 up to 65535


def sandbox_ports(web_port: int) -> SandboxPorts:
    """The four ports of the fakes of the instance whose web serves on ``web_port``: 8440-8443 for 8000, the next
    four for 8001, the four before for 7999, and so on (wrapping round within 1024-65535).

    Derived, not drawn at random: an instance restarted on the same ``PORT`` finds its fakes where its stored
    connections (the Spaces activation's ``baseUrl``, Graph subscriptions) say they are. Web ports less than 16,128
    apart never share a port of their fakes, and no web port gets its own: the rare one whose block would hold it
    swaps blocks with the web port half way round.
    """
    half_way = _BLOCKS // 2
    if _own_block_holds_it(web_port):
        first = _first_port(web_port + half_way)
    elif _own_block_holds_it(web_port - half_way):
        first = _first_port(web_port - half_way)  # that web port took our block: we take its
    else:
        first = _first_port(web_port)
    return SandboxPorts(first, first + 1, first + 2, first + 3)


def _first_port(web_port: int) -> int:
    return (_FIRST_BLOCK + (MICROSOFT_CONSENT_PORT // 4 - _FIRST_BLOCK + web_port - _DEFAULT_WEB_PORT) % _BLOCKS) * 4


def _own_block_holds_it(web_port: int) -> bool:
    return _first_port(web_port) <= web_port < _first_port(web_port) + 4


def microsoft_login_url(port: int) -> str:
    # localhost, not 127.0.0.1: the fake's certificate names both, and msal keeps the host as the authority.
    return f"https://localhost:{port}"


def microsoft_consent_url(port: int) -> str:
    """Where the admin's browser goes to consent: plain http, because browsers do not trust the sandbox CA."""
    return f"http://127.0.0.1:{port}"


def microsoft_graph_url(port: int) -> str:
    return f"https://localhost:{port}/v1.0"


def spaces_url(port: int) -> str:
    """The fake Cisco Spaces (partner API and Firehose): localhost, as its certificate and ``baseUrl`` name it."""
    return f"https://localhost:{port}"


def spaces_location_id(room_name: str) -> str:
    """The Cisco Spaces ``locationId`` of a demo room (stable, so the seed and the fake agree across restarts)."""
    return f"sandbox-loc-{room_name.lower()}"
