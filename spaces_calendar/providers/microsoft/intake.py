"""What Graph's notifications do once parsed: each item checked against our subscription and its secret, then the
batch acted on as a whole (one query to match every item, one UPDATE to mark the rooms due, one log line).

The webhook views (``webhooks.py``) only read, parse and answer; a batch is at most ``notifications.MAX_ITEMS``
items, so the work of one request is bounded whatever Graph (or anyone else) sends.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from spaces_calendar.calendars.change_hints import rooms_changed
from spaces_calendar.calendars.models import ConnectionStatus, Provider, Subscription
from spaces_calendar.calendars.sync import request_sync
from spaces_calendar.core.tasks_seam import enqueue

from .notifications import ChangeNotification, LifecycleNotification, client_state_matches

logger = logging.getLogger(__name__)
#: Unknown subscription ids named in a batch's log line (the rest are only counted).
SAMPLE_IDS = 3


@dataclass
class Screened:
    accepted: list[tuple[Subscription, ChangeNotification | LifecycleNotification]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    forged: int = 0
    inactive: int = 0

    @property
    def refused_all(self) -> bool:
        """Every item failed its secret: the sender is told no (403)."""
        return bool(self.forged) and not self.accepted

    def dropped(self) -> str:
        sample = ", ".join(ascii(subscription_id)[1:-1][:64] for subscription_id in self.unknown[:SAMPLE_IDS])
        more = ", ..." if len(self.unknown) > SAMPLE_IDS else ""
        return (f"{len(self.unknown)} for unknown subscriptions{f' ({sample}{more})' if sample else ''}, "
                f"{self.inactive} for connections without consent, "
                f"{self.forged} refused (clientState or tenant mismatch)")


def screen(items: list[ChangeNotification] | list[LifecycleNotification]) -> Screened:
    """Match every item to our subscription (one query for the batch) and its ``clientState`` and tenant."""
    screened = Screened()
    ids = {item.subscription_id for item in items}
    known = {sub.external_id: sub for sub in Subscription.objects.filter(
        external_id__in=ids, link__connection__provider=Provider.MICROSOFT).select_related("link__connection")}
    for item in items:
        subscription = known.get(item.subscription_id)
        if subscription is None:
            screened.unknown.append(item.subscription_id)
            continue
        connection = subscription.link.connection
        if not client_state_matches(subscription.client_state, item.client_state) or (
            item.tenant_id and item.tenant_id.lower() != connection.external_tenant_id.lower()
        ):
            screened.forged += 1
        elif connection.status != ConnectionStatus.ACTIVE:
            screened.inactive += 1
        else:
            screened.accepted.append((subscription, item))
    return screened


def accept_changes(items: list[ChangeNotification]) -> Screened:
    """Change notifications: the rooms of the genuine items become due after the debounce."""
    screened = screen(items)
    link_ids = sorted({subscription.link_id for subscription, _ in screened.accepted})
    if link_ids:
        rooms_changed(link_ids)
    _log("graph notifications", len(items), screened, f"{len(screened.accepted)} accepted for {len(link_ids)} room(s)")
    return screened


def accept_lifecycle(items: list[LifecycleNotification]) -> Screened:
    """Lifecycle notifications, each event acted on once per subscription however often the batch repeats it
    (https://learn.microsoft.com/graph/change-notifications-lifecycle-events)."""
    screened = screen(items)
    by_event: dict[str, dict[int, Subscription]] = {}
    for subscription, item in screened.accepted:
        by_event.setdefault(item.lifecycle_event, {})[subscription.pk] = subscription
    removed = list(by_event.pop("subscriptionRemoved", {}).values())
    missed = list(by_event.pop("missed", {}).values())
    renew = list(by_event.pop("reauthorizationRequired", {}).values())
    for subscription in renew:
        _enqueue("calendars.renew_subscription", subscription.pk)
    if removed:
        Subscription.objects.filter(pk__in=[subscription.pk for subscription in removed]).delete()
    resync = sorted({subscription.link_id for subscription in removed + missed})
    if resync:
        request_sync(resync, delay_s=0, full=True)
    for subscription in removed:
        _enqueue("calendars.resubscribe", subscription.link_id)
    if missed:
        _enqueue("calendars.dispatch_due_syncs")
    counts = Counter({"reauthorizationRequired": len(renew), "subscriptionRemoved": len(removed),
                      "missed": len(missed)})
    acted = ", ".join(f"{event} for {count} subscription(s)" for event, count in counts.items() if count)
    ignored = sum(len(subscriptions) for subscriptions in by_event.values())
    if ignored:
        acted += f"{', ' if acted else ''}{ignored} of unknown lifecycle events ignored"
    _log("graph lifecycle notifications", len(items), screened, acted or "none acted on")
    return screened


def _log(what: str, total: int, screened: Screened, acted: str) -> None:
    # One line per batch, whatever its size: a line per item let one request write tens of thousands.
    if screened.unknown or screened.forged or screened.inactive:
        logger.warning("%s: %d item(s): %s; dropped: %s", what, total, acted, screened.dropped())
    else:
        logger.info("%s: %d item(s): %s", what, total, acted)


def _enqueue(task_name: str, *args: int) -> None:
    """The change is already recorded (the link is due); if the broker is briefly down, beat's next dispatch
    picks it up, so a failed enqueue must not turn into a 500 that makes Graph retry."""
    enqueue(task_name, *args, consequence="the periodic dispatch and subscription upkeep will pick the change up")
