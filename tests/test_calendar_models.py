import pytest
from django.db import IntegrityError, connection
from django.urls import reverse
from django.utils import timezone

from spaces_calendar.calendars.models import CalendarConnection, CalendarLink, Provider, Subscription
from spaces_calendar.core.models import Role
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_link(two_tenants):
    connection_ = CalendarConnection.objects.create(
        tenant=two_tenants["acme"], provider=Provider.MICROSOFT, external_tenant_id="11111111-aaaa"
    )
    return CalendarLink.objects.create(connection=connection_, room=two_tenants["acme_room"],
                                       external_calendar_id=two_tenants["acme_room"].email)


def test_a_subscriptions_client_state_is_encrypted_at_rest(acme_link):
    sub = Subscription.objects.create(link=acme_link, external_id="sub-1", client_state="s3cret-client-state",
                                      expires_at=timezone.now())

    with connection.cursor() as cursor:
        cursor.execute("SELECT client_state FROM calendars_subscription WHERE id = %s", [sub.pk])
        raw = cursor.fetchone()[0]
    assert "s3cret-client-state" not in raw
    assert Subscription.objects.get(pk=sub.pk).client_state == "s3cret-client-state"


def test_one_external_tenant_cannot_be_connected_to_two_tenants(acme_link, two_tenants):
    with pytest.raises(IntegrityError):
        CalendarConnection.objects.create(tenant=two_tenants["globex"], provider=Provider.MICROSOFT,
                                          external_tenant_id="11111111-aaaa")


def test_connections_and_links_are_scoped_in_the_admin(client, acme_link, two_tenants):
    client.force_login(make_user(two_tenants["globex"], Role.ADMIN))

    assert acme_link.connection.tenant.name not in client.get(
        reverse("admin:calendars_calendarconnection_changelist")).text
    response = client.get(reverse("admin:calendars_calendarlink_change", args=[acme_link.pk]))
    assert response.status_code == 302

    client.force_login(make_user(two_tenants["acme"], Role.VIEWER))
    assert acme_link.external_calendar_id in client.get(reverse("admin:calendars_calendarlink_changelist")).text


def test_the_connection_admin_never_shows_credentials(client, acme_link, two_tenants):
    acme_link.connection.credentials = "1//refresh-token-value"
    acme_link.connection.save()
    client.force_login(make_user(two_tenants["acme"], Role.ADMIN))

    page = client.get(reverse("admin:calendars_calendarconnection_change", args=[acme_link.connection.pk])).text

    assert "1//refresh-token-value" not in page
    assert "credentials" not in page
