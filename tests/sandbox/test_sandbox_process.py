"""The sandbox as ``up`` runs it: its own process on fixed ports, a CA shared through the data folder, settings
that point the app at it, and a clean stop on SIGTERM."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from spaces_calendar.core.management.commands.up import process_set
from spaces_calendar.sandbox import config
from tests.worker import wait_for

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(tmp_path, **variables) -> dict[str, str]:
    """The embedded default as a user starts it: no test or provider variables, its own data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TEST_", "MICROSOFT_", "GOOGLE_"))}
    return {**env, "SPACES_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "spaces_calendar.settings", **variables}


MICROSOFT_SETTINGS = ["SANDBOX", "MICROSOFT_LOGIN_URL", "MICROSOFT_GRAPH_URL", "MICROSOFT_CONSENT_URL",
                      "MICROSOFT_CLIENT_ID", "OUTBOUND_CA_BUNDLE"]
SPACES_SETTINGS = ["SANDBOX_SPACES_URL", "SPACES_PARTNER_HOSTS", "SPACES_APP_ID", "SPACES_FIREHOSE_URL",
                   "FIREHOSE_INITIAL_LOOKBACK_S", "FIREHOSE_RESUME_OVERLAP_S", "FIREHOSE_DEDUP_RETENTION_S"]


def settings_seen(tmp_path, names=MICROSOFT_SETTINGS, **variables) -> dict:
    code = ("import django, json; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{name: getattr(settings, name) for name in {names!r}}}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean_env(tmp_path, **variables),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_sandbox_settings_point_the_app_at_the_fakes_and_their_ca(tmp_path):
    seen = settings_seen(tmp_path, SANDBOX_MICROSOFT_LOGIN_PORT="9441", SANDBOX_MICROSOFT_GRAPH_PORT="9442",
                         SANDBOX_MICROSOFT_CONSENT_PORT="9440")

    assert seen == {
        "SANDBOX": True,
        "MICROSOFT_LOGIN_URL": "https://localhost:9441",
        "MICROSOFT_GRAPH_URL": "https://localhost:9442/v1.0",
        "MICROSOFT_CONSENT_URL": "http://127.0.0.1:9440",
        "MICROSOFT_CLIENT_ID": config.MICROSOFT_CLIENT_ID,
        "OUTBOUND_CA_BUNDLE": str(tmp_path / "sandbox-ca" / "ca.pem"),
    }


def test_real_credentials_leave_the_real_services_in_place(tmp_path):
    seen = settings_seen(tmp_path, MICROSOFT_CLIENT_ID="real-id", MICROSOFT_CLIENT_SECRET="real-secret")

    assert seen == {
        "SANDBOX": False,
        "MICROSOFT_LOGIN_URL": "https://login.microsoftonline.com",
        "MICROSOFT_GRAPH_URL": "https://graph.microsoft.com/v1.0",
        "MICROSOFT_CONSENT_URL": None,
        "MICROSOFT_CLIENT_ID": "real-id",
        "OUTBOUND_CA_BUNDLE": None,
    }


def test_the_sandbox_settings_trust_the_fake_cisco_spaces_and_replay_its_day(tmp_path):
    seen = settings_seen(tmp_path, SPACES_SETTINGS, SANDBOX_SPACES_PORT="9443")

    assert seen["SANDBOX_SPACES_URL"] == "https://localhost:9443"
    assert seen["SPACES_PARTNER_HOSTS"]["https://localhost:9443"] == "sandbox"
    assert "https://partners.dnaspaces.io" in seen["SPACES_PARTNER_HOSTS"]
    assert (seen["SPACES_APP_ID"], seen["SPACES_FIREHOSE_URL"]) == (config.SPACES_APP_ID, "https://localhost:9443")
    assert seen["FIREHOSE_INITIAL_LOOKBACK_S"] == 3600.0  # the fake replays an hour, as Cisco's Firehose does
    assert seen["FIREHOSE_DEDUP_RETENTION_S"] > seen["FIREHOSE_RESUME_OVERLAP_S"]


def test_real_credentials_leave_cisco_spaces_alone(tmp_path):
    seen = settings_seen(tmp_path, SPACES_SETTINGS, SPACES_API_KEY="real-key", SPACES_TENANT_SLUG="acme")

    assert list(seen["SPACES_PARTNER_HOSTS"]) == ["https://partners.dnaspaces.io", "https://partners.dnaspaces.eu"]
    assert (seen["SPACES_APP_ID"], seen["SPACES_FIREHOSE_URL"]) == (None, "https://partners.dnaspaces.io")
    # A real stream's first connection asks for as much as the Firehose replays (about an hour).
    assert seen["FIREHOSE_INITIAL_LOOKBACK_S"] == 3600.0


def test_an_explicit_url_wins_over_the_sandbox_default(tmp_path):
    seen = settings_seen(tmp_path, MICROSOFT_GRAPH_URL="https://graph.example.test/v1.0")

    assert seen["MICROSOFT_GRAPH_URL"] == "https://graph.example.test/v1.0"
    assert seen["MICROSOFT_LOGIN_URL"] == f"https://localhost:{config.MICROSOFT_LOGIN_PORT}"


def test_up_starts_the_sandbox_first_and_only_in_the_sandbox():
    assert list(process_set(8000, 2, 2, sandbox=True)) == ["sandbox", "web", "worker", "beat", "firehose"]
    assert process_set(8000, 2, 2, sandbox=True)["sandbox"][-2:] == ["manage.py", "run_sandbox"]
    assert "sandbox" not in process_set(8000, 2, 2)


def test_run_sandbox_serves_the_fake_on_its_fixed_ports_with_the_shared_ca_until_sigterm(tmp_path):
    login_port, graph_port, consent_port, spaces_port = free_port(), free_port(), free_port(), free_port()
    env = clean_env(tmp_path, SANDBOX_MICROSOFT_LOGIN_PORT=str(login_port),
                    SANDBOX_MICROSOFT_GRAPH_PORT=str(graph_port), SANDBOX_MICROSOFT_CONSENT_PORT=str(consent_port),
                    SANDBOX_SPACES_PORT=str(spaces_port))
    log = (tmp_path / "sandbox.log").open("w")
    process = subprocess.Popen([sys.executable, "manage.py", "run_sandbox"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    output = lambda: (tmp_path / "sandbox.log").read_text()  # noqa: E731
    ca = str(tmp_path / "sandbox-ca" / "ca.pem")
    try:
        assert wait_for(lambda: "Fake Microsoft 365 ready" in output(), timeout=60), output()
        discovery = requests.get(
            f"https://localhost:{login_port}/{config.MICROSOFT_TENANT_ID}/v2.0/.well-known/openid-configuration",
            verify=ca, timeout=5)
        state = requests.get(f"https://127.0.0.1:{graph_port}/_sandbox/microsoft/state", verify=ca, timeout=5)
        assert discovery.status_code == 200
        assert state.json()["tenant_id"] == config.MICROSOFT_TENANT_ID
        rooms = state.json()["rooms"]
        assert [room["email"] for room in rooms if room["hidden"]] == ["vault@sandbox-demo.example.com"]
        assert len(rooms) == 9
        # The admin's browser consents over plain http (it does not trust the sandbox CA) and comes back to us.
        consent = requests.get(
            f"http://127.0.0.1:{consent_port}/organizations/v2.0/adminconsent",
            params={"client_id": config.MICROSOFT_CLIENT_ID, "redirect_uri": "http://127.0.0.1:8000/cb", "state": "s"},
            allow_redirects=False, timeout=5)
        assert consent.status_code == 302
        assert consent.headers["Location"].startswith("http://127.0.0.1:8000/cb?admin_consent=True&tenant=")
        assert wait_for(lambda: "Fake Cisco Spaces ready" in output(), timeout=30), output()
        spaces = requests.get(f"https://localhost:{spaces_port}/_sandbox/spaces/state", verify=ca, timeout=5).json()
        assert spaces["app_id"] == config.SPACES_APP_ID and spaces["events"] > 0
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=30)

    assert returncode == 0, output()
    assert "Sandbox stopped." in output()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", graph_port)) != 0  # nothing listens any more


def test_a_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = clean_env(tmp_path, SANDBOX_MICROSOFT_LOGIN_PORT=str(taken.getsockname()[1]),
                        SANDBOX_MICROSOFT_CONSENT_PORT=str(free_port()), SANDBOX_SPACES_PORT=str(free_port()))
        result = subprocess.run([sys.executable, "manage.py", "run_sandbox"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "SANDBOX_MICROSOFT_LOGIN_PORT and SANDBOX_MICROSOFT_GRAPH_PORT to free ports" in result.stderr


def test_a_taken_spaces_port_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = clean_env(tmp_path, SANDBOX_MICROSOFT_LOGIN_PORT=str(free_port()),
                        SANDBOX_MICROSOFT_GRAPH_PORT=str(free_port()), SANDBOX_MICROSOFT_CONSENT_PORT=str(free_port()),
                        SANDBOX_SPACES_PORT=str(taken.getsockname()[1]))
        result = subprocess.run([sys.executable, "manage.py", "run_sandbox"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "Set SANDBOX_SPACES_PORT to a free port" in result.stderr


def test_each_web_port_gets_four_sandbox_ports_of_its_own_and_8000_keeps_8440_to_8443():
    assert config.sandbox_ports(8000) == config.SandboxPorts(consent=8440, login=8441, graph=8442, spaces=8443)
    taken: dict[int, int] = {}
    for web_port in range(1, 16129):  # as many web ports as there are blocks of four above 1023 (7853 held its own)
        ports = config.sandbox_ports(web_port)
        assert len(set(ports)) == 4 and all(1024 <= port <= 65535 for port in ports)
        assert web_port not in ports  # the fakes never take the instance's own web port
        for port in ports:
            assert taken.setdefault(port, web_port) == web_port, (port, web_port)  # nor another's fakes


def test_the_sandbox_ports_follow_port_and_an_explicit_one_still_wins(tmp_path):
    names = ["SANDBOX_MICROSOFT_CONSENT_PORT", "SANDBOX_MICROSOFT_LOGIN_PORT", "SANDBOX_MICROSOFT_GRAPH_PORT",
             "SANDBOX_SPACES_PORT", "SANDBOX_SPACES_URL", "MICROSOFT_LOGIN_URL", "SPACES_FIREHOSE_URL"]
    expected = config.sandbox_ports(8001)

    seen = settings_seen(tmp_path, names, PORT="8001")
    assert [seen[name] for name in names[:4]] == list(expected)
    assert seen["SANDBOX_SPACES_URL"] == seen["SPACES_FIREHOSE_URL"] == f"https://localhost:{expected.spaces}"
    assert seen["MICROSOFT_LOGIN_URL"] == f"https://localhost:{expected.login}"

    seen = settings_seen(tmp_path, names, PORT="8001", SANDBOX_SPACES_PORT="9443")
    assert (seen["SANDBOX_SPACES_PORT"], seen["SANDBOX_MICROSOFT_LOGIN_PORT"]) == (9443, expected.login)


def _web_port_with_free_sandbox_ports(start: int, exclude: set[int]) -> int:
    """A web port whose sandbox ports are free now, away from the ephemeral range other tests' servers draw from."""
    for web_port in range(start, start + 200):
        ports = {web_port, *config.sandbox_ports(web_port)}
        if ports & exclude:
            continue
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return web_port
    raise AssertionError(f"no free ports near {start}")


def test_two_sandboxes_with_different_ports_run_side_by_side_on_one_machine(tmp_path):
    first = _web_port_with_free_sandbox_ports(5400, set())
    second = _web_port_with_free_sandbox_ports(first + 1, {first, *config.sandbox_ports(first)})
    processes, logs = [], []
    try:
        for web_port in (first, second):
            data = tmp_path / str(web_port)
            data.mkdir()
            logs.append(data / "sandbox.log")
            processes.append(subprocess.Popen(
                [sys.executable, "manage.py", "run_sandbox"], cwd=ROOT, stdout=logs[-1].open("w"),
                stderr=subprocess.STDOUT, env=clean_env(data, PORT=str(web_port))))
        for log, process in zip(logs, processes, strict=True):
            assert wait_for(lambda log=log, process=process: "Fake Cisco Spaces ready" in log.read_text()
                            or process.poll() is not None, timeout=90), log.read_text()
            assert process.poll() is None, log.read_text()  # the second did not die on the first one's ports
        ca = str(tmp_path / str(second) / "sandbox-ca" / "ca.pem")
        spaces = config.sandbox_ports(second).spaces
        state = requests.get(f"https://localhost:{spaces}/_sandbox/spaces/state", verify=ca, timeout=5)
        assert state.json()["app_id"] == config.SPACES_APP_ID
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
