"""Every POST form of the product, submitted in a real Chromium by its own button, as the role that may use it.

Django's test client skips CSRF checks; a browser against the live server does not. So each form here proves that
its page carries a working token and that Chromium sends an Origin the CSRF middleware trusts (a page that sends
``Referrer-Policy: no-referrer`` makes Chromium post ``Origin: null``, which Django refuses with 403). Each case then
checks that the form did what it is for, and the page raised no Content-Security-Policy violation on the way.

``REGISTRY`` names every form by its template, its action (the URL name in ``{% url %}``, "" for a form that posts
to its own page) and its id (template variables as ``*``). ``test_every_post_form_in_the_templates_is_covered``
parses ``templates/`` and fails naming any POST form that has no case here, or a case whose form is gone: a form
added without a case is visible at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import jwt
import pytest
import requests
from django.contrib.auth import get_user_model
from django.utils import timezone

from occupancy import rules
from occupancy.kiosk import tokens
from occupancy.kiosk.models import KioskToken
from occupancy.models import RoomGrace, SensorSource
from spaces_calendar.calendars.discovery import refresh_calendars
from spaces_calendar.calendars.linking import link_calendar
from spaces_calendar.calendars.models import CalendarLink, DiscoveredCalendar
from spaces_calendar.core.models import Membership, Role, Room, Tenant
from spaces_calendar.partner import activation
from spaces_calendar.partner import client as partner_client
from spaces_calendar.partner.fake import FakeSpacesPartner
from spaces_calendar.partner.models import ActivationStatus, SpacesActivation
from spaces_calendar.providers.microsoft import client as ms_client
from spaces_calendar.sandbox import config as sandbox_config
from spaces_calendar.sandbox.harness import ca_bundle_path
from spaces_calendar.sandbox.runner import Sandbox, start_sandbox
from spaces_calendar.sandbox.seed import seed_demo_tenant
from tests.factories import make_room, make_tenant, make_user
from tests.microsoft.sync_helpers import connect
from tests.sandbox.conftest import point_settings_at

from .conftest import csp_violations, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PASSWORD = "correct horse battery"
FJORD_MAILBOX = f"fjord@{sandbox_config.DEMO_MAIL_DOMAIN}"



# --- The stage every case plays on ------------------------------------------------------------------------------

@dataclass
class Stage:
    """A signed-in Chromium page on the live server, the tenant it works in and the fakes the case asked for."""

    page: object
    url: str
    tenant: Tenant
    users: dict[str, object]
    fakes: dict[str, object]
    posts: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # Content-Security-Policy violations

    def room(self, name: str) -> Room:
        return Room.objects.get(tenant=self.tenant, name=name)

    def open(self, path: str) -> None:
        response = self.page.goto(f"{self.url}{path}")
        assert response is not None and response.status == 200, f"GET {path}: {response and response.status}"

    def submit(self, selector: str) -> None:
        """Click a form's submit button and wait for the page the form leads to."""
        with self.page.expect_navigation(wait_until="load") as navigation:
            self.page.locator(selector).click()
        refused = [(url, status) for url, status in self.posts if status == 403]
        assert not refused, f"POST refused: {refused}: {self.page.locator('body').inner_text()[:300]}"
        assert navigation.value is not None and navigation.value.status < 400, (
            f"{navigation.value and navigation.value.status} after submitting {selector}")

    def path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.page.url)

    def message(self) -> str:
        return " | ".join(self.page.locator("[data-message], [data-testid=message]").all_inner_texts())


def watch(stage: Stage) -> None:
    stage.problems = csp_violations(stage.page)
    stage.page.on("response", lambda response: stage.posts.append((response.url, response.status))
                  if response.request.method == "POST" else None)


# --- The forms --------------------------------------------------------------------------------------------------

def login(s: Stage) -> None:
    s.open("/accounts/login/?next=/")
    s.page.fill("input[name=username]", s.users["viewer"].username)
    s.page.fill("input[name=password]", PASSWORD)
    s.submit("main form button[type=submit]")
    assert s.path() == "/"
    assert s.page.locator("h1").inner_text() == s.tenant.name  # the viewer's workplace: signed in


def logout(s: Stage) -> None:
    s.open("/")
    s.submit("header form button[type=submit]")
    assert s.path().startswith("/accounts/login/")
    s.page.goto(f"{s.url}/integrations/")
    assert s.path().startswith("/accounts/login/"), "still signed in after logging out"


