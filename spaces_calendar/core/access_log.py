"""gunicorn's access log without secrets: a kiosk screen set up with the old ``/kiosk/<token>/`` address, or a
token pasted into a query string, would otherwise write the token into every request line.

gunicorn logs the request line before any of our code sees the request, so the masking is done here, in its
logger (``logger_class`` in ``spaces_calendar/gunicorn_config.py``), on every atom a log format can name.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from spaces_calendar.core.logging import redact_url


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: redact_url(value) if isinstance(value, str) else value for name, value in atoms.items()}
