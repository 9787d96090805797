"""A tenant admin's occupancy rules: save them, and recalculate what they decide.

The rules are the tenant's ``OccupancyPolicy`` (grace window, exempt length, subjects on kiosks) and per-room
``RoomGrace`` overrides of the grace window. A change that moves a room's grace window or exempt length schedules
``occupancy.apply_rules`` after commit, which recomputes the outcomes and RoomDays of the rooms it affects from
``RULES_RECOMPUTE_DAYS`` ago to two days ahead, from the stored spans (older days: ``manage.py rebuild_occupancy
--keep-spans``). If the broker is down the change is saved anyway; beat's refresh then applies it only to the
bookings it calls from then on.

Every change also drops the affected rooms' stored kiosk documents (``KioskRoomStatus``), which are not
fingerprinted on the rules: the next poll rebuilds them with the new ones. A document a kiosk poll was building
while the change committed may still be stored with the old rules; it lives at most ``KIOSK_DOCUMENT_MAX_AGE_S``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from spaces_calendar.core.models import Room, Tenant
from spaces_calendar.core.tasks_seam import enqueue_on_commit

from . import aggregates, pipeline
from .kiosk.models import KioskRoomStatus
from .models import OccupancyPolicy, RoomGrace

logger = logging.getLogger(__name__)

#: How far back a rules change recomputes outcomes and RoomDays (and how far ahead: ``RULES_AHEAD``).
RULES_RECOMPUTE_DAYS = 30
RULES_AHEAD = timedelta(days=2)
GRACE_MINUTES = (1, 60)
EXEMPT_HOURS = (1, 24)
#: Rooms per transaction when recomputing (as ``rebuild_occupancy``'s default batch).
BATCH_ROOMS = 50


@dataclass(frozen=True)
class PolicyChange:
    """What a save changed, in words for the admin, and which rooms must be recalculated (None: none)."""

    changes: list[str] = field(default_factory=list)
    recompute_room_ids: list[int] | None = None


def policy_of(tenant: Tenant) -> OccupancyPolicy:
    """The tenant's policy, or the defaults (unsaved) when it has none yet."""
    return OccupancyPolicy.objects.filter(tenant=tenant).first() or OccupancyPolicy(tenant=tenant)


@transaction.atomic
def save_policy(tenant: Tenant, *, grace_minutes: int, exempt_after_hours: int, show_subjects: bool) -> PolicyChange:
    """Store the tenant's rules; recompute outcomes if grace or exempt length changed, drop kiosk documents."""
    _check(grace_minutes, GRACE_MINUTES, "grace_minutes")
    _check(exempt_after_hours, EXEMPT_HOURS, "exempt_after_hours")
    policy, _ = OccupancyPolicy.objects.select_for_update().get_or_create(tenant=tenant)
    changes = []
    if policy.grace_minutes != grace_minutes:
        changes.append(f"grace window {policy.grace_minutes} → {grace_minutes} min")
    if policy.exempt_after_hours != exempt_after_hours:
        changes.append(f"bookings exempt from {policy.exempt_after_hours} → {exempt_after_hours} h")
    if policy.show_subjects != show_subjects:
        changes.append("kiosks show meeting subjects" if show_subjects else "kiosks hide meeting subjects")
    if not changes:
        return PolicyChange()
    rooms = Room.objects.filter(tenant=tenant)
    if policy.exempt_after_hours != exempt_after_hours:
        affected = list(rooms.values_list("pk", flat=True))
    elif policy.grace_minutes != grace_minutes:
        affected = list(rooms.filter(grace_override__isnull=True).values_list("pk", flat=True))
    else:
        affected = None
    policy.grace_minutes, policy.exempt_after_hours = grace_minutes, exempt_after_hours
    policy.show_subjects = show_subjects
    policy.save()
    KioskRoomStatus.objects.filter(room__tenant=tenant).delete()
    if affected:
        schedule_recompute(tenant.pk, affected)
    return PolicyChange(changes, affected)


@transaction.atomic
def set_room_grace(room: Room, minutes: int) -> PolicyChange:
    """Give the room its own grace window."""
    _check(minutes, GRACE_MINUTES, "grace_minutes")
    override = RoomGrace.objects.select_for_update().filter(room=room).first()
    if override is not None and override.grace_minutes == minutes:
        return PolicyChange()
    before = effective_grace(room)
    RoomGrace.objects.update_or_create(room=room, defaults={"grace_minutes": minutes})
    was = f"{before} min" if override else f"tenant default, {before} min"
    return _room_changed(room, before, minutes, f"{room.name}: grace window {minutes} min (was {was})")


@transaction.atomic
def clear_room_grace(room: Room) -> PolicyChange:
    """Let the room follow the tenant's grace window again."""
    before = effective_grace(room)
    if not RoomGrace.objects.filter(room=room).delete()[0]:
        return PolicyChange()
    after = policy_of(room.tenant).grace_minutes
    return _room_changed(room, before, after, f"{room.name}: tenant default grace window, {after} min "
                                              f"(was {before} min)")


def effective_grace(room: Room) -> int:
    """The room's grace window in minutes: its override, else the tenant's."""
    override = RoomGrace.objects.filter(room=room).values_list("grace_minutes", flat=True).first()
    return override if override is not None else policy_of(room.tenant).grace_minutes


def _room_changed(room: Room, before: int, after: int, change: str) -> PolicyChange:
    KioskRoomStatus.objects.filter(room=room).delete()
    if after == before:
        return PolicyChange([change])
    schedule_recompute(room.tenant_id, [room.pk])
    return PolicyChange([change], [room.pk])


def _check(value: int, bounds: tuple[int, int], name: str) -> None:
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name} must be {bounds[0]}-{bounds[1]}, not {value}")


# --- Recalculating ----------------------------------------------------------------------------------------------

def schedule_recompute(tenant_id: int, room_ids: list[int]) -> None:
    """After commit, have a worker recompute these rooms (``apply_rules``); a broker failure is logged only."""
    enqueue_on_commit("occupancy.apply_rules", tenant_id, sorted(room_ids),
                      consequence="outcomes already called keep the old rules until rebuild_occupancy --keep-spans")


def apply_rules(tenant_id: int, room_ids: list[int] | None = None,
                now: datetime | None = None) -> aggregates.RebuildTotals:
    """Recompute outcomes and RoomDays of the tenant's rooms (all, or those of ``room_ids`` that are its own) from
    ``RULES_RECOMPUTE_DAYS`` ago to ``RULES_AHEAD``, with the rules as they are now."""
    now = now or timezone.now()
    rooms = Room.objects.filter(tenant_id=tenant_id)
    if room_ids is not None:
        rooms = rooms.filter(pk__in=room_ids)
    ids = list(rooms.order_by("pk").values_list("pk", flat=True))
    start, end = now - timedelta(days=RULES_RECOMPUTE_DAYS), now + RULES_AHEAD
    report = aggregates.RebuildTotals(rooms=len(ids))
    for index in range(0, len(ids), BATCH_ROOMS):
        batch = ids[index:index + BATCH_ROOMS]
        report.add_outcomes(pipeline.recompute_outcomes(batch, start, end, now))
        report.days += aggregates.rebuild_between(batch, start, end, now=now)
    return report
