"""Start-up configuration: wrong values stop the process with a message naming the variable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from spaces_calendar.environment import Env, local_secrets

ROOT = Path(__file__).resolve().parent.parent


def start_django(tmp_path, argv: list[str] | None = None, **variables) -> subprocess.CompletedProcess:
    """Import the settings in a fresh process, as a real start-up would, with only the given variables; or run
    ``argv`` (Python's arguments, e.g. ``["manage.py", "check"]``) that way."""
    # DJANGO_ALLOW_ASYNC_UNSAFE: set by the browser tests for this process, never by a real start-up.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST", "TEST_", "MICROSOFT_", "GOOGLE_", "DJANGO_ALLOW_ASYNC_UNSAFE"))}
    env.update({"SPACES_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "spaces_calendar.settings", **variables})
    code = "import django; django.setup(); from django.conf import settings; print(settings.SANDBOX)"
    return subprocess.run([sys.executable, *(argv or ["-c", code])], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_embedded_default_starts_with_no_variables_and_generates_its_secrets(tmp_path):
    result = start_django(tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"  # no credentials: sandbox
    stored = json.loads((tmp_path / "local-secrets.json").read_text())
    assert len(stored["SECRET_KEY"]) >= 50
    Fernet(stored["FIELD_ENCRYPTION_KEYS"])
    assert oct((tmp_path / "local-secrets.json").stat().st_mode & 0o777) == "0o600"


def test_local_secrets_are_stable_across_restarts(tmp_path):
    assert local_secrets(tmp_path / "s.json") == local_secrets(tmp_path / "s.json")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"MICROSOFT_CLIENT_ID": "abc"}, "Microsoft 365 is half-configured: MICROSOFT_CLIENT_ID set but "
                                         "MICROSOFT_CLIENT_SECRET missing"),
        ({"DATABASE_URL": "mysql://u@h/db", "SECRET_KEY": "k" * 50,
          "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}, "DATABASE_URL must be a postgres"),
        ({"DATABASE_URL": "postgres://u@127.0.0.1/db"}, "SECRET_KEY is required"),
        ({"FIELD_ENCRYPTION_KEYS": "not-a-key"}, "FIELD_ENCRYPTION_KEYS: key #1 is not valid"),
        ({"PORT": "eighty"}, "PORT='eighty' is not valid: expected an integer from 1 to 65535"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not valid"),
        ({"CELERY_BROKER_URL": "kafka://x"}, "CELERY_BROKER_URL must start with"),
        ({"MICROSOFT_LOGIN_URL": "login.microsoftonline.com"},
         "MICROSOFT_LOGIN_URL='login.microsoftonline.com' is not valid: expected an absolute URL"),
        ({"SANDBOX": "true", "SPACES_API_KEY": "real-key", "SPACES_TENANT_SLUG": "acme"},
         "SANDBOX=true cannot be combined"),
        # A key with no tenant would attach every event to nobody, silently.
        ({"SPACES_API_KEY": "real-key"}, "SPACES_API_KEY is set without SPACES_TENANT_SLUG"),
    ],
)
def test_bad_configuration_stops_start_up_naming_the_variable(tmp_path, variables, message):
    result = start_django(tmp_path, **variables)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_real_credentials_switch_the_sandbox_off(tmp_path):
    result = start_django(tmp_path, MICROSOFT_CLIENT_ID="id", MICROSOFT_CLIENT_SECRET="secret")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_secret_can_come_from_a_file(tmp_path):
    (tmp_path / "key").write_text("s3cret-from-a-mounted-file\n")

    assert Env({"API_KEY_FILE": str(tmp_path / "key")}).secret("API_KEY") == "s3cret-from-a-mounted-file"


def test_a_secret_file_that_cannot_be_read_is_an_error(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="API_KEY_FILE=.* cannot be read"):
        Env({"API_KEY_FILE": str(tmp_path / "missing")}).secret("API_KEY")


def test_typed_helpers_accept_good_values():
    env = Env({"N": "3", "F": "2.5", "B": "off", "L": "a, b,", "TZ": "Europe/Oslo", "M": '{"us": "https://x"}'})

    assert (env.int("N"), env.float("F"), env.bool("B"), env.list("L")) == (3, 2.5, False, ["a", "b"])
    assert env.time_zone("TZ") == "Europe/Oslo"
    assert env.json_map("M") == {"us": "https://x"}
    assert env.int("MISSING", 7) == 7


@pytest.mark.parametrize(
    ("method", "value", "message"),
    [
        ("time_zone", "Mars/Olympus", "expected an IANA time zone"),
        ("json_map", "[1, 2]", "expected a JSON object"),
        ("float", "fast", "expected a number"),
    ],
)
def test_typed_helpers_name_the_variable_and_form(method, value, message):
    with pytest.raises(ImproperlyConfigured, match=f"X.*{message}"):
        getattr(Env({"X": value}), method)("X")


def test_processes_starting_together_agree_on_the_generated_secrets(tmp_path):
    code = "import sys, json; from spaces_calendar.environment import local_secrets; " \
           "print(json.dumps(local_secrets(__import__('pathlib').Path(sys.argv[1]))))"
    processes = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "s.json")], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = {p.communicate(timeout=60)[0] for p in processes}

    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == json.loads((tmp_path / "s.json").read_text())
