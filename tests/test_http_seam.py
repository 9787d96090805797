"""The outbound HTTP seam, exercised over real sockets against the fake-server harness."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from spaces_calendar.core import http
from spaces_calendar.core.http import (
    AuthError,
    OutboundError,
    PermanentError,
    Throttled,
    TLSError,
    TransientError,
    build_session,
    parse_retry_after,
    send,
)
from spaces_calendar.sandbox.harness import FakeResponse, FakeServer, Fault, ca_bundle_path

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture(autouse=True)
def outbound_settings(settings):
    settings.OUTBOUND_CONNECT_TIMEOUT = 2.0
    settings.OUTBOUND_READ_TIMEOUT = 2.0
    settings.OUTBOUND_MAX_RETRIES = 3
    settings.OUTBOUND_MAX_RETRY_WAIT = 30.0
    settings.OUTBOUND_CA_BUNDLE = None
    return settings


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record the seam's waits instead of sleeping them."""
    recorded: list[float] = []
    monkeypatch.setattr(http, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(name="seam-test") as fake:
        fake.add_route("*", "/ok", lambda request: {"ok": True})
        fake.add_route("GET", "/slow", lambda request: {"ok": True})
        yield fake
        fake.raise_errors()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with build_session() as built:
        yield built


# -- timeouts --------------------------------------------------------------------------------------------


def test_it_applies_the_default_read_timeout_and_gives_up_after_the_retries(
    server, session, sleeps, outbound_settings
):
    outbound_settings.OUTBOUND_READ_TIMEOUT = 0.3
    server.add_fault(Fault(delay=1.0), path="/slow", times=4)

    with pytest.raises(TransientError) as caught:
        send(session, "GET", server.url("/slow"))

    assert caught.value.kind == "ReadTimeout"
    assert caught.value.status is None
    assert len(server.requests_to("/slow")) == 4  # the first try and three retries
    assert len(sleeps) == 3


def test_the_default_timeout_applies_to_plain_session_calls_too(server, session, outbound_settings):
    outbound_settings.OUTBOUND_READ_TIMEOUT = 0.3
    server.add_fault(Fault(delay=1.0), path="/slow")

    with pytest.raises(requests.ReadTimeout):
        session.get(server.url("/slow"))


def test_a_timeout_passed_by_the_caller_wins_over_the_default(server, session, sleeps, outbound_settings):
    outbound_settings.OUTBOUND_READ_TIMEOUT = 0.2
    server.add_fault(Fault(delay=0.4), path="/slow")

    response = send(session, "GET", server.url("/slow"), timeout=(2, 2))

    assert response.json() == {"ok": True}
    assert sleeps == []


# -- retries ---------------------------------------------------------------------------------------------


def test_it_retries_a_503_then_succeeds(server, session, sleeps):
    server.add_fault(Fault(status=503), path="/ok", times=2)

    response = send(session, "GET", server.url("/ok"))

    assert response.json() == {"ok": True}
    assert len(server.requests_to("/ok")) == 3
    assert len(sleeps) == 2


def test_it_does_not_retry_a_post_unless_told_it_is_idempotent(server, session, sleeps):
    server.add_fault(Fault(status=503), path="/ok", times=2)

    with pytest.raises(TransientError) as caught:
        send(session, "POST", server.url("/ok"), json={"n": 1})
    assert caught.value.status == 503
    assert len(server.requests_to("/ok")) == 1

    response = send(session, "POST", server.url("/ok"), json={"n": 1}, idempotent=True)
    assert response.json() == {"ok": True}
    assert len(server.requests_to("/ok")) == 3


def test_idempotent_false_stops_retries_even_for_a_get(server, session, sleeps):
    server.add_fault(Fault(status=502), path="/ok")

    with pytest.raises(TransientError):
        send(session, "GET", server.url("/ok"), idempotent=False)

    assert len(server.requests_to("/ok")) == 1


def test_the_backoff_doubles_with_full_jitter_and_is_capped(server, session, sleeps, monkeypatch):
    monkeypatch.setattr(http, "_random", lambda: 1.0)  # the top of each jitter range
    server.add_fault(Fault(status=500), path="/ok", times=3)

    send(session, "GET", server.url("/ok"), max_wait=1.5)

    assert sleeps == [0.5, 1.0, 1.5]

    monkeypatch.setattr(http, "_random", lambda: 0.25)
    sleeps.clear()
    server.add_fault(Fault(status=500), path="/ok", times=2)
    send(session, "GET", server.url("/ok"))
    assert sleeps == [0.125, 0.25]


def test_max_retries_zero_means_a_single_attempt(server, session, sleeps, outbound_settings):
    outbound_settings.OUTBOUND_MAX_RETRIES = 0
    server.add_fault(Fault(status=500), path="/ok")

    with pytest.raises(TransientError):
        send(session, "GET", server.url("/ok"))

    assert len(server.requests_to("/ok")) == 1


def test_each_retry_is_logged_as_a_warning_without_the_query(server, session, sleeps, caplog):
    server.add_fault(Fault(status=503), path="/ok")

    with caplog.at_level(logging.WARNING, logger="spaces_calendar.core.http"):
        send(session, "GET", server.url("/ok?code=SECRET-CODE"))

    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert f"GET {server.url('/ok')} -> 503 Service Unavailable (attempt 1 of 4" in record.getMessage()
    assert "SECRET-CODE" not in caplog.text


# -- Retry-After -----------------------------------------------------------------------------------------


def test_it_honours_a_fractional_retry_after(server, session, sleeps):
    server.add_fault(Fault(status=429, retry_after="2.128"), path="/ok")

    assert send(session, "GET", server.url("/ok")).ok

    assert sleeps == [2.128]


def test_it_really_waits_a_short_fractional_retry_after(server, session):
    server.add_fault(Fault(status=503, retry_after="0.2"), path="/ok")

    assert send(session, "GET", server.url("/ok")).ok

    first, second = server.requests_to("/ok")
    assert 0.2 <= second.monotonic - first.monotonic < 1.5


def test_it_honours_a_retry_after_given_as_an_http_date(server, session, sleeps):
    when = datetime.now(UTC) + timedelta(seconds=10)
    server.add_fault(Fault(status=503, retry_after=format_datetime(when, usegmt=True)), path="/ok")

    assert send(session, "GET", server.url("/ok")).ok

    (wait,) = sleeps
    assert 8.5 < wait <= 10.0  # HTTP-dates have whole seconds


def test_a_retry_after_beyond_max_wait_raises_throttled_at_once(server, session, sleeps, outbound_settings):
    outbound_settings.OUTBOUND_MAX_RETRY_WAIT = 30
    server.add_fault(Fault(status=429, retry_after="120"), path="/ok", times=4)

    with pytest.raises(Throttled) as caught:
        send(session, "GET", server.url("/ok"))

    assert caught.value.retry_after == 120.0
    assert caught.value.status == 429
    assert len(server.requests_to("/ok")) == 1
    assert sleeps == []


def test_a_max_wait_passed_by_the_caller_wins_over_the_setting(server, session, sleeps):
    server.add_fault(Fault(status=503, retry_after="5"), path="/ok")

    with pytest.raises(Throttled) as caught:
        send(session, "GET", server.url("/ok"), max_wait=1)

    assert caught.value.retry_after == 5.0
    assert sleeps == []


def test_exhausted_429s_raise_throttled_with_the_servers_retry_after(server, session, sleeps):
    server.add_fault(Fault(status=429, retry_after="1.5"), path="/ok", times=4)

    with pytest.raises(Throttled) as caught:
        send(session, "GET", server.url("/ok"))

    assert caught.value.retry_after == 1.5
    assert caught.value.status == 429
    assert len(server.requests_to("/ok")) == 4
    assert sleeps == [1.5, 1.5, 1.5]


def test_exhausted_429s_without_retry_after_still_raise_throttled(server, session, sleeps):
    server.add_fault(Fault(status=429), path="/ok", times=4)

    with pytest.raises(Throttled) as caught:
        send(session, "GET", server.url("/ok"))

    assert 0 <= caught.value.retry_after <= 4.0


def test_exhausted_503s_without_retry_after_raise_transient_error_not_throttled(server, session, sleeps):
    server.add_fault(Fault(status=503), path="/ok", times=4)

    with pytest.raises(TransientError) as caught:
        send(session, "GET", server.url("/ok"))

    assert not isinstance(caught.value, Throttled)
    assert caught.value.status == 503


def test_a_throttled_post_is_not_retried_but_says_when_to_come_back(server, session, sleeps):
    server.add_fault(Fault(status=429, retry_after="3"), path="/ok")

    with pytest.raises(Throttled) as caught:
        send(session, "POST", server.url("/ok"))

    assert caught.value.retry_after == 3.0
    assert len(server.requests_to("/ok")) == 1


def test_a_google_rate_limit_403_is_throttling_not_an_auth_failure(server, session, sleeps):
    body = {"error": {"code": 403, "errors": [{"reason": "rateLimitExceeded"}], "message": "Rate Limit"}}
    server.add_fault(Fault(status=403, body=body), path="/ok")

    assert send(session, "GET", server.url("/ok")).ok
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.128", 2.128),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_it_parses_retry_after_values(value, expected):
    now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


# -- classification --------------------------------------------------------------------------------------


def test_a_401_raises_auth_error_without_retrying(server, session, sleeps):
    body = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}}
    server.add_fault(Fault(status=401, body=body), path="/ok")

    with pytest.raises(AuthError) as caught:
        send(session, "GET", server.url("/ok"))

    assert caught.value.status == 401
    assert "InvalidAuthenticationToken" in caught.value.body_excerpt
    assert len(server.requests_to("/ok")) == 1
    assert sleeps == []


