"""Calendar providers: one package per provider, registered in ``settings.CALENDAR_PROVIDERS`` through its
``provider.py`` (see ``spaces_calendar/calendars/registry.py``)."""
