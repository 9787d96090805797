"""The fake partner API itself: Cisco's shapes, and a server it can share with the Firehose fake."""

import base64

import requests
from cryptography.hazmat.primitives.serialization import load_der_public_key

from spaces_calendar.partner.fake import FakeSpacesPartner
from spaces_calendar.sandbox.harness import FakeServer, ca_bundle_path


def get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, verify=ca_bundle_path(), timeout=5, **kwargs)


def test_the_public_key_comes_as_cisco_documents_it():
    with FakeSpacesPartner() as fake:
        answer = get(fake.base_url + "/client/v1/partner/partnerPublicKey/v1").json()

    assert answer["status"] is True and answer["message"]
    [entry] = answer["data"]
    assert entry["version"] == "v1"
    assert "\n" in entry["publicKey"], "Cisco's base64 key comes wrapped over lines"
    key = load_der_public_key(base64.b64decode("".join(entry["publicKey"].split())))
    assert key.public_numbers() == fake.private_key().public_key().public_numbers()


def test_a_shared_server_keeps_running_when_the_fake_stops():
    with FakeServer(tls=True, name="spaces") as server:
        server.add_route("GET", "/api/partners/v1/firehose/events", lambda request: "stream")
        with FakeSpacesPartner(server) as fake:
            assert fake.base_url == server.base_url

        assert server.is_running
        assert get(server.url("/api/partners/v1/firehose/events")).text == "stream"
        assert get(server.url("/client/v1/partner/partnerPublicKey/v1")).status_code == 200


def test_monitoring_refuses_an_unknown_key_in_cisco_s_envelope():
    with FakeSpacesPartner() as fake:
        response = requests.put(fake.base_url + "/api/partners/v1/monitoring/status", json={"data": {}},
                                headers={"x-api-key": "nope"}, verify=ca_bundle_path(), timeout=5)

    assert response.status_code == 401
    assert response.json()["status"] is False