def test_a_403_raises_auth_error(server, session, sleeps):
    server.add_fault(Fault(status=403, body={"error": {"code": "ErrorAccessDenied"}}), path="/ok")

    with pytest.raises(AuthError) as caught:
        send(session, "GET", server.url("/ok"))

    assert caught.value.status == 403


def test_a_404_raises_permanent_error_with_a_body_excerpt(server, session, sleeps):
    with pytest.raises(PermanentError) as caught:
        send(session, "GET", server.url("/missing"))

    assert caught.value.status == 404
    assert '"not found"' in caught.value.body_excerpt
    assert len(server.requests_to("/missing")) == 1
    assert sleeps == []


def test_a_410_is_permanent_so_the_caller_can_resync(server, session, sleeps):
    server.add_fault(Fault(status=410, body={"error": {"code": "SyncStateNotFound"}}), path="/ok")

    with pytest.raises(PermanentError) as caught:
        send(session, "GET", server.url("/ok"))

    assert caught.value.status == 410
    assert "SyncStateNotFound" in caught.value.body_excerpt


def test_success_and_redirects_are_returned_as_responses(server, session):
    server.add_route("GET", "/moved", lambda request: FakeResponse.empty(302, {"Location": "/ok"}))

    assert send(session, "GET", server.url("/moved")).json() == {"ok": True}
    assert send(session, "GET", server.url("/moved"), allow_redirects=False).status_code == 302


