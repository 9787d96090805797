"""Ghost bookings against ground truth, end to end on SQLite and PostgreSQL alike (``TEST_DATABASE_URL``).

The world comes from :mod:`tests.groundtruth.scenario`, written from DESIGN.md sections 6 and 7 and not from our
code: rooms in four time zones with Meraki cameras and Webex devices, two days of Microsoft 365 bookings (Windows
zone names, cancelled, all-day and day-long traps) delivered by the fake Graph through the real sync engine, and
the Firehose history of what the sensors said, in the real shapes and with the real delivery semantics, served by
the fake Firehose over TLS to the real receiver. Then the pipeline runs, every outcome is read back through
``GET /api/v1/bookings`` as an admin, and the outcomes are scored against the truth.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from firehose.models import Checkpoint, RejectedLine
from firehose.receiver import Receiver
from occupancy.outages import record_outage
from spaces_calendar.calendars import sync
from spaces_calendar.calendars.models import Booking, CalendarLink
from spaces_calendar.core.models import Building, Floor, Role, Room, Tenant
from spaces_calendar.partner.firehose_fake import FakeFirehose
from spaces_calendar.sandbox.harness import ca_bundle_path
from tests.factories import make_tenant, make_user
from tests.firehose.conftest import credentials_for, running
from tests.microsoft.conftest import fake_microsoft  # noqa: F401 (the fixture: a running fake Entra + Graph)
from tests.microsoft.sync_helpers import connect
from tests.worker import wait_for

from . import scenario as world

SEED = 20261202
API_KEY = "ground-truth-spaces-key"
COLUMNS = (*world.OUTCOMES, "no outcome", "no row")
PRECISION_AT_LEAST = RECALL_AT_LEAST = 0.98


# --------------------------------------------------------------------------------------------------------
# The generator itself (no database): it must hold what the brief and the protocol say before it judges us
# --------------------------------------------------------------------------------------------------------


def test_the_scenario_is_seeded_and_relative_to_now():
    now = datetime(2026, 3, 29, 9, 17, 42, tzinfo=UTC)  # a DST Sunday in Europe, on purpose
    first, again = world.generate(SEED, now), world.generate(SEED, now)
    assert [line.raw for line in first.lines] == [line.raw for line in again.lines]
    assert [(b.key, b.start, b.truth) for b in first.bookings] == [(b.key, b.start, b.truth) for b in again.bookings]
    assert first.now == now.replace(second=0)
    moments = [first.stream_start, first.outage[0], *(b.start for b in first.bookings),
               *(datetime.fromtimestamp(line.timestamp_ms / 1000, UTC) for line in first.lines)]
    assert now - timedelta(hours=56) < min(moments) and max(moments) < now
    later = world.generate(SEED, now + timedelta(days=3))
    assert min(b.start for b in later.bookings) > now + timedelta(hours=10)


def test_the_scenario_has_every_case_and_every_shape():
    scene = world.generate(SEED, datetime.now(UTC))
    summary = scene.summary()
    judged, traps = scene.judged, scene.traps

    # Bookings: the five truths, each cause of unknown, the traps; all final, none overlapping in a room.
    counts = scene.truth_counts()
    assert set(counts) == set(world.OUTCOMES), summary
    assert counts["ghost"] >= 30 and counts["attended"] >= 50 and min(counts.values()) >= 5, summary
    assert 180 <= len(judged) <= 320, summary
    causes = Counter(b.unknown_cause for b in judged if b.truth == "unknown")
    assert {"no_sensor", "outage", "dead_device", "webex_unknown"} <= set(causes), summary
    assert all(b.truth is None for b in traps) and all(b.truth in world.OUTCOMES for b in judged)
    assert Counter(b.trap for b in traps) == {"cancelled": 3, "cancelled_later": 3, "all_day": 3, "long": 3}
    assert any(b.trap == "long" and b.duration == world.EXEMPT_AFTER for b in traps), "exactly 8 h is exempt too"
    assert all(b.end <= scene.now - timedelta(hours=1) for b in scene.bookings), "every booking is final"
    assert not [k for k in scene.dropped if k.startswith("mismatch")], (
        "the sensors' truth disagrees with what the people did: " + summary)
    for room in scene.rooms:
        mine = sorted((b for b in scene.bookings if b.room is room), key=lambda b: b.start)
        for before, after in zip(mine, mine[1:], strict=False):
            assert before.end <= after.start, f"{before.key} overlaps {after.key}"
    assert len({b.graph_zone for b in scene.bookings}) == 4, "Windows zone names, as Graph sends them"
    assert {room.site.zone for room in scene.rooms} == {s.zone for s in world.SITES}
    assert [r for r in scene.rooms if not r.sources] and [r for r in scene.rooms if r.sources == ["camera", "webex"]]
    # The truths are not ours: ghost and unknown rows keep apart what the people did and what the data says.
    assert all(b.intended == b.truth for b in judged if b.truth != "unknown")

    # Lines: the envelope and one payload named per the eventType table, in delivery (not record) order.
    kinds = scene.line_counts()
    assert kinds["malformed"] == 1 and kinds["keepalive"] >= 20 and kinds["duplicate"] >= 20, summary
    assert 2_000 <= len(scene.lines) <= 8_000, summary
    stamps = [line.timestamp_ms for line in scene.lines]
    assert sum(1 for a, b in zip(stamps, stamps[1:], strict=False) if b < a) > 100, "out-of-order delivery"
    # Lateness as the scenario deals it: a line up to 4 min after its record, a duplicate up to 3 min after that;
    # so a line can follow one recorded up to 7 min later (a bound of 5 failed on some clocks: duplicates).
    lateness = [line.delivered_ms - line.timestamp_ms for line in scene.lines]
    assert min(lateness) >= 0 and max(lateness) <= 7 * 60_000, "delivered within minutes of the record"
    assert max(a - b for a, b in zip(stamps, stamps[1:], strict=False)) <= 7 * 60_000, "shuffled within minutes"
    uids = Counter(line.uid for line in scene.lines if line.kind in ("event", "duplicate"))
    assert sum(1 for n in uids.values() if n > 1) == kinds["duplicate"]
    start_ms, end_ms = (int(t.timestamp() * 1000) for t in scene.outage)
    assert scene.outage[1] - scene.outage[0] > world.REPLAY
    assert not [line for line in scene.lines if start_ms <= line.timestamp_ms < end_ms], "nothing in the outage"
    assert scene.lost_readings > 50

    seen: Counter = Counter()
    for line in scene.lines:
        if line.kind == "malformed":
            with pytest.raises(ValueError):
                json.loads(line.raw)
            continue
        event = json.loads(line.raw)
        assert set(world.ENVELOPE) <= set(event)
        assert isinstance(event["recordTimestamp"], int)
        if event["eventType"] == "KEEP_ALIVE":
            assert set(event) == set(world.ENVELOPE)
            seen["KEEP_ALIVE"] += 1
            continue
        (payload_name,) = set(event) - set(world.ENVELOPE)
        assert payload_name == world.PAYLOAD_OF[event["eventType"]]
        payload = event[payload_name]
        location = payload["location"]
        chain = []
        while location:
            chain.append(location["inferredLocationTypes"][0])
            location = location.get("parent")
        assert chain[-1] == "ROOT" and chain[0] in ("ZONE", "FLOOR", "BUILDING", "CAMPUS", "ROOT")
        if payload_name == "cameraCounts":
            assert set(payload) == {"location", "count", "countDelta"} and chain[0] == "ZONE"
            seen["camera"] += 1
        elif payload_name == "webexTelemetryUpdate":
            assert set(payload["deviceInfo"]) == {"deviceId", "macAddress", "product", "displayName",
                                                  "serialNumber", "workspaceId", "orgId"}
            assert all(len(element) == 1 for element in payload["telemetries"]), "one bare metric per element"
            metrics = {name: value for element in payload["telemetries"] for name, value in element.items()}
            if metrics.get("presence") is None and "presence" in metrics:
                seen["presence null"] += 1
            if metrics.get("peopleCount") == -1:
                seen["peopleCount -1"] += 1
            if len(metrics) >= 7:
                seen["full report"] += 1
            elif set(metrics) == {"presence"}:
                seen["presence change"] += 1
            elif set(metrics) == {"peopleCount"}:
                seen["peopleCount change"] += 1
            elif set(metrics) == {"presence", "peopleCount"}:
                seen["both change"] += 1
        elif payload_name == "locationHierarchyChange":
            assert payload["changeType"] == "ADD" and payload["locationDetails"]["timeZone"]
            seen[f"ADD {chain[0]}"] += line.kind == "event"
        else:
            seen[payload_name] += 1
    for shape in ("KEEP_ALIVE", "camera", "presence null", "peopleCount -1", "full report", "presence change",
                  "peopleCount change", "both change", "ADD ZONE", "ADD FLOOR", "ADD BUILDING", "deviceCounts",
                  "bleRssiUpdate"):
        assert seen[shape], f"no {shape} line: {dict(seen)}"
    assert seen["ADD ZONE"] == len([r for r in scene.rooms if r.location_id])

    # Delivery semantics: Webex devices report at least hourly (± jitter) while alive; a dead one is silent longer.
    by_device: dict[str, list[datetime]] = {}
    for reading in scene.readings:
        if reading.source == "webex":
            by_device.setdefault(reading.room_key, []).append(reading.at)
    for key, times in by_device.items():
        gaps = [(b - a, a) for a, b in zip(times, times[1:], strict=False)
                if not (scene.outage[0] - timedelta(hours=2) <= a < scene.outage[1])]
        longest = max(gaps)
        if key in scene.dead:
            assert longest[0] > world.DEAD_LENGTH - timedelta(hours=1), key
        else:
            assert longest[0] <= timedelta(minutes=66), (key, longest)
    assert len(scene.dead) == 2 and sum(len(p) for p in scene.unknown_periods.values()) >= 5


# --------------------------------------------------------------------------------------------------------
# The ground-truth test
# --------------------------------------------------------------------------------------------------------


@pytest.fixture
def spaces_stream(settings):
    """The fake Firehose (TLS, real socket) and receiver settings for a replay of the whole scenario."""
    settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
    settings.FIREHOSE_FLUSH_INTERVAL_S = 0.2
    settings.FIREHOSE_BACKOFF_BASE_S = 0.05
    settings.FIREHOSE_BACKOFF_MAX_S = 0.5
    settings.FIREHOSE_SILENCE_TIMEOUT_S = 15.0
    with FakeFirehose(api_keys=(API_KEY,)) as fake:
        fake.keepalive_interval = 0.5
        yield fake
        fake.server.raise_errors()


@pytest.mark.django_db(transaction=True)
def test_ghost_bookings_match_the_ground_truth(fake_microsoft, spaces_stream, settings, client, monkeypatch,  # noqa: F811
                                               eager_tasks):
    scene = world.generate(SEED, timezone.now(), spaces_tenant_id=spaces_stream.spaces_tenant_id,
                           partner_tenant_id=spaces_stream.partner_tenant_id)
    print("\n" + scene.summary())
    problems: list[str] = []  # pieces that are not there yet: reported with the figures, not instead of them

    # Tenant, buildings in four zones, rooms mapped to their sensors, an admin.
    tenant = make_tenant(scene.spaces_tenant_name)
    rooms = build_rooms(tenant, scene)
    client.force_login(make_user(tenant, Role.ADMIN))

    # Bookings: Microsoft 365 through the fake Graph and the real sync engine. They were synced while they were
    # still ahead (the daily sync reaches CALENDAR_SYNC_DAYS_AHEAD days on), so the engine runs on that day's clock.
    settings.CALENDAR_SYNC_DAYS_AHEAD = scene.sync_days_ahead
    settings.CALENDAR_SUBSCRIPTIONS = False
    connection = connect(tenant, fake_microsoft)
    event_ids = seed_graph(fake_microsoft, connection, scene, rooms)
    first = sync_as_of(monkeypatch, scene.sync_at)
    assert first.synced == len(scene.rooms) and not first.failed, first
    for booking in scene.traps:
        if booking.trap == "cancelled_later":  # cancelled after the first sync: the next daily sync sees it go
            fake_microsoft.delete_event(booking.room.email, event_ids[booking.key])
    next_daily = max(CalendarLink.objects.values_list("next_sync_at", flat=True))
    second = sync_as_of(monkeypatch, next_daily + timedelta(minutes=1))
    assert second.synced == len(scene.rooms) and not second.failed, second
    check_bookings(scene)

    # Our stream was down longer than replay reaches: recorded as the receiver records it.
    record_outage(tenant.pk, scene.outage[0], scene.outage[1], stream="ground-truth")

    # The Firehose history, in delivery order, replayed to the receiver's first connection.
    for line in scene.lines:
        spaces_stream.publish_raw(line.raw, timestamp_ms=line.timestamp_ms, partition=line.partition)
    # The fake replays only its last hour, as Cisco does; this history is the past the first connection missed.
    spaces_stream.replay_window_s = (timezone.now() - scene.stream_start).total_seconds() + 3600
    settings.FIREHOSE_INITIAL_LOOKBACK_S = (timezone.now() - scene.stream_start).total_seconds() + 600
    settings.FIREHOSE_RESUME_OVERLAP_S = 600  # the scenario delivers up to 4 minutes late
    settings.FIREHOSE_DEDUP_RETENTION_S = 7200
    expected_lines = scene.event_lines + scene.line_counts()["malformed"]
    receiver = Receiver(lambda: credentials_for(spaces_stream, tenant.pk, api_key=API_KEY))
    with running(receiver):
        complete = wait_for(lambda: lines_taken() >= expected_lines, timeout=120, interval=0.5)
    stream_report = describe_stream(expected_lines)
    if not complete:
        problems.append(f"the receiver took {lines_taken()} of {expected_lines} lines within 120 s")
    first_from = int(spaces_stream.connections[0]["fromTimestamp"] or 0)
    assert first_from <= int(scene.stream_start.timestamp() * 1000), "the first connection asks for everything"

    # The pipeline, as beat runs it, then the whole range once more.
    from occupancy import pipeline

    for _ in range(1000):
        if not pipeline.fold_new_signals():
            break
    pipeline.recompute_outcomes([room.pk for room in rooms.values()], scene.book_from - timedelta(days=1),
                                timezone.now())

    # Every outcome through the bookings API.
    rows, api_problem = read_bookings_api(client, tenant, scene)
    source = "GET /api/v1/bookings"
    if rows is None:
        problems.append(api_problem)
        rows, source = outcomes_from_database(), "the database (the bookings API is not there yet)"
    score = Score(scene, rows)
    report = "\n".join([scene.summary(), stream_report, f"outcomes read from {source}", score.table(),
                        score.figures(), score.mistakes(), *(f"NOT YET: {p}" for p in problems)])
    print(report)

    failures = list(problems)
    if score.precision < PRECISION_AT_LEAST:
        failures.append(f"ghost precision {score.precision:.3f} < {PRECISION_AT_LEAST}")
    if score.recall < RECALL_AT_LEAST:
        failures.append(f"ghost recall {score.recall:.3f} < {RECALL_AT_LEAST}")
    if score.unknown_called_ghost:
        failures.append(f"{score.unknown_called_ghost} booking(s) whose truth is unknown called ghost")
    if score.traps_judged:
        failures.append(f"{score.traps_judged} cancelled / all-day / 8 h+ booking(s) judged")
    judged_traps = traps_with_an_outcome(scene)  # the API leaves cancelled bookings out: ask the tables too
    if judged_traps:
        failures.append(f"trap booking(s) with an outcome in the database: {', '.join(judged_traps)}")
    if score.stray_judged:
        failures.append(f"{len(score.stray_judged)} judged row(s) that match no booking of the scenario")
    assert not failures, "\n".join(["", *failures, "", report])


# --------------------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------------------


def build_rooms(tenant: Tenant, scene: world.Scenario) -> dict[str, Room]:
    rooms = {}
    for spec in scene.rooms:
        building, _ = Building.objects.get_or_create(tenant=tenant, name=spec.site.name,
                                                     defaults={"time_zone": spec.site.zone,
                                                               "address": spec.site.city})
        floor, _ = Floor.objects.get_or_create(building=building, name=spec.floor_name,
                                               defaults={"level": spec.floor_number})
        rooms[spec.key] = Room.objects.create(
            floor=floor, name=spec.name, email=spec.email, capacity=spec.capacity,
            spaces_location_id=spec.location_id, webex_workspace_id=spec.webex.workspace_id if spec.webex else "",
        )
    return rooms


def seed_graph(fake, connection, scene: world.Scenario, rooms: dict[str, Room]) -> dict[str, str]:
    """Rooms and their events in the fake Graph, links on our side; returns booking key -> Graph event id."""
    for index, spec in enumerate(scene.rooms):
        fake.add_room(spec.email, spec.name, capacity=str(spec.capacity) if index % 2 else spec.capacity)
        CalendarLink.objects.create(connection=connection, room=rooms[spec.key], external_calendar_id=spec.email,
                                    next_sync_at=scene.sync_at)
    ids = {}
    for booking in scene.bookings:
        event = booking.graph_event()
        created = fake.add_event(event["room"], event["subject"], event["start"], event["end"],
                                 time_zone=event["time_zone"], **event["fields"])
        ids[booking.key] = created["id"]
    return ids


def sync_as_of(monkeypatch, moment: datetime) -> sync.SyncReport:
    """What beat's dispatcher and a worker do (claim every due link, sync each chunk; as ``run_sync`` in
    tests/microsoft/test_sync.py), on that moment's clock."""
    total = sync.SyncReport()
    with monkeypatch.context() as patch:
        patch.setattr(sync, "timezone", SimpleNamespace(now=lambda: moment))
        for token, ids in sync.claim_due():
            report = sync.sync_claimed(token, ids)
            total.synced += report.synced
            total.failed += report.failed
            total.counts += report.counts
    return total


