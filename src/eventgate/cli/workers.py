"""The worker processes of `eventgate serve --workers N`: the app each one builds, and the watch
that ends a worker whose supervisor is gone.

uvicorn's supervisor replaces a worker that dies. The other way round it does nothing: a
supervisor killed with SIGKILL leaves its workers serving on the shared socket, holding the
port, with nobody to restart them. So each worker checks its parent every quarter second and,
once it has changed, shuts down as on SIGTERM (finishing the requests it holds, every
acknowledged write committed), leaving the port free for a new `eventgate serve`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("eventgate")

SUPERVISOR_PID = "EVENTGATE_SUPERVISOR_PID"
WATCH_INTERVAL = 0.25
# After asking itself to stop, a worker waits this long for the graceful shutdown (uvicorn
# gives connections 10 s) before it exits regardless, so that it never holds the port forever.
SHUTDOWN_DEADLINE = 30.0


def app_for_worker() -> "Starlette":
    """uvicorn factory of each worker process (settings from EVENTGATE_* variables)."""
    from eventgate.app import app_from_environment

    app = app_from_environment()
    supervisor = os.environ.get(SUPERVISOR_PID, "")
    if supervisor.isdigit():
        watch_supervisor(int(supervisor))
    return app


def watch_supervisor(supervisor_pid: int, interval: float = WATCH_INTERVAL) -> threading.Thread:
    thread = threading.Thread(target=_watch, args=(supervisor_pid, interval), name="eventgate-supervisor-watch",
                              daemon=True)
    thread.start()
    return thread


def _watch(supervisor_pid: int, interval: float) -> None:
    while os.getppid() == supervisor_pid:
        time.sleep(interval)
    log.warning("the supervisor (pid %d) is gone; worker %d is shutting down", supervisor_pid, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(SHUTDOWN_DEADLINE)
    log.error("worker %d did not shut down within %.0f s; exiting", os.getpid(), SHUTDOWN_DEADLINE)
    os._exit(1)
