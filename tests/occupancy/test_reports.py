"""The report functions on hand-made BookingOutcome and RoomDay rows (tenant Globex's rows must never count)."""

from __future__ import annotations

from datetime import date

import pytest

from occupancy import reports
from occupancy.report_filters import ReportFilters
from tests.occupancy.test_reports_fixtures import FAST_HASHERS, FROM, NEW_YORK, TO, World, at, build_world, outcome

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, settings) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build_world()


def filters_for(world, **fields) -> ReportFilters:
    return ReportFilters(world.acme, fields.pop("date_from", FROM), fields.pop("date_to", TO), **fields)


def by_label(rates: list[reports.GhostRate]) -> dict[str, tuple[int, int, float]]:
    return {rate.label: (rate.bookings, rate.ghosts, round(rate.recoverable_hours, 2)) for rate in rates}


def test_the_ghost_list_holds_final_ghosts_of_the_range_in_each_rooms_local_dates(world):
    ghosts = [reports.ghost_booking(o) for o in reports.ghost_bookings(filters_for(world))]

    assert [(g.room, g.start.date().day) for g in ghosts] == [
        ("Fjord", 6), ("Glacier", 8), ("Fjord", 20), ("Fjord", 27), ("Harbor", 31)]
    harbor = ghosts[-1]
    assert harbor.start == at(date(2025, 1, 31), 20, zone=NEW_YORK) and harbor.start.utcoffset().total_seconds() < 0
    assert (harbor.building, harbor.floor) == ("Annex", "G")


def test_the_ghost_list_hides_private_subjects_and_keeps_series_and_evidence(world):
    ghosts = {g.room + str(g.start.day): g for g in map(reports.ghost_booking,
                                                          reports.ghost_bookings(filters_for(world)))}

    assert ghosts["Glacier8"].private and ghosts["Glacier8"].subject == ""
    assert ghosts["Fjord6"].subject == "Acme standup" and ghosts["Fjord6"].series_id == "series-standup"
    assert ghosts["Fjord6"].evidence["sources"] == ["spaces_wifi", "webex"]
    assert ghosts["Fjord6"].evidence["grace_window_coverage"] == 0.9


def test_the_ghost_list_is_paginated_and_a_page_past_the_end_is_empty(world):
    filters = filters_for(world)

    second = reports.ghost_booking_page(filters, page=2, per_page=2)
    beyond = reports.ghost_booking_page(filters, page=9, per_page=2)

    assert (second.count, second.pages, [g.start.day for g in second.items]) == (5, 3, [20, 27])
    assert beyond.items == [] and beyond.count == 5


def test_ghost_rates_per_room_floor_and_building_with_recoverable_hours_from_the_daily_totals(world):
    filters = filters_for(world)

    rooms = reports.ghost_rates(filters, "room")

    # Harbor 1 of 1, Fjord 3 of 4 (the unknown is left out), Glacier 1 of 3; Globex's ghosts are nowhere.
    assert [(r.label, r.rate) for r in rooms] == [("Harbor", 1.0), ("Fjord", 0.75), ("Glacier", 1 / 3)]
    assert by_label(rooms)["Fjord"] == (4, 3, 0.5) and by_label(rooms)["Glacier"] == (3, 1, 1.0)
    assert by_label(reports.ghost_rates(filters, "floor")) == {
        "Annex / G": (1, 1, 0.0), "HQ / 1": (4, 3, 0.5), "HQ / 2": (3, 1, 1.0)}
    assert by_label(reports.ghost_rates(filters, "building")) == {"Annex": (1, 1, 0.0), "HQ": (7, 4, 1.5)}
    summary = reports.total(reports.ghost_rates(filters, "building"))
    assert (summary.bookings, summary.ghosts, summary.recoverable_hours) == (8, 5, 1.5)


def test_an_organizer_filter_counts_that_organizers_bookings_only(world):
    filters = filters_for(world, organizer="alice@acme.example")

    assert by_label(reports.ghost_rates(filters, "room")) == {"Fjord": (3, 3, 1.5)}
    assert [g.room for g in map(reports.ghost_booking, reports.ghost_bookings(filters))] == ["Fjord"] * 3