def check_bookings(scene: world.Scenario) -> None:
    """The sync brought every booking, at the right instant, with the flags that exempt the traps."""
    stored = {(b.room.email, b.start): b for b in Booking.objects.select_related("room")}
    wrong = []
    for booking in scene.bookings:
        found = stored.get((booking.room.email, booking.start))
        if found is None:
            wrong.append(f"{booking.key} {booking.room.email} {booking.start:%Y-%m-%d %H:%M}Z "
                         f"({booking.graph_zone}) missing")
            continue
        flags = (found.end, found.cancelled, found.all_day)
        want = (booking.end, booking.trap in ("cancelled", "cancelled_later"), booking.trap == "all_day")
        if flags != want:
            wrong.append(f"{booking.key}: stored (end, cancelled, all_day) {flags}, expected {want}")
    assert not wrong and len(stored) == len(scene.bookings), "\n".join(
        [f"{len(stored)} bookings stored, {len(scene.bookings)} expected", *wrong[:20]])


def lines_taken() -> int:
    totals = Checkpoint.objects.aggregate(applied=Sum("applied"), duplicates=Sum("duplicates"))
    return (totals["applied"] or 0) + (totals["duplicates"] or 0) + RejectedLine.objects.count()


def describe_stream(expected: int) -> str:
    from occupancy.models import OccupancySignal

    skipped: Counter = Counter()
    for checkpoint in Checkpoint.objects.all():
        skipped.update(checkpoint.skipped or {})
    totals = Checkpoint.objects.aggregate(applied=Sum("applied"), duplicates=Sum("duplicates"))
    reasons = Counter(RejectedLine.objects.values_list("reason", flat=True))
    signals = dict(OccupancySignal.objects.values_list("source").annotate(n=Count("pk")).values_list("source", "n"))
    return (f"stream: {expected} lines to take; applied {totals['applied']}, duplicates {totals['duplicates']}, "
            f"rejected {dict(reasons)}, skipped {dict(skipped)}; signals by source {signals}")


