"""The receiver against the fake Firehose over TLS: batching, checkpoints, reconnects and faults."""

from __future__ import annotations

import json
import time

import pytest

from firehose.events import parse_line
from firehose.ledger import StreamKey
from firehose.models import Checkpoint, ReceiverStatus, RejectedLine, SeenRecord
from firehose.receiver import Receiver
from occupancy.models import OccupancySignal, PendingSignal, RoomSourceState
from spaces_calendar.partner import firehose_payloads as fp
from tests.worker import wait_for

from .conftest import credentials_for, running

pytestmark = pytest.mark.django_db(transaction=True)
NOW_MS = lambda: int(time.time() * 1000)  # noqa: E731


def zone(location: str, name: str = "") -> dict:
    return fp.location_path(fp.Level("loc-hq", "HQ", ("BUILDING",)), fp.Level(location, name or location, ("ZONE",)))


def occupancy(fake, location: str, count: int, *, at: int | None = None, uid: str | None = None,
              spaces_tenant_id: str | None = None) -> dict:
    """A ``spaceOccupancy`` window starting at ``at`` (its recordTimestamp too), as the real stream sends it."""
    at = at if at is not None else NOW_MS()
    payload = fp.space_occupancy(zone(location), fp.space(location, location), people_count=count,
                                 people_presence=count > 0, booking_status=False, peak_people_count=count,
                                 window_start_ms=at, time_zone="UTC")
    return fake.event("spaceOccupancy", payload, timestamp_ms=at, uid=uid, spaces_tenant_id=spaces_tenant_id)


def webex(fake, workspace: str, metrics: dict, *, at: int) -> dict:
    device = fp.device_info(f"device-{workspace}", workspace_id=workspace, product="Cisco Room Kit")
    return fake.event("webexTelemetryUpdate", fp.webex_telemetry_update(device, zone(f"loc-{workspace}"),
                                                                         fp.telemetries(metrics)), timestamp_ms=at)


def hierarchy(fake, change: str, location: str, name: str = "", time_zone: str = "") -> dict:
    details = fp.location_details(time_zone) if time_zone else None
    return fake.event("locationHierarchyChange", fp.location_hierarchy_change(change, zone(location, name), details),
                      timestamp_ms=NOW_MS())


def applied_uids() -> list[str]:
    return sorted(OccupancySignal.objects.values_list("source_event_id", flat=True))


def test_events_become_signals_for_the_right_rooms_and_the_checkpoint_moves(firehose, office):
    tenant, rooms = office
    start = NOW_MS() - 10_000
    events = [occupancy(firehose, "loc-fjord", 3, at=start), occupancy(firehose, "loc-glacier", 0, at=start + 1),
              webex(firehose, "ws-fjord", {"peopleCount": 2}, at=start + 2)]
    for event in events:
        firehose.publish(event)
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk))

    with running(receiver):
        assert wait_for(lambda: OccupancySignal.objects.count() == 3, timeout=10)

    assert applied_uids() == sorted(event["recordUid"] for event in events)
    fjord = {s.source: s for s in OccupancySignal.objects.filter(room=rooms["fjord"])}
    assert fjord["spaces_occupancy"].people_count == 3 and fjord["webex_people"].people_count == 2
    assert RoomSourceState.objects.get(room=rooms["glacier"]).present is False
    checkpoint = Checkpoint.objects.get(stream="test")
    assert checkpoint.high_water_ms == start + 2 and checkpoint.applied == 3
    first_from = int(firehose.connections[0]["fromTimestamp"])
    # The very first connection asks for as much as the Firehose replays (about an hour), not one overlap.
    assert start - 3_630_000 < first_from < start - 3_500_000
    status = ReceiverStatus.objects.get(stream="test")
    assert status.last_event_at is not None and status.connected is False  # stopped cleanly


def test_a_cut_mid_line_reconnects_from_the_checkpoint_and_loses_nothing(firehose, office, settings):
    tenant, _ = office
    settings.FIREHOSE_RESUME_OVERLAP_S = 60
    start = NOW_MS() - 30_000
    firehose.cut_next_after(3)
    events = [occupancy(firehose, "loc-fjord", n, at=start + n) for n in range(8)]
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk))

    with running(receiver):
        assert wait_for(lambda: len(firehose.connections) >= 1, timeout=10)
        for event in events:
            firehose.publish(event, partition=1)
        assert wait_for(lambda: OccupancySignal.objects.count() == 8, timeout=15)
        time.sleep(0.3)

    assert applied_uids() == sorted(event["recordUid"] for event in events), "each event exactly once"
    resumed = int(firehose.connections[1]["fromTimestamp"])
    assert resumed == start + 2 - 60_000, "resumed from the high water minus the overlap"
    assert Checkpoint.objects.get(stream="test").duplicates >= 3, "the overlap replayed applied events: dropped"


