"""The sandbox runner: the provider fakes the tests use, on fixed loopback ports, holding the demo tenant.

``manage.py up`` starts it as the ``sandbox`` process when no provider credentials are configured; the settings
then point the app (web, worker, beat, firehose) at it and trust its CA. It serves Microsoft 365 (Entra login +
Graph) and Cisco Spaces (partner API + Firehose, fed with simulated occupancy that follows the demo meetings; see
:mod:`spaces_runner`), each with the ``/_sandbox`` controls the sandbox page uses.

Restarts: the demo meetings are rebuilt for the current day with stable ids, and change subscriptions are kept in
a file, because Graph keeps a subscription when our side restarts; losing them would silently stop notifications.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from spaces_calendar.providers.microsoft.fake import FakeMicrosoft, FakeSubscription
from spaces_calendar.sandbox import config, tls
from spaces_calendar.sandbox.microsoft_controls import register_controls
from spaces_calendar.sandbox.microsoft_demo import add_demo_meetings, add_demo_rooms
from spaces_calendar.sandbox.spaces_demo import bookings_from_fake
from spaces_calendar.sandbox.spaces_runner import SpacesSandbox, start_spaces

logger = logging.getLogger(__name__)

SUBSCRIPTIONS_FILE = "microsoft-subscriptions.json"


class SpacesPortTaken(OSError):
    """The fake Cisco Spaces could not listen on its port (the Microsoft fakes could)."""


@dataclass
class Sandbox:
    microsoft: FakeMicrosoft
    meetings: int
    #: Where the Graph subscriptions (and the Spaces keys) are kept between runs (None: not kept).
    state_dir: Path | None = None
    spaces: SpacesSandbox | None = None
    _saved: str = ""

    def stop(self) -> None:
        if self.spaces is not None:
            self.spaces.stop()
        self.microsoft.stop()
        self.save()

    def save(self) -> None:
        """Write the subscriptions (and the Spaces keys) if they changed since the last save."""
        if self.spaces is not None:
            self.spaces.save()
        if self.state_dir is None:
            return
        text = json.dumps(subscriptions_as_json(self.microsoft), indent=1, sort_keys=True)
        if text != self._saved:
            _write_atomically(self.state_dir / SUBSCRIPTIONS_FILE, text)
            self._saved = text


def prepare_ca(directory: Path) -> str:
    """Load (or create once) the sandbox CA in ``directory`` and return its ``ca.pem``.

    Must run before this process uses the CA for anything else. ``up`` calls it before starting its processes,
    so the app's ``OUTBOUND_CA_BUNDLE`` file exists before the first outbound request.
    """
    tls.use_ca_directory(directory)
    return tls.ca_bundle_path()


def start_sandbox(
    *, login_port: int, graph_port: int, consent_port: int | None = None, state_dir: Path | None = None,
    now: datetime | None = None, spaces_port: int | None = None, spaces_interval_s: float = 10.0,
) -> Sandbox:
    """Start the seeded fakes (port 0 = any free port; no Cisco Spaces when ``spaces_port`` is None).

    Raises OSError if a port is taken (:class:`SpacesPortTaken` for the Spaces port).
    """
    now = now or datetime.now(UTC)
    microsoft = FakeMicrosoft(
        client_id=config.MICROSOFT_CLIENT_ID,
        client_secret=config.MICROSOFT_CLIENT_SECRET,
        tenant_id=config.MICROSOFT_TENANT_ID,
        login_port=login_port,
        graph_port=graph_port,
        consent_port=consent_port,
    )
    add_demo_rooms(microsoft)
    meetings = add_demo_meetings(microsoft, now.astimezone(ZoneInfo(config.TIME_ZONE)).date())
    register_controls(microsoft, zone=config.TIME_ZONE)
    if state_dir is not None:
        restored = restore_subscriptions(microsoft, state_dir / SUBSCRIPTIONS_FILE, now)
        logger.info("sandbox: %d Graph subscription(s) restored", restored)
    try:
        microsoft.start()
    except OSError:
        microsoft.stop()  # the login server may be up when the Graph port is taken
        raise
    sandbox = Sandbox(microsoft, meetings, state_dir)
    if spaces_port is not None:
        try:
            sandbox.spaces = start_spaces(spaces_port, lambda: bookings_from_fake(microsoft), state_dir=state_dir,
                                          interval_s=spaces_interval_s)
        except OSError as error:
            microsoft.stop()
            raise SpacesPortTaken(error.errno, error.strerror) from error
    return sandbox


def serve_until(stop: threading.Event, sandbox: Sandbox, *, poll: float = 1.0) -> None:
    """Keep the fakes up until ``stop`` is set (by a signal handler), then shut them down cleanly."""
    try:
        while not stop.wait(poll):
            _trim_logs(sandbox.microsoft)
            if sandbox.spaces is not None:
                sandbox.spaces.maintain()
            sandbox.save()
    finally:
        sandbox.stop()


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


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    temporary.replace(path)


def _trim_logs(fake: FakeMicrosoft) -> None:
    """The fakes log every request for tests to inspect; a sandbox runs for days, so it drops them as it goes."""
    fake.login.clear_log()
    fake.graph.clear_log()
    fake.batch_log.clear()
    fake.validations.clear()
