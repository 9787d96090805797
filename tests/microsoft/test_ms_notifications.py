"""Parsing what Graph POSTs to us, using Microsoft's published payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.http import QueryDict

from spaces_calendar.providers.microsoft.notifications import (
    MalformedNotification,
    client_state_matches,
    parse_change_notifications,
    parse_lifecycle_notifications,
    validation_token,
)

# Microsoft's published samples, copied from shared/fixtures (source and license in the folder README).
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "microsoft-graph"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_it_parses_microsofts_change_notification():
    (item,) = parse_change_notifications(fixture("change-notification.request.json"))

    assert item.subscription_id == "{subscription_guid}"
    assert item.change_type == "created"
    assert item.client_state == "secretClientValue"
    assert item.tenant_id == "84bd8158-6d4d-4958-8b9f-9d6445542f95"
    assert item.resource_id == "{long_id_string}"
    assert item.resource_type == "#Microsoft.Graph.Message"
    assert item.subscription_expires_at == datetime(2016, 3, 19, 22, 11, 9, 952000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "event", "expires"),
    [
        (
            "lifecycle-reauthorization-required.request.json",
            "reauthorizationRequired",
            datetime(2019, 9, 18, 0, 52, 45, 969665, tzinfo=UTC),
        ),
        ("lifecycle-subscription-removed.request.json", "subscriptionRemoved", datetime(2019, 3, 20, 11, tzinfo=UTC)),
        ("lifecycle-missed.request.json", "missed", datetime(2019, 3, 20, 11, tzinfo=UTC)),
    ],
)
def test_it_parses_microsofts_lifecycle_notifications(name, event, expires):
    (item,) = parse_lifecycle_notifications(fixture(name))

    assert item.lifecycle_event == event
    assert item.subscription_expires_at == expires
    assert item.subscription_id


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"value": "nope"}',
        b'{"value": [1]}',
        b'{"value": [{"changeType": "created", "resource": "x"}]}',
        b'{"value": [{"subscriptionId": "s", "changeType": "created", "resource": "x",'
        b' "subscriptionExpirationDateTime": "yesterday"}]}',
    ],
)
def test_a_malformed_change_notification_raises_malformed_notification(body):
    with pytest.raises(MalformedNotification):
        parse_change_notifications(body)


def test_a_lifecycle_item_without_its_event_is_malformed():
    with pytest.raises(MalformedNotification):
        parse_lifecycle_notifications(b'{"value": [{"subscriptionId": "s"}]}')


def test_malformed_notification_is_a_value_error():
    assert issubclass(MalformedNotification, ValueError)


def test_it_reads_the_decoded_validation_token_from_a_query():
    token = "Validation: Testing client application reachability for subscription Request-Id: 522a8e7e"
    encoded = (
        "validationToken=Validation%3A+Testing+client+application+reachability+for+subscription+Request-Id%3A+522a8e7e"
    )

    assert validation_token(QueryDict(encoded)) == token
    assert validation_token("?" + encoded) == token
    assert validation_token({"validationToken": [token]}) == token
    assert validation_token(QueryDict("")) is None


def test_client_state_is_compared_exactly():
    assert client_state_matches("s3cret", "s3cret")
    assert not client_state_matches("s3cret", "s3cre")
    assert not client_state_matches("s3cret", None)
    assert not client_state_matches("", "")
