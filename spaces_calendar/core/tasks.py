from celery import shared_task

from spaces_calendar.core.heartbeat import prune_heartbeats


@shared_task(name="core.prune_heartbeats")
def prune_heartbeats_task() -> int:
    return prune_heartbeats()