def kiosk_new_token(s: Stage) -> None:
    fjord = s.room("Fjord")
    s.open("/kiosk-tokens/")
    s.page.fill("#id_name", "Lobby screen")
    s.page.select_option("#id_rooms", value=str(fjord.pk))
    s.submit("#new-token-form button[type=submit]")
    raw = s.page.locator("#new-token").inner_text()
    created = KioskToken.objects.get(tenant=s.tenant, name="Lobby screen")
    assert tokens.authenticate(raw) is not None and list(created.rooms.all()) == [fjord]


def kiosk_revoke(s: Stage) -> None:
    token, raw = tokens.issue_token(s.tenant, "Old panel", rooms=[s.room("Fjord")])
    s.open("/kiosk-tokens/")
    s.submit(f"tr[data-prefix='{token.prefix}'] button[type=submit]")
    token.refresh_from_db()
    assert token.revoked_at is not None and tokens.authenticate(raw) is None


def _source(s: Stage, key: str, name: str, kind: str = "spaces_location") -> SensorSource:
    now = timezone.now()
    return SensorSource.objects.create(tenant=s.tenant, kind=kind, key=key, name=name, hierarchy=f"HQ / 1 / {name}",
                                       location_types="ZONE", first_seen_at=now - timedelta(hours=1),
                                       last_seen_at=now - timedelta(minutes=5), last_signal_at=now)


def sensors_apply_suggested(s: Stage) -> None:
    _source(s, "loc-fjord", "Fjord")
    s.open("/settings/sensors/")
    s.submit("#apply-suggested")
    assert s.room("Fjord").spaces_location_id == "loc-fjord", s.message()


def sensors_map(s: Stage) -> None:
    _source(s, "loc-corner", "Corner office")  # no room of that name: no suggestion, the admin picks one
    glacier = s.room("Glacier")
    s.open("/settings/sensors/")
    row = s.page.locator("tr[data-key='loc-corner']")
    row.locator("select[name=room]").select_option(value=str(glacier.pk))
    s.submit("tr[data-key='loc-corner'] [data-action=map]")
    assert s.room("Glacier").spaces_location_id == "loc-corner", s.message()


def sensors_unmap(s: Stage) -> None:
    _source(s, "loc-mapped", "Fjord")
    Room.objects.filter(pk=s.room("Fjord").pk).update(spaces_location_id="loc-mapped")
    s.open("/settings/sensors/")
    s.submit("tr[data-key='loc-mapped'] [data-action=unmap]")
    assert not s.room("Fjord").spaces_location_id, s.message()


def sensors_add_source(s: Stage) -> None:
    workspace = "Y2lzY29zcGFyazovL3VzL1BMQUNFL2Zvcm0tdGVzdA"
    s.open("/settings/sensors/")
    s.page.select_option("#add-kind", value="webex_workspace")
    s.page.fill("#add-key", workspace)
    s.page.select_option("#add-room", value=str(s.room("Glacier").pk))
    s.submit("#add-source")
    assert s.room("Glacier").webex_workspace_id == workspace, s.message()


def rules_policy(s: Stage) -> None:
    wanted = 17 if rules.policy_of(s.tenant).grace_minutes != 17 else 18
    s.open("/settings/occupancy/")
    s.page.fill("#policy-form input[name=grace_minutes]", str(wanted))
    s.submit("#policy-form button[type=submit]")
    assert rules.policy_of(s.tenant).grace_minutes == wanted, s.message()


def rules_room_grace(s: Stage) -> None:
    glacier = s.room("Glacier")
    s.open("/settings/occupancy/")
    s.page.select_option("#room-grace-form select[name=room]", value=str(glacier.pk))
    s.page.fill("#room-grace-form input[name=grace_minutes]", "25")
    s.submit("#room-grace-form button[type=submit]")
    assert RoomGrace.objects.get(room=glacier).grace_minutes == 25, s.message()


def rules_room_grace_clear(s: Stage) -> None:
    fjord = s.room("Fjord")
    rules.set_room_grace(fjord, 30)
    s.open("/settings/occupancy/")
    s.submit(f"button[data-action=clear][data-room='{fjord.pk}']")
    assert not RoomGrace.objects.filter(room=fjord).exists(), s.message()


