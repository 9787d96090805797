"""Microsoft 365 in the sandbox process: the fake Entra + Graph with the demo tenant's rooms and meetings, the
``/_sandbox/microsoft`` controls, and the change subscriptions kept across restarts.

Restarts: the demo meetings are rebuilt for the current day with stable ids, and change subscriptions are kept in
a file, because Graph keeps a subscription when our side restarts; losing them would silently stop notifications.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings

from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.pieces import PortTaken, SandboxPieces, StartOptions, write_atomically
from spaces_calendar.sandbox.spaces_demo import Booking, bookings_from_fake

from .controls import register_controls
from .demo import add_demo_meetings, add_demo_rooms
from .fake import FakeMicrosoft, FakeSubscription

logger = logging.getLogger(__name__)

SUBSCRIPTIONS_FILE = "microsoft-subscriptions.json"


@dataclass
class MicrosoftSandbox:
    fake: FakeMicrosoft
    meetings: int
    #: Where the Graph subscriptions are kept between runs (None: not kept).
    state_dir: Path | None = None
    _saved: str = ""

    def describe(self) -> str:
        fake = self.fake
        return (f"Fake Microsoft 365 ready: consent {fake.consent_url}, login {fake.login_url}, "
                f"Graph {fake.graph_url}, tenant {fake.tenant_id}, {len(fake.rooms)} rooms, {self.meetings} meetings")

    def bookings(self) -> list[Booking]:
        return bookings_from_fake(self.fake)

    def maintain(self) -> None:
        _trim_logs(self.fake)
        self.save()

    def stop(self) -> None:
        self.fake.stop()
        self.save()

    def save(self) -> None:
        """Write the subscriptions if they changed since the last save."""
        if self.state_dir is None:
            return
        text = json.dumps(subscriptions_as_json(self.fake), indent=1, sort_keys=True)
        if text != self._saved:
            write_atomically(self.state_dir / SUBSCRIPTIONS_FILE, text)
            self._saved = text


def start(options: StartOptions) -> MicrosoftSandbox:
    """The seeded fake on the ports of ``options`` (or of the ``SANDBOX_MICROSOFT_*_PORT`` settings)."""
    ports = options.ports if options.ports is not None else {
        "login": settings.SANDBOX_MICROSOFT_LOGIN_PORT, "graph": settings.SANDBOX_MICROSOFT_GRAPH_PORT,
        "consent": settings.SANDBOX_MICROSOFT_CONSENT_PORT}
    fake = FakeMicrosoft(
        client_id=config.MICROSOFT_CLIENT_ID,
        client_secret=config.MICROSOFT_CLIENT_SECRET,
        tenant_id=config.MICROSOFT_TENANT_ID,
        login_port=ports.get("login", 0),
        graph_port=ports.get("graph", 0),
        consent_port=ports.get("consent"),  # the browser-facing consent page only when asked for
    )
    add_demo_rooms(fake)
    meetings = add_demo_meetings(fake, options.now.astimezone(ZoneInfo(config.TIME_ZONE)).date())
    register_controls(fake, zone=config.TIME_ZONE)
    if options.state_dir is not None:
        restored = restore_subscriptions(fake, options.state_dir / SUBSCRIPTIONS_FILE, options.now)
        logger.info("sandbox: %d Graph subscription(s) restored", restored)
    try:
        fake.start()
    except OSError as error:
        fake.stop()  # the login server may be up when the Graph port is taken
        listed = "/".join(str(ports[name]) for name in ("consent", "login", "graph") if name in ports)
        raise PortTaken(
            f"The fake Microsoft 365 cannot listen on ports {listed} ({error.strerror}). Set "
            "SANDBOX_MICROSOFT_CONSENT_PORT, SANDBOX_MICROSOFT_LOGIN_PORT and SANDBOX_MICROSOFT_GRAPH_PORT to free "
            "ports.") from error
    return MicrosoftSandbox(fake, meetings, options.state_dir)


def subscriptions_as_json(fake: FakeMicrosoft) -> list[dict]:
    return [{**asdict(sub), "expires_at": sub.expires_at.isoformat()} for sub in list(fake.subscriptions.values())]


def restore_subscriptions(fake: FakeMicrosoft, path: Path, now: datetime) -> int:
    """Put back the unexpired subscriptions of known rooms; an unreadable file is logged and ignored."""
    try:
        items = json.loads(path.read_text())
        subscriptions = [FakeSubscription(**{**item, "expires_at": datetime.fromisoformat(item["expires_at"])})
                         for item in items]
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, TypeError, KeyError) as error:
        logger.warning("sandbox: ignoring unreadable %s: %r", path, error)
        return 0
    kept = [sub for sub in subscriptions if sub.expires_at > now and sub.room in fake.rooms]
    for subscription in kept:
        fake.subscriptions[subscription.id] = subscription
    return len(kept)


def _trim_logs(fake: FakeMicrosoft) -> None:
    """The fakes log every request for tests to inspect; a sandbox runs for days, so it drops them as it goes."""
    fake.login.clear_log()
    fake.graph.clear_log()
    fake.batch_log.clear()
    fake.validations.clear()


PIECES = SandboxPieces(title="Microsoft 365", start=start, page="spaces_calendar.providers.microsoft.sandbox_page")
