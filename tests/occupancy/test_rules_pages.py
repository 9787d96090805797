"""The occupancy rules page: who may use it, what a change recalculates, and tenant isolation of every URL."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from unittest import mock

import pytest
from celery.signals import before_task_publish
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from occupancy import rules, tasks
from occupancy.kiosk import tokens
from occupancy.kiosk.models import KioskRoomStatus
from occupancy.models import BookingOutcome, OccupancyPolicy, OccupancySpan, RoomDay, RoomGrace
from spaces_calendar.calendars.models import Booking
from spaces_calendar.celery import app as celery_app
from spaces_calendar.core.models import Role, Room, Tenant
from tests.factories import make_room, make_tenant, make_user

pytestmark = pytest.mark.django_db
PAGE = "/settings/occupancy/"
SET_GRACE = "/settings/occupancy/room-grace"
MIN = timedelta(minutes=1)


@pytest.fixture
def published():
    """Names of the tasks sent to the broker (Celery's own signal: the messages still go out)."""
    sent: list[str] = []

    def keep(sender=None, **kwargs):
        sent.append(sender)

    before_task_publish.connect(keep, weak=False)
    yield sent
    before_task_publish.disconnect(keep)


def clear_url(room: Room) -> str:
    return f"/settings/occupancy/room-grace/{room.pk}/clear"


@dataclass
class World:
    acme: Tenant
    globex: Tenant
    fjord: Room
    glacier: Room
    war_room: Room


@pytest.fixture(autouse=True)
def _fast_passwords_and_fresh_caches(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tokens._cache.clear()
    cache.clear()
    yield
    tokens._cache.clear()
    cache.clear()


@pytest.fixture
def world() -> World:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    return World(acme, globex, make_room(acme, "Fjord"), make_room(acme, "Glacier"), make_room(globex, "War Room"))


@pytest.fixture
def admin(client, world) -> Client:
    client.force_login(make_user(world.acme, Role.ADMIN))
    return client



def rules_form(grace: int = 10, exempt: int = 8, subjects: bool = False) -> dict:
    return {"grace_minutes": grace, "exempt_after_hours": exempt, **({"show_subjects": "on"} if subjects else {})}


def late_meeting(room: Room, presence_after: int = 12) -> Booking:
    """Yesterday's 60-minute booking: the room is known empty from its start, occupied from minute 12 on."""
    start = (timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
    OccupancySpan.objects.create(tenant_id=room.tenant_id, room=room, start=start - 30 * MIN,
                                 end=start + presence_after * MIN, state="empty", peak_people=0)
    OccupancySpan.objects.create(tenant_id=room.tenant_id, room=room, start=start + presence_after * MIN,
                                 end=start + 90 * MIN, state="occupied", peak_people=3, median_people=3)
    booking = Booking.objects.create(room=room, external_id=f"late-{room.pk}", start=start, end=start + 60 * MIN)
    rules.apply_rules(room.tenant_id)  # as the pipeline would have called it, under the rules of the time
    return booking


def outcome_of(booking: Booking) -> str:
    return BookingOutcome.objects.get(booking=booking).outcome


def late_starts(room: Room) -> int:
    return sum(RoomDay.objects.filter(room=room).values_list("late_starts", flat=True))


# --- Who may use it ---------------------------------------------------------------------------------------------

def test_anonymous_users_are_sent_to_log_in_from_every_url(client, world):
    for method, url in [("get", PAGE), ("post", PAGE), ("post", SET_GRACE), ("post", clear_url(world.fjord))]:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url


def test_viewers_and_users_without_a_membership_are_refused_everywhere(client, world):
    RoomGrace.objects.create(room=world.fjord, grace_minutes=20)
    for user in [make_user(world.acme, Role.VIEWER), make_user(None)]:
        client.force_login(user)
        assert client.get(PAGE).status_code == 403
        assert client.post(PAGE, rules_form(grace=30)).status_code == 403
        assert client.post(SET_GRACE, {"room": world.glacier.pk, "grace_minutes": 5}).status_code == 403
        assert client.post(clear_url(world.fjord)).status_code == 403
    assert not OccupancyPolicy.objects.exists()
    assert list(RoomGrace.objects.values_list("room_id", "grace_minutes")) == [(world.fjord.pk, 20)]


def test_the_nav_links_the_admin_pages_for_admins_only(client, world):
    client.force_login(make_user(world.acme, Role.VIEWER))
    page = client.get(reverse("home")).text
    assert reverse("occupancy-rules") not in page and reverse("kiosk-tokens") not in page

    client.force_login(make_user(world.acme, Role.ADMIN))
    page = client.get(reverse("home")).text
    assert f'href="{reverse("occupancy-rules")}">Occupancy rules</a>' in page
    assert f'href="{reverse("kiosk-tokens")}">Kiosk tokens</a>' in page


# --- The page ---------------------------------------------------------------------------------------------------

def test_an_admin_sees_the_defaults_the_tenants_rooms_and_how_far_back_changes_reach(admin, world):
    RoomGrace.objects.create(room=world.fjord, grace_minutes=20)
    RoomGrace.objects.create(room=world.war_room, grace_minutes=45)

    response = admin.get(PAGE)

    assert response.status_code == 200
    page = " ".join(response.text.split())
    assert 'name="grace_minutes" value="10"' in page and 'name="exempt_after_hours" value="8"' in page
    assert 'name="show_subjects"' in page and "checked" not in page
    assert "never counts as empty" in page and "Private meetings never show theirs" in page
    assert "last 30 days" in page and "rebuild_occupancy --keep-spans" in page
    assert f'<tr data-room="{world.fjord.pk}"> <td>HQ</td><td>1</td><th scope="row">Fjord</th>' in page
    assert 'data-override="20">20 min' in page and "tenant default (10 min)" in page
    assert f'<option value="{world.glacier.pk}">HQ / 1 / Glacier</option>' in page
    assert "War Room" not in page and "45 min" not in page


def test_saving_the_rules_stores_them_and_says_what_changed(admin, world):
    response = admin.post(PAGE, rules_form(grace=15, exempt=6, subjects=True), follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    policy = OccupancyPolicy.objects.get(tenant=world.acme)
    assert (policy.grace_minutes, policy.exempt_after_hours, policy.show_subjects) == (15, 6, True)
    page = response.text
    assert "Saved: grace window 10 → 15 min; bookings exempt from 8 → 6 h; kiosks show meeting subjects." in page
    assert "Outcomes of the last 30 days are being recalculated for 2 rooms" in page
    assert 'name="grace_minutes" value="15"' in page
    assert not OccupancyPolicy.objects.filter(tenant=world.globex).exists()

    assert "Nothing changed." in admin.post(PAGE, rules_form(grace=15, exempt=6, subjects=True), follow=True).text


@pytest.mark.parametrize("form", [rules_form(grace=0), rules_form(grace=61), rules_form(exempt=0),
                                  rules_form(exempt=25), {**rules_form(), "grace_minutes": "ten"},
                                  {"exempt_after_hours": 8}])
def test_invalid_rules_are_a_400_with_the_error_on_the_page(admin, world, form):
    response = admin.post(PAGE, form)

    assert response.status_code == 400
    assert 'class="errorlist"' in response.text
    assert not OccupancyPolicy.objects.exists()


def test_a_room_override_is_set_changed_and_cleared(admin, world):
    response = admin.post(SET_GRACE, {"room": world.fjord.pk, "grace_minutes": 20}, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert "Fjord: grace window 20 min (was tenant default, 10 min)" in response.text
    assert "recalculated for 1 room;" in response.text

    response = admin.post(SET_GRACE, {"room": world.fjord.pk, "grace_minutes": 25}, follow=True)
    assert "Fjord: grace window 25 min (was 20 min)" in response.text
    assert RoomGrace.objects.get(room=world.fjord).grace_minutes == 25

    response = admin.post(clear_url(world.fjord), follow=True)
    assert "Fjord: tenant default grace window, 10 min (was 25 min)" in response.text
    assert not RoomGrace.objects.exists()
    assert "Nothing changed." in admin.post(clear_url(world.fjord), follow=True).text


def test_an_override_equal_to_the_grace_in_force_recalculates_nothing(admin, world, published,
                                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(SET_GRACE, {"room": world.fjord.pk, "grace_minutes": 10}, follow=True)

    assert "Saved: Fjord: grace window 10 min" in response.text and "recalculated" not in response.text
    assert published == []


@pytest.mark.parametrize("minutes", ["0", "61", "", "soon"])
def test_an_invalid_override_is_a_400_with_the_error_on_the_page(admin, world, minutes):
    response = admin.post(SET_GRACE, {"room": world.fjord.pk, "grace_minutes": minutes})

    assert response.status_code == 400
    assert 'class="errorlist"' in response.text
    assert 'id="id_room_grace_grace_minutes"' in response.text  # the two forms keep distinct ids
    assert not RoomGrace.objects.exists()


def test_another_tenants_room_is_a_404_and_never_changed(admin, world):
    RoomGrace.objects.create(room=world.war_room, grace_minutes=45)

    assert admin.post(SET_GRACE, {"room": world.war_room.pk, "grace_minutes": 5}).status_code == 404
    assert admin.post(SET_GRACE, {"room": 999_999, "grace_minutes": 5}).status_code == 404
    assert admin.post(clear_url(world.war_room)).status_code == 404
    assert admin.post("/settings/occupancy/room-grace/999999/clear").status_code == 404
    assert list(RoomGrace.objects.values_list("room_id", "grace_minutes")) == [(world.war_room.pk, 45)]


def test_get_is_not_allowed_where_only_a_post_makes_sense(admin, world):
    assert admin.get(SET_GRACE).status_code == 405
    assert admin.get(clear_url(world.fjord)).status_code == 405


# --- What a change does -----------------------------------------------------------------------------------------

def test_a_longer_tenant_grace_window_turns_a_late_start_into_attended(admin, world):
    booking = late_meeting(world.fjord)
    assert outcome_of(booking) == "late_start" and late_starts(world.fjord) == 1

    admin.post(PAGE, rules_form(grace=15))
    report = rules.apply_rules(world.acme.pk)  # the body of occupancy.apply_rules

    assert outcome_of(booking) == "attended" and late_starts(world.fjord) == 0
    assert report.rooms == 2 and report.outcomes == 1 and report.days >= 32


def test_a_room_override_wins_over_the_tenant_default(admin, world):
    fjord, glacier = late_meeting(world.fjord), late_meeting(world.glacier)

    admin.post(SET_GRACE, {"room": world.fjord.pk, "grace_minutes": 15})
    rules.apply_rules(world.acme.pk)
    assert (outcome_of(fjord), outcome_of(glacier)) == ("attended", "late_start")

    admin.post(PAGE, rules_form(grace=5))
    admin.post(SET_GRACE, {"room": world.glacier.pk, "grace_minutes": 14})
    rules.apply_rules(world.acme.pk)
    assert (outcome_of(fjord), outcome_of(glacier)) == ("attended", "attended")

    admin.post(clear_url(world.fjord))
    rules.apply_rules(world.acme.pk)
    assert (outcome_of(fjord), outcome_of(glacier)) == ("late_start", "attended")


def test_the_recalculation_is_enqueued_on_commit_and_runs_in_the_worker(admin, world, eager_tasks, ran,
                                                                        django_capture_on_commit_callbacks):
    booking = late_meeting(world.fjord)
    RoomGrace.objects.create(room=world.glacier, grace_minutes=30)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin.post(PAGE, rules_form(grace=15))
    assert ran == [] and outcome_of(booking) == "late_start"  # nothing before the commit
    for callback in callbacks:
        callback()

    assert ran == [("occupancy.apply_rules", [world.acme.pk, [world.fjord.pk]])]  # Glacier keeps its own window
    assert outcome_of(booking) == "attended"


def test_a_show_subjects_change_recalculates_nothing(admin, world, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(PAGE, rules_form(subjects=True), follow=True)

    assert "kiosks show meeting subjects." in response.text and "recalculated" not in response.text
    assert published == []


def test_the_rules_are_saved_when_the_broker_is_down(admin, world, django_capture_on_commit_callbacks, caplog):
    # The broker client refusing, as kombu does when the broker is unreachable.
    with mock.patch.object(celery_app, "send_task", side_effect=OperationalError("broker down")), \
            django_capture_on_commit_callbacks(execute=True), caplog.at_level(logging.ERROR):
        response = admin.post(PAGE, rules_form(grace=20))

    assert response.status_code == 302
    assert OccupancyPolicy.objects.get(tenant=world.acme).grace_minutes == 20
    assert "could not enqueue occupancy.apply_rules" in caplog.text
    assert "keep the old rules until rebuild_occupancy --keep-spans" in caplog.text


def test_the_task_only_touches_the_tenants_own_rooms(world):
    acme_booking, globex_booking = late_meeting(world.fjord), late_meeting(world.war_room)
    OccupancyPolicy.objects.create(tenant=world.acme, grace_minutes=15)
    OccupancyPolicy.objects.create(tenant=world.globex, grace_minutes=15)

    report = tasks.apply_rules(world.acme.pk, [world.fjord.pk, world.war_room.pk])

    assert report["rooms"] == 1
    assert (outcome_of(acme_booking), outcome_of(globex_booking)) == ("attended", "late_start")


def test_kiosks_show_a_subjects_change_at_their_next_poll(admin, world):
    start = timezone.now() - 5 * MIN
    Booking.objects.create(room=world.fjord, external_id="now", start=start, end=start + 30 * MIN,
                           subject="Board meeting")
    _token, raw = tokens.issue_token(world.acme, "Lobby", rooms=[world.fjord])
    kiosk = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    status_url = f"/api/v1/rooms/{world.fjord.pk}/status"
    war_room = KioskRoomStatus.objects.create(room=world.war_room, etag="x", body="{}", valid_until_ts=0,
                                              bookings_from=start, booking_version="", recent_after=start,
                                              occupancy_version="", computed_at=start)
    assert kiosk.get(status_url).json()["current_booking"]["subject"] is None

    admin.post(PAGE, rules_form(subjects=True))

    assert kiosk.get(status_url).json()["current_booking"]["subject"] == "Board meeting"
    assert KioskRoomStatus.objects.filter(pk=war_room.pk).exists()  # another tenant's documents stay