def test_series_rates_flag_a_zombie_series(world):
    series = reports.series_rates(filters_for(world))

    assert len(series) == 1
    assert (series[0].label, series[0].room, series[0].bookings, series[0].ghosts, series[0].zombie) == (
        "Acme standup", "Fjord", 3, 3, True)
    assert series[0].recoverable_hours == 1.5


def test_two_ghosts_in_a_row_are_not_a_zombie(world):
    for day in (3, 10):
        outcome(world.glacier, at(date(2025, 1, day), 15), series="series-review", subject="Review")
    outcome(world.glacier, at(date(2025, 1, 17), 15), kind="attended", series="series-review")
    outcome(world.glacier, at(date(2025, 1, 24), 15), series="series-review")

    review = next(r for r in reports.series_rates(filters_for(world)) if r.key == "series-review")

    assert (review.bookings, review.ghosts, review.zombie) == (4, 3, False)


def test_organizer_rates_use_a_pseudonym_and_an_early_ends_empty_tail_is_recoverable(world):
    outcome(world.glacier, at(date(2025, 1, 21), 10), 60, "early_end", organizer="carol@acme.example",
            evidence={"last_presence_at": at(date(2025, 1, 21), 10, 45).isoformat()})
    outcome(world.glacier, at(date(2025, 1, 22), 10), 60, organizer="carol@acme.example")

    rates = reports.organizer_rates(filters_for(world))

    assert all(rate.label.startswith("organizer ") and "@" not in rate.label for rate in rates)
    assert sorted((r.bookings, r.ghosts, round(r.recoverable_minutes)) for r in rates) == [
        (2, 1, 60), (2, 1, 75), (3, 3, 90)]
    named = reports.organizer_rates(filters_for(world, organizer="bob@acme.example"))
    assert [(r.label, r.bookings, r.ghosts) for r in named] == [("bob@acme.example", 2, 1)]


def test_utilization_per_room(world):
    fjord, glacier = reports.utilization(filters_for(world))

    assert (fjord.room, fjord.booked_hours, fjord.occupied_hours, fjord.unbooked_occupied_hours) == (
        "Fjord", 1.5, 1.5, 0.5)
    assert (fjord.peak_people, fjord.median_people, fjord.peak_fit, fjord.median_fit) == (9, 6.0, 0.9, 0.6)
    assert fjord.coverage == pytest.approx(2 / 3)
    assert (glacier.room, glacier.peak_people, glacier.median_people, glacier.median_fit, glacier.coverage) == (
        "Glacier", None, 3.0, 0.75, 0.5)


def test_the_heatmap_sums_occupied_minutes_by_local_weekday_and_hour(world):
    grid = reports.heatmap(filters_for(world))

    assert grid[1][9] == 30.0 and grid[1][14] == 60.0  # 7 January 2025 was a Tuesday
    assert sum(map(sum, grid)) == 90.0  # not Globex's 240, nor 1 February


def test_location_filters_narrow_every_report(world):
    hq_two = filters_for(world, building=world.glacier.floor.building, floor=world.glacier.floor)
    harbor = filters_for(world, room=world.harbor)

    assert [r.label for r in reports.ghost_rates(hq_two, "room")] == ["Glacier"]
    assert [u.room for u in reports.utilization(hq_two)] == ["Glacier"]
    assert [g.room for g in map(reports.ghost_booking, reports.ghost_bookings(harbor))] == ["Harbor"]
    assert reports.series_rates(harbor) == [] and reports.utilization(harbor) == []


def test_globex_sees_only_its_own_rows(world):
    filters = ReportFilters(world.globex, FROM, TO)

    assert [g.room for g in map(reports.ghost_booking, reports.ghost_bookings(filters))] == ["War Room"]
    assert by_label(reports.ghost_rates(filters, "room")) == {"War Room": (1, 1, 8.33)}
    assert [u.room for u in reports.utilization(filters)] == ["War Room"]
    assert sum(map(sum, reports.heatmap(filters))) == 240.0


def test_an_acme_room_in_globex_filters_finds_nothing(world):
    # The parser refuses this with a 404; the queries hold on their own too.
    filters = ReportFilters(world.globex, FROM, TO, room=world.fjord)

    assert not reports.ghost_bookings(filters).exists()
    assert reports.utilization(filters) == [] and reports.ghost_rates(filters, "room") == []
