"""Learning that uvicorn has been asked to stop, before its graceful shutdown waits on us.

On SIGTERM/SIGINT uvicorn's `Server.handle_exit` sets `should_exit`; the main loop then closes
the listeners, calls `shutdown()` on every connection and waits (up to
`timeout_graceful_shutdown`) for them to finish, and only after that runs the app's lifespan
shutdown. For an HTTP connection `shutdown()` merely drops keep-alive, so an endless SSE
response would hold the process for the whole timeout and then be cancelled. uvicorn has no
hook for "shutdown has begun", so while it serves we chain onto the signal handler it installs
(`Server.capture_signals`) and hand the news to the event loop. uvicorn puts its own original
handlers back when it finishes serving, which drops ours with them.

Outside uvicorn (tests with an in-process client, another server) nothing is installed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any, Callable

log = logging.getLogger("eventgate.hub")

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name))


def _is_uvicorn_handler(handler: Any) -> bool:
    try:
        from uvicorn.server import Server
    except ImportError:  # pragma: no cover - uvicorn is a dependency
        return False
    return isinstance(getattr(handler, "__self__", None), Server) and getattr(handler, "__name__", "") == "handle_exit"


def watch_server_exit(callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` on the running loop as soon as uvicorn receives a stop signal; returns
    a function that removes the watch (a no-op when nothing was installed)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    installed: dict[int, Callable[..., Any]] = {}

    for signum in SIGNALS:
        previous = signal.getsignal(signum)
        if not _is_uvicorn_handler(previous):
            continue

        def chained(sig: int, frame: Any, previous: Callable[..., Any] = previous) -> None:
            previous(sig, frame)  # uvicorn's own: sets should_exit (or force_exit)
            if not loop.is_closed():
                loop.call_soon_threadsafe(callback)

        signal.signal(signum, chained)
        installed[signum] = chained
        # Keep a reference to what to restore.
        chained.previous = previous  # type: ignore[attr-defined]

    def unwatch() -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, chained in installed.items():
            if signal.getsignal(signum) is chained:
                signal.signal(signum, chained.previous)  # type: ignore[attr-defined]
        installed.clear()

    return unwatch
