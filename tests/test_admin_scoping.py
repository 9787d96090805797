import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from spaces_calendar.core.models import Role, Room
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def changelist(client, model: str):
    return client.get(reverse(f"admin:core_{model}_changelist"))


def test_a_viewer_sees_only_their_tenants_rooms(client, two_tenants):
    client.force_login(make_user(two_tenants["acme"], Role.VIEWER))

    response = changelist(client, "room")

    assert response.status_code == 200
    assert "Acme Boardroom" in response.text
    assert "Globex War Room" not in response.text


@pytest.mark.parametrize("model", ["tenant", "membership", "building", "floor", "room"])
def test_another_tenants_object_is_not_reachable_by_url(client, two_tenants, model):
    client.force_login(make_user(two_tenants["acme"], Role.ADMIN))
    room = two_tenants["globex_room"]
    target = {
        "tenant": two_tenants["globex"],
        "membership": make_user(two_tenants["globex"]).memberships.get(),
        "building": room.floor.building,
        "floor": room.floor,
        "room": room,
    }[model]

    response = client.get(reverse(f"admin:core_{model}_change", args=[target.pk]))

    # The admin answers an object outside the queryset with a redirect to the index and a "doesn't exist" message.
    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert target.__class__.objects.filter(pk=target.pk).exists()


def test_a_viewer_cannot_change_a_room_of_their_own_tenant(client, two_tenants):
    client.force_login(make_user(two_tenants["acme"], Role.VIEWER))
    room = two_tenants["acme_room"]

    response = client.post(reverse("admin:core_room_change", args=[room.pk]), {"name": "Renamed"})

    assert response.status_code == 403
    assert Room.objects.get(pk=room.pk).name == "Acme Boardroom"


def test_a_tenant_admin_can_edit_their_room(client, two_tenants):
    client.force_login(make_user(two_tenants["acme"], Role.ADMIN))
    room = two_tenants["acme_room"]

    response = client.post(
        reverse("admin:core_room_change", args=[room.pk]),
        {"floor": room.floor_id, "name": "Renamed", "email": room.email, "capacity": "8", "time_zone": ""},
    )

    assert response.status_code == 302, response.context["adminform"].errors if response.context else ""
    assert Room.objects.get(pk=room.pk).name == "Renamed"


def test_a_tenant_admin_cannot_move_a_room_onto_another_tenants_floor(client, two_tenants):
    client.force_login(make_user(two_tenants["acme"], Role.ADMIN))
    room, foreign_floor = two_tenants["acme_room"], two_tenants["globex_room"].floor

    response = client.post(
        reverse("admin:core_room_change", args=[room.pk]),
        {"floor": foreign_floor.pk, "name": room.name, "email": room.email, "capacity": "", "time_zone": ""},
    )

    assert response.status_code == 200  # the form comes back with an error
    assert "floor" in response.context["adminform"].form.errors
    assert Room.objects.get(pk=room.pk).tenant == two_tenants["acme"]


def test_floor_choices_offer_only_the_admins_tenant(client, two_tenants):
    client.force_login(make_user(two_tenants["acme"], Role.ADMIN))

    response = client.get(reverse("admin:core_room_add"))

    choices = {str(f) for f in response.context["adminform"].form.fields["floor"].queryset}
    assert choices == {str(two_tenants["acme_room"].floor)}


def test_a_superuser_sees_every_tenant(client, two_tenants):
    client.force_login(get_user_model().objects.create_superuser("root", password="x" * 16))

    response = changelist(client, "room")

    assert "Acme Boardroom" in response.text and "Globex War Room" in response.text


def test_a_staff_user_without_membership_sees_no_workplace_models(client, two_tenants):
    client.force_login(make_user(None))

    assert changelist(client, "room").status_code == 403
