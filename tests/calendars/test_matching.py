"""Suggesting a calendar per room: tiers of evidence, ties, accents, prefixes; no database."""

from __future__ import annotations

from dataclasses import dataclass

from spaces_calendar.calendars.matching import normalise_name, suggest_matches


@dataclass(frozen=True)
class R:
    pk: int
    name: str
    email: str = ""


@dataclass(frozen=True)
class C:
    external_id: str
    name: str = ""


def suggested(rooms, calendars, **kwargs) -> dict[int, tuple[str, str]]:
    return {key: (s.calendar.external_id, s.reason) for key, s in suggest_matches(rooms, calendars, **kwargs).items()}


def test_it_suggests_the_calendar_with_the_rooms_email_first():
    rooms = [R(1, "Fjord", "Fjord.Room@Contoso.com")]
    calendars = [C("other@contoso.com", "Fjord"), C("fjord.room@contoso.com", "Something else")]

    assert suggested(rooms, calendars) == {1: ("fjord.room@contoso.com", "same email")}


def test_it_matches_the_exact_name_ignoring_case_and_spacing():
    rooms = [R(1, "Board  Room"), R(2, "Fjord")]
    calendars = [C("a@x", "board room"), C("b@x", "FJORD")]

    assert suggested(rooms, calendars) == {1: ("a@x", "same name"), 2: ("b@x", "same name")}


def test_it_matches_names_once_prefixes_filler_words_and_punctuation_are_gone():
    rooms = [R(1, "Fjord"), R(2, "Glacier"), R(3, "Tundra"), R(4, "Summit")]
    calendars = [C("a@x", "HQ-3-Fjord"), C("b@x", "B1 F2 Glacier"), C("c@x", "Conf. Room Tundra (12)"),
                 C("d@x", "Meeting room: Summit")]

    result = suggested(rooms, calendars)

    assert {key: address for key, (address, _) in result.items()} == {1: "a@x", 2: "b@x", 3: "c@x", 4: "d@x"}
    assert {reason for _, reason in result.values()} == {"same name (normalised)"}


def test_accents_and_letters_without_accents_compare_equal():
    rooms = [R(1, "Sala Réunion"), R(2, "Bjørnøya"), R(3, "Straße")]
    calendars = [C("a@x", "Sala Reunion"), C("b@x", "Bjornoya"), C("c@x", "STRASSE")]

    assert {key: address for key, (address, _) in suggested(rooms, calendars).items()} == {
        1: "a@x", 2: "b@x", 3: "c@x"}


def test_a_similar_name_is_suggested_with_its_score():
    rooms = [R(1, "Aurora Borealis")]
    calendars = [C("a@x", "Aurora Boreal"), C("b@x", "Sydpolen")]

    [(key, suggestion)] = suggest_matches(rooms, calendars).items()

    assert (key, suggestion.calendar.external_id, suggestion.reason) == (1, "a@x", "similar name 93%")
    assert 0.92 < suggestion.score < 0.93


def test_words_in_another_order_are_similar():
    [suggestion] = suggest_matches([R(1, "Small Fjord")], [C("a@x", "Fjord Small")]).values()

    assert suggestion.reason == "similar name 100%"


def test_names_that_differ_only_in_their_number_are_never_matched():
    rooms = [R(1, "Fjord 12"), R(2, "Level 3 Room 4")]
    calendars = [C("a@x", "Fjord 13"), C("b@x", "Room 5")]

    assert suggested(rooms, calendars) == {}


def test_dissimilar_names_get_no_suggestion():
    assert suggested([R(1, "Aurora")], [C("a@x", "Borealis")]) == {}


def test_a_room_that_fits_two_calendars_equally_gets_no_suggestion():
    rooms = [R(1, "Fjord")]
    calendars = [C("a@x", "Fjord"), C("b@x", "fjord")]

    assert suggested(rooms, calendars) == {}


def test_a_calendar_that_fits_two_rooms_equally_goes_to_neither():
    rooms = [R(1, "Fjord", "one@x"), R(2, "fjord", "two@x")]

    assert suggested(rooms, [C("a@x", "Fjord")]) == {}


def test_a_calendar_equally_similar_to_two_rooms_goes_to_neither():
    rooms = [R(1, "Aurora Borealis"), R(2, "Aurora Borealiz")]

    assert suggested(rooms, [C("a@x", "Aurora Boreal")]) == {}


def test_a_tie_in_a_strong_tier_is_not_resolved_by_a_weaker_one():
    # Room 1 is as much "Fjord" (a@x) as "FJORD" (b@x); the similar c@x must not be offered as a consolation.
    rooms = [R(1, "Fjord")]
    calendars = [C("a@x", "Fjord"), C("b@x", "FJORD"), C("c@x", "Fjords")]

    assert suggested(rooms, calendars) == {}


def test_each_calendar_goes_to_the_clearly_closest_room_only():
    # Both rooms are above the threshold (84% and 91%); the closer one gets it, the other nothing.
    rooms = [R(1, "Nordlys Board"), R(2, "Nordlys Board E")]
    calendars = [C("a@x", "Nordlys Board East")]

    assert suggested(rooms, calendars) == {2: ("a@x", "similar name 91%")}


def test_stronger_evidence_takes_a_calendar_before_weaker_evidence_sees_it():
    rooms = [R(1, "Fjord", "fjord@x"), R(2, "Fjord")]
    calendars = [C("fjord@x", "Fjord")]

    assert suggested(rooms, calendars) == {1: ("fjord@x", "same email")}


def test_linked_calendars_are_not_suggested():
    rooms = [R(1, "Fjord", "fjord@x")]
    calendars = [C("fjord@x", "Fjord")]

    assert suggested(rooms, calendars, linked=["FJORD@x"]) == {}


def test_a_name_made_only_of_filler_words_still_matches_itself_but_not_others():
    rooms = [R(1, "Conference Room"), R(2, "F1")]
    calendars = [C("a@x", "Conference room"), C("b@x", "Meeting Room"), C("c@x", "f1")]

    assert suggested(rooms, calendars) == {1: ("a@x", "same name"), 2: ("c@x", "same name")}


def test_normalise_name_examples():
    assert normalise_name("HQ-3-Fjord") == "fjord"
    assert normalise_name("Building 2, Level 3 - Fjord") == "fjord"
    assert normalise_name("OSL.03.Fjörd (8 seats)") == "fjord"
    assert normalise_name("Room 3 Fjord") == "3 fjord"  # a number that is part of the name stays


def test_two_hundred_rooms_against_two_hundred_calendars():
    words = ["Fjord", "Glacier", "Tundra", "Summit", "Aurora", "Delta", "Canyon", "Meadow", "Harbor", "Ridge"]
    rooms = [R(i, f"{words[i % 10]} {i}", f"room{i}@contoso.com" if i % 4 == 0 else "") for i in range(200)]
    calendars = [C(f"room{i}@contoso.com", f"HQ-{i % 7}-{words[i % 10]} {i}") for i in range(200)]

    result = suggest_matches(rooms, calendars)

    assert len(result) == 200
    assert all(suggestion.calendar.external_id == f"room{key}@contoso.com" for key, suggestion in result.items())
    assert sum(1 for s in result.values() if s.reason == "same email") == 50
