from django.apps import AppConfig


class FirehoseConfig(AppConfig):
    name = "firehose"
    verbose_name = "Cisco Spaces Firehose"
