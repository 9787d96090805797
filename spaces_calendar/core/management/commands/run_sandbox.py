"""Serve the sandbox's fake providers with the demo tenant until SIGTERM or Ctrl-C (``up`` runs this)."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.runner import PortTaken, prepare_ca, serve_until, start_sandbox


class Command(BaseCommand):
    help = ("Run the fake of every registered calendar provider (Microsoft 365: Entra login + Graph) and Cisco Spaces "
            "(partner API + Firehose with simulated occupancy) with the sandbox demo tenant until stopped. Ports: "
            "the SANDBOX_*_PORT settings.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--spaces-port", type=int, default=settings.SANDBOX_SPACES_PORT)

    def handle(self, *args, spaces_port: int, **options) -> None:
        if not settings.SANDBOX:
            raise CommandError("SANDBOX is off (provider credentials are configured): there is nothing to simulate.")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        ca_bundle = prepare_ca(settings.SANDBOX_CA_DIR)
        try:
            sandbox = start_sandbox(state_dir=settings.SANDBOX_STATE_DIR, spaces_port=spaces_port,
                                    spaces_interval_s=settings.SANDBOX_SPACES_INTERVAL_S)
        except PortTaken as error:
            raise CommandError(str(error)) from None
        for line in sandbox.describe():
            self.stdout.write(f"{line}; CA {ca_bundle}")
        if (spaces := sandbox.spaces) is not None:
            self.stdout.write(
                f"Fake Cisco Spaces ready: partner API + Firehose {spaces.base_url}, app {spaces.partner.app_id}, "
                f"Spaces tenant {config.SPACES_TENANT_ID}; {spaces.backfilled} simulated events of the last hour, "
                f"then each change as it happens (on change, as Cisco sends them)"
            )
        self.stdout.flush()
        serve_until(stop, sandbox)
        self.stdout.write("Sandbox stopped.")
