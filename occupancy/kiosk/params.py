"""Parsing the kiosk API's path and query parameters; whatever does not parse is a 400 with the reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.dateparse import parse_datetime

MAX_ID = 2**63 - 1  # database ids are 64-bit; a larger number is malformed, not merely unknown
MAX_INTERVAL = timedelta(days=14)
MAX_AHEAD = timedelta(days=366)
MAX_CAPACITY = 100_000


class InvalidParameters(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def parse_id(value: str | None, name: str, *, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise InvalidParameters({name: "This id is required."})
        return None
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise InvalidParameters({name: "Expected a positive whole number."})
    return int(value)


@dataclass(frozen=True)
class AvailabilityQuery:
    start: datetime
    end: datetime
    capacity: int | None
    building_id: int | None
    floor_id: int | None


def parse_availability(params: Mapping[str, str], now: datetime) -> AvailabilityQuery:
    errors: dict[str, str] = {}
    start = _moment(params.get("from"), "from", errors)
    end = _moment(params.get("to"), "to", errors)
    capacity = None
    raw_capacity = params.get("capacity")
    if raw_capacity not in (None, ""):
        if not raw_capacity.isascii() or not raw_capacity.isdigit() or not 1 <= int(raw_capacity) <= MAX_CAPACITY:
            errors["capacity"] = f"Expected a number of people from 1 to {MAX_CAPACITY}."
        else:
            capacity = int(raw_capacity)
    if start and end:
        if end < start:
            errors["to"] = "Must not be before `from`."
        elif end - start > MAX_INTERVAL:
            errors["to"] = f"The interval may be at most {MAX_INTERVAL.days} days long."
        elif end <= now:
            errors["to"] = "The interval is over already."
        elif start > now + MAX_AHEAD:
            errors["from"] = f"At most {MAX_AHEAD.days} days ahead."
    building_id = floor_id = None
    for name in ("building", "floor"):
        try:
            value = parse_id(params.get(name), name, required=False)
        except InvalidParameters as error:
            errors.update(error.errors)
            continue
        if name == "building":
            building_id = value
        else:
            floor_id = value
    if errors:
        raise InvalidParameters(errors)
    return AvailabilityQuery(start, end, capacity, building_id, floor_id)


def _moment(value: str | None, name: str, errors: dict[str, str]) -> datetime | None:
    if not value:
        errors[name] = "Required: an ISO 8601 date and time with a UTC offset, e.g. 2025-03-04T09:00:00Z."
        return None
    try:
        moment = parse_datetime(value.strip())
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        errors[name] = "Not an ISO 8601 date and time, e.g. 2025-03-04T09:00:00Z."
    elif moment.tzinfo is None:
        errors[name] = "Give a UTC offset (Z or +01:00): a time without one is ambiguous."
        moment = None
    return moment
