"""Microsoft 365 end to end: our views and a real Celery worker process, msal and requests over TLS to the fake
Entra + Graph, and Graph's notifications coming back to our live webhook endpoint.

consent → rooms → link → sync → new / moved / cancelled meetings by notification → revocation → reconnect.
"""

from __future__ import annotations

import signal
import socket
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from spaces_calendar.calendars.linking import link_calendar
from spaces_calendar.calendars.models import (
    Booking,
    CalendarConnection,
    CalendarLink,
    ConnectionStatus,
    DiscoveredCalendar,
    Subscription,
)
from spaces_calendar.celery import app as celery_app
from spaces_calendar.core.models import Role
from spaces_calendar.sandbox.harness import Fault, ca_bundle_path
from tests.factories import make_room, make_tenant, make_user
from tests.worker import WorkerProcess, wait_for

from .test_onboarding import consent_round_trip

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
HOSTNAME = f"e2e-microsoft@{socket.gethostname()}"


@pytest.fixture
def world(fake_microsoft, live_server, settings, tmp_path, client):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CALENDAR_NOTIFICATION_DEBOUNCE_S = 0.5
    celery_app.control.purge()
    worker = WorkerProcess(tmp_path / "worker.log", hostname=HOSTNAME, env={
        "SANDBOX": "false",
        "MICROSOFT_LOGIN_URL": fake_microsoft.login_url,
        "MICROSOFT_GRAPH_URL": fake_microsoft.graph_url,
        "MICROSOFT_CLIENT_ID": fake_microsoft.client_id,
        "MICROSOFT_CLIENT_SECRET": fake_microsoft.client_secret,
        "OUTBOUND_CA_BUNDLE": ca_bundle_path(),
        "PUBLIC_BASE_URL": live_server.url,
        "CALENDAR_NOTIFICATION_DEBOUNCE_S": "0.5",
    })
    worker.start()
    tenant = make_tenant("Contoso")
    client.force_login(make_user(tenant, Role.ADMIN))
    yield fake_microsoft, tenant, client, worker
    worker.stop()


def at(hours: int) -> str:
    """A naive UTC time on the hour, ``hours`` from now (the fake takes naive times in the event's zone)."""
    moment = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def utc(naive: str) -> datetime:
    return datetime.fromisoformat(naive).replace(tzinfo=UTC)


def test_consent_link_sync_notifications_revocation_and_reconnect(world):
    fake, tenant, client, worker = world
    fjord = make_room(tenant, "Fjord")
    fake.add_room(fjord.email, "Fjord", capacity="12")
    standing = fake.add_event(fjord.email, "Standing meeting", at(1), at(2))

    # Consent: the callback proves the tenant before the connection is active.
    assert consent_round_trip(client, fake).status_code == 200
    connection = CalendarConnection.objects.get(tenant=tenant)
    assert connection.status == ConnectionStatus.ACTIVE

    # Rooms: the worker discovers them through Places right after consent; linking makes it subscribe and sync.
    assert wait_for(lambda: DiscoveredCalendar.objects.filter(connection=connection).exists()), worker.log()
    (discovered,) = DiscoveredCalendar.objects.filter(connection=connection)
    assert (discovered.external_id, discovered.name, discovered.capacity) == (fjord.email, "Fjord", 12)
    link_calendar(fjord, discovered)
    assert wait_for(lambda: Booking.objects.filter(external_id=standing["id"]).exists()), worker.log()
    assert wait_for(lambda: Subscription.objects.filter(link__room=fjord).exists()), worker.log()
    assert fake.validations and all(status == 200 for _, _, status, _ in fake.validations)

    # A new meeting, notified by Graph, reaches the room's bookings.
    new = fake.add_event(fjord.email, "Design review", at(3), at(4))
    assert fake.notify(fjord.email, "created", new["id"]) == 202
    assert wait_for(lambda: Booking.objects.filter(external_id=new["id"]).exists()), worker.log()

    # A moved meeting.
    fake.update_event(fjord.email, new["id"], start=at(5), end=at(6))
    assert fake.notify(fjord.email, "updated", new["id"]) == 202
    assert wait_for(lambda: Booking.objects.get(external_id=new["id"]).start == utc(at(5))), worker.log()

    # A cancelled meeting.
    fake.delete_event(fjord.email, standing["id"])
    assert fake.notify(fjord.email, "deleted", standing["id"]) == 202
    assert wait_for(lambda: Booking.objects.get(external_id=standing["id"]).cancelled), worker.log()
    assert Booking.objects.filter(room=fjord).count() == 2

    # Revocation: the next sync finds out, drops the subscriptions, and the admin is told.
    fake.revoke_consent()
    fake.expire_tokens()
    later = fake.add_event(fjord.email, "Missed while revoked", at(7), at(8))
    assert fake.notify(fjord.email, "created", later["id"]) == 202
    assert wait_for(lambda: CalendarConnection.objects.get(pk=connection.pk).status
                    == ConnectionStatus.NEEDS_CONSENT), worker.log()
    assert not Subscription.objects.exists()
    page = client.get("/integrations/")
    assert "unauthorized_client" in page.text and "Reconnect" in page.text

    # Reconnect: consent again; the same link resumes, nothing is duplicated, and what was missed arrives.
    bookings_before = set(Booking.objects.values_list("pk", "external_id"))
    fake.tenants[fake.tenant_id].consented = True
    assert consent_round_trip(client, fake).status_code == 200
    assert wait_for(lambda: Booking.objects.filter(external_id=later["id"]).exists()), worker.log()
    assert wait_for(lambda: Subscription.objects.filter(link__room=fjord).count() == 1), worker.log()
    assert CalendarLink.objects.count() == 1 and DiscoveredCalendar.objects.count() == 1
    assert bookings_before <= set(Booking.objects.values_list("pk", "external_id"))
    assert Booking.objects.count() == 3
    assert "Traceback" not in worker.log()


