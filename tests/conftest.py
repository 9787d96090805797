import pytest

from tests.factories import make_room, make_tenant


@pytest.fixture
def two_tenants(db):
    """Two tenants with a room each: every scoping test proves one cannot see the other."""
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    return {
        "acme": acme,
        "globex": globex,
        "acme_room": make_room(acme, "Acme Boardroom"),
        "globex_room": make_room(globex, "Globex War Room"),
    }


@pytest.fixture
def client_factory():
    from django.test import Client

    return Client
