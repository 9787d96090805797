"""firehose_credentials(): the operator's SPACES_API_KEY first, else the latest active activation; mark_broken."""

import pytest

from spaces_calendar.partner.activation import activate
from spaces_calendar.partner.credentials import firehose_credentials
from spaces_calendar.partner.models import ActivationStatus, SpacesActivation
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db


def test_there_are_no_credentials_without_a_key_or_an_activation(settings):
    settings.SPACES_API_KEY = None

    assert firehose_credentials() is None


def test_an_active_activation_supplies_its_key_host_and_tenant(fake_spaces, acme):
    activation = activate(acme["tenant"], fake_spaces.issue_activation_token())

    credentials = firehose_credentials()

    assert credentials.api_key == activation.api_key
    assert credentials.base_url == fake_spaces.base_url
    assert credentials.tenant == acme["tenant"] and credentials.source == "activation"
    assert activation.api_key not in repr(credentials)


def test_the_environment_key_wins_over_an_activation(fake_spaces, acme, settings):
    activate(acme["tenant"], fake_spaces.issue_activation_token())
    settings.SPACES_API_KEY = "operator-key-1234"
    settings.SPACES_FIREHOSE_URL = "https://partners.dnaspaces.eu/"

    credentials = firehose_credentials()

    assert (credentials.api_key, credentials.base_url) == ("operator-key-1234", "https://partners.dnaspaces.eu")
    assert credentials.tenant is None and credentials.source == "environment"


def test_the_most_recent_active_activation_is_used(fake_spaces, acme):
    activate(acme["tenant"], fake_spaces.issue_activation_token(tenantId=1))
    latest = activate(make_tenant("Globex"), fake_spaces.issue_activation_token(tenantId=2))

    assert firehose_credentials().api_key == latest.api_key


def test_mark_broken_flags_the_activation_with_the_reason(fake_spaces, acme):
    activation = activate(acme["tenant"], fake_spaces.issue_activation_token())

    firehose_credentials().mark_broken("firehose answered 401 Unauthorized")

    activation.refresh_from_db()
    assert activation.status == ActivationStatus.BROKEN
    assert activation.status_reason == "firehose answered 401 Unauthorized"
    assert firehose_credentials() is None


def test_mark_broken_does_not_raise_when_the_activation_is_gone(fake_spaces, acme, settings):
    activate(acme["tenant"], fake_spaces.issue_activation_token())
    credentials = firehose_credentials()
    SpacesActivation.objects.all().delete()

    credentials.mark_broken("401")

    settings.SPACES_API_KEY = "operator-key-1234"
    firehose_credentials().mark_broken("401")  # an operator's key has no row to flag: logged only


def test_a_stale_report_does_not_break_a_key_activated_since(fake_spaces, acme):
    activate(acme["tenant"], fake_spaces.issue_activation_token())
    stale = firehose_credentials()
    fresh = activate(acme["tenant"], fake_spaces.issue_activation_token())

    stale.mark_broken("401 for the old key")

    fresh.refresh_from_db()
    assert fresh.status == ActivationStatus.ACTIVE
