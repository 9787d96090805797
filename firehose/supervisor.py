"""One receiver thread per Firehose stream, following activations as they come and go."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections

from .credentials import all_streams, stream_named
from .receiver import Credentials, Receiver

logger = logging.getLogger(__name__)
RESCAN_S = 30.0


@dataclass
class _Running:
    receiver: Receiver
    thread: threading.Thread


def supervise(stop: threading.Event, *, min_partition: int, max_partition: int,
              streams: Callable[[], list[Credentials]] = all_streams, rescan_s: float = RESCAN_S) -> None:
    """Run until ``stop``; on the way out every receiver flushes its batch and checkpoint."""
    running: dict[str, _Running] = {}
    try:
        while not stop.is_set():
            wanted = {stream.stream for stream in streams()}
            for name in sorted(set(running) - wanted):
                logger.info("firehose: stream %s no longer active; stopping its receiver", name)
                _stop(running.pop(name))
            for name in sorted(wanted - set(running)):
                receiver = Receiver(lambda name=name: stream_named(name), min_partition=min_partition,
                                    max_partition=max_partition)
                thread = threading.Thread(target=_run, args=(receiver,), name=f"firehose-{name}", daemon=True)
                thread.start()
                running[name] = _Running(receiver, thread)
            if not running:
                logger.debug("firehose: no Cisco Spaces activation or API key yet")
            stop.wait(rescan_s)
    finally:
        for entry in running.values():
            entry.receiver.stop.set()
        for entry in running.values():
            entry.thread.join(timeout=30)


def _run(receiver: Receiver) -> None:
    try:
        receiver.run()
    except Exception:  # a bug must not go unseen, but it must not stop the other tenants' streams either
        logger.exception("firehose receiver crashed")
    finally:
        connections.close_all()


def _stop(entry: _Running) -> None:
    entry.receiver.stop.set()
    entry.thread.join(timeout=30)