def read_bookings_api(client, tenant: Tenant, scene: world.Scenario) -> tuple[list[dict] | None, str]:
    zone = ZoneInfo(tenant.time_zone)
    params = {"from": (scene.book_from - timedelta(days=1)).astimezone(zone).date().isoformat(),
              "to": (scene.now + timedelta(days=1)).astimezone(zone).date().isoformat(), "page_size": 200}
    rows: list[dict] = []
    for page in range(1, 51):
        response = client.get("/api/v1/bookings", {**params, "page": page})
        if response.status_code != 200:
            return None, f"GET /api/v1/bookings?page={page} answered {response.status_code}: {response.text[:200]}"
        data = response.json()
        rows += data["results"]
        if not data.get("next"):
            return rows, ""
    return None, "GET /api/v1/bookings: more than 50 pages"


def traps_with_an_outcome(scene: world.Scenario) -> list[str]:
    from occupancy.models import BookingOutcome

    traps = {(b.room.email, b.start): b for b in scene.traps}
    found = []
    for outcome in BookingOutcome.objects.select_related("booking__room"):
        booking = traps.get((outcome.booking.room.email, outcome.booking.start))
        if booking is not None:
            found.append(f"{booking.key} ({booking.trap}) {outcome.outcome}")
    return found


def outcomes_from_database() -> list[dict]:
    """The same rows as the API's, from the tables (only to show figures while the API is missing)."""
    from occupancy.models import BookingOutcome

    outcomes = {o.booking_id: o for o in BookingOutcome.objects.all()}
    rows = []
    for booking in Booking.objects.select_related("room"):
        outcome = outcomes.get(booking.pk)
        rows.append({"booking_id": booking.pk, "room": {"id": booking.room_id, "name": booking.room.name,
                                                         "email": booking.room.email},
                     "start": booking.start.isoformat(), "end": booking.end.isoformat(),
                     "outcome": outcome.outcome if outcome else None, "final": outcome.final if outcome else None,
                     "evidence": outcome.evidence if outcome else None})
    return rows


