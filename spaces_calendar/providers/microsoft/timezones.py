"""Graph date-times: a naive ``dateTime`` plus a ``timeZone`` that may be IANA, "UTC" or a Windows zone name.

Graph answers in UTC unless asked otherwise (``Prefer: outlook.timezone``), but events copied from mailboxes,
``originalStartTimeZone`` and some tenants' defaults use Windows names such as "Pacific Standard Time".
The table maps the common ones to IANA (from CLDR's windowsZones.xml, territory "001");
an unknown name fails loudly instead of silently becoming UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINDOWS_TO_IANA: dict[str, str] = {
    "Dateline Standard Time": "Etc/GMT+12",
    "UTC-11": "Etc/GMT+11",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time": "America/Los_Angeles",
    "Pacific Standard Time (Mexico)": "America/Tijuana",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time": "America/Denver",
    "Central America Standard Time": "America/Guatemala",
    "Central Standard Time": "America/Chicago",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina",
    "SA Pacific Standard Time": "America/Bogota",
    "Eastern Standard Time": "America/New_York",
    "US Eastern Standard Time": "America/Indianapolis",
    "Atlantic Standard Time": "America/Halifax",
    "Venezuela Standard Time": "America/Caracas",
    "SA Western Standard Time": "America/La_Paz",
    "Pacific SA Standard Time": "America/Santiago",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Buenos_Aires",
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw",
    "W. Central Africa Standard Time": "Africa/Lagos",
    "GTB Standard Time": "Europe/Bucharest",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "Israel Standard Time": "Asia/Jerusalem",
    "Egypt Standard Time": "Africa/Cairo",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Turkey Standard Time": "Europe/Istanbul",
    "Arab Standard Time": "Asia/Riyadh",
    "Russian Standard Time": "Europe/Moscow",
    "E. Africa Standard Time": "Africa/Nairobi",
    "Iran Standard Time": "Asia/Tehran",
    "Arabian Standard Time": "Asia/Dubai",
    "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Calcutta",
    "Nepal Standard Time": "Asia/Katmandu",
    "Bangladesh Standard Time": "Asia/Dhaka",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei",
    "W. Australia Standard Time": "Australia/Perth",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
}

_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,7}))?")
_INSTANT = re.compile(r"(.+?)(Z|[+-]\d{2}:?\d{2})?")


class UnknownTimeZone(ValueError):
    """A ``timeZone`` that is neither IANA, UTC nor in :data:`WINDOWS_TO_IANA`."""


def zone_for(name: str) -> tzinfo:
    """The tzinfo for an IANA, "UTC" or Windows zone name (https://learn.microsoft.com/graph/api/resources/datetimetimezone)."""
    name = (name or "").strip()
    if name.upper() in ("UTC", "GMT", "ETC/UTC", "Z"):
        return UTC
    iana = WINDOWS_TO_IANA.get(name, name)
    if "/" not in iana and iana != "UTC":
        raise UnknownTimeZone(f"unknown time zone {name!r}: add it to WINDOWS_TO_IANA")
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UnknownTimeZone(f"unknown time zone {name!r}") from error


def parse_naive(value: str) -> datetime:
    """A naive datetime from Graph's ``2017-04-21T10:00:00.0000000`` (up to 7 fractional digits)."""
    match = _DATE_TIME.fullmatch((value or "").strip())
    if match is None:
        raise ValueError(f"not a Graph dateTime: {value!r}")
    moment = datetime.fromisoformat(match.group(1))
    fraction = match.group(2) or ""
    try:
        return moment + timedelta(microseconds=int(fraction.ljust(7, "0")[:6])) if fraction else moment
    except OverflowError:  # 9999-12-31T23:59:59.9999999 rounds past the last datetime
        raise ValueError(f"out of range: {value!r}") from None


def parse_instant(value: str) -> datetime:
    """Aware UTC from ``...Z``, ``...+00:00`` or naive text (taken as UTC), with up to 7 fractional digits.

    Every unreadable value is a ``ValueError``, including instants that exist locally but not in UTC (year 1 at
    +14:00, 9999-12-31 at -14:00), which ``astimezone`` would raise as ``OverflowError``.
    """
    match = _INSTANT.fullmatch((value or "").strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 instant: {value!r}")
    offset = match.group(2) or "Z"
    zone = UTC if offset == "Z" else datetime.strptime(offset.replace(":", ""), "%z").tzinfo
    try:
        return parse_naive(match.group(1)).replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"out of range in UTC: {value!r}") from None


def to_utc(date_time: str, time_zone: str) -> datetime:
    """The aware UTC instant of a Graph ``dateTimeTimeZone`` (https://learn.microsoft.com/graph/api/resources/datetimetimezone)."""
    local = parse_naive(date_time).replace(tzinfo=zone_for(time_zone))
    return local.astimezone(UTC)


def from_graph(value: dict[str, Any]) -> datetime:
    """:func:`to_utc` applied to a ``{"dateTime": ..., "timeZone": ...}`` object."""
    if not isinstance(value, dict) or "dateTime" not in value:
        raise ValueError(f"not a Graph dateTimeTimeZone: {value!r}")
    return to_utc(value["dateTime"], value.get("timeZone") or "UTC")


def all_day_date(value: dict[str, Any]) -> date:
    """The calendar date an all-day event's ``start`` or ``end`` stands for.

    Graph sends all-day events at midnight of their dates whatever ``timeZone`` says (UTC by default, the zone of a
    ``Prefer: outlook.timezone`` header, or the organiser's), so the date is the part that holds, never the instant
    (microsoftgraph/microsoft-graph-docs-contrib#471, #6459). Rounded to the nearest midnight, so that a value some
    endpoint converted to another zone (midnight in UTC+3 sent as 21:00 UTC) still names its date.
    """
    if not isinstance(value, dict) or "dateTime" not in value:
        raise ValueError(f"not a Graph dateTimeTimeZone: {value!r}")
    return (parse_naive(value["dateTime"]) + timedelta(hours=12)).date()


def to_graph_utc(moment: datetime) -> str:
    """An aware datetime as Graph writes UTC instants: 7 fractional digits and ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
