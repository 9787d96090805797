"""First run: a signed-in user who belongs to no workplace creates one and becomes its admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from spaces_calendar.core.models import Membership, Role, Tenant
from spaces_calendar.core.tenancy import SESSION_KEY
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db
NEW = "/workplace/new/"


def create(client, name: str = "Contoso Oslo", time_zone: str = "Europe/Oslo", **extra):
    return client.post(NEW, {"name": name, "time_zone": time_zone, **extra})


def test_anonymous_users_are_sent_to_log_in(client):
    for method in ("get", "post"):
        response = getattr(client, method)(NEW)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not Tenant.objects.exists()


def test_members_of_a_workplace_are_refused_and_create_nothing(client):
    acme = make_tenant("Acme")
    for role in (Role.VIEWER, Role.ADMIN):
        client.force_login(make_user(acme, role))
        assert client.get(NEW).status_code == 403
        assert create(client, "Second workplace").status_code == 403
    assert list(Tenant.objects.values_list("name", flat=True)) == ["Acme"]


def test_the_home_page_of_a_user_without_a_workplace_offers_to_create_one(client):
    client.force_login(make_user(None))

    page = client.get(reverse("home")).text

    assert "does not belong to a workplace yet" in page
    assert f'href="{NEW}" id="start-workplace"' in page
    assert f'<a href="{NEW}">Create your workplace</a>' in page  # and the navigation


def test_the_form_defaults_to_the_servers_zone_and_offers_every_zone(client, settings):
    settings.TIME_ZONE = "UTC"
    client.force_login(make_user(None))

    page = client.get(NEW).text

    assert 'name="time_zone" value="UTC"' in page and 'list="time-zones"' in page
    assert '<option value="Europe/Oslo">' in page and '<option value="America/New_York">' in page
    assert "Intl.DateTimeFormat().resolvedOptions().timeZone" in page  # the browser's own zone, when it has one


def test_creating_a_workplace_makes_the_user_its_admin_and_leads_to_integrations(client):
    user = make_user(None)
    client.force_login(user)

    response = create(client, "  Contoso   Oslo ")

    assert response.status_code == 302 and response.url == reverse("integrations")
    tenant = Tenant.objects.get()
    assert (tenant.name, tenant.slug, tenant.time_zone) == ("Contoso Oslo", "contoso-oslo", "Europe/Oslo")
    assert Membership.objects.get(user=user).tenant == tenant
    assert Membership.objects.get(user=user).role == Role.ADMIN
    assert client.session[SESSION_KEY] == tenant.pk
    page = client.get(response.url).text
    assert "Contoso Oslo is ready and you are its admin" in page
    assert "Not configured on this server." in page  # an admin's tile (no Microsoft app configured in this test)
    assert f'href="{reverse("sensors")}"' in page
    assert "Create your workplace" not in page
    assert client.get(NEW).status_code == 403  # now a member: the first-run page is gone


def test_the_superuser_that_up_created_can_create_the_first_workplace(client):
    admin = get_user_model().objects.create_superuser("admin", password="correct horse battery")
    client.force_login(admin)

    assert create(client, "Fabrikam").status_code == 302
    assert Membership.objects.get(user=admin).role == Role.ADMIN


def test_slugs_are_derived_and_unique(client):
    for _ in range(3):
        client.force_login(make_user(None))
        assert create(client, "Acme").status_code == 302
    client.force_login(make_user(None))
    create(client, "Åsgårdstrand Kontor")
    client.force_login(make_user(None))
    create(client, "東京")

    assert list(Tenant.objects.order_by("pk").values_list("slug", flat=True)) == [
        "acme", "acme-2", "acme-3", "asgardstrand-kontor", "workplace"]


@pytest.mark.parametrize(("form", "error"), [
    ({"name": "Acme", "time_zone": "Mars/Olympus"}, "is not an IANA time zone"),
    ({"name": "Acme", "time_zone": ""}, "This field is required"),
    ({"name": "   ", "time_zone": "UTC"}, "This field is required"),
    ({"name": "x" * 201, "time_zone": "UTC"}, "at most 200 characters"),
])
def test_an_invalid_form_is_a_400_with_the_error_and_creates_nothing(client, form, error):
    user = make_user(None)
    client.force_login(user)

    response = client.post(NEW, form)

    assert response.status_code == 400
    assert error in response.text
    assert not Tenant.objects.exists() and not Membership.objects.filter(user=user).exists()


def test_a_second_workplace_for_the_same_user_is_refused(db):
    from spaces_calendar.core.workplace import WorkplaceError, create_workplace

    user = make_user(None)
    create_workplace(user, "Acme", "UTC")

    with pytest.raises(WorkplaceError, match="already belong to a workplace"):
        create_workplace(user, "Acme again", "UTC")  # a double-submitted form, say
    assert Tenant.objects.count() == 1
