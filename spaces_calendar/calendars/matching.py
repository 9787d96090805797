"""Suggest which provider calendar belongs to which room, from addresses and names alone (no database).

Evidence is weighed in tiers, strongest first: the same email address, the same name, the same name once
normalised (accents, punctuation, filler words and building/floor prefixes removed), then a similar name. A tier
only sees the rooms and calendars that stronger tiers left over. Anything a tier finds ambiguous (one room fits
two calendars equally, or two rooms one calendar) gets no suggestion at all: an admin confirms every suggestion,
and a wrong one that looks plausible is worse than none.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Protocol

SIMILARITY_THRESHOLD = 0.8
#: (tier, reason, compared key) of the exact tiers, strongest first.
_EXACT_TIERS = ((4, "same email", "email"), (3, "same name", "name"), (2, "same name (normalised)", "normal"))

_FILLER_PHRASES = ("meeting room", "conference room", "conf room", "conf rm", "mtg room", "mtg rm", "meeting rm")
_FILLER_WORDS = frozenset({"room", "rm", "meeting", "mtg", "conf", "conference", "the"})
# "HQ-3-Fjord", "OSL.03.Fjord", "B1-2-Fjord": a short site code and a floor number before the name. Separators
# must be punctuation, not spaces, or "Room 3 Fjord" would lose its number.
_SITE_FLOOR_PREFIX = re.compile(r"^[a-z0-9]{1,6}[-_./]\d{1,3}[a-z]?[-_./]\s*")
# "B1 F2 Fjord", "Building 2, Level 3 - Fjord": building and floor tokens leading the name.
_BUILDING_OR_FLOOR = re.compile(r"^(?:b|bldg|building|f|fl|flr|floor|l|lvl|level)\s*-?\d{1,3}\b[\s\-_./,:]*")
# A trailing capacity such as "(12)" or "(8 seats)": Exchange display names often carry one, calendars rarely do.
_CAPACITY_SUFFIX = re.compile(r"\(\s*\d+\s*(?:seats?|pax|p|people|persons?)?\s*\)\s*$")
# Letters Unicode does not decompose into a base letter and an accent.
_UNDECOMPOSABLE = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L",
                                 "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH"})
_NON_WORD = re.compile(r"[\W_]+")
_NUMBER = re.compile(r"\d+")


class RoomLike(Protocol):
    pk: Any
    name: str
    email: str


class CalendarLike(Protocol):
    external_id: str
    name: str


@dataclass(frozen=True)
class Suggestion:
    calendar: Any
    #: Why, in words an admin reads next to the suggestion: "same email", "same name", "similar name 87%".
    reason: str
    #: 1.0 for the exact tiers, the similarity ratio for the last one.
    score: float
    #: 4 = email, 3 = name, 2 = normalised name, 1 = similar name; stronger evidence has the higher tier.
    tier: int


def suggest_matches(
    rooms: Iterable[RoomLike],
    calendars: Iterable[CalendarLike],
    *,
    linked: Collection[str] = (),
    key: Callable[[RoomLike], Hashable] = lambda room: room.pk,
) -> dict[Hashable, Suggestion]:
    """A suggestion per room that has an unambiguous best calendar, keyed by ``key(room)`` (the pk).

    Calendars whose ``external_id`` is in ``linked`` are never suggested; each calendar goes to one room at most.
    """
    linked_ids = {address.strip().lower() for address in linked}
    room_pool = {key(room): _Side(room.name, room.email) for room in rooms}
    calendar_pool = {
        index: _Side(calendar.name, calendar.external_id, calendar)
        for index, calendar in enumerate(calendars)
        if calendar.external_id.strip().lower() not in linked_ids
    }
    found: dict[Hashable, Suggestion] = {}
    for tier, reason, field in _EXACT_TIERS:
        found.update(_settle(_exact_pairs(room_pool, calendar_pool, field), room_pool, calendar_pool, reason, tier))
    found.update(_similar(room_pool, calendar_pool))
    return found


def normalise_name(name: str) -> str:
    """A room name without accents, case, punctuation, filler words or a leading building/floor code."""
    text = _strip_accents(name).casefold().strip()
    plain = _words(text)
    text = _CAPACITY_SUFFIX.sub("", text)
    text = _SITE_FLOOR_PREFIX.sub("", text)
    while (shorter := _BUILDING_OR_FLOOR.sub("", text, count=1)) != text:
        text = shorter
    text = _words(text)
    for phrase in _FILLER_PHRASES:
        text = re.sub(rf"\b{phrase}\b", " ", text)
    words = [word for word in text.split() if word not in _FILLER_WORDS]
    # A room called just "Conference Room" or "F1" keeps its words: an empty name would match every other one.
    return " ".join(words) or plain


def _words(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text).split())


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSABLE))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


class _Side:
    """One room or calendar with its comparison keys computed once (the similarity tier compares n·m pairs)."""

    __slots__ = ("email", "name", "normal", "numbers", "sorted_tokens", "value")

    def __init__(self, name: str, email: str, value: Any = None):
        self.value = value
        self.email = (email or "").strip().lower()
        self.name = " ".join((name or "").casefold().split())
        self.normal = normalise_name(name or "")
        self.numbers = tuple(_NUMBER.findall(self.normal))
        self.sorted_tokens = " ".join(sorted(self.normal.split()))


def _exact_pairs(rooms: dict[Hashable, _Side], calendars: dict[int, _Side], field: str) -> list[tuple[Hashable, int]]:
    by_value: dict[str, list[int]] = defaultdict(list)
    for index, calendar in calendars.items():
        if value := getattr(calendar, field):
            by_value[value].append(index)
    return [(room_key, index) for room_key, room in rooms.items() for index in by_value.get(getattr(room, field), ())]


def _settle(
    pairs: Sequence[tuple[Hashable, int]],
    rooms: dict[Hashable, _Side],
    calendars: dict[int, _Side],
    reason: str,
    tier: int,
) -> dict[Hashable, Suggestion]:
    """Keep the pairs that are one-to-one; everyone a tier touched leaves the pool, matched or tied, so a weaker
    tier cannot pick a second-best partner for a room whose best was a tie."""
    room_count: dict[Hashable, int] = defaultdict(int)
    calendar_count: dict[int, int] = defaultdict(int)
    for room_key, index in pairs:
        room_count[room_key] += 1
        calendar_count[index] += 1
    settled = {}
    for room_key, index in pairs:
        if room_count[room_key] == 1 and calendar_count[index] == 1:
            settled[room_key] = Suggestion(calendars[index].value, reason, 1.0, tier)
    for room_key, index in pairs:
        rooms.pop(room_key, None)
        calendars.pop(index, None)
    return settled


def _similar(rooms: dict[Hashable, _Side], calendars: dict[int, _Side]) -> dict[Hashable, Suggestion]:
    """Each room's best calendar above the threshold; a calendar that is the best of several rooms goes to the
    clearly closest one. Losers get nothing rather than their second choice."""
    best: dict[Hashable, tuple[float, list[int]]] = {}
    matcher = SequenceMatcher(autojunk=False)
    for index, calendar in calendars.items():
        matcher.set_seq2(calendar.normal)  # set_seq2 does the indexing work: once per calendar, not per pair
        for room_key, room in rooms.items():
            score = _similarity(matcher, room, calendar)
            if score < SIMILARITY_THRESHOLD:
                continue
            top, indexes = best.get(room_key, (0.0, []))
            if score > top:
                best[room_key] = (score, [index])
            elif score == top:
                indexes.append(index)
    suitors: dict[int, list[tuple[float, Hashable]]] = defaultdict(list)
    for room_key, (score, indexes) in best.items():
        if len(indexes) == 1:
            suitors[indexes[0]].append((score, room_key))
    found = {}
    for index, candidates in suitors.items():
        candidates.sort(key=lambda candidate: candidate[0], reverse=True)
        if len(candidates) > 1 and candidates[0][0] == candidates[1][0]:
            continue
        score, room_key = candidates[0]
        found[room_key] = Suggestion(calendars[index].value, f"similar name {round(score * 100)}%", score, 1)
    return found


def _similarity(matcher: SequenceMatcher, room: _Side, calendar: _Side) -> float:
    # "Fjord 12" and "Fjord 13" are 88% alike yet different rooms: differing numbers rule a pair out.
    if room.numbers != calendar.numbers or not room.normal or not calendar.normal:
        return 0.0
    matcher.set_seq1(room.normal)
    # Both quick ratios bound the real one from above, and reordering words keeps the same characters, so a
    # pair failing them cannot pass with the words sorted either: most pairs end here, cheaply.
    if matcher.real_quick_ratio() < SIMILARITY_THRESHOLD or matcher.quick_ratio() < SIMILARITY_THRESHOLD:
        return 0.0
    score = matcher.ratio()
    if score < 1.0 and (room.sorted_tokens != room.normal or calendar.sorted_tokens != calendar.normal):
        # Naming schemes disagree on word order ("Small Fjord" / "Fjord Small").
        reordered = SequenceMatcher(None, room.sorted_tokens, calendar.sorted_tokens, autojunk=False).ratio()
        score = max(score, reordered)
    return round(score, 6)