def spaces_activate(s: Stage) -> None:
    token = s.fakes["spaces"].issue_activation_token()
    s.open("/integrations/spaces/")
    s.page.fill("form [name=token]", token)
    s.submit("[data-action=activate]")
    assert SpacesActivation.objects.get(tenant=s.tenant).status == ActivationStatus.ACTIVE, s.message()


def spaces_deactivate(s: Stage) -> None:
    activation.activate(s.tenant, s.fakes["spaces"].issue_activation_token())
    s.open("/integrations/spaces/")
    s.submit("[data-action=deactivate]")
    # A confirmation step, when the page has one, is part of the same form's use.
    if s.page.locator("[data-action=confirm-deactivate]").count():
        s.submit("[data-action=confirm-deactivate]")
    gone = SpacesActivation.objects.get(tenant=s.tenant)
    assert gone.status == ActivationStatus.DEACTIVATED and not gone.api_key, s.message()


def new_workplace(s: Stage) -> None:
    s.open("/workplace/new/")
    s.page.fill("#id_name", "Initech")
    s.submit("#create-workplace")
    membership = Membership.objects.get(user=s.users["superuser"])
    assert (membership.tenant.name, membership.role) == ("Initech", Role.ADMIN)


ROOMS = "/integrations/microsoft/rooms/"


def _connected(s: Stage, *, refreshed: bool):
    fake = s.fakes["microsoft"]
    fake.add_room("fjord@acme.example", "Fjord", capacity="12")
    fake.add_room("glacier.room@acme.example", "Glacier", capacity=6)
    fake.add_room("annex@acme.example", "Annex", capacity=4, hidden=True)
    connection = connect(s.tenant, fake)
    if refreshed:
        refresh_calendars(connection)
    return connection


def rooms_refresh(s: Stage) -> None:
    _connected(s, refreshed=False)
    s.open(ROOMS)
    s.submit("#refresh-rooms")
    assert set(DiscoveredCalendar.objects.values_list("external_id", flat=True)) == {
        "fjord@acme.example", "glacier.room@acme.example"}, s.message()


def rooms_add_by_email(s: Stage) -> None:
    _connected(s, refreshed=False)
    s.open(ROOMS)
    s.page.fill("#add-email", "annex@acme.example")
    s.submit("#add-room")
    assert DiscoveredCalendar.objects.get(external_id="annex@acme.example").added_manually, s.message()


def rooms_link_suggested(s: Stage) -> None:
    _connected(s, refreshed=True)
    s.open(ROOMS)
    s.submit("#link-suggested")
    assert dict(CalendarLink.objects.values_list("room__name", "external_calendar_id")) == {
        "Fjord": "fjord@acme.example", "Glacier": "glacier.room@acme.example"}, s.message()


def rooms_link_one(s: Stage) -> None:
    _connected(s, refreshed=True)
    glacier = s.room("Glacier")
    calendar = DiscoveredCalendar.objects.get(external_id="glacier.room@acme.example")
    s.open(ROOMS)
    s.page.select_option(f"#calendar-{glacier.pk}", value=str(calendar.pk))
    s.submit(f"#room-{glacier.pk} [data-action=link]")
    assert list(CalendarLink.objects.values_list("room__name", flat=True)) == ["Glacier"], s.message()


def rooms_unlink(s: Stage) -> None:
    _connected(s, refreshed=True)
    fjord = s.room("Fjord")
    link_calendar(fjord, DiscoveredCalendar.objects.get(external_id="fjord@acme.example"))
    s.open(ROOMS)
    s.submit(f"#room-{fjord.pk} [data-action=unlink]")
    assert not CalendarLink.objects.filter(room=fjord).exists(), s.message()


def rooms_import(s: Stage) -> None:
    s.fakes["microsoft"].add_room("harbour@acme.example", "Harbour", capacity=4, building="Annex", floorNumber=2)
    connect(s.tenant, s.fakes["microsoft"])
    s.open("/integrations/microsoft/rooms/import/")
    assert s.page.locator("tr[data-email='harbour@acme.example'] input[name=room]").is_checked()
    s.submit("#import-rooms")
    harbour = s.room("Harbour")
    assert CalendarLink.objects.get(room=harbour).external_calendar_id == "harbour@acme.example", s.message()


def sandbox_spaces_token(s: Stage) -> None:
    s.open("/sandbox/")
    s.submit("[data-action=spaces-token]")
    token = s.page.locator("#spaces-token-text").input_value()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["appId"] == sandbox_config.SPACES_APP_ID, s.message()


