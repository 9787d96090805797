"""Rebuild spans, booking outcomes and RoomDays over a date range, e.g. after a data fix or a policy change."""

from __future__ import annotations

import sys
import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from occupancy import aggregates, pipeline
from spaces_calendar.core.models import Room, Tenant

MAX_DAYS = 400


@dataclass
class Totals:
    rooms: int = 0
    spans: int = 0
    outcomes: int = 0
    exempt: int = 0
    removed: int = 0
    days: int = 0


class Command(BaseCommand):
    help = "Rebuild occupancy spans, booking outcomes and daily aggregates for local dates --from..--to."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="first", required=True, help="first local date, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", required=True, help="last local date (inclusive), YYYY-MM-DD")
        parser.add_argument("--tenant", help="only this tenant's rooms (slug)")
        parser.add_argument("--rooms", nargs="+", type=int, metavar="ROOM_ID", help="only these rooms")
        parser.add_argument("--batch-size", type=int, default=50, help="rooms per batch (default 50)")
        parser.add_argument("--keep-spans", action="store_true",
                            help="recompute outcomes and days from the stored spans, without fusing signals again "
                                 "(after a policy change). Days before OCCUPANCY_SIGNAL_RETENTION_DAYS, whose raw "
                                 "signals are pruned, always keep their spans.")

    def handle(self, *args, first: str, last: str, tenant: str | None, rooms: list[int] | None, batch_size: int,
               keep_spans: bool, **options) -> None:
        first_date, last_date = parse_date(first, "--from"), parse_date(last, "--to")
        if last_date < first_date:
            raise CommandError(f"--to {last_date} is before --from {first_date}.")
        if (last_date - first_date).days >= MAX_DAYS:
            raise CommandError(f"At most {MAX_DAYS} days at a time: split the range.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        room_ids = select_rooms(tenant, rooms)
        started, now = clock.perf_counter(), timezone.now()
        # call_command(stderr=...) hands the stream in options; tqdm needs the raw stream, not Django's wrapper.
        stream = options.get("stderr") or sys.stderr
        totals = Totals(rooms=len(room_ids))
        with tqdm(total=len(room_ids), unit="room", desc="rebuild_occupancy", file=stream, mininterval=0.5) as bar:
            for index in range(0, len(room_ids), batch_size):
                batch = room_ids[index:index + batch_size]
                rebuild_batch(batch, first_date, last_date, now, totals, spans=not keep_spans)
                bar.update(len(batch))
        self.stdout.write(
            f"Rebuilt {totals.rooms} room(s) x {(last_date - first_date).days + 1} day(s) ({first_date}..{last_date}): "
            f"{totals.spans} spans, {totals.outcomes} outcomes ({totals.exempt} exempt, {totals.removed} removed), "
            f"{totals.days} room-days in {clock.perf_counter() - started:.1f} s."
        )


def parse_date(value: str, flag: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{flag} {value!r} is not a date (YYYY-MM-DD).") from None


def select_rooms(tenant: str | None, rooms: list[int] | None) -> list[int]:
    queryset = Room.objects.all()
    if tenant is not None:
        if not Tenant.objects.filter(slug=tenant).exists():
            raise CommandError(f"No tenant with slug {tenant!r}.")
        queryset = queryset.filter(tenant__slug=tenant)
    if rooms:
        queryset = queryset.filter(pk__in=rooms)
        missing = set(rooms) - set(queryset.values_list("pk", flat=True))
        if missing:
            raise CommandError(f"Unknown room id(s){' in that tenant' if tenant else ''}: "
                               f"{', '.join(map(str, sorted(missing)))}.")
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def rebuild_batch(room_ids: list[int], first: date, last: date, now: datetime, totals: Totals, *,
                  spans: bool = True) -> None:
    start, end = utc_range(room_ids, first, last)
    # Before the signal horizon the raw signals are pruned: fusing there would replace real spans with "unknown",
    # so those days keep their spans. A day per rebuild_spans call keeps what one call reads small (a room sends
    # thousands of signals a day).
    day = max(start, pipeline.signal_horizon(now))
    while spans and day < end:
        totals.spans += pipeline.rebuild_spans(room_ids, day, min(day + timedelta(days=1), end))
        day += timedelta(days=1)
    report = pipeline.recompute_outcomes(room_ids, start, end, now)
    totals.outcomes += report.outcomes
    totals.exempt += report.exempt
    totals.removed += report.removed
    totals.days += aggregates.rebuild_days(room_ids, first, last, now=now)


def utc_range(room_ids: list[int], first: date, last: date) -> tuple[datetime, datetime]:
    """From the earliest local midnight of ``first`` to the latest one after ``last`` among the rooms' zones."""
    zones = {ZoneInfo(room.zone) for room in aggregates.room_infos(room_ids)} or {ZoneInfo("UTC")}
    start = min(datetime.combine(first, time(), tzinfo=zone) for zone in zones)
    end = max(datetime.combine(last + timedelta(days=1), time(), tzinfo=zone) for zone in zones)
    return start.astimezone(UTC), end.astimezone(UTC)