def test_a_worker_killed_mid_sync_is_caught_up_by_the_next_run(fake_microsoft, tmp_path):
    fake = fake_microsoft
    env = {
        "SANDBOX": "false", "MICROSOFT_LOGIN_URL": fake.login_url, "MICROSOFT_GRAPH_URL": fake.graph_url,
        "MICROSOFT_CLIENT_ID": fake.client_id, "MICROSOFT_CLIENT_SECRET": fake.client_secret,
        "OUTBOUND_CA_BUNDLE": ca_bundle_path(), "CALENDAR_SUBSCRIPTIONS": "false", "CALENDAR_SYNC_LEASE_S": "10",
    }
    celery_app.control.purge()
    tenant = make_tenant("Contoso")
    connection = CalendarConnection.objects.create(tenant=tenant, provider="microsoft",
                                                   external_tenant_id=fake.tenant_id, status=ConnectionStatus.ACTIVE)
    expected = set()
    for index in range(25):  # two chunks: 20 + 5 rooms
        room = make_room(tenant, f"Room {index}")
        fake.add_room(room.email, room.name, capacity=4)
        CalendarLink.objects.create(connection=connection, room=room, external_calendar_id=room.email,
                                    next_sync_at=timezone.now())
        for hour in (1, 2):
            expected.add(fake.add_event(room.email, "Busy", at(hour), at(hour + 1))["id"])
    fake.graph.add_fault(Fault(delay=8), path=r"/v1\.0/\$batch", times=1)  # the first batch hangs...

    first = WorkerProcess(tmp_path / "killed.log", hostname=f"killed@{socket.gethostname()}", env=env)
    first.start()
    celery_app.send_task("calendars.dispatch_due_syncs")
    assert wait_for(lambda: fake.graph.requests_to(r"/v1\.0/\$batch")), first.log()
    first.stop(signal.SIGKILL)  # ...and its worker dies in the middle of it
    assert set(Booking.objects.values_list("external_id", flat=True)) < expected

    second = WorkerProcess(tmp_path / "second.log", hostname=f"second@{socket.gethostname()}", env=env)
    second.start()
    try:
        # Beat keeps dispatching; the dead worker's claim is a lease that runs out, then the rooms are taken again.
        def caught_up() -> bool:
            celery_app.send_task("calendars.dispatch_due_syncs")
            return set(Booking.objects.values_list("external_id", flat=True)) == expected

        assert wait_for(caught_up, timeout=60, interval=2), second.log()
    finally:
        second.stop()
    assert Booking.objects.count() == len(expected) == 50
    assert not CalendarLink.objects.exclude(claim_token="").exists()