def test_silence_without_keep_alive_means_reconnect(firehose, office, settings):
    tenant, _ = office
    settings.FIREHOSE_SILENCE_TIMEOUT_S = 0.5
    firehose.stall_next(30)
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk))

    with running(receiver):
        assert wait_for(lambda: len(firehose.connections) >= 2, timeout=10), "a stalled stream was abandoned"
        firehose.publish(occupancy(firehose, "loc-fjord", 1, at=NOW_MS()))
        assert wait_for(lambda: OccupancySignal.objects.count() == 1, timeout=10)


def test_duplicates_and_out_of_order_events_are_applied_once(firehose, office):
    tenant, _ = office
    firehose.duplicate_every = 2
    base = NOW_MS() - 5_000
    events = [occupancy(firehose, "loc-fjord", n, at=base - n * 100) for n in range(10)]  # newest first
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk))

    with running(receiver):
        assert wait_for(lambda: len(firehose.connections) >= 1, timeout=10)
        for event in events:
            firehose.publish(event, partition=3)
        assert wait_for(lambda: Checkpoint.objects.filter(stream="test", applied=10, duplicates=5).exists(),
                        timeout=10)

    assert applied_uids() == sorted(event["recordUid"] for event in events)
    assert Checkpoint.objects.get(stream="test").high_water_ms == base


def test_a_bad_line_is_set_aside_and_the_stream_goes_on(firehose, office):
    tenant, _ = office
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk))

    with running(receiver):
        assert wait_for(lambda: len(firehose.connections) >= 1, timeout=10)
        firehose.publish_raw(b'{"recordUid": "broken", "recordTimestamp": 1, "spaceOcc')
        firehose.publish(occupancy(firehose, "loc-fjord", 1, at=NOW_MS()))
        assert wait_for(lambda: OccupancySignal.objects.count() == 1, timeout=10)

    (rejected,) = RejectedLine.objects.all()
    assert "not JSON" in rejected.reason and "broken" in rejected.excerpt
    assert len(firehose.connections) == 1, "no reconnect for one bad line"


def test_unknown_types_foreign_locations_and_other_tenants_are_counted_not_attached(firehose, office):
    tenant, rooms = office
    now = NOW_MS()
    events = [
        firehose.event("bleUpdate", {"x": 1}, timestamp_ms=now, event_type="BLE_UPDATE"),
        occupancy(firehose, "loc-foreign", 5, at=now),  # another tenant's room: for this tenant, not mapped yet
        occupancy(firehose, "loc-nowhere", 5, at=now),  # not mapped yet
        occupancy(firehose, "loc-fjord", 1, at=now, spaces_tenant_id="someone-else"),
        occupancy(firehose, "loc-fjord", 2, at=now + 10 * 86400 * 1000),  # far in the future
    ]
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk))

    with running(receiver):
        assert wait_for(lambda: len(firehose.connections) >= 1, timeout=10)
        for event in events:
            firehose.publish(event, partition=2)
        assert wait_for(lambda: Checkpoint.objects.filter(stream="test", applied=5).exists(), timeout=10)

    assert not OccupancySignal.objects.exists()
    assert Checkpoint.objects.get(stream="test").skipped == {
        "unknown_type:BLE_UPDATE": 1, "pending_unmapped": 2, "unknown_tenant": 1, "out_of_range_time": 1}
    # Kept for this tenant until it maps them, never attached to the other tenant's room.
    assert sorted(PendingSignal.objects.values_list("tenant_id", "key")) == [
        (tenant.pk, "loc-foreign"), (tenant.pk, "loc-nowhere")]


def test_a_refused_key_stops_the_stream_and_marks_the_activation(firehose, office):
    tenant, _ = office
    refusals: list[str] = []
    firehose.deactivated_keys.add("fake-spaces-api-key")
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk, refused=refusals.append))

    with running(receiver):
        assert wait_for(lambda: refusals, timeout=10)
        time.sleep(0.5)

    assert len(refusals) == 1, "a refused key is not tried again and again"
    assert "403" in refusals[0]
    assert "403" in ReceiverStatus.objects.get(stream="test").last_error


def test_server_errors_are_retried_with_backoff(firehose, office):
    tenant, _ = office
    firehose.refuse(503, times=3)
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk))

    with running(receiver):
        firehose.publish(occupancy(firehose, "loc-fjord", 1, at=NOW_MS()))
        assert wait_for(lambda: len(firehose.connections) >= 1, timeout=10)
    assert receiver.attempt >= 3


