from django.apps import AppConfig


class CalendarsConfig(AppConfig):
    name = "spaces_calendar.calendars"
    label = "calendars"
    verbose_name = "Calendars"
