from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "spaces_calendar.core"
    label = "core"
    verbose_name = "Workplace"

    def ready(self) -> None:
        # Connect signal handlers: Celery's (worker heartbeats) and axes' (sign-in lockouts are logged).
        from spaces_calendar.core import login_protection, worker_signals  # noqa: F401
