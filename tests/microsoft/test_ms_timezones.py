"""Graph date-times: naive dateTime + IANA, UTC or Windows zone names become aware UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spaces_calendar.providers.microsoft.timezones import (
    WINDOWS_TO_IANA,
    UnknownTimeZone,
    from_graph,
    parse_instant,
    to_graph_utc,
    to_utc,
    zone_for,
)


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        ("2017-04-21T10:00:00.0000000", "Pacific Standard Time", datetime(2017, 4, 21, 17, tzinfo=UTC)),
        ("2024-01-15T10:00:00.0000000", "Pacific Standard Time", datetime(2024, 1, 15, 18, tzinfo=UTC)),
        ("2024-07-01T09:00:00.0000000", "W. Europe Standard Time", datetime(2024, 7, 1, 7, tzinfo=UTC)),
        ("2024-01-01T09:00:00.0000000", "Romance Standard Time", datetime(2024, 1, 1, 8, tzinfo=UTC)),
        ("2024-07-01T09:00:00.0000000", "Eastern Standard Time", datetime(2024, 7, 1, 13, tzinfo=UTC)),
        ("2024-07-01T09:00:00.0000000", "GMT Standard Time", datetime(2024, 7, 1, 8, tzinfo=UTC)),
        ("2024-07-01T09:00:00.0000000", "Tokyo Standard Time", datetime(2024, 7, 1, 0, tzinfo=UTC)),
        ("2024-07-01T09:00:00.0000000", "India Standard Time", datetime(2024, 7, 1, 3, 30, tzinfo=UTC)),
        ("2024-07-01T09:00:00.0000000", "Europe/Zurich", datetime(2024, 7, 1, 7, tzinfo=UTC)),
        ("2016-12-09T20:30:00.0000000", "UTC", datetime(2016, 12, 9, 20, 30, tzinfo=UTC)),
    ],
)
def test_it_converts_local_graph_times_to_utc(local, zone, expected):
    assert to_utc(local, zone) == expected


def test_it_keeps_up_to_seven_fractional_digits_to_the_microsecond():
    assert to_utc("2019-09-18T00:52:45.9696658", "UTC").microsecond == 969665
    assert to_utc("2019-09-18T00:52:45", "UTC").microsecond == 0


def test_it_reads_a_graph_date_time_time_zone_object():
    assert from_graph({"dateTime": "2024-07-01T00:00:00.0000000", "timeZone": "Tokyo Standard Time"}) == datetime(
        2024, 6, 30, 15, tzinfo=UTC
    )


def test_an_unknown_zone_fails_loudly_with_its_name():
    with pytest.raises(UnknownTimeZone, match="Mars Standard Time"):
        zone_for("Mars Standard Time")


def test_every_mapped_windows_zone_resolves():
    for name in WINDOWS_TO_IANA:
        assert zone_for(name) is not None


def test_instants_round_trip_in_graphs_utc_format():
    moment = datetime(2024, 7, 1, 9, 30, 15, 123456, tzinfo=UTC)

    assert to_graph_utc(moment) == "2024-07-01T09:30:15.1234560Z"
    assert parse_instant(to_graph_utc(moment)) == moment
    assert parse_instant("2019-09-18T02:52:45.9696658+02:00") == datetime(2019, 9, 18, 0, 52, 45, 969665, tzinfo=UTC)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                   "9999-12-31T23:59:59.9999999-00:01", "2024-01-01T00:00:00+99:99"])
def test_instants_outside_what_utc_can_hold_are_value_errors(value):
    with pytest.raises(ValueError):
        parse_instant(value)


def test_a_naive_datetime_cannot_be_sent_to_graph():
    with pytest.raises(ValueError):
        to_graph_utc(datetime(2024, 7, 1))