def test_two_receivers_split_the_partitions_with_their_own_checkpoints(firehose, office):
    tenant, _ = office
    now = NOW_MS() - 1000
    low = [occupancy(firehose, "loc-fjord", 1, at=now + n) for n in range(4)]
    high = [occupancy(firehose, "loc-glacier", 1, at=now + 10 + n) for n in range(3)]
    first = Receiver(lambda: credentials_for(firehose, tenant.pk), min_partition=1, max_partition=6)
    second = Receiver(lambda: credentials_for(firehose, tenant.pk), min_partition=7, max_partition=12)

    with running(first), running(second):
        assert wait_for(lambda: len(firehose.connections) >= 2, timeout=10)
        for event in low:
            firehose.publish(event, partition=2)
        for event in high:
            firehose.publish(event, partition=9)
        assert wait_for(lambda: OccupancySignal.objects.count() == 7, timeout=10)

    by_range = {(c.min_partition, c.max_partition): c for c in Checkpoint.objects.all()}
    assert by_range[(1, 6)].applied == 4 and by_range[(7, 12)].applied == 3
    assert by_range[(1, 6)].high_water_ms == now + 3 and by_range[(7, 12)].high_water_ms == now + 12
    assert {c["minPartition"] for c in firehose.connections} == {"1", "7"}


def test_location_hierarchy_changes_keep_rooms_current(firehose, office):
    tenant, rooms = office
    from tests.factories import make_room

    lonely = make_room(tenant, "Harbour")
    # One change per event, the room's time zone in locationDetails (DESIGN.md section 6).
    changes = [
        hierarchy(firehose, "UPDATE", "loc-fjord", "Fjord (renovated)", "Europe/Berlin"),
        hierarchy(firehose, "ADD", "loc-harbour", "harbour"),
        hierarchy(firehose, "REMOVE", "loc-glacier", "Glacier"),
        hierarchy(firehose, "ADD", "loc-foreign-2", "Foreign"),
    ]
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk))

    with running(receiver):
        assert wait_for(lambda: len(firehose.connections) >= 1, timeout=10)
        for change in changes:
            firehose.publish(change, partition=1)
        assert wait_for(lambda: Checkpoint.objects.filter(stream="test", applied=4).exists(), timeout=10)

    for room in (*rooms.values(), lonely):
        room.refresh_from_db()
    assert (rooms["fjord"].name, rooms["fjord"].time_zone) == ("Fjord (renovated)", "Europe/Berlin")
    assert lonely.spaces_location_id == "loc-harbour"
    assert rooms["glacier"].spaces_location_id == ""
    assert rooms["foreign"].spaces_location_id == "loc-foreign", "another tenant's room is never touched"


def test_applied_record_uids_are_remembered_but_not_forever(firehose, office, settings):
    from firehose import ledger

    tenant, _ = office
    settings.FIREHOSE_DEDUP_RETENTION_S = 200
    settings.FIREHOSE_RESUME_OVERLAP_S = 100
    now = NOW_MS()
    old, recent = occupancy(firehose, "loc-fjord", 1, at=now - 400_000), occupancy(firehose, "loc-fjord", 1, at=now)
    events = [parse_line(json.dumps(e)) for e in (old, recent)]
    ledger.apply_batch(StreamKey("test"), events, lambda spaces: tenant.pk)

    assert ledger.prune_seen() == 1
    assert list(SeenRecord.objects.values_list("record_timestamp_ms", "uid_hash")) == [ledger.record_key(events[1])]
    # What is left still tells the replayed copy from a new record.
    assert ledger.apply_batch(StreamKey("test"), [events[1]], lambda spaces: tenant.pk).duplicates == 1


def test_a_batch_partly_applied_before_applies_only_the_rest_with_its_skips(firehose, office):
    from firehose import ledger

    tenant, rooms = office
    now = NOW_MS() - 60_000
    first = occupancy(firehose, "loc-fjord", 1, at=now)
    unmapped = occupancy(firehose, "loc-nowhere", 2, at=now + 1)
    noise = webex(firehose, "ws-fjord", {"ambientNoise": 30}, at=now + 2)  # no occupancy metric: skipped
    fresh = occupancy(firehose, "loc-glacier", 0, at=now + 3)
    parsed = {name: parse_line(json.dumps(event)) for name, event in
              {"first": first, "unmapped": unmapped, "noise": noise, "fresh": fresh}.items()}
    ledger.apply_batch(StreamKey("test"), [parsed["first"], parsed["noise"]], lambda spaces: tenant.pk)

    # The replayed two come again between new ones, and one new one twice.
    again = [parsed["unmapped"], parsed["first"], parsed["fresh"], parsed["noise"], parsed["fresh"]]
    outcome = ledger.apply_batch(StreamKey("test"), again, lambda spaces: tenant.pk)

    assert (outcome.applied, outcome.duplicates, outcome.signals) == (2, 3, 1)
    assert dict(outcome.skipped) == {"pending_unmapped": 1}, "the replayed event's skip is not counted again"
    assert applied_uids() == sorted([first["recordUid"], fresh["recordUid"]])
    assert list(PendingSignal.objects.values_list("source_event_id", flat=True)) == [unmapped["recordUid"]]
    checkpoint = Checkpoint.objects.get(stream="test")
    assert checkpoint.skipped == {"no_occupancy_telemetry": 1, "pending_unmapped": 1}
    assert checkpoint.high_water_ms == now + 3