def sandbox_spaces_activate(s: Stage) -> None:
    s.open("/sandbox/")
    s.submit("[data-action=spaces-token]")  # the form above: it hands out the token this one sends
    s.submit("[data-action=spaces-activate]")
    assert SpacesActivation.objects.get(tenant=s.tenant).status == ActivationStatus.ACTIVE, s.message()


def _meetings(s: Stage) -> dict[str, dict]:
    return s.fakes["sandbox"].fake("microsoft").events[FJORD_MAILBOX]


def _single_meeting(s: Stage) -> str:
    """A one-off, timed meeting of Fjord (series occurrences and all-day events move differently)."""
    return next(event_id for event_id, event in _meetings(s).items()
                if event.get("type") == "singleInstance" and not event.get("isAllDay"))


def sandbox_meeting_add(s: Stage) -> None:
    before = len(_meetings(s))
    s.open("/sandbox/")
    s.submit(f"section[data-room='{FJORD_MAILBOX}'] form[action$='/add'] button[type=submit]")
    assert len(_meetings(s)) == before + 1, s.message()
    assert "Booked" in s.message()


def sandbox_meeting_move(s: Stage) -> None:
    event_id = _single_meeting(s)
    start = _meetings(s)[event_id]["start"]["dateTime"]
    s.open("/sandbox/")
    s.submit(f"tr[data-meeting='{event_id}'] form[action$='/move'] button[type=submit]")
    moved = _meetings(s)[event_id]["start"]["dateTime"]
    assert _graph_time(moved) - _graph_time(start) == timedelta(minutes=30), s.message()


def sandbox_meeting_cancel(s: Stage) -> None:
    event_id = _single_meeting(s)
    s.open("/sandbox/")
    s.submit(f"tr[data-meeting='{event_id}'] form[action$='/cancel'] button[type=submit]")
    assert event_id not in _meetings(s) or _meetings(s)[event_id].get("isCancelled"), s.message()


def _graph_time(value: str) -> datetime:
    return datetime.fromisoformat(value[:26])  # Graph's 7 fractional digits


def _api_answer(s: Stage, key: str) -> int:
    """What the bookings API answers a client holding only this key (no browser session)."""
    return requests.get(f"{s.url}/api/v1/bookings", headers={"Authorization": f"Token {key}"}, timeout=10).status_code


def api_token_new(s: Stage) -> None:
    s.open("/account/api-tokens/")
    s.page.fill("#new-api-token-form input[name=name]", "Power BI export")
    s.submit("#new-api-token-form button[type=submit]")
    assert _api_answer(s, s.page.locator("#new-api-token").inner_text()) == 200


def api_token_revoke(s: Stage) -> None:
    from spaces_calendar.api_tokens import tokens as api_tokens

    token, raw = api_tokens.issue_token(s.users["viewer"], "Old script")
    assert _api_answer(s, raw) == 200
    s.open("/account/api-tokens/")
    s.submit(f"tr[data-prefix='{token.prefix}'] button[type=submit]")
    assert _api_answer(s, raw) in (401, 403)


def django_admin_login(s: Stage) -> None:
    s.open("/admin/login/?next=/admin/")
    s.page.fill("#id_username", s.users["superuser"].username)
    s.page.fill("#id_password", PASSWORD)
    s.submit("#login-form [type=submit]")
    assert s.path() == "/admin/" and s.page.locator("#site-name").count() == 1


# --- The registry -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FormCase:
    template: str  # under templates/; a Django template outside it for the forms of Django's own apps
    action: str  # the URL name of the form's action, "" when it posts to its own page
    form_id: str  # its id attribute, template variables as "*"; "" when it has none
    role: str  # who submits it: anonymous | viewer | admin (of the tenant) | superuser (member of nothing)
    run: Callable[[Stage], None]
    needs: tuple[str, ...] = ()  # microsoft | spaces | sandbox
    ours: bool = True  # False: a form of Django's own templates, not in templates/

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.template, self.action, self.form_id)

    @property
    def name(self) -> str:
        return f"{self.template}:{self.action or 'self'}{'#' + self.form_id if self.form_id else ''}"


