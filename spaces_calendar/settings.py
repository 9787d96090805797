"""Settings for spaces-calendar: every value comes from the environment through typed helpers.

With no variables set this is the embedded default: SQLite for data, a SQLite file as the Celery broker, secrets
generated once into ``var/local-secrets.json`` and the provider fakes as a sandbox. See README.md for every
variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import csp.constants as csp
import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from spaces_calendar.environment import Env, local_secrets
from spaces_calendar.sandbox import config as sandbox_config

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.str("SPACES_DATA_DIR", str(BASE_DIR / "var"))).resolve()

# pytest sets PYTEST_VERSION for the whole session: the suite then uses its own database and broker, from
# TEST_DATABASE_URL / TEST_BROKER_URL when set (CI's PostgreSQL + Redis run), else throwaway SQLite files.
TESTING = "PYTEST_VERSION" in os.environ
if TESTING:
    # One folder per pytest run (its child processes inherit the variable), so two runs on one machine never share
    # a SQLite database or broker file.
    DATA_DIR = DATA_DIR / "test" / os.environ.setdefault("SPACES_TEST_RUN", str(os.getpid()))

DATABASE_URL = env.str("TEST_DATABASE_URL" if TESTING else "DATABASE_URL", None)
EMBEDDED = DATABASE_URL is None

if EMBEDDED or TESTING:
    _local = local_secrets(DATA_DIR / "local-secrets.json")
    SECRET_KEY = env.secret("SECRET_KEY", _local["SECRET_KEY"])
    FIELD_ENCRYPTION_KEYS = env.fernet_keys("FIELD_ENCRYPTION_KEYS", _local["FIELD_ENCRYPTION_KEYS"].split(","))
else:
    SECRET_KEY = env.secret("SECRET_KEY")
    FIELD_ENCRYPTION_KEYS = env.fernet_keys("FIELD_ENCRYPTION_KEYS")
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY is too short: expected at least 32 random characters.")

DEBUG = env.bool("DEBUG", False)
PORT = env.int("PORT", 8000, minimum=1, maximum=65535)
#: gunicorn worker processes ``manage.py up`` starts (each with 4 threads). Two per core: a request spends most of
#: its time waiting on the database and the broker, and threads of one process then queue for its one GIL; with two
#: workers on two cores the webhook benchmark's p99 at 200 notifications/s was 167-263 ms, with four 74 ms.
WEB_WORKERS = env.int("WEB_WORKERS", 2 * (os.cpu_count() or 1), minimum=1, maximum=64)
PUBLIC_BASE_URL = env.url("PUBLIC_BASE_URL", f"http://127.0.0.1:{PORT}")
_public = urlsplit(PUBLIC_BASE_URL)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", list(dict.fromkeys(
    ["127.0.0.1", "localhost", "[::1]", "testserver", _public.hostname])))
#: Origins, not URLs: what browsers send in ``Origin`` is scheme and host only, so a path would never match.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [f"{_public.scheme}://{_public.netloc}"])
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _public.scheme == "https"
# HTTPS only when a TLS proxy is in front and the public address is https; never on the embedded default, which
# serves plain http on 127.0.0.1 (a redirect there would go nowhere, and HSTS would pin the browser to https).
HTTPS_ONLY = BEHIND_TLS_PROXY and _public.scheme == "https"
SECURE_SSL_REDIRECT = HTTPS_ONLY
# A load balancer's or orchestrator's health probe calls the backend itself over plain http, without the proxy's
# X-Forwarded-Proto: redirected, it would read as healthy without any check (Kubernetes counts a 3xx as success) or
# as down (most load balancers want a 200). Cisco's partner health URLs and the webhooks are called at the public
# https address, through the proxy, so they are not exempt.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
#: A year, as browsers' preload lists expect; start lower (SECURE_HSTS_SECONDS=300) while trying a new domain out.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0) if HTTPS_ONLY else 0
# includeSubDomains covers names *under* PUBLIC_BASE_URL's host (spaces.example.com: *.spaces.example.com), not its
# parent domain, so it is on. Preload is a commitment for the whole registrable domain, submitted by its owner at
# hstspreload.org and slow to undo: off unless asked for, and Django's reminder about it (security.W021) silenced.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "csp",
    "spaces_calendar.core",
    "spaces_calendar.calendars",
    "spaces_calendar.partner",
    "occupancy",
    "firehose",
]

MIDDLEWARE = [
    "spaces_calendar.core.logging.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "spaces_calendar.core.tenancy.TenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "spaces_calendar.urls"
WSGI_APPLICATION = "spaces_calendar.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "spaces_calendar.core.context_processors.deployment",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
_SQLITE_OPTIONS = {
    # IMMEDIATE takes the write lock when a transaction starts, so concurrent writers (web, worker, beat,
    # firehose) wait on the busy timeout instead of failing with "database is locked" on lock upgrade.
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
}
if DATABASE_URL is None:
    _name = "test-db.sqlite3" if TESTING else "db.sqlite3"
    DATABASE_URL = f"sqlite:///{DATA_DIR / _name}"
#: Whether each request first checks its persistent connection with a round trip (Django's CONN_HEALTH_CHECKS).
#: Off by default: it was a third of a webhook's database round trips (and of its waiting under load). Without it
#: a connection the database dropped (a restart) fails the one request that finds it, and Django then closes it at
#: the end of that request (an error marks it unusable), so the next request of that thread reconnects; webhook
#: senders retry, kiosks poll again.
DB_CONN_HEALTH_CHECKS = env.bool("DB_CONN_HEALTH_CHECKS", False)
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=DB_CONN_HEALTH_CHECKS)
except ValueError as exc:
    raise ImproperlyConfigured(
        f"DATABASE_URL is not valid ({exc}): expected e.g. postgres://user:pass@host:5432/name or sqlite:///path"
    ) from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {**_SQLITE_OPTIONS, **_db.get("OPTIONS", {})}
    # A file, not memory, so a Celery worker started by the tests sees the same test database.
    _db["TEST"] = {"NAME": str(Path(_db["NAME"]).with_name("test-" + Path(_db["NAME"]).name))}
elif _db["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:/// URL.")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery -----------------------------------------------------------------------------------------------------
# The embedded broker is kombu's SQLAlchemy transport over its own SQLite file (see README: "Why this broker").
CELERY_BROKER_URL = env.str(
    "TEST_BROKER_URL" if TESTING else "CELERY_BROKER_URL",
    f"sqla+sqlite:///{DATA_DIR / ('test-broker.sqlite3' if TESTING else 'celery-broker.sqlite3')}",
)
if not CELERY_BROKER_URL.startswith(("sqla+sqlite://", "redis://", "rediss://", "amqp://", "amqps://")):
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL must start with sqla+sqlite://, redis://, rediss://, amqp:// or amqps://."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"polling_interval": env.float("BROKER_POLLING_INTERVAL", 0.1, minimum=0.01), "connect_args": {"timeout": 20}}
    if CELERY_BROKER_URL.startswith("sqla+")
    else {"visibility_timeout": 3600}
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "prune-worker-heartbeats": {"task": "core.prune_heartbeats", "schedule": 3600.0},
    # Cheap when nothing is due: it only claims links whose next_sync_at has passed (daily, or a notification).
    "dispatch-calendar-syncs": {"task": "calendars.dispatch_due_syncs", "schedule": 15.0},
    "maintain-calendar-subscriptions": {"task": "calendars.maintain_subscriptions", "schedule": 1800.0},
    # Folds new signals into spans, calls bookings whose grace window or end has passed, refreshes today's days.
    "occupancy-refresh": {"task": "occupancy.refresh", "schedule": 60.0, "options": {"expires": 55}},
    "occupancy-prune-signals": {"task": "occupancy.prune_signals", "schedule": 3600.0, "options": {"expires": 3000}},
}
WORKER_HEARTBEAT_INTERVAL = env.float("WORKER_HEARTBEAT_INTERVAL", 15.0, minimum=1)
WORKER_HEARTBEAT_MAX_AGE = env.float("WORKER_HEARTBEAT_MAX_AGE", 4 * WORKER_HEARTBEAT_INTERVAL, minimum=1)
HEALTH_BROKER_TIMEOUT = env.float("HEALTH_BROKER_TIMEOUT", 3.0, minimum=0.1)
#: `manage.py up`: seconds each process gets to stop after SIGTERM before it is killed. A Celery worker's warm
#: shutdown takes 6-9 s idle on 2 cores (honcho's own 5 s killed it every time); gunicorn's is up to 10 s.
UP_STOP_TIMEOUT_S = env.float("UP_STOP_TIMEOUT_S", 30.0, minimum=1)

# --- Outbound HTTP ----------------------------------------------------------------------------------------------
OUTBOUND_CONNECT_TIMEOUT = env.float("OUTBOUND_CONNECT_TIMEOUT", 5.0, minimum=0.1)
OUTBOUND_READ_TIMEOUT = env.float("OUTBOUND_READ_TIMEOUT", 30.0, minimum=0.1)
OUTBOUND_MAX_RETRIES = env.int("OUTBOUND_MAX_RETRIES", 3, minimum=0, maximum=10)
OUTBOUND_MAX_RETRY_WAIT = env.float("OUTBOUND_MAX_RETRY_WAIT", 30.0, minimum=0)
OUTBOUND_CA_BUNDLE = env.str("OUTBOUND_CA_BUNDLE", None)

# --- Outside systems: every base URL is a setting, so the same code talks to the real service or a fake --------
MICROSOFT_LOGIN_URL = env.url("MICROSOFT_LOGIN_URL", "https://login.microsoftonline.com")
MICROSOFT_GRAPH_URL = env.url("MICROSOFT_GRAPH_URL", "https://graph.microsoft.com/v1.0")
#: Where admins' browsers go to consent, when not MICROSOFT_LOGIN_URL (the sandbox's plain-http consent page).
MICROSOFT_CONSENT_URL = env.url("MICROSOFT_CONSENT_URL", None)
MICROSOFT_CLIENT_ID = env.str("MICROSOFT_CLIENT_ID", None)
MICROSOFT_CLIENT_SECRET = env.secret("MICROSOFT_CLIENT_SECRET", None)
GOOGLE_AUTH_URL = env.url("GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth")
GOOGLE_TOKEN_URL = env.url("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")
GOOGLE_API_URL = env.url("GOOGLE_API_URL", "https://www.googleapis.com")
GOOGLE_CLIENT_ID = env.str("GOOGLE_CLIENT_ID", None)
GOOGLE_CLIENT_SECRET = env.secret("GOOGLE_CLIENT_SECRET", None)
WEBEX_APP_ID = env.str("WEBEX_APP_ID", None)
WEBEX_CLIENT_ID = env.str("WEBEX_CLIENT_ID", None)
WEBEX_CLIENT_SECRET = env.secret("WEBEX_CLIENT_SECRET", None)
WEBEX_JWKS_URLS = env.json_map(
    "WEBEX_JWKS_URLS",
    {
        "us-east-2_a": "https://xapi-a.wbx2.com/jwks",
        "eu-central-1_k": "https://xapi-k.wbx2.com/jwks",
        "us-east-1_int13": "https://xapi-intb.wbx2.com/jwks",
    },
)
# --- Calendar sync --------------------------------------------------------------------------------------------
#: Provider key -> its package's ProviderPackage (calendars/registry.py): its tile, URLs, calendars and sandbox.
CALENDAR_PROVIDERS = {"microsoft": "spaces_calendar.providers.microsoft.provider.MICROSOFT"}
#: Whole local days synced after today (1 = today and tomorrow), in each room's own time zone.
CALENDAR_SYNC_DAYS_AHEAD = env.int("CALENDAR_SYNC_DAYS_AHEAD", 1, minimum=0, maximum=30)
#: Whole local days before today that a link's first sync also fetches (7 = from local midnight a week ago), so a
#: room linked mid-day, or after local midnight, has its earlier bookings; later syncs keep today's window.
CALENDAR_SYNC_DAYS_BACK = env.int("CALENDAR_SYNC_DAYS_BACK", 7, minimum=0, maximum=30)
#: $batch requests (of 20 rooms each) one sync task sends at the same time.
CALENDAR_SYNC_PARALLEL_BATCHES = env.int("CALENDAR_SYNC_PARALLEL_BATCHES", 4, minimum=1, maximum=8)
#: A claimed sync that has not finished after this long is presumed dead and may be claimed again.
CALENDAR_SYNC_LEASE_S = env.float("CALENDAR_SYNC_LEASE_S", 600.0, minimum=10)
#: Notifications for one room within this many seconds become one sync.
CALENDAR_NOTIFICATION_DEBOUNCE_S = env.float("CALENDAR_NOTIFICATION_DEBOUNCE_S", 5.0, minimum=0)
#: Renew a change subscription once it has less than this left.
CALENDAR_SUBSCRIPTION_RENEW_BEFORE_S = env.float("CALENDAR_SUBSCRIPTION_RENEW_BEFORE_S", 3 * 86400.0, minimum=60)
#: Turn off change subscriptions (a deployment that Graph cannot reach: daily sync only).
CALENDAR_SUBSCRIPTIONS = env.bool("CALENDAR_SUBSCRIPTIONS", True)

# --- Occupancy --------------------------------------------------------------------------------------------------
#: Signals older than this (a replay from long ago) or further ahead than the skew (a broken clock) are refused.
OCCUPANCY_MAX_SIGNAL_AGE_S = env.float("OCCUPANCY_MAX_SIGNAL_AGE_S", 7 * 86400.0, minimum=60)
OCCUPANCY_MAX_CLOCK_SKEW_S = env.float("OCCUPANCY_MAX_CLOCK_SKEW_S", 300.0, minimum=0)
# Raw signals are kept this long (spans, outcomes and aggregates stay): long enough to fuse again after a fix, and
# longer than intake accepts late signals, whose ranges are fused again when they arrive.
OCCUPANCY_SIGNAL_RETENTION_DAYS = env.int("OCCUPANCY_SIGNAL_RETENTION_DAYS", 30,
                                          minimum=int(OCCUPANCY_MAX_SIGNAL_AGE_S // 86400) + 1)

#: How long each kind of source may stay silent and still be believed (seconds, a JSON map by source: webex,
#: webex_people, spaces_camera, spaces_occupancy, spaces_iot). Sources report on change; Webex devices also send a
#: full report about hourly, cameras have no heartbeat. Defaults: occupancy/fusion.py DEFAULT_SILENCE.
OCCUPANCY_SOURCE_SILENCE_S = {name: float(value) for name, value in env.json_map(
    "OCCUPANCY_SOURCE_SILENCE_S", {}).items()}

SPACES_FIREHOSE_URL = env.url("SPACES_FIREHOSE_URL", "https://partners.dnaspaces.io")
SPACES_API_KEY = env.secret("SPACES_API_KEY", None)
#: With SPACES_API_KEY (single-tenant deployments): our tenant that the key's events belong to. Required with
#: SPACES_API_KEY: a key with no tenant would attach its events to nobody, silently (checked at start-up).
SPACES_TENANT_SLUG = env.str("SPACES_TENANT_SLUG", None)
if SPACES_API_KEY and not SPACES_TENANT_SLUG:
    raise ImproperlyConfigured("SPACES_API_KEY is set without SPACES_TENANT_SLUG: set SPACES_TENANT_SLUG to the "
                               "slug of the tenant whose rooms its events belong to (or activate Cisco Spaces on "
                               "the Integrations page instead of setting a key).")

# --- Cisco Spaces partner app: activation, health URLs, monitoring report ---------------------------------------
#: Partner API hosts an activation token's baseUrl may name, each with its region label. Cisco's two regions
#: (partner dashboard docs); a token naming any other host is refused before we send it anything.
SPACES_PARTNER_HOSTS = env.json_map(
    "SPACES_PARTNER_HOSTS",
    {"https://partners.dnaspaces.io": "Rest of the world (io)", "https://partners.dnaspaces.eu": "Europe (eu)"},
)
for _host in SPACES_PARTNER_HOSTS:
    if not _host.startswith(("https://", "http://")) or urlsplit(_host).path not in ("", "/"):
        raise ImproperlyConfigured(f"SPACES_PARTNER_HOSTS: {_host!r} is not valid: expected an origin such as "
                                   "https://partners.dnaspaces.io (no path).")
#: Our partner app's id (app-…); when set, activation tokens for another app are refused.
SPACES_APP_ID = env.str("SPACES_APP_ID", None)
#: How long Cisco's partner public key is reused before it is fetched again.
SPACES_PUBLIC_KEY_CACHE_S = env.float("SPACES_PUBLIC_KEY_CACHE_S", 3600.0, minimum=0)
CELERY_BEAT_SCHEDULE["report-partner-monitoring"] = {"task": "partner.report_monitoring_status", "schedule": 300.0}

# --- Firehose receiver ------------------------------------------------------------------------------------------
#: Reconnect from the checkpoint minus this, because the stream is not strictly ordered by recordTimestamp.
FIREHOSE_RESUME_OVERLAP_S = env.float("FIREHOSE_RESUME_OVERLAP_S", 120.0, minimum=0)
#: How far back the Firehose replays (about an hour, DESIGN.md section 6): a stream down longer than this lost
#: what it carried before (recorded as an outage: those rooms are unknown there, never empty).
FIREHOSE_REPLAY_S = env.float("FIREHOSE_REPLAY_S", 3600.0, minimum=0)
#: How far back the very first connection of a stream reaches: as far as the Firehose replays.
FIREHOSE_INITIAL_LOOKBACK_S = env.float("FIREHOSE_INITIAL_LOOKBACK_S", FIREHOSE_REPLAY_S, minimum=0)
#: How long applied recordUids are remembered below the checkpoint; must exceed the overlap.
FIREHOSE_DEDUP_RETENTION_S = env.float("FIREHOSE_DEDUP_RETENTION_S", 3600.0, minimum=1)
if FIREHOSE_DEDUP_RETENTION_S <= FIREHOSE_RESUME_OVERLAP_S:
    raise ImproperlyConfigured("FIREHOSE_DEDUP_RETENTION_S must be longer than FIREHOSE_RESUME_OVERLAP_S, or "
                               "replayed events could be applied twice.")
#: Spaces sends KEEP_ALIVE about every 15 s when idle; silence for this long means a dead connection.
FIREHOSE_SILENCE_TIMEOUT_S = env.float("FIREHOSE_SILENCE_TIMEOUT_S", 45.0, minimum=0.1)
#: A batch (one transaction: apply + checkpoint) closes at this many events or after this long (5,000: a batch
#: costs a fixed dozen statements, so small ones pay it per few events; benchmarks/README.md, firehose_path).
FIREHOSE_BATCH_SIZE = env.int("FIREHOSE_BATCH_SIZE", 5000, minimum=1, maximum=50_000)
FIREHOSE_FLUSH_INTERVAL_S = env.float("FIREHOSE_FLUSH_INTERVAL_S", 1.0, minimum=0.01)
FIREHOSE_BACKOFF_BASE_S = env.float("FIREHOSE_BACKOFF_BASE_S", 1.0, minimum=0)
FIREHOSE_BACKOFF_MAX_S = env.float("FIREHOSE_BACKOFF_MAX_S", 60.0, minimum=0)
#: A connection that stayed up this long resets the backoff.
FIREHOSE_HEALTHY_AFTER_S = env.float("FIREHOSE_HEALTHY_AFTER_S", 60.0, minimum=0)
FIREHOSE_REJECTED_KEEP = env.int("FIREHOSE_REJECTED_KEEP", 1000, minimum=1)

# --- Kiosk API (occupancy/kiosk) -------------------------------------------------------------------------------
#: How long a web process trusts what it read about a kiosk token: how late a revocation or scope change may be
#: honoured by the other processes (the revoking process forgets at once).
KIOSK_TOKEN_CACHE_S = env.float("KIOSK_TOKEN_CACHE_S", 10.0, minimum=0)
#: Requests one kiosk token may make per window (0 turns the limit off), counted in the Django cache: per web
#: process with the default local-memory cache.
KIOSK_RATE_LIMIT = env.int("KIOSK_RATE_LIMIT", 600, minimum=0)
KIOSK_RATE_WINDOW_S = env.int("KIOSK_RATE_WINDOW_S", 60, minimum=1)
#: ``Cache-Control: private, max-age`` of status answers; kiosks revalidate with If-None-Match after it.
KIOSK_HTTP_MAX_AGE_S = env.int("KIOSK_HTTP_MAX_AGE_S", 5, minimum=0)
#: A precomputed status document is rebuilt at least this often (the bound for changes that are not fingerprinted).
KIOSK_DOCUMENT_MAX_AGE_S = env.float("KIOSK_DOCUMENT_MAX_AGE_S", 300.0, minimum=1)
#: PostgreSQL: prepare the few statements of a poll once per connection (planning the status query costs more than
#: running it). Turn off behind a connection pooler without prepared statements (PgBouncer < 1.21, transaction mode).
KIOSK_PREPARED_STATEMENTS = env.bool("KIOSK_PREPARED_STATEMENTS", True)
#: PostgreSQL: each web process listens for change notifications (triggers on bookings, sensor states, rooms and
#: kiosk tokens) and answers polls from memory while it hears them; off, every poll reads the database. The suite
#: turns it on only in the tests that commit their writes (a test's rolled-back writes never notify).
KIOSK_CHANGE_FEED = env.bool("KIOSK_CHANGE_FEED", not TESTING)
#: With the change feed on: the longest a process serves a room or token from memory without reading it again.
KIOSK_CHANGE_FEED_TRUST_S = env.float("KIOSK_CHANGE_FEED_TRUST_S", 300.0, minimum=1)

PROVIDER_CREDENTIALS = {
    "Microsoft 365": {"MICROSOFT_CLIENT_ID": MICROSOFT_CLIENT_ID, "MICROSOFT_CLIENT_SECRET": MICROSOFT_CLIENT_SECRET},
    "Google Workspace": {"GOOGLE_CLIENT_ID": GOOGLE_CLIENT_ID, "GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT_SECRET},
    "Webex": {"WEBEX_APP_ID": WEBEX_APP_ID, "WEBEX_CLIENT_ID": WEBEX_CLIENT_ID,
              "WEBEX_CLIENT_SECRET": WEBEX_CLIENT_SECRET},
}
for _provider, _values in PROVIDER_CREDENTIALS.items():
    _given = [name for name, value in _values.items() if value]
    if _given and len(_given) != len(_values):
        _missing = sorted(set(_values) - set(_given))
        raise ImproperlyConfigured(f"{_provider} is half-configured: {', '.join(_given)} set but "
                                   f"{', '.join(_missing)} missing.")
_has_credentials = SPACES_API_KEY is not None or any(
    all(values.values()) for values in PROVIDER_CREDENTIALS.values()
)
SANDBOX = env.bool("SANDBOX", not _has_credentials)
if SANDBOX and _has_credentials:
    raise ImproperlyConfigured("SANDBOX=true cannot be combined with real provider credentials: unset one of them.")

# --- Sandbox: `manage.py run_sandbox` (started by `up`) serves the provider fakes on loopback ports ---------------
SANDBOX_CA_DIR = DATA_DIR / "sandbox-ca"
SANDBOX_STATE_DIR = DATA_DIR / "sandbox-state"  # what the fakes keep across restarts (subscriptions, Spaces keys)
# Four ports derived from PORT (8440-8443 for 8000), so an instance on another PORT does not die on these.
_sandbox_ports = sandbox_config.sandbox_ports(PORT)
SANDBOX_MICROSOFT_CONSENT_PORT = env.int("SANDBOX_MICROSOFT_CONSENT_PORT", _sandbox_ports.consent,
                                         minimum=1, maximum=65535)
SANDBOX_MICROSOFT_LOGIN_PORT = env.int("SANDBOX_MICROSOFT_LOGIN_PORT", _sandbox_ports.login,
                                       minimum=1, maximum=65535)
SANDBOX_MICROSOFT_GRAPH_PORT = env.int("SANDBOX_MICROSOFT_GRAPH_PORT", _sandbox_ports.graph,
                                       minimum=1, maximum=65535)
#: The fake Cisco Spaces: partner API (activation, monitoring) and Firehose on one TLS port, as at Cisco.
SANDBOX_SPACES_PORT = env.int("SANDBOX_SPACES_PORT", _sandbox_ports.spaces, minimum=1, maximum=65535)
SANDBOX_SPACES_URL = sandbox_config.spaces_url(SANDBOX_SPACES_PORT)
#: Seconds between two simulated occupancy reports of each demo room.
SANDBOX_SPACES_INTERVAL_S = env.float("SANDBOX_SPACES_INTERVAL_S", 10.0, minimum=1)
# Point the app at the fakes only after the credentials check above, or these values would count as real
# credentials. The test suite is left alone: it starts its fakes on free ports and points settings at them per test.
if SANDBOX and not TESTING:
    MICROSOFT_CLIENT_ID = sandbox_config.MICROSOFT_CLIENT_ID
    MICROSOFT_CLIENT_SECRET = sandbox_config.MICROSOFT_CLIENT_SECRET
    if not env.is_set("MICROSOFT_LOGIN_URL"):
        MICROSOFT_LOGIN_URL = sandbox_config.microsoft_login_url(SANDBOX_MICROSOFT_LOGIN_PORT)
    if not env.is_set("MICROSOFT_GRAPH_URL"):
        MICROSOFT_GRAPH_URL = sandbox_config.microsoft_graph_url(SANDBOX_MICROSOFT_GRAPH_PORT)
    if not MICROSOFT_CONSENT_URL:
        MICROSOFT_CONSENT_URL = sandbox_config.microsoft_consent_url(SANDBOX_MICROSOFT_CONSENT_PORT)
    # Activation tokens from the fake name it as their baseUrl; it also serves the Firehose and monitoring API.
    SPACES_PARTNER_HOSTS = {**SPACES_PARTNER_HOSTS, SANDBOX_SPACES_URL: "sandbox"}
    SPACES_APP_ID = sandbox_config.SPACES_APP_ID
    if not env.is_set("SPACES_FIREHOSE_URL"):
        SPACES_FIREHOSE_URL = SANDBOX_SPACES_URL
    # Every outside service is a fake signed by the sandbox CA, so trusting only that CA loses nothing.
    OUTBOUND_CA_BUNDLE = OUTBOUND_CA_BUNDLE or str(SANDBOX_CA_DIR / "ca.pem")

# --- Web, API, static -------------------------------------------------------------------------------------------
# Content-Security-Policy (django-csp): the pages load nothing from other origins, and the only inline code is
# ours, marked with the request's nonce (``nonce="{{ request.csp_nonce }}"`` on each <script> and <style>); style
# attributes and on...= handlers are not allowed (use classes and static files). data: images are Swagger UI's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF, csp.NONCE],
        "img-src": [csp.SELF, "data:"],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "frame-ancestors": [csp.NONE],
        "form-action": [csp.SELF],
    },
}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# Files served at the site root by whitenoise: /favicon.ico, which every browser asks for on every page (a 404 logged
# per page otherwise, the kiosk screen and the admin included).
WHITENOISE_ROOT = BASE_DIR / "spaces_calendar" / "public"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "spaces-calendar API",
    "DESCRIPTION": "Room status for kiosks and occupancy reports for facility teams.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}
# Reports and bookings APIs (occupancy/api.py): API tokens (`Authorization: Token <key>`, only a hash stored) next
# to the session. Each user makes theirs at /account/api-tokens/, or `manage.py create_api_token <username>`.
INSTALLED_APPS += ["spaces_calendar.api_tokens"]

# --- Sign-in protection (django-axes, spaces_calendar/core/login_protection.py) ----------------------------------
# A username is locked from one address after LOGIN_FAILURE_LIMIT failed sign-ins in a row, until LOGIN_LOCKOUT_S
# have passed since the last one, on both sign-in forms. The test client's force_login bypasses it.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes asks: it turns a lockout into the 429 page
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = timedelta(seconds=env.float("LOGIN_LOCKOUT_S", 3600.0, minimum=1))
# Per username *and* address: an attacker can lock neither a colleague out from elsewhere nor an office's NAT.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a success forgets that username's earlier failures from that address
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not axes' business here (and would grow without end)
AXES_CLIENT_IP_CALLABLE = "spaces_calendar.core.login_protection.client_address"
AXES_LOCKOUT_CALLABLE = "spaces_calendar.core.login_protection.lockout_response"
#: Behind the TLS proxy every request comes from the proxy: the client's address is the one it appends.
LOGIN_TRUST_X_FORWARDED_FOR = env.bool("BEHIND_TLS_PROXY", False)

# --- Logging: one JSON object a line, with tenant, request id and Celery task id; secrets redacted --------------
LOG_LEVEL = env.str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not valid: expected DEBUG, INFO, WARNING or ERROR.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "spaces_calendar.core.logging.ContextFilter"},
        "redact": {"()": "spaces_calendar.core.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(tenant)s %(request_id)s %(task_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["context", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": "INFO"},
        # axes says INFO on every start and failed sign-in; a lockout is a warning of ours (login_protection).
        "axes": {"level": "WARNING"},
    },
}
