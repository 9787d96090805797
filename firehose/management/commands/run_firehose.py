"""Long-running Cisco Spaces Firehose receiver for one partition range (``manage.py up`` runs 1-12)."""

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from firehose.supervisor import supervise

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Consume the Cisco Spaces Firehose for a partition range (1-12); SIGTERM flushes and stops."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--min-partition", type=int, default=1)
        parser.add_argument("--max-partition", type=int, default=12)
        parser.add_argument("--rescan-interval", type=float, default=30.0,
                            help="seconds between looks for new or removed Spaces activations")

    def handle(self, *args, min_partition: int, max_partition: int, rescan_interval: float, **options) -> None:
        if not 1 <= min_partition <= max_partition <= 12:
            raise CommandError("Partitions must satisfy 1 <= --min-partition <= --max-partition <= 12.")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        logger.info("firehose: partitions %d-%d", min_partition, max_partition)
        supervise(stop, min_partition=min_partition, max_partition=max_partition, rescan_s=rescan_interval)
        logger.info("firehose: stopped cleanly")