def test_a_dropped_connection_is_retried_then_raises_transient_error(server, session, sleeps):
    server.add_fault(Fault(drop=True), path="/ok", times=4)

    with pytest.raises(TransientError) as caught:
        send(session, "GET", server.url("/ok"))

    assert caught.value.kind == "ConnectionError"
    assert len(server.requests_to("/ok")) == 4
    assert len(sleeps) == 3


def test_a_dropped_connection_is_retried_then_succeeds(server, session, sleeps):
    server.add_fault(Fault(drop=True), path="/ok")

    assert send(session, "GET", server.url("/ok")).json() == {"ok": True}


def test_a_body_cut_short_is_transient(server, session, sleeps):
    server.add_fault(Fault(drop_mid_body=3), path="/ok", times=4)

    with pytest.raises(TransientError):
        send(session, "GET", server.url("/ok"))

    assert len(server.requests_to("/ok")) == 4


def test_a_refused_connection_is_transient(session, sleeps):
    with FakeServer() as gone:
        url = gone.url("/ok")

    with pytest.raises(TransientError) as caught:
        send(session, "GET", url, max_retries=1)

    assert "Connection refused" in str(caught.value)


def test_a_malformed_url_is_permanent(session, sleeps):
    with pytest.raises(PermanentError):
        send(session, "GET", "http://")


def test_it_identifies_itself_with_a_user_agent(server, session):
    send(session, "GET", server.url("/ok"))

    assert server.requests[0].headers["User-Agent"] == "spaces-calendar/0.1"


# -- TLS -------------------------------------------------------------------------------------------------


