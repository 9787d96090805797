"""manage.py rebuild_occupancy: readable errors, and a small range rebuilt end to end with a progress bar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from occupancy.intake import RoomKey, Signal, record
from occupancy.models import BookingOutcome, OccupancySpan, RoomDay
from spaces_calendar.calendars.models import Booking
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 10:00 in Oslo


@pytest.fixture(autouse=True)
def signals_kept_since_t0(settings):
    # The command fuses only days whose raw signals are still kept; these tests date from T0, whatever today is.
    settings.OCCUPANCY_SIGNAL_RETENTION_DAYS = (timezone.now() - T0).days + 30


@pytest.fixture
def room():
    return make_room(make_tenant("Acme"), "Fjord")


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rebuild_occupancy", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-13-01", "--to", "2026-11-20"], "--from '2026-13-01' is not a date"),
    (["--from", "2026-11-20", "--to", "yesterday"], "--to 'yesterday' is not a date"),
    (["--from", "2026-11-21", "--to", "2026-11-20"], "is before --from"),
    (["--from", "2020-01-01", "--to", "2026-11-20"], "At most 400 days"),
    (["--from", "2026-11-20", "--to", "2026-11-20", "--tenant", "nobody"], "No tenant with slug 'nobody'"),
    (["--from", "2026-11-20", "--to", "2026-11-20", "--rooms", "999999"], "Unknown room id(s): 999999"),
    (["--from", "2026-11-20", "--to", "2026-11-20", "--workers", "0"], "--workers must be between 1 and 32"),
])
def test_it_refuses_bad_arguments_with_a_clear_message(room, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(*args)


def test_it_rebuilds_spans_outcomes_and_days_over_the_range(room):
    other = make_room(make_tenant("Other"), "Elsewhere")
    record([Signal(RoomKey(room.tenant_id, "room", str(room.pk)), "spaces_occupancy", T0 + timedelta(minutes=m),
                   people_count=0) for m in range(-10, 60)], now=T0 + timedelta(hours=2))
    ghost = Booking.objects.create(room=room, external_id="g", start=T0, end=T0 + timedelta(minutes=30))

    out, err = run("--from", "2026-11-19", "--to", "2026-11-21", "--tenant", room.tenant.slug)

    assert BookingOutcome.objects.get(booking=ghost).outcome == "ghost"
    assert OccupancySpan.objects.filter(room=room).exists()
    assert sorted(RoomDay.objects.values_list("room_id", "date__day")) == [(room.pk, 19), (room.pk, 20), (room.pk, 21)]
    assert RoomDay.objects.get(date__day=20).ghosts == 1
    assert not RoomDay.objects.filter(room=other).exists()
    assert "Rebuilt 1 room(s) x 3 day(s) (2026-11-19..2026-11-21)" in out and "1 outcomes" in out
    assert "rebuild_occupancy" in err and "1/1" in err  # tqdm's bar, on stderr


def test_running_it_twice_leaves_the_same_rows(room):
    Booking.objects.create(room=room, external_id="b", start=T0, end=T0 + timedelta(hours=1))
    args = ("--from", "2026-11-20", "--to", "2026-11-20", "--rooms", str(room.pk))
    run(*args)
    spans, days = list(OccupancySpan.objects.values_list("start", "end", "state")), RoomDay.objects.count()

    run(*args)

    assert list(OccupancySpan.objects.values_list("start", "end", "state")) == spans
    assert RoomDay.objects.count() == days == 1


def test_keep_spans_recomputes_from_the_stored_timeline_without_touching_it(room):
    OccupancySpan.objects.create(tenant_id=room.tenant_id, room=room, start=T0 - timedelta(hours=1),
                                 end=T0 + timedelta(hours=1), state="empty", peak_people=0)
    ghost = Booking.objects.create(room=room, external_id="g", start=T0, end=T0 + timedelta(minutes=30))

    out, _ = run("--from", "2026-11-20", "--to", "2026-11-20", "--keep-spans")

    assert BookingOutcome.objects.get(booking=ghost).outcome == "ghost"
    assert OccupancySpan.objects.count() == 1  # no signals: fusing again would have replaced it with "unknown"
    assert RoomDay.objects.get(room=room).ghosts == 1 and "0 spans" in out


def test_days_whose_raw_signals_are_pruned_keep_their_spans(room, settings):
    settings.OCCUPANCY_SIGNAL_RETENTION_DAYS = 30
    old = timezone.now().replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=40)
    OccupancySpan.objects.create(tenant_id=room.tenant_id, room=room, start=old - timedelta(hours=1),
                                 end=old + timedelta(hours=1), state="empty", peak_people=0)
    ghost = Booking.objects.create(room=room, external_id="g", start=old, end=old + timedelta(minutes=30))
    day = old.date().isoformat()

    run("--from", day, "--to", day)

    assert list(OccupancySpan.objects.values_list("start", "state")) == [(old - timedelta(hours=1), "empty")]
    assert BookingOutcome.objects.get(booking=ghost).outcome == "ghost"


@pytest.mark.django_db(transaction=True)
def test_several_worker_processes_write_what_one_does():
    tenant = make_tenant("Acme")
    rooms = [make_room(tenant, f"Room {n}") for n in range(3)]
    for n, room in enumerate(rooms):
        record([Signal(RoomKey(room.tenant_id, "room", str(room.pk)), "spaces_occupancy", T0 + timedelta(minutes=m),
                       people_count=2 if n == 0 and m > 5 else 0) for m in range(-10, 60)],
               now=T0 + timedelta(hours=2))
        Booking.objects.create(room=room, external_id=f"b{n}", start=T0, end=T0 + timedelta(minutes=30))
    args = ("--from", "2026-11-20", "--to", "2026-11-20", "--batch-size", "1")

    def state():
        return (sorted(OccupancySpan.objects.values_list("room_id", "start", "end", "state")),
                sorted(BookingOutcome.objects.values_list("booking_id", "outcome", "evidence")),
                sorted(RoomDay.objects.values_list("room_id", "date", "ghosts", "occupied_minutes")))

    out, _ = run(*args, "--workers", "2")
    in_parallel = state()
    run(*args)

    assert state() == in_parallel
    assert sorted(outcome for _, outcome, _ in in_parallel[1]) == ["attended", "ghost", "ghost"]
    assert "Rebuilt 3 room(s) x 1 day(s)" in out and "3 outcomes" in out and "3 room-days" in out


@pytest.mark.django_db(transaction=True)
def test_workers_never_use_a_connection_inherited_from_the_parent(monkeypatch):
    # The parent closes its connections before forking; should one still be open (CI once saw two workers on one
    # PostgreSQL session: "cursor ... already exists"), the workers open their own instead of sharing it.
    from occupancy.management.commands import rebuild_occupancy

    monkeypatch.setattr(rebuild_occupancy.connections, "close_all", lambda: None)
    test_several_worker_processes_write_what_one_does()
