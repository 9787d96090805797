"""Long-running Cisco Spaces Firehose receiver for one partition range."""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Consume the Cisco Spaces Firehose for a partition range (1-12)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--min-partition", type=int, default=1)
        parser.add_argument("--max-partition", type=int, default=12)
        parser.add_argument("--poll-interval", type=float, default=30.0)

    def handle(self, *args, min_partition: int, max_partition: int, poll_interval: float, **options) -> None:
        if not 1 <= min_partition <= max_partition <= 12:
            raise CommandError("Partitions must satisfy 1 <= --min-partition <= --max-partition <= 12.")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        logger.info("firehose receiver for partitions %s-%s started", min_partition, max_partition)
        # The stream consumer arrives with the Spaces activation (issue #4); until an API key exists there is
        # nothing to connect to, so the receiver waits instead of failing the whole process set.
        if not settings.SPACES_API_KEY:
            logger.info("firehose: no Cisco Spaces API key configured yet; waiting")
        while not stop.is_set():
            stop.wait(poll_interval)
        logger.info("firehose receiver stopped")
