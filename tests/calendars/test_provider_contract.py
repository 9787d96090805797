"""The contract every registered calendar provider keeps, each against its own fake on real sockets, asserted only
through the neutral interface (``calendars/remote.py``) the sync engine uses.

Parametrised over ``registry.registered()``: a provider added to ``CALENDAR_PROVIDERS`` runs every test here as
soon as its ``contract_world_<key>`` fixture exists (``conftest.py``), and fails the first test until it does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from spaces_calendar.calendars import registry
from spaces_calendar.calendars.models import CalendarLink, Subscription
from spaces_calendar.calendars.remote import (
    CalendarProvider,
    FetchRequest,
    FetchResult,
    RemoteCalendar,
    RemoteEvent,
    provider_for,
)
from spaces_calendar.core.http import AuthError, Throttled
from spaces_calendar.providers.errors import ConsentRevoked
from tests.factories import make_room

from .conftest import ContractWorld

pytestmark = pytest.mark.django_db
PROVIDERS = [provider.key for provider in registry.registered()]
FJORD, GLACIER, VAULT = "fjord@contract.example", "glacier@contract.example", "vault@contract.example"


@pytest.fixture(params=PROVIDERS)
def world(request) -> ContractWorld:
    return request.getfixturevalue(f"contract_world_{request.param}")


@pytest.fixture
def provider(world) -> CalendarProvider:
    return provider_for(world.connection.provider)


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    day = (timezone.now() + timedelta(days=1)).astimezone(UTC)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def fetch(provider: CalendarProvider, world: ContractWorld, room: str, sync_state: str = "") -> FetchResult:
    now = timezone.now()
    request = FetchRequest(link_id=1, calendar_id=room, window_start=now - timedelta(hours=1),
                           window_end=now + timedelta(days=3), sync_state=sync_state)
    [result] = provider.fetch(world.connection, [request])
    assert result.link_id == 1
    return result


def by_id(result: FetchResult) -> dict[str, RemoteEvent]:
    return {event.external_id: event for event in result.events if not event.cancelled}


def reports_removal(result: FetchResult, meeting_id: str) -> bool:
    """A removal is a removed id, a cancelled item, or (in a full answer) simply missing."""
    cancelled = {event.external_id for event in result.events if event.cancelled}
    return (meeting_id in result.removed_ids or meeting_id in cancelled
            or (result.full and meeting_id not in by_id(result)))


@pytest.mark.parametrize("key", PROVIDERS)
def test_every_registered_provider_has_a_contract_world(request, key):
    try:
        request.getfixturevalue(f"contract_world_{key}")
    except pytest.FixtureLookupError:
        pytest.fail(f"{key} is registered but has no contract_world_{key} fixture (tests/calendars/conftest.py)")


# --- Rooms ------------------------------------------------------------------------------------------------------

def test_discovery_lists_the_directorys_rooms_with_their_details(world, provider):
    world.add_room(FJORD, "Fjord", 12, building="HQ", floor="2")
    world.add_room(GLACIER, "Glacier", 6)

    listed = {calendar.external_id: calendar for calendar in provider.discover_calendars(world.connection)}

    assert set(listed) >= {FJORD, GLACIER}
    fjord = listed[FJORD]
    assert (fjord.name, fjord.capacity, fjord.building, fjord.floor) == ("Fjord", 12, "HQ", "2")
    assert listed[GLACIER].capacity == 6
    expires = provider.token_expires_at(world.connection)
    assert expires is None or expires > timezone.now()


def test_a_room_the_directory_does_not_list_is_found_by_its_address(world, provider):
    world.add_room(VAULT, "Vault", 4, listed=False)

    found = provider.find_calendar(world.connection, "  Vault@Contract.example ")

    assert isinstance(found, RemoteCalendar) and found.external_id == VAULT
    assert provider.find_calendar(world.connection, "nobody@contract.example") is None


# --- Events -----------------------------------------------------------------------------------------------------

def test_a_full_fetch_brings_the_windows_meetings_in_utc_and_a_sync_state(world, provider):
    world.add_room(FJORD, "Fjord", 12)
    planning = world.add_meeting(FJORD, "Planning", tomorrow_at(9), tomorrow_at(10))
    review = world.add_meeting(FJORD, "Review", tomorrow_at(13), tomorrow_at(13, 30))
    world.add_meeting(FJORD, "Next month", tomorrow_at(9) + timedelta(days=30), tomorrow_at(10) + timedelta(days=30))

    result = fetch(provider, world, FJORD)

    assert result.error is None and result.full and result.sync_state
    events = by_id(result)
    assert set(events) == {planning, review}, "only the window's meetings"
    assert (events[planning].start, events[planning].end) == (tomorrow_at(9), tomorrow_at(10))
    assert events[planning].start.utcoffset() == timedelta(0)
    assert events[review].subject == "Review"


def test_an_incremental_fetch_brings_new_and_moved_meetings(world, provider):
    world.add_room(FJORD, "Fjord", 12)
    moved = world.add_meeting(FJORD, "Planning", tomorrow_at(9), tomorrow_at(10))
    state = fetch(provider, world, FJORD).sync_state

    added = world.add_meeting(FJORD, "Ad hoc", tomorrow_at(15), tomorrow_at(15, 30))
    world.move_meeting(FJORD, moved, tomorrow_at(11), tomorrow_at(12))
    result = fetch(provider, world, FJORD, state)

    assert result.error is None and result.sync_state
    events = by_id(result)
    assert (events[added].start, events[added].end) == (tomorrow_at(15), tomorrow_at(15, 30))
    assert (events[moved].start, events[moved].end) == (tomorrow_at(11), tomorrow_at(12))

    quiet = fetch(provider, world, FJORD, result.sync_state)
    assert quiet.error is None and (quiet.full or not by_id(quiet)), "nothing changed, nothing comes back"


def test_an_incremental_fetch_reports_a_cancelled_meeting(world, provider):
    world.add_room(FJORD, "Fjord", 12)
    kept = world.add_meeting(FJORD, "Planning", tomorrow_at(9), tomorrow_at(10))
    cancelled = world.add_meeting(FJORD, "Review", tomorrow_at(13), tomorrow_at(14))
    state = fetch(provider, world, FJORD).sync_state

    world.cancel_meeting(FJORD, cancelled)
    result = fetch(provider, world, FJORD, state)

    assert result.error is None
    assert reports_removal(result, cancelled)
    assert not reports_removal(result, kept), "only the cancelled meeting goes"


def test_an_expired_sync_state_turns_into_a_full_fetch_of_that_calendar(world, provider):
    world.add_room(FJORD, "Fjord", 12)
    planning = world.add_meeting(FJORD, "Planning", tomorrow_at(9), tomorrow_at(10))
    state = fetch(provider, world, FJORD).sync_state

    world.expire_sync_state()
    result = fetch(provider, world, FJORD, state)

    assert result.error is None and result.full, "the provider's 410 became a full fetch, not an error"
    assert set(by_id(result)) == {planning}
    assert result.sync_state and result.sync_state != state


# --- Subscriptions ----------------------------------------------------------------------------------------------

def linked(world: ContractWorld, address: str) -> CalendarLink:
    room = make_room(world.connection.tenant, address.split("@")[0].title())
    return CalendarLink.objects.create(connection=world.connection, room=room, external_calendar_id=address)


def test_a_subscription_is_made_renewed_and_removed(world, provider):
    world.add_room(FJORD, "Fjord", 12)
    link = linked(world, FJORD)
    wanted = timezone.now() + timedelta(seconds=provider.max_subscription_lifetime_s)

    remote = provider.subscribe(world.connection, link, "client-state-secret", wanted)

    assert remote.external_id and world.subscription_exists(remote.external_id)
    assert timezone.now() < remote.expires_at <= wanted + timedelta(minutes=1)
    subscription = Subscription.objects.create(link=link, external_id=remote.external_id, resource=remote.resource,
                                               client_state="client-state-secret", expires_at=remote.expires_at)
    renewed = provider.renew(world.connection, subscription, wanted + timedelta(minutes=5))
    assert renewed is not None and renewed > timezone.now() + timedelta(minutes=5)

    provider.unsubscribe(world.connection, remote.external_id, remote.resource)
    assert not world.subscription_exists(remote.external_id)
    provider.unsubscribe(world.connection, remote.external_id, remote.resource)  # already gone: not an error


def test_renewing_a_subscription_the_provider_forgot_says_so(world, provider):
    world.add_room(FJORD, "Fjord", 12)
    link = linked(world, FJORD)
    expires = timezone.now() + timedelta(hours=1)
    remote = provider.subscribe(world.connection, link, "client-state-secret", expires)
    subscription = Subscription.objects.create(link=link, external_id=remote.external_id, resource=remote.resource,
                                               client_state="client-state-secret", expires_at=remote.expires_at)

    world.forget_subscription(remote.external_id)

    assert provider.renew(world.connection, subscription, expires + timedelta(hours=1)) is None


# --- Faults -----------------------------------------------------------------------------------------------------

def refused(call: Callable[[], Any], refusal: Callable[[Any], bool]) -> bool:
    """The provider refused us: ConsentRevoked, the seam's 401/403 ``AuthError`` (a token cached before the
    revocation; the engine asks ``has_access`` or waits for the token to go), or an answer ``refusal`` recognises."""
    try:
        answer = call()
    except ConsentRevoked:
        return True
    except AuthError as error:
        return error.status in (401, 403)
    return refusal(answer)


def test_revoked_access_is_refused_warm_and_revoked_cold(world, provider):
    world.add_room(FJORD, "Fjord", 12)
    provider.discover_calendars(world.connection)  # tokens (or clients) cached: revocation finds us warm

    world.revoke_access()

    request = FetchRequest(1, FJORD, tomorrow_at(0), tomorrow_at(23))
    assert refused(lambda: provider.fetch(world.connection, [request]),
                   lambda results: all(result.auth_failed and result.error is not None for result in results))
    assert refused(lambda: provider.has_access(world.connection, [FJORD]), lambda answer: answer is False)
    provider.forget(world.connection)  # what mark_needs_consent does; a new token must be asked for
    with pytest.raises(ConsentRevoked):
        provider.discover_calendars(world.connection)
    with pytest.raises(ConsentRevoked):
        provider.fetch(world.connection, [request])


def test_a_throttled_request_is_retried_after_the_time_asked(world, provider):
    world.add_room(FJORD, "Fjord", 12)
    planning = world.add_meeting(FJORD, "Planning", tomorrow_at(9), tomorrow_at(10))

    world.throttle(times=1, retry_after_s=0.05)
    result = fetch(provider, world, FJORD)

    assert result.error is None and set(by_id(result)) == {planning}


def test_a_throttling_storm_is_a_throttled_error_naming_the_wait(world, provider, settings):
    settings.OUTBOUND_MAX_RETRY_WAIT = 30  # a longer Retry-After is not slept through: the engine reschedules
    world.add_room(FJORD, "Fjord", 12)
    world.add_meeting(FJORD, "Planning", tomorrow_at(9), tomorrow_at(10))

    world.throttle(times=50, retry_after_s=120)

    with pytest.raises(Throttled) as raised:
        fetch(provider, world, FJORD)
    assert raised.value.retry_after >= 120
    with pytest.raises(Throttled):
        provider.discover_calendars(world.connection)
