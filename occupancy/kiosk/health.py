"""The kiosk change feed in /healthz: whether the answering web process hears the database's notifications.

Always ``ok``: without the feed every poll reads the database, slower but correct; the state is for operators
(a feed that never goes live behind a connection pooler that cannot LISTEN, for instance).
"""

from __future__ import annotations

from spaces_calendar.core.health import CheckResult, register

from . import changes


@register("kiosk_change_feed")
def check_change_feed() -> CheckResult:
    feed = changes.feed()
    if feed is None:
        return CheckResult(True, {"state": "off"})
    return CheckResult(True, {"state": "listening" if feed.live else "connecting"})