# --------------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------------


def _key(email: str, start: datetime) -> tuple[str, datetime]:
    return email.strip().lower(), start.astimezone(UTC).replace(microsecond=0)


class Score:
    """Truth x outcome for every booking of the scenario, and the ghost figures."""

    def __init__(self, scene: world.Scenario, rows: list[dict]):
        self.scene = scene
        by_key: dict[tuple[str, datetime], dict] = {}
        for row in rows:
            by_key[_key(row["room"]["email"], datetime.fromisoformat(str(row["start"]).replace("Z", "+00:00")))] = row
        self.rows = by_key
        self.matrix: dict[str, Counter] = {}
        self.cases: list[tuple[world.BookingSpec, str, dict | None]] = []
        for booking in scene.bookings:
            row = by_key.get(_key(booking.room.email, booking.start))
            got = "no row" if row is None else (row.get("outcome") or "no outcome")
            label = booking.truth or f"trap:{booking.trap}"
            self.matrix.setdefault(label, Counter())[got] += 1
            self.cases.append((booking, got, row))
        wanted = {_key(b.room.email, b.start) for b in scene.bookings}
        self.stray_judged = [row for key, row in by_key.items() if key not in wanted and row.get("outcome")]
        true_ghost = self.matrix.get("ghost", Counter())
        self.true_ghosts = sum(true_ghost.values())
        self.called_ghost = sum(c["ghost"] for c in self.matrix.values()) + sum(
            1 for row in self.stray_judged if row.get("outcome") == "ghost")
        self.hits = true_ghost["ghost"]
        self.precision = self.hits / self.called_ghost if self.called_ghost else 0.0
        self.recall = self.hits / self.true_ghosts if self.true_ghosts else 0.0
        self.unknown_called_ghost = self.matrix.get("unknown", Counter())["ghost"]
        self.traps_judged = sum(count for label, counter in self.matrix.items() if label.startswith("trap:")
                                for got, count in counter.items() if got in world.OUTCOMES)

    def table(self) -> str:
        labels = [*world.OUTCOMES, *sorted(k for k in self.matrix if k.startswith("trap:"))]
        width = max(len(label) for label in labels) + 2
        head = "truth \\ outcome".ljust(width) + "".join(c.rjust(12) for c in COLUMNS) + "   total"
        lines = [head]
        for label in labels:
            counter = self.matrix.get(label, Counter())
            lines.append(label.ljust(width) + "".join(str(counter[c]).rjust(12) for c in COLUMNS)
                         + str(sum(counter.values())).rjust(8))
        if self.stray_judged:
            lines.append(f"rows matching no scenario booking but judged: {len(self.stray_judged)}")
        return "\n".join(lines)

    def figures(self) -> str:
        judged = [(b, got) for b, got, _ in self.cases if b.truth is not None]
        right = sum(1 for b, got in judged if got == b.truth)
        return (f"ghost precision {self.precision:.3f} ({self.hits}/{self.called_ghost}), recall {self.recall:.3f} "
                f"({self.hits}/{self.true_ghosts}); unknown called ghost {self.unknown_called_ghost}; traps judged "
                f"{self.traps_judged}; all outcomes right {right}/{len(judged)}")

    def mistakes(self, limit: int = 15) -> str:
        wrong = [(b, got, row) for b, got, row in self.cases if got != (b.truth or "no outcome")
                 and not (b.truth is None and got == "no row")]
        ghosts_first = sorted(wrong, key=lambda case: (case[0].truth != "ghost" and case[1] != "ghost",
                                                       case[0].start))
        out = [f"{len(wrong)} booking(s) called otherwise than the truth; the first {min(limit, len(wrong))}:"]
        for booking, got, row in ghosts_first[:limit]:
            evidence: Any = (row or {}).get("evidence")
            out.append(f"  {booking.key} {booking.room.name} [{'+'.join(booking.room.sources) or 'no sensor'}] "
                       f"{booking.start:%m-%d %H:%M}-{booking.end:%H:%M}Z truth={booking.truth or booking.trap}"
                       f"{'/' + booking.unknown_cause if booking.unknown_cause else ''} got={got} "
                       f"evidence={json.dumps(evidence, default=str)[:240]}")
        return "\n".join(out)
