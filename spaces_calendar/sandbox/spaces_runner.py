"""The sandbox's fake Cisco Spaces: the partner API and the Firehose on one TLS server, fed by the occupancy
simulation of :mod:`spaces_demo`.

One server, because at Cisco one host serves both: the activation token's ``baseUrl`` is also where the app finds
the Firehose and sends its monitoring report.

Restarts: the partner's RSA signing key and the API keys it handed out are kept in the state directory, so a token
issued before a restart still verifies and the key an activation stored still opens the Firehose afterwards (Cisco
forgets neither; an RSA key cannot be derived from a constant, hence a file). The event log is not kept: on
start the simulation publishes again the last hour, all a receiver could get back from Cisco's replay, under the
same ``recordUid``\\ s, and receivers resume from their checkpoints; a sandbox that was down for longer loses the
rest, as a real outage does. The simulation also scripts the fake Firehose's outage every night
(:data:`spaces_demo.NIGHTLY_OUTAGE`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from spaces_calendar.partner.fake import FakeSpacesPartner, IssuedKey, new_rsa_key
from spaces_calendar.partner.firehose_fake import FakeFirehose
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.harness import FakeServer
from spaces_calendar.sandbox.spaces_controls import register_controls
from spaces_calendar.sandbox.spaces_demo import Booking, OccupancyFeed

logger = logging.getLogger(__name__)

SIGNING_KEY_FILE = "spaces-partner-key.pem"
API_KEYS_FILE = "spaces-api-keys.json"
#: How much of the event log the fake keeps: the replay window (an hour: older events are never sent again), and
#: some for the sandbox page's count.
LOG_KEPT = timedelta(hours=2)
TRIM_EVERY_S = 600.0


@dataclass
class SpacesSandbox:
    partner: FakeSpacesPartner
    firehose: FakeFirehose
    feed: OccupancyFeed
    #: Events published at start: the last replay window's and the location hierarchy.
    backfilled: int = 0
    state_dir: Path | None = None
    _saved: str = ""
    _trimmed_at: float = field(default_factory=time.monotonic)

    @property
    def base_url(self) -> str:
        return self.partner.base_url

    def stop(self) -> None:
        self.feed.stop()
        self.firehose.stop()  # also stops the server the partner API shares
        self.save()

    def save(self) -> None:
        """Write the issued API keys if they changed since the last save."""
        if self.state_dir is None:
            return
        text = json.dumps([asdict(issued) for issued in self.partner.issued_keys], indent=1, sort_keys=True)
        if text != self._saved:
            write_private(self.state_dir / API_KEYS_FILE, text.encode())
            self._saved = text

    def maintain(self, now: datetime | None = None) -> None:
        """Keep a long-running fake's memory bounded: the request log always, old events every ten minutes."""
        self.partner.server.clear_log()
        if time.monotonic() - self._trimmed_at < TRIM_EVERY_S:
            return
        self._trimmed_at = time.monotonic()
        cutoff = (now or datetime.now(UTC)) - LOG_KEPT
        dropped = self.firehose.forget_before(int(cutoff.timestamp() * 1000))
        if dropped:
            logger.info("sandbox: dropped %d Firehose events older than %s", dropped, cutoff.isoformat())


def start_spaces(port: int, bookings: Callable[[], list[Booking]], *, state_dir: Path | None = None,
                 interval_s: float = 10.0) -> SpacesSandbox:
    """Start the fake on ``port`` (0 = any free port), publish the last hour and start the live feed.

    Raises OSError if the port is taken.
    """
    server = FakeServer(tls=True, port=port, name="spaces")
    partner = FakeSpacesPartner(server, app_id=config.SPACES_APP_ID, tenant_id=config.SPACES_TENANT_ID,
                                customer=config.SPACES_TENANT_NAME, private_key=signing_key(state_dir))
    firehose = FakeFirehose(server, api_keys=(), spaces_tenant_id=str(config.SPACES_TENANT_ID),
                            partner_tenant_id=config.SPACES_PARTNER_TENANT_ID, accepts=partner.is_active_key)
    register_controls(partner, firehose)
    if state_dir is not None:
        restored = restore_api_keys(partner, state_dir / API_KEYS_FILE)
        logger.info("sandbox: %d Cisco Spaces API key(s) restored", restored)
    server.start()
    feed = OccupancyFeed(firehose, bookings, interval_s=interval_s)
    spaces = SpacesSandbox(partner, firehose, feed, state_dir=state_dir)
    spaces.backfilled = feed.backfill()
    feed.start()
    spaces.save()
    return spaces


def signing_key(state_dir: Path | None) -> rsa.RSAPrivateKey:
    """The partner's RSA key from the state directory, created there on first use (a new one without it)."""
    if state_dir is None:
        return new_rsa_key()
    path = state_dir / SIGNING_KEY_FILE
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return key
        logger.warning("sandbox: %s holds no RSA key; making a new one", path)
    except FileNotFoundError:
        pass
    except ValueError as error:
        logger.warning("sandbox: unreadable %s (%r); making a new one", path, error)
    key = new_rsa_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_private(path, pem)
    return key


def restore_api_keys(partner: FakeSpacesPartner, path: Path) -> int:
    """Put back the keys issued before a restart; an unreadable file is logged and ignored."""
    try:
        keys = [IssuedKey(**item) for item in json.loads(path.read_text())]
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, TypeError) as error:
        logger.warning("sandbox: ignoring unreadable %s: %r", path, error)
        return 0
    partner.restore_keys(keys)
    return len(keys)


def write_private(path: Path, data: bytes) -> None:
    """Atomically, readable by this user only: the files hold a signing key and API keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    temporary.replace(path)
