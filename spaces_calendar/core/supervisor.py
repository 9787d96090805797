"""The supervisor of ``manage.py up``: honcho's, with the time processes get to stop as a setting, and SIGTERM sent
to each process itself rather than to its whole process group.

* honcho gives the processes 5 s, counted from the first one to exit, before it SIGKILLs the rest: a Celery
  worker's warm shutdown alone takes 6-9 s on a 2-core machine (its pool's threads each finish a 1 s sleep, the
  SQLite broker's loop a 2 s poll), so every stop killed it half way. Here the deadline counts from the stop itself
  (a signal, or the first process to die) and lasts ``stop_timeout_s``.
* honcho SIGTERMs the process group, so a Celery worker's pool children died at once, and one that died holding
  the pool's queue lock left the worker's own shutdown waiting for that lock for ever (billiard's
  ``_help_stuff_finish``). SIGTERM now goes to the process alone, which stops its children its own way (Celery's
  warm shutdown, gunicorn's graceful one); only the final SIGKILL takes the whole group, as systemd's
  ``KillMode=mixed`` does. A command must therefore ``exec`` its program, so that the process is the program and not
  a shell waiting for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from honcho.compat import ProcessManager
from honcho.manager import Manager


class _TermMainKillGroup(ProcessManager):
    def terminate(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it has just exited
            os.kill(pid, signal.SIGTERM)


class Supervisor(Manager):
    def __init__(self, printer=None, *, stop_timeout_s: float) -> None:
        super().__init__(printer)
        self.stop_timeout_s = stop_timeout_s
        self._deadline: threading.Timer | None = None
        self._procmgr = _TermMainKillGroup()  # honcho's own signals the whole group (see above)

    def terminate(self) -> None:
        """SIGTERM to every process still running, and SIGKILL to those left after ``stop_timeout_s``."""
        if self._deadline is None:
            # A timer, not honcho's loop: the loop counts only from the first process to exit, so processes that
            # all ignore SIGTERM would otherwise never be killed.
            self._deadline = threading.Timer(self.stop_timeout_s, super().kill)
            self._deadline.daemon = True
            self._deadline.start()
        super().terminate()

    def kill(self) -> None:
        """honcho's loop calls this 5 s after the first process exited: the deadline timer decides instead."""

    def loop(self) -> None:
        try:
            super().loop()
        finally:
            if self._deadline is not None:
                self._deadline.cancel()
