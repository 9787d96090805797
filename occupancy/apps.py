from django.apps import AppConfig


class OccupancyConfig(AppConfig):
    name = "occupancy"
    verbose_name = "Occupancy"

    def ready(self) -> None:
        from spaces_calendar.calendars.bookings import bookings_changed

        from .kiosk import health  # noqa: F401 - registers the /healthz check
        from .tasks import on_bookings_changed

        bookings_changed.connect(on_bookings_changed, dispatch_uid="occupancy.recompute_on_bookings_changed")