REGISTRY = [
    FormCase("registration/login.html", "", "", "anonymous", login),
    FormCase("base.html", "logout", "", "viewer", logout),
    FormCase("kiosk/tokens.html", "", "new-token-form", "admin", kiosk_new_token),
    FormCase("kiosk/tokens.html", "kiosk-token-revoke", "", "admin", kiosk_revoke),
    FormCase("occupancy/sensors.html", "sensors-apply-suggested", "apply-suggested-form", "admin",
             sensors_apply_suggested),
    FormCase("occupancy/sensors.html", "sensors-map", "map-form-*", "admin", sensors_map),
    FormCase("occupancy/sensors.html", "sensors-unmap", "", "admin", sensors_unmap),
    FormCase("occupancy/sensors.html", "sensors-map", "add-source-form", "admin", sensors_add_source),
    FormCase("occupancy/rules.html", "occupancy-rules", "policy-form", "admin", rules_policy),
    FormCase("occupancy/rules.html", "occupancy-room-grace", "room-grace-form", "admin", rules_room_grace),
    FormCase("occupancy/rules.html", "occupancy-room-grace-clear", "", "admin", rules_room_grace_clear),
    FormCase("partner/spaces.html", "partner-spaces", "", "admin", spaces_activate, ("spaces",)),
    FormCase("partner/spaces.html", "partner-spaces-deactivate", "", "admin", spaces_deactivate, ("spaces",)),
    # The confirmation page's form: spaces_deactivate goes on through it.
    FormCase("partner/deactivate.html", "partner-spaces-deactivate", "", "admin", spaces_deactivate, ("spaces",)),
    FormCase("core/new_workplace.html", "workplace-new", "workplace-form", "superuser", new_workplace),
    FormCase("calendars/rooms.html", "calendar-rooms-refresh", "refresh-form", "admin", rooms_refresh,
             ("microsoft",)),
    FormCase("calendars/rooms.html", "calendar-rooms-add", "add-form", "admin", rooms_add_by_email, ("microsoft",)),
    FormCase("calendars/rooms.html", "calendar-rooms-link-suggested", "link-suggested-form", "admin",
             rooms_link_suggested, ("microsoft",)),
    FormCase("calendars/rooms.html", "calendar-room-link", "link-form-*", "admin", rooms_link_one, ("microsoft",)),
    FormCase("calendars/rooms.html", "calendar-room-unlink", "", "admin", rooms_unlink, ("microsoft",)),
    FormCase("calendars/import_rooms.html", "calendar-rooms-import", "import-form", "admin", rooms_import,
             ("microsoft",)),
    FormCase("sandbox/index.html", "sandbox-spaces-token", "", "admin", sandbox_spaces_token, ("sandbox",)),
    FormCase("sandbox/index.html", "partner-spaces", "", "admin", sandbox_spaces_activate, ("sandbox",)),
    FormCase("sandbox/microsoft.html", "sandbox-meeting", "", "admin", sandbox_meeting_add, ("sandbox",)),
    FormCase("sandbox/microsoft.html", "sandbox-meeting", "", "admin", sandbox_meeting_move, ("sandbox",)),
    FormCase("sandbox/microsoft.html", "sandbox-meeting", "", "admin", sandbox_meeting_cancel, ("sandbox",)),
    FormCase("api_tokens/tokens.html", "", "new-api-token-form", "viewer", api_token_new),
    FormCase("api_tokens/tokens.html", "api-token-revoke", "", "viewer", api_token_revoke),
    # Signed out, as both login forms are used; the Django admin's signs in the superuser.
    FormCase("admin/login.html", "", "login-form", "anonymous", django_admin_login, ours=False),
]


# --- The forms the templates have -------------------------------------------------------------------------------

