"""The de-dup store's move from recordUid text to (timestamp, hash) keys keeps what was applied before it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from firehose import ledger
from firehose.events import parse_line

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE, AFTER = [("firehose", "0001_receiver")], [("firehose", "0002_seen_record_keys")]


def test_records_applied_before_the_upgrade_are_still_known_after_it():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    uid, stamp = "event-4f1c2a9e-9d0b-4a7e-8c11-5b6f3e2d1a00", 1_796_000_000_123
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO firehose_seenrecord (record_uid, record_timestamp_ms) VALUES (%s, %s)",
                       [uid, stamp])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    with connection.cursor() as cursor:
        cursor.execute("SELECT record_timestamp_ms, uid_hash FROM firehose_seenrecord")
        rows = cursor.fetchall()
    event = parse_line(f'{{"recordUid":"{uid}","recordTimestamp":{stamp},"eventType":"CAMERA_COUNT"}}')
    assert rows == [ledger.record_key(event)]
    # The hash is of the uid: another uid at the same millisecond is another record.
    other = parse_line(f'{{"recordUid":"{uid[:-1]}1","recordTimestamp":{stamp},"eventType":"CAMERA_COUNT"}}')
    assert ledger.record_key(other) != rows[0]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
