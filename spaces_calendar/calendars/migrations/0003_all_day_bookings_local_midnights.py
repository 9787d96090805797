"""Re-anchor stored all-day bookings to their room's local midnights (issue #13, item 2).

Before this, an all-day event was stored at the instants Graph wrote it with: midnight labelled UTC, which is 01:00
in Oslo and the evening before in New York. Its dates are what holds (``bookings.local_days``), so every all-day
booking, past ones included (a resync would only fetch today and tomorrow), gets:

* its dates: the UTC dates when it starts at a UTC midnight (how Graph's default answers were stored), otherwise
  the room-local dates nearest its start and end (a booking already right stays as it is);
* local midnight of the first date to local midnight of the day after the last, in the room's zone.

Daily report totals of the days these touch are rebuilt with ``manage.py rebuild_occupancy --keep-spans``;
kiosks see the change at their next poll (the bookings' ``updated_at`` moves).
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import migrations
from django.utils import timezone

BATCH = 500


def _date_of(moment: datetime, zone: ZoneInfo) -> date:
    utc = moment.astimezone(UTC)
    if utc.time() == time():
        return utc.date()
    return (moment.astimezone(zone).replace(tzinfo=None) + timedelta(hours=12)).date()


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def reanchor_all_day_bookings(apps, schema_editor) -> None:
    Booking = apps.get_model("calendars", "Booking")
    now = timezone.now()
    changed = []
    rows = Booking.objects.filter(all_day=True).select_related("room__floor__building").order_by("pk")
    for booking in rows.iterator(chunk_size=BATCH):
        room = booking.room
        zone = ZoneInfo(room.time_zone or room.floor.building.time_zone or "UTC")
        first = _date_of(booking.start, zone)
        after = max(_date_of(booking.end, zone), first + timedelta(days=1))
        start, end = _midnight(first, zone), _midnight(after, zone)
        if (booking.start, booking.end) != (start, end):
            booking.start, booking.end, booking.updated_at = start, end, now
            changed.append(booking)
        if len(changed) >= BATCH:
            Booking.objects.bulk_update(changed, ["start", "end", "updated_at"])
            changed = []
    if changed:
        Booking.objects.bulk_update(changed, ["start", "end", "updated_at"])


class Migration(migrations.Migration):

    dependencies = [
        ("calendars", "0002_sync_engine"),
    ]

    operations = [
        migrations.RunPython(reanchor_all_day_bookings, migrations.RunPython.noop, elidable=True),
    ]
