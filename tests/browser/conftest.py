"""Chromium (Debian's /usr/bin/chromium) driven by Playwright, for tests of the pages a person clicks through."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from spaces_calendar.providers.microsoft import client as ms_client
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.sandbox.harness import ca_bundle_path

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM}: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it, so its absence there is a defect, not a reason to skip
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the tests make between
    # browser steps are synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(
    page,
    base_url: str,
    username: str,
    password: str = "correct horse battery",  # noqa: S107 - the password tests/factories.py gives every user
    next_path: str = "/",
) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")


@pytest.fixture
def fake_microsoft_for_browser(settings, live_server) -> Iterator[FakeMicrosoft]:
    """Entra + Graph fakes with the service pointed at them, consent over plain http (the browser does not trust the
    test CA; msal, server side, does), change subscriptions off (Graph could not call the live server back)."""
    with FakeMicrosoft(consent_port=0) as fake:
        settings.MICROSOFT_LOGIN_URL = fake.login_url
        settings.MICROSOFT_CONSENT_URL = fake.consent_url
        settings.MICROSOFT_GRAPH_URL = fake.graph_url
        settings.MICROSOFT_CLIENT_ID = fake.client_id
        settings.MICROSOFT_CLIENT_SECRET = fake.client_secret
        settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
        settings.PUBLIC_BASE_URL = live_server.url
        settings.CALENDAR_SUBSCRIPTIONS = False
        yield fake
        ms_client.forget_tenant(fake.tenant_id)


#: Reports every Content-Security-Policy violation to the console, in every document the page loads.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def csp_violations(page) -> list[str]:
    """A list that fills with the page's Content-Security-Policy violations from now on (Chromium also logs each
    one to the console as "Refused to ... Content Security Policy ...")."""
    found: list[str] = []
    page.add_init_script(_CSP_LISTENER)
    page.on("console", lambda message: found.append(message.text)
            if "Content Security Policy" in message.text or "CSP violation" in message.text else None)
    return found
