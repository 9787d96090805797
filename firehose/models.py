"""What the Firehose receiver keeps: checkpoints, the de-dup store, lines set aside, and receiver status."""

from __future__ import annotations

from django.db import models


class Checkpoint(models.Model):
    """The high-water ``recordTimestamp`` applied for one stream (credentials) and partition range."""

    stream = models.CharField(max_length=100)
    min_partition = models.PositiveSmallIntegerField()
    max_partition = models.PositiveSmallIntegerField()
    high_water_ms = models.BigIntegerField(default=0)
    applied = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    #: Events skipped and why: {"unknown_type:FOO": 3, "unknown_room": 12, ...}.
    skipped = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "min_partition", "max_partition"],
                                               name="one_checkpoint_per_range")]

    def __str__(self) -> str:
        return f"{self.stream} {self.min_partition}-{self.max_partition} @ {self.high_water_ms}"


class SeenRecord(models.Model):
    """A record already applied, known by its ``recordTimestamp`` and a 64-bit hash of its ``recordUid``
    (``firehose.ledger.record_key``; a replayed record carries both unchanged). Pruned below ``high water -
    retention``: older ones cannot be replayed, because we always resume from ``high water - overlap``.

    Why not the recordUid itself: every event writes one of these, and a unique index on a 36-character text
    (plus the pattern index PostgreSQL gets for it, plus one on the timestamp for pruning) was a third of the
    database's work per event. Two integers, timestamp first, are one index that takes each new row at its right
    edge and serves the pruning too. Two different records would have to share the millisecond *and* the 64-bit
    hash to be taken for each other."""

    pk = models.CompositePrimaryKey("record_timestamp_ms", "uid_hash")
    record_timestamp_ms = models.BigIntegerField()
    uid_hash = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.record_timestamp_ms} {self.uid_hash:016x}"


class RejectedLine(models.Model):
    """A line that was not an event (kept for diagnosis, bounded: the oldest go first)."""

    stream = models.CharField(max_length=100)
    reason = models.CharField(max_length=300)
    excerpt = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.reason}"


class ReceiverStatus(models.Model):
    """One running receiver's connection state, for /healthz and the partner monitoring report."""

    stream = models.CharField(max_length=100)
    min_partition = models.PositiveSmallIntegerField()
    max_partition = models.PositiveSmallIntegerField()
    connected = models.BooleanField(default=False)
    connected_since = models.DateTimeField(null=True, blank=True)
    last_line_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    reconnects = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "min_partition", "max_partition"],
                                               name="one_status_per_range")]

    def __str__(self) -> str:
        return f"{self.stream} {self.min_partition}-{self.max_partition}"


class AppActivationEvent(models.Model):
    """``appActivation`` events as Spaces sent them (a partner app being activated or deactivated)."""

    spaces_tenant_id = models.CharField(max_length=100)
    record_uid = models.CharField(max_length=200)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.spaces_tenant_id} {self.record_uid}"
