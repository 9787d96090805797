from django.apps import AppConfig


class FirehoseConfig(AppConfig):
    name = "firehose"
    verbose_name = "Cisco Spaces Firehose"

    def ready(self) -> None:
        from . import health  # noqa: F401 - registers the /healthz check
