"""The de-dup store keyed by (recordTimestamp, 64-bit hash of recordUid) instead of the recordUid text: one index
where there were three (see ``firehose.models.SeenRecord``). The rows already there are carried over, so a
record applied before the upgrade and replayed after it is still recognised."""

import hashlib

from django.db import migrations, models


def _uid_hash(uid: str) -> int:
    # The same as firehose.ledger.record_key (a migration must not import the code it outlives).
    digest = hashlib.blake2b(uid.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def carry_over(apps, schema_editor):
    legacy = apps.get_model("firehose", "LegacySeenRecord")
    seen = apps.get_model("firehose", "SeenRecord")
    batch = []
    for uid, stamp in legacy.objects.values_list("record_uid", "record_timestamp_ms").iterator(chunk_size=5000):
        batch.append(seen(record_timestamp_ms=stamp, uid_hash=_uid_hash(uid)))
        if len(batch) >= 5000:
            seen.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    seen.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ("firehose", "0001_receiver"),
    ]

    operations = [
        migrations.RenameModel("SeenRecord", "LegacySeenRecord"),
        migrations.CreateModel(
            name="SeenRecord",
            fields=[
                ("pk", models.CompositePrimaryKey("record_timestamp_ms", "uid_hash", blank=True, editable=False,
                                                  primary_key=True, serialize=False)),
                ("record_timestamp_ms", models.BigIntegerField()),
                ("uid_hash", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(carry_over, migrations.RunPython.noop),
        migrations.DeleteModel("LegacySeenRecord"),
    ]
