"""A check that runs every so many seconds on the event loop, from `start()` until `stop()`.

A check that fails is logged (without its traceback: the store being down for a moment is not
news) and tried again at the next turn. Used by the sweeps that end live streams whose key was
revoked or whose channel was deleted through another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable


class Periodic:
    def __init__(self, check: Callable[[], Awaitable[None]], seconds: float, log: logging.Logger,
                 failed: str) -> None:
        self.check = check
        self.seconds = seconds
        self.log = log
        self.failed = failed  # what the log says when a check fails, before the error
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await self.check()
            except Exception as error:  # noqa: BLE001 — the next turn tries again
                self.log.warning("%s: %s", self.failed, error)
