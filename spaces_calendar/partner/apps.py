from django.apps import AppConfig


class PartnerConfig(AppConfig):
    name = "spaces_calendar.partner"
    label = "partner"
    verbose_name = "Cisco Spaces partner app"
