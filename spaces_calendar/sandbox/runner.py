"""The sandbox runner: the provider fakes the tests use, on fixed loopback ports, holding the demo tenant.

``manage.py up`` starts it as the ``sandbox`` process when no provider credentials are configured; the settings
then point the app (web, worker, beat, firehose) at it and trust its CA. It starts the sandbox of every registered
calendar provider (each package's :class:`~spaces_calendar.sandbox.pieces.SandboxPieces`: Microsoft 365's is the
Entra login + Graph) and Cisco Spaces (partner API + Firehose, fed with simulated occupancy that follows the demo
meetings of every provider; see :mod:`spaces_runner`), each with the ``/_sandbox`` controls the sandbox page uses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spaces_calendar.sandbox import tls
from spaces_calendar.sandbox.pieces import PortTaken, RunningFake, StartOptions, sandbox_providers
from spaces_calendar.sandbox.spaces_demo import Booking
from spaces_calendar.sandbox.spaces_runner import SpacesSandbox, start_spaces

logger = logging.getLogger(__name__)

__all__ = ["PortTaken", "Sandbox", "prepare_ca", "serve_until", "start_sandbox"]


@dataclass
class Sandbox:
    #: Provider key -> its running fake, in registry order.
    providers: dict[str, RunningFake] = field(default_factory=dict)
    spaces: SpacesSandbox | None = None

    def fake(self, provider: str) -> Any:
        """The fake server object of one provider (``FakeMicrosoft`` for ``"microsoft"``)."""
        return self.providers[provider].fake

    def bookings(self) -> list[Booking]:
        """Every provider's demo meetings: what the simulated occupancy follows."""
        return [booking for running in list(self.providers.values()) for booking in running.bookings()]

    def describe(self) -> list[str]:
        return [running.describe() for running in self.providers.values()]

    def maintain(self) -> None:
        for running in self.providers.values():
            running.maintain()
        if self.spaces is not None:
            self.spaces.maintain()
            self.spaces.save()

    def stop(self) -> None:
        if self.spaces is not None:
            self.spaces.stop()
        for running in reversed(list(self.providers.values())):
            running.stop()


def prepare_ca(directory: Path) -> str:
    """Load (or create once) the sandbox CA in ``directory`` and return its ``ca.pem``.

    Must run before this process uses the CA for anything else. ``up`` calls it before starting its processes,
    so the app's ``OUTBOUND_CA_BUNDLE`` file exists before the first outbound request.
    """
    tls.use_ca_directory(directory)
    return tls.ca_bundle_path()


def start_sandbox(
    *, ports: Mapping[str, Mapping[str, int]] | None = None, state_dir: Path | None = None,
    now: datetime | None = None, spaces_port: int | None = None, spaces_interval_s: float = 10.0,
) -> Sandbox:
    """Start every registered provider's seeded fake, then Cisco Spaces (none when ``spaces_port`` is None; 0 = any
    free port).

    ``ports``: None, each provider's ``SANDBOX_*_PORT`` settings; else per provider key the ports it listens on,
    by its own names for them, any free port for a name left out (``{}``: free ports everywhere, as tests want).
    Raises :class:`PortTaken` when a port is taken, after stopping what had started.
    """
    now = now or datetime.now(UTC)
    sandbox = Sandbox()
    try:
        for key, pieces in sandbox_providers():
            options = StartOptions(ports=None if ports is None else ports.get(key, {}), state_dir=state_dir, now=now)
            sandbox.providers[key] = pieces.start(options)
        if spaces_port is not None:
            sandbox.spaces = _start_spaces(sandbox, spaces_port, state_dir, spaces_interval_s)
    except PortTaken:
        sandbox.stop()
        raise
    return sandbox


def _start_spaces(sandbox: Sandbox, port: int, state_dir: Path | None, interval_s: float) -> SpacesSandbox:
    try:
        return start_spaces(port, sandbox.bookings, state_dir=state_dir, interval_s=interval_s)
    except OSError as error:
        raise PortTaken(f"The fake Cisco Spaces cannot listen on port {port} ({error.strerror}). Set "
                        "SANDBOX_SPACES_PORT to a free port.") from error


def serve_until(stop: threading.Event, sandbox: Sandbox, *, poll: float = 1.0) -> None:
    """Keep the fakes up until ``stop`` is set (by a signal handler), then shut them down cleanly."""
    try:
        while not stop.wait(poll):
            sandbox.maintain()
    finally:
        sandbox.stop()
