"""The fake-server harness: provider fakes and the sandbox stand on it, so it must behave like a server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from spaces_calendar.sandbox.harness import FakeRequest, FakeResponse, FakeServer, Fault, ca_bundle_path


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(name="harness-test") as fake:
        yield fake


@pytest.fixture
def client() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_it_routes_a_request_and_hands_the_handler_everything_it_sent(server, client):
    seen: list[FakeRequest] = []

    @server.route("POST", r"/users/(?P<room>[^/]+)/events")
    def create_event(request: FakeRequest) -> FakeResponse:
        seen.append(request)
        return FakeResponse.json({"room": request.params["room"], "subject": request.json()["subject"]}, 201)

    response = client.post(
        server.url("/users/room-1@example.com/events?a=1&a=2&flag="),
        json={"subject": "Standup"},
        headers={"X-Custom": "yes"},
    )

    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"room": "room-1@example.com", "subject": "Standup"}
    (request,) = seen
    assert request.method == "POST"
    assert request.path == "/users/room-1@example.com/events"
    assert request.query == {"a": ["1", "2"], "flag": [""]}
    assert request.arg("a") == "1"
    assert request.arg("missing", "default") == "default"
    assert request.headers["x-custom"] == "yes"
    assert request.groups == ("room-1@example.com",)


def test_it_encodes_bodies_by_type_with_a_correct_content_length(server, client):
    server.add_route("GET", "/dict", lambda request: {"value": [1, 2]})
    server.add_route("GET", "/text", lambda request: "plain ünïcode")
    server.add_route("GET", "/bytes", lambda request: b"\x00\x01")
    server.add_route("DELETE", "/thing", lambda request: None)

    as_json = client.get(server.url("/dict"))
    as_text = client.get(server.url("/text"))
    as_bytes = client.get(server.url("/bytes"))
    deleted = client.delete(server.url("/thing"))

    assert as_json.json() == {"value": [1, 2]}
    assert as_json.headers["Content-Type"] == "application/json"
    assert as_text.text == "plain ünïcode"
    assert as_text.headers["Content-Length"] == str(len("plain ünïcode".encode()))
    assert as_text.headers["Content-Type"].startswith("text/plain")
    assert as_bytes.content == b"\x00\x01"
    assert deleted.status_code == 204
    assert deleted.content == b""


def test_it_keeps_connections_alive_between_requests(server, client):
    server.add_route("GET", "/ping", lambda request: {"pong": True})

    for _ in range(3):
        assert client.get(server.url("/ping")).ok

    assert len({request.client for request in server.requests}) == 1


def test_it_logs_every_request_including_unrouted_ones(server, client):
    server.add_route("GET", "/places/microsoft.graph.room", lambda request: {"value": []})

    client.get(server.url("/places/microsoft.graph.room?$top=5"), headers={"Authorization": "Bearer t"})
    client.post(server.url("/v1.0/$batch"), data=b"raw body")
    before = time.time()

    log = server.requests
    assert [(r.method, r.path) for r in log] == [
        ("GET", "/places/microsoft.graph.room"),
        ("POST", "/v1.0/$batch"),
    ]
    assert log[0].query == {"$top": ["5"]}
    assert log[0].headers["authorization"] == "Bearer t"
    assert log[1].body == b"raw body"
    assert log[0].timestamp <= log[1].timestamp <= before
    assert log[0].monotonic <= log[1].monotonic
    assert server.requests_to("/v1.0/$batch") == [log[1]]
    assert server.requests_to(r"/places/.*", method="get") == [log[0]]
    assert server.requests_to(r"/places/.*", method="POST") == []

    log.clear()  # a copy: the server's log is untouched
    assert len(server.requests) == 2
    server.clear_log()
    assert server.requests == []


def test_an_unknown_route_gets_a_json_404_and_a_known_path_with_another_method_a_405(server, client):
    server.add_route("GET", "/known", lambda request: {})

    unknown = client.get(server.url("/nowhere"))
    wrong_method = client.put(server.url("/known"))

    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not found", "path": "/nowhere"}
    assert wrong_method.status_code == 405


def test_a_route_registered_later_overrides_an_earlier_one(server, client):
    server.add_route("GET", "/thing", lambda request: {"version": 1})
    server.add_route("GET", "/thing", lambda request: {"version": 2})

    assert client.get(server.url("/thing")).json() == {"version": 2}


def test_a_handler_exception_becomes_a_500_is_recorded_and_the_server_keeps_serving(server, client):
    def broken(request: FakeRequest) -> FakeResponse:
        raise KeyError("fake bug")

    server.add_route("GET", "/broken", broken)
    server.add_route("GET", "/fine", lambda request: {"ok": True})

    response = client.get(server.url("/broken"))

    assert response.status_code == 500
    assert "fake bug" in response.json()["detail"]
    assert [type(error) for error in server.errors] == [KeyError]
    with pytest.raises(KeyError):
        server.raise_errors()
    assert client.get(server.url("/fine")).json() == {"ok": True}


def test_streamed_chunks_arrive_one_by_one_before_the_stream_ends(server, client):
    first_line_read = threading.Event()

    def events() -> Iterator[bytes]:
        yield b'{"eventType": "KEEP_ALIVE"}\n'
        # The second line is only produced once the client has read the first: proof of per-chunk flushing.
        assert first_line_read.wait(timeout=5), "the client never saw the first chunk"
        yield b'{"eventType": "DEVICE_PRESENCE"}\n'

    server.add_route("GET", "/api/partners/v1/firehose/events", lambda request: FakeResponse.stream(events()))

    with client.get(server.url("/api/partners/v1/firehose/events"), stream=True, timeout=5) as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert response.headers["Content-Type"] == "application/x-ndjson"
        lines = response.iter_lines()
        assert next(lines) == b'{"eventType": "KEEP_ALIVE"}'
        first_line_read.set()
        assert list(lines) == [b'{"eventType": "DEVICE_PRESENCE"}']
    assert server.errors == []


def test_a_status_fault_answers_instead_of_the_handler_for_the_next_n_matching_requests(server, client):
    server.add_route("GET", "/a", lambda request: {"handler": "a"})
    server.add_route("GET", "/b", lambda request: {"handler": "b"})
    server.add_fault(Fault(status=503, retry_after="2.128"), path="/a", times=2)

    assert client.get(server.url("/b")).status_code == 200  # another path does not consume the fault
    first, second, third = (client.get(server.url("/a")) for _ in range(3))

    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["Retry-After"] == "2.128"
    assert "Retry-After" not in third.headers
    assert third.json() == {"handler": "a"}
    assert [r.fault is not None for r in server.requests_to("/a")] == [True, True, False]
    assert server.pending_faults == 0


def test_faults_are_consumed_in_fifo_order_and_can_filter_by_method(server, client):
    server.add_route("*", "/x", lambda request: {"ok": True})
    server.add_fault(Fault(status=500), method="POST")
    server.add_fault(Fault(status=429, body="slow down"))
    server.add_fault(Fault(status=502))

    get_1 = client.get(server.url("/x"))
    post = client.post(server.url("/x"))
    get_2 = client.get(server.url("/x"))
    get_3 = client.get(server.url("/x"))

    assert [get_1.status_code, post.status_code, get_2.status_code, get_3.status_code] == [429, 500, 502, 200]
    assert get_1.text == "slow down"


def test_a_retry_after_fault_without_a_status_decorates_the_handlers_answer(server, client):
    server.add_route("GET", "/x", lambda request: {"ok": True})
    server.add_fault(Fault(retry_after="Wed, 21 Oct 2015 07:28:00 GMT", headers={"X-Extra": "1"}))

    response = client.get(server.url("/x"))

    assert response.json() == {"ok": True}
    assert response.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert response.headers["X-Extra"] == "1"


def test_a_delay_fault_answers_late(server, client):
    server.add_route("GET", "/slow", lambda request: {"ok": True})
    server.add_fault(Fault(delay=0.3))

    started = time.monotonic()
    response = client.get(server.url("/slow"), timeout=5)

    assert response.json() == {"ok": True}
    assert time.monotonic() - started >= 0.3


def test_a_drop_fault_closes_the_connection_without_any_answer(server, client):
    server.add_route("GET", "/x", lambda request: {"ok": True})
    server.add_fault(Fault(drop=True))

    with pytest.raises(requests.ConnectionError):
        client.get(server.url("/x"), timeout=5)

    assert client.get(server.url("/x"), timeout=5).json() == {"ok": True}
    assert len(server.requests_to("/x")) == 2


def test_a_drop_mid_body_fault_cuts_a_stream_after_the_given_bytes(server, client):
    lines = [b'{"recordUid": "%d"}\n' % n for n in range(5)]
    server.add_route("GET", "/stream", lambda request: FakeResponse.stream(iter(lines)))
    server.add_fault(Fault(drop_mid_body=len(lines[0]) + 3))

    received = []
    with (
        pytest.raises(requests.exceptions.ChunkedEncodingError),
        client.get(server.url("/stream"), stream=True, timeout=5) as response,
    ):
        for line in response.iter_lines():
            received.append(line)

    assert received == [lines[0].strip()]


def test_a_drop_mid_body_fault_cuts_a_fixed_length_body(server, client):
    server.add_route("GET", "/x", lambda request: {"value": "x" * 100})
    server.add_fault(Fault(drop_mid_body=10))

    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # requests' name for an incomplete body
        client.get(server.url("/x"), timeout=5)


def test_a_fault_cannot_both_drop_and_answer():
    with pytest.raises(ValueError, match="drop"):
        Fault(drop=True, status=500)


def test_stop_cuts_an_open_stream_that_never_ends_and_frees_the_port(client):
    def forever(request: FakeRequest) -> FakeResponse:
        def keep_alive() -> Iterator[bytes]:
            while True:  # ignores server.stopped on purpose: stop() must still end the connection
                yield b'{"eventType": "KEEP_ALIVE"}\n'
                time.sleep(0.05)

        return FakeResponse.stream(keep_alive())

    server = FakeServer().start()
    server.add_route("GET", "/stream", forever)
    port = server.port
    with client.get(server.url("/stream"), stream=True, timeout=5) as response:
        lines = response.iter_lines()
        assert next(lines) == b'{"eventType": "KEEP_ALIVE"}'
        server.stop()
        with pytest.raises(requests.RequestException):
            for _ in lines:
                pass

    assert not server.is_running
    with FakeServer(port=port) as again:  # the same port can be served again at once
        assert again.port == port


def test_a_tls_server_is_trusted_through_the_test_ca_bundle(client):
    with FakeServer(tls=True) as server:
        server.add_route("GET", "/x", lambda request: {"ok": True})

        assert server.base_url.startswith("https://localhost:")
        assert client.get(server.url("/x"), verify=ca_bundle_path(), timeout=5).json() == {"ok": True}
        assert ca_bundle_path() == ca_bundle_path()


def test_an_untrusted_tls_server_is_refused_against_the_test_ca(client):
    with FakeServer(tls="untrusted") as server, pytest.raises(requests.exceptions.SSLError):
        client.get(server.url("/x"), verify=ca_bundle_path(), timeout=5)
