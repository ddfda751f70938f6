"""The worker processes of `eventgate serve --workers N`: the app each one builds, and the watch
that ends a worker whose supervisor is gone.

uvicorn's supervisor replaces a worker that dies. The other way round it does nothing: a
supervisor killed with SIGKILL leaves its workers serving on the shared socket, holding the
port, with nobody to restart them. So each worker checks its parent every quarter second and,
once it has changed, shuts down as on SIGTERM (finishing the requests it holds, every
acknowledged write committed), leaving the port free for a new `eventgate serve`.

The workers also share their metrics (eventgate.metrics): the supervisor makes a private, empty
directory for them before they start (PROMETHEUS_MULTIPROC_DIR), tells prometheus_client when
one has exited (its live gauges, subscribers for instance, must stop counting), and removes the
directory when it stops.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("eventgate")

SUPERVISOR_PID = "EVENTGATE_SUPERVISOR_PID"
WATCH_INTERVAL = 0.25
# After asking itself to stop, a worker waits this long for the graceful shutdown (uvicorn
# gives connections 10 s) before it exits regardless, so that it never holds the port forever.
SHUTDOWN_DEADLINE = 30.0
# How often the supervisor looks for workers that have exited, to retire their live gauges.
REAP_INTERVAL = 1.0
METRICS_DIRECTORY = re.compile(r"eventgate-(\d+)-metrics-(\d+)-\w+")
METRICS_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


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


def share_metrics() -> Path:
    """In the supervisor, before the workers start: their metrics directory, private and empty,
    named in PROMETHEUS_MULTIPROC_DIR (which they inherit), and a thread that retires the live
    gauges of every worker that exits (uvicorn starts a new one in its place). The directory is
    removed when the supervisor exits."""
    from eventgate.metrics import MULTIPROCESS_DIRECTORY_VARIABLE

    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    _remove_abandoned_directories(base)
    # New, so empty; private (0700), so no other user can feed numbers into the scrape.
    directory = Path(tempfile.mkdtemp(prefix=f"eventgate-{os.geteuid()}-metrics-{os.getpid()}-", dir=base))
    os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] = str(directory)
    stop = threading.Event()
    reaper = threading.Thread(target=_reap_exited_workers, args=(directory, stop), name="eventgate-metrics-reaper",
                              daemon=True)
    reaper.start()

    def remove() -> None:
        stop.set()
        reaper.join(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)
    return directory


def _reap_exited_workers(directory: Path, stop: threading.Event) -> None:
    from prometheus_client.multiprocess import mark_process_dead

    while not stop.wait(REAP_INTERVAL):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for pid in {int(match.group(1)) for match in map(METRICS_FILE.fullmatch, names) if match}:
            if not _our_running_child(pid):
                mark_process_dead(pid, str(directory))


def _our_running_child(pid: int) -> bool:
    """A running process whose parent is this one (a zombie, or a reused pid, is not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc: all we can tell is whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    return fields[0] not in ("Z", "X") and int(fields[1]) == os.getpid()


def _remove_abandoned_directories(base: Path) -> None:
    """Metrics directories of this user's earlier `serve`s that were killed before removing theirs."""
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            match = METRICS_DIRECTORY.fullmatch(entry.name)
            if match is None or int(match.group(1)) != os.geteuid():
                continue
            info = entry.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            try:
                os.kill(int(match.group(2)), 0)
            except ProcessLookupError:
                shutil.rmtree(entry, ignore_errors=True)
            except PermissionError:
                pass
