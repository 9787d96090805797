"""kombu's SQLAlchemy transport, with a configurable polling interval, for the embedded SQLite broker.

kombu hands every transport option to SQLAlchemy's ``create_engine()``, so the virtual transport's own
``polling_interval`` cannot be set and stays at 1 s. A worker whose prefetch slots are full then sleeps a whole
second before taking the next message, which caps a worker at a handful of tasks per second
(see benchmarks/broker_throughput.py).
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine

_NOT_ENGINE_OPTIONS = {
    "queue_tablename", "message_tablename", "callback", "errback", "max_retries", "interval_start",
    "interval_step", "interval_max", "retry_errors", "polling_interval",
}


class Channel(kombu_sqla.Channel):
    def _engine_from_config(self):
        conninfo = self.connection.client
        options = {k: v for k, v in conninfo.transport_options.items() if k not in _NOT_ENGINE_OPTIONS}
        return create_engine(conninfo.hostname, **options)


class Transport(kombu_sqla.Transport):
    Channel = Channel


def install() -> None:
    """Make ``sqla+`` broker URLs use this transport."""
    TRANSPORT_ALIASES["sqla"] = TRANSPORT_ALIASES["sqlalchemy"] = f"{__name__}:Transport"
