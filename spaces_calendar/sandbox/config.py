"""Fixed identities of the sandbox's fake providers, shared by the settings (the app's side) and the runner.

Deliberately free of Django and of the fakes themselves: the settings module imports it. The values are stable so
that a connection made in one sandbox session still works after ``manage.py up`` is restarted.
"""

from __future__ import annotations

#: The demo Entra tenant (directory) id. A GUID, as the consent callback only trusts GUID-shaped tenant ids.
MICROSOFT_TENANT_ID = "0d5a1b0c-5e1d-4d3a-9c0f-5a2db0c0ffee"
MICROSOFT_CLIENT_ID = "5a9dbe0c-0000-4000-8000-5a9dbe0c0001"
#: Not a secret: only the fake Entra on this machine accepts it.
MICROSOFT_CLIENT_SECRET = "sandbox-client-secret-only-the-fake-accepts"  # noqa: S105
MICROSOFT_CONSENT_PORT = 8440
MICROSOFT_LOGIN_PORT = 8441
MICROSOFT_GRAPH_PORT = 8442
#: Where the demo mailboxes live, as in :mod:`spaces_calendar.sandbox.seed`.
DEMO_MAIL_DOMAIN = "sandbox-demo.example.com"
TIME_ZONE = "Europe/Oslo"


def microsoft_login_url(port: int) -> str:
    # localhost, not 127.0.0.1: the fake's certificate names both, and msal keeps the host as the authority.
    return f"https://localhost:{port}"


def microsoft_consent_url(port: int) -> str:
    """Where the admin's browser goes to consent: plain http, because browsers do not trust the sandbox CA."""
    return f"http://127.0.0.1:{port}"


def microsoft_graph_url(port: int) -> str:
    return f"https://localhost:{port}/v1.0"
