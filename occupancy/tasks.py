"""Celery tasks of occupancy: thin wrappers around functions of ``aggregates`` and ``pipeline`` that are tested
without Celery."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from . import aggregates, pipeline, rules, sensors


@shared_task(name="occupancy.refresh", ignore_result=True)
def refresh() -> dict:
    """Every minute (beat): new signals into spans and outcomes, bookings coming due, their RoomDays."""
    return asdict(aggregates.refresh())


@shared_task(name="occupancy.prune_signals", ignore_result=True)
def prune_signals() -> int:
    """Hourly (beat): raw signals past their retention, once folded into spans, and signals of unmapped sources
    too old to be applied if they were mapped now."""
    return pipeline.prune_signals() + sensors.prune_pending()


@shared_task(name="occupancy.recompute_rooms", ignore_result=True)
def recompute_rooms(room_ids: list[int]) -> int:
    return aggregates.recompute_rooms(room_ids)


@shared_task(name="occupancy.apply_rules", ignore_result=True)
def apply_rules(tenant_id: int, room_ids: list[int] | None = None) -> dict:
    """After a tenant admin changed the occupancy rules: the tenant's rooms (or these of them), last
    ``rules.RULES_RECOMPUTE_DAYS`` days up to two days ahead."""
    return asdict(rules.apply_rules(tenant_id, room_ids))


def on_bookings_changed(sender: object, room_ids: list[int], **kwargs: object) -> None:
    """Receiver of ``calendars.bookings.bookings_changed`` (sent after commit): recompute in a worker, so the
    calendar sync that changed the bookings is not held up by it."""
    if room_ids:
        recompute_rooms.delay(sorted(set(room_ids)))