FORM_TAG = re.compile(r"<form\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.IGNORECASE)
ATTRIBUTE = re.compile(r"([\w-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))")
URL_TAG = re.compile(r"{%\s*url\s+['\"]([^'\"]+)['\"]")
VARIABLE = re.compile(r"{{.*?}}|{%.*?%}")


def post_forms_in(folder: Path) -> list[tuple[str, str, str]]:
    """(template, action URL name, id) of every ``method="post"`` form of the templates under ``folder``."""
    found = []
    for path in sorted(folder.rglob("*.html")):
        for tag in FORM_TAG.findall(path.read_text()):
            # One of the three value groups matched (double-quoted, single-quoted, bare); the others are "".
            attributes = {name.lower(): "".join(values) for name, *values in ATTRIBUTE.findall(tag)}
            if attributes.get("method", "get").strip().lower() != "post":
                continue
            action = attributes.get("action", "")
            named = URL_TAG.search(action)
            found.append((path.relative_to(folder).as_posix(), named.group(1) if named else action,
                          VARIABLE.sub("*", attributes.get("id", ""))))
    return found


def test_every_post_form_in_the_templates_is_covered():
    in_templates = post_forms_in(TEMPLATES)
    covered = {case.key for case in REGISTRY if case.ours}

    uncovered = sorted({":".join(key) for key in in_templates if key not in covered})
    stale = sorted(case.name for case in REGISTRY if case.ours and case.key not in set(in_templates))
    assert not uncovered, f"POST forms with no Chromium case in REGISTRY (add one): {uncovered}"
    assert not stale, f"REGISTRY cases whose form is no longer in templates/: {stale}"


def test_the_template_parser_finds_forms_however_they_are_written(tmp_path):
    (tmp_path / "page.html").write_text(
        '<form method="post" action="{% url \'a-b\' x.pk %}" id="f-{{ forloop.counter }}">'
        "<form method='POST'>"
        '<form method="get" action="/search">'
        '<form id="js-only">'
        '<form data-x="1 > 0" method=post action="/raw">')

    assert post_forms_in(tmp_path) == [("page.html", "a-b", "f-*"), ("page.html", "", ""),
                                       ("page.html", "/raw", "")]


# --- Running a case ---------------------------------------------------------------------------------------------

@pytest.fixture
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fake_spaces_for_browser(settings) -> Iterator[FakeSpacesPartner]:
    """The fake Cisco Spaces partner API, trusted as a partner host (its TLS through the test CA)."""
    partner_client.forget_public_keys()
    with FakeSpacesPartner() as fake:
        settings.SPACES_PARTNER_HOSTS = {**settings.SPACES_PARTNER_HOSTS, fake.base_url: "Sandbox"}
        settings.SPACES_FIREHOSE_URL = fake.base_url
        settings.SPACES_APP_ID = fake.app_id
        settings.SPACES_API_KEY = None
        settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
        yield fake
    partner_client.forget_public_keys()


@pytest.fixture
def sandbox_for_browser(settings) -> Iterator[Sandbox]:
    """The sandbox's fakes (Microsoft 365 and Cisco Spaces) on free ports, the settings pointing at them."""
    partner_client.forget_public_keys()
    running = start_sandbox(ports={}, spaces_port=0)
    point_settings_at(settings, running)
    try:
        yield running
    finally:
        running.stop()
        ms_client.forget_tenant(sandbox_config.MICROSOFT_TENANT_ID)
        partner_client.forget_public_keys()


FAKE_FIXTURES = {"microsoft": "fake_microsoft_for_browser", "spaces": "fake_spaces_for_browser",
                 "sandbox": "sandbox_for_browser"}


@pytest.mark.parametrize("case", REGISTRY, ids=lambda case: f"{case.name}[{case.run.__name__}]")
def test_the_form_works_in_chromium_with_csrf_enforced(case, request, page, live_server, fast_passwords):
    fakes = {need: request.getfixturevalue(FAKE_FIXTURES[need]) for need in case.needs}
    tenant = seed_demo_tenant() if "sandbox" in case.needs else make_tenant("Acme")
    if "sandbox" not in case.needs:
        make_room(tenant, "Fjord", capacity=12)
        make_room(tenant, "Glacier", capacity=6)
    users = {"admin": make_user(tenant, Role.ADMIN, staff=False), "viewer": make_user(tenant, Role.VIEWER,
                                                                                      staff=False),
             "superuser": get_user_model().objects.create_superuser("root", password=PASSWORD)}
    stage = Stage(page, live_server.url, tenant, users, fakes)
    watch(stage)
    if case.role != "anonymous":
        log_in(page, live_server.url, users[case.role].username, PASSWORD)
        page.wait_for_load_state("load")
        assert not stage.path().startswith("/accounts/login/"), f"{case.role} could not sign in"
        stage.posts.clear()

    case.run(stage)

    refused = [(url, status) for url, status in stage.posts if status == 403]
    assert stage.posts, "the case submitted nothing"
    assert not refused, f"POST refused: {refused}; page: {page.content()[:600]}"
    assert "CSRF verification failed" not in page.content()
    assert not stage.problems, f"Content-Security-Policy violations: {stage.problems}"
