"""Celery tasks of the partner app: each calls a function that is tested without Celery."""

from __future__ import annotations

from celery import shared_task

from . import monitoring


@shared_task(name="partner.report_monitoring_status", ignore_result=True)
def report_monitoring_status() -> str:
    return monitoring.report_status()
