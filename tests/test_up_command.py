"""The README's run command end to end: one process set on the embedded default, stopped cleanly by SIGTERM."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.worker import wait_for

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_in_session(session_id: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id:  # after "pid (comm)": state, ppid, pgrp, session
            found.append(int(stat.parent.name))
    return found


def healthz(port: int, timeout: float = 2) -> tuple[int, dict] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except OSError:
        return None


def first_healthz_latency(port: int, timeout: float = 90) -> float:
    """Seconds the first /healthz after start-up took to answer (200 or 503), asked as soon as the port accepts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    started = time.monotonic()
    assert healthz(port, timeout=60) is not None
    return time.monotonic() - started


def test_up_runs_web_worker_beat_firehose_and_the_sandbox_on_the_embedded_default_and_stops_on_sigterm(tmp_path):
    port = free_port()
    # A clean embedded default: no test or production database/broker variables, its own data folder.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST", "TEST_", "DATABASE_URL", "CELERY_BROKER_URL", "MICROSOFT_", "GOOGLE_"))}
    env.update({"SPACES_DATA_DIR": str(tmp_path / "var"), "PORT": str(port), "WORKER_HEARTBEAT_INTERVAL": "1",
                "SANDBOX_MICROSOFT_LOGIN_PORT": str(free_port()), "SANDBOX_MICROSOFT_GRAPH_PORT": str(free_port()),
                "SANDBOX_MICROSOFT_CONSENT_PORT": str(free_port()), "SANDBOX_SPACES_PORT": str(free_port())})
    log = (tmp_path / "up.log").open("w")
    process = subprocess.Popen([sys.executable, "manage.py", "up"], cwd=ROOT, env=env,  # noqa: S603
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    output = lambda: (tmp_path / "up.log").read_text()  # noqa: E731
    try:
        # The web is up when it accepts connections: it answers at once then, even while the rest is starting.
        assert first_healthz_latency(port) < 2, output()
        assert wait_for(lambda: (healthz(port) or (0,))[0] == 200, timeout=90), output()
        status, body = healthz(port)
        assert body["checks"]["broker"]["transport"] == "sqla"
        assert body["checks"]["database"]["vendor"] == "sqlite"
        assert "password:" in output()  # the first admin's one-time password, shown once
        for name in ("sandbox", "web", "worker", "beat", "firehose"):
            assert f"{name} started" in output()
        assert "Sandbox Demo Co" in output()
        assert wait_for(lambda: "Fake Microsoft 365 ready" in output(), timeout=30), output()
        assert wait_for(lambda: "Fake Cisco Spaces ready" in output(), timeout=30), output()
        assert len(processes_in_session(process.pid)) >= 6  # supervisor, sandbox, gunicorn, worker, beat, firehose
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=60)

    assert healthz(port) is None  # nothing listens any more
    # Every process had the time its own shutdown takes (the worker's warm shutdown takes 6-9 s): none was killed.
    assert "sending SIGKILL" not in output(), output()
    for name in ("sandbox", "web", "worker", "beat", "firehose"):
        assert f"{name} stopped" in output()
    assert returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM), output()
    # No process of the set survives its supervisor (they all share its session, started just for this test).
    assert processes_in_session(process.pid) == [], output()


def supervise(stop_timeout_s: float, **commands: str) -> tuple[str, float]:
    """Run shell ``commands`` under ``up``'s supervisor in a process of its own (it takes over SIGTERM and SIGINT)."""
    code = ("import sys; from honcho.printer import Printer; from spaces_calendar.core.supervisor import Supervisor; "
            f"m = Supervisor(Printer(sys.stdout), stop_timeout_s={stop_timeout_s}); "
            f"[m.add_process(name, command) for name, command in {commands!r}.items()]; m.loop()")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr, time.monotonic() - started


def test_a_process_slower_to_stop_than_honchos_five_seconds_gets_the_time_it_needs():
    # "quick" exits after a second, so the others are stopped; "slow" takes 6.5 s over it, as a Celery worker does.
    output, _ = supervise(20, quick="sleep 1", slow="trap 'sleep 6.5; exit 0' TERM; while true; do sleep 0.2; done")

    assert "sending SIGTERM to slow" in output
    assert "sending SIGKILL" not in output and "slow stopped (rc=0)" in output, output


def test_a_process_that_ignores_sigterm_is_killed_when_the_stop_timeout_is_up():
    output, elapsed = supervise(1, quick="sleep 0.5", stubborn="trap '' TERM; sleep 30")

    assert "sending SIGKILL to stubborn" in output and "stubborn stopped (rc=-9)" in output, output
    assert elapsed < 4.5  # the 1 s asked for, not honcho's 5 s


def test_sigterm_goes_to_each_process_itself_not_to_its_children():
    # A Celery worker's pool children, signalled with it, died holding the pool's queue lock, and the worker then
    # waited for that lock until it was killed. The child here reports a SIGTERM; its parent stops on one.
    child = "(trap 'echo CHILD-GOT-SIGTERM; exit 1' TERM; sleep 3)"
    output, _ = supervise(20, quick="sleep 1", family=f"{child} & trap 'exit 0' TERM; wait")

    assert "sending SIGTERM to family" in output and "family stopped (rc=0)" in output, output
    assert "CHILD-GOT-SIGTERM" not in output and "sending SIGKILL" not in output, output
