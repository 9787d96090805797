"""Settings for the gunicorn that ``benchmarks.kiosk_status`` starts: the project's own, plus a benchmark URLconf.

Selected with ``DJANGO_SETTINGS_MODULE=benchmarks.kiosk_settings`` (``spaces_calendar/wsgi.py`` only sets the
default), so the production URLconf never carries the benchmark's ceiling view. Everything else, environment
variables included, is read exactly as in production.
"""

from spaces_calendar.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.kiosk_urls"
