from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "spaces_calendar.core"
    label = "core"
    verbose_name = "Workplace"

    def ready(self) -> None:
        from spaces_calendar.core import worker_signals  # noqa: F401  (connects Celery signal handlers)