def test_tls_verifies_against_our_ca_even_when_requests_ca_bundle_points_elsewhere(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", SYSTEM_CA_BUNDLE)
    with FakeServer(tls=True) as server:
        server.add_route("GET", "/ok", lambda request: {"ok": True})

        # The gotcha: a plain session's verify loses to the environment variable...
        with requests.Session() as plain:
            plain.verify = ca_bundle_path()
            with pytest.raises(requests.exceptions.SSLError):
                plain.get(server.url("/ok"), timeout=5)

        # ...ours does not.
        with build_session(verify=ca_bundle_path()) as session:
            assert send(session, "GET", server.url("/ok")).json() == {"ok": True}
            assert session.get(server.url("/ok")).ok


def test_build_session_trusts_the_outbound_ca_bundle_setting(monkeypatch, outbound_settings):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", SYSTEM_CA_BUNDLE)
    outbound_settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
    with FakeServer(tls=True) as server, build_session() as session:
        server.add_route("GET", "/ok", lambda request: {"ok": True})

        assert send(session, "GET", server.url("/ok")).ok


def test_a_certificate_from_an_untrusted_ca_is_refused_and_not_retried(sleeps):
    with FakeServer(tls="untrusted") as server, build_session(verify=ca_bundle_path()) as session:
        with pytest.raises(TLSError) as caught:
            send(session, "GET", server.url("/ok"))

        assert "certificate" in str(caught.value)
        assert sleeps == []
        assert server.requests == []  # refused during the handshake: no request was ever sent


def test_the_test_ca_is_not_trusted_by_default(sleeps):
    with FakeServer(tls=True) as server, build_session() as session, pytest.raises(TLSError):
        send(session, "GET", server.url("/ok"))


def test_a_tls_error_is_a_permanent_outbound_error():
    assert issubclass(TLSError, PermanentError)
    assert issubclass(Throttled, TransientError)
    assert all(issubclass(cls, OutboundError) for cls in (TransientError, PermanentError, AuthError))


# -- no secrets in messages ------------------------------------------------------------------------------


SECRETS = ("QUERY-SECRET", "HEADER-SECRET", "BODY-SECRET", "user:PASSWORD-SECRET")


def _secret_call(session: requests.Session, url: str, **kwargs) -> OutboundError:
    base = url.replace("http://", "http://user:PASSWORD-SECRET@")
    with pytest.raises(OutboundError) as caught:
        send(
            session,
            "POST",
            f"{base}?access_token=QUERY-SECRET",
            headers={"Authorization": "Bearer HEADER-SECRET"},
            data={"client_secret": "BODY-SECRET"},
            **kwargs,
        )
    return caught.value


def _assert_no_secrets(error: OutboundError) -> None:
    for text in (str(error), repr(error), error.url, error.body_excerpt):
        for secret in SECRETS:
            assert secret not in text


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=400, body={"error": "invalid_request"}),
        Fault(status=401),
        Fault(status=429, retry_after="99"),
        Fault(status=503),
        Fault(drop=True),
        Fault(delay=1.0),
    ],
    ids=["400", "401", "429", "503", "drop", "timeout"],
)
def test_error_messages_never_contain_secrets(server, session, sleeps, fault, caplog):
    server.add_fault(fault, path="/ok", times=2)

    with caplog.at_level(logging.DEBUG, logger="spaces_calendar.core.http"):
        error = _secret_call(session, server.url("/ok"), idempotent=True, max_retries=1, timeout=(2, 0.3))

    _assert_no_secrets(error)
    assert error.url == server.url("/ok")
    assert str(error).startswith(f"POST {server.url('/ok')}")
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    for secret in SECRETS:
        assert secret not in caplog.text


def test_tls_error_messages_never_contain_secrets(sleeps):
    with FakeServer(tls="untrusted") as server, build_session(verify=ca_bundle_path()) as session:
        error = _secret_call(session, server.url("/ok").replace("https://", "http://"))
        _assert_no_secrets(error)  # plain http to a TLS port: some transport failure, still no secrets
        url = server.url("/ok").replace("https://", "https://user:PASSWORD-SECRET@")
        with pytest.raises(TLSError) as caught:
            send(session, "GET", url + "?access_token=QUERY-SECRET")
        _assert_no_secrets(caught.value)
