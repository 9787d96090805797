"""Serve the sandbox's fake providers with the demo tenant until SIGTERM or Ctrl-C (``up`` runs this)."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.runner import SpacesPortTaken, prepare_ca, serve_until, start_sandbox


class Command(BaseCommand):
    help = ("Run the fake Microsoft 365 (Entra login + Graph) and Cisco Spaces (partner API + Firehose with simulated "
            "occupancy) with the sandbox demo tenant until stopped.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--login-port", type=int, default=settings.SANDBOX_MICROSOFT_LOGIN_PORT)
        parser.add_argument("--graph-port", type=int, default=settings.SANDBOX_MICROSOFT_GRAPH_PORT)
        parser.add_argument("--consent-port", type=int, default=settings.SANDBOX_MICROSOFT_CONSENT_PORT)
        parser.add_argument("--spaces-port", type=int, default=settings.SANDBOX_SPACES_PORT)

    def handle(self, *args, login_port: int, graph_port: int, consent_port: int, spaces_port: int, **options) -> None:
        if not settings.SANDBOX:
            raise CommandError("SANDBOX is off (provider credentials are configured): there is nothing to simulate.")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        ca_bundle = prepare_ca(settings.SANDBOX_CA_DIR)
        try:
            sandbox = start_sandbox(login_port=login_port, graph_port=graph_port, consent_port=consent_port,
                                    state_dir=settings.SANDBOX_STATE_DIR, spaces_port=spaces_port,
                                    spaces_interval_s=settings.SANDBOX_SPACES_INTERVAL_S)
        except SpacesPortTaken as error:
            raise CommandError(
                f"The fake Cisco Spaces cannot listen on port {spaces_port} ({error.strerror}). Set "
                "SANDBOX_SPACES_PORT to a free port."
            ) from None
        except OSError as error:
            raise CommandError(
                f"The fake Microsoft 365 cannot listen on ports {consent_port}/{login_port}/{graph_port} "
                f"({error.strerror}). Set SANDBOX_MICROSOFT_CONSENT_PORT, SANDBOX_MICROSOFT_LOGIN_PORT and "
                "SANDBOX_MICROSOFT_GRAPH_PORT to free ports."
            ) from None
        fake = sandbox.microsoft
        self.stdout.write(
            f"Fake Microsoft 365 ready: consent {fake.consent_url}, login {fake.login_url}, Graph {fake.graph_url}, "
            f"tenant {fake.tenant_id}, "
            f"{len(fake.rooms)} rooms, {sandbox.meetings} meetings; CA {ca_bundle}"
        )
        if (spaces := sandbox.spaces) is not None:
            self.stdout.write(
                f"Fake Cisco Spaces ready: partner API + Firehose {spaces.base_url}, app {spaces.partner.app_id}, "
                f"Spaces tenant {config.SPACES_TENANT_ID}; {spaces.backfilled} simulated events of the last hour, "
                f"then each change as it happens (on change, as Cisco sends them)"
            )
        self.stdout.flush()
        serve_until(stop, sandbox)
        self.stdout.write("Sandbox stopped.")
