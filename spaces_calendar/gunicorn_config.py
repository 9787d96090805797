"""gunicorn's settings as ``manage.py up`` runs it (``--config python:spaces_calendar.gunicorn_config``); the bind
address, workers and log files are on its command line (``up.process_set``)."""

from __future__ import annotations

# Load the application in the master, before it opens the port and forks the workers: a request is then answered as
# soon as it is accepted. Without it the port opened at once while each worker took seconds importing Django (next
# to four other processes doing the same at start-up), and a health probe waited 15-25 s for its first answer.
preload_app = True

# The access log masks kiosk tokens and other secrets in request lines, paths, query strings and headers.
logger_class = "spaces_calendar.core.access_log.RedactingLogger"

# No control socket: its default path is one per user ($HOME/.gunicorn/gunicorn.ctl), so a second instance on the
# machine would take the first one's; nothing here uses it.
control_socket_disable = True


def post_fork(server, worker) -> None:
    # The preloaded application's timers stayed in the master: each worker schedules its own.
    from spaces_calendar import wsgi

    wsgi.schedule_freezes()
