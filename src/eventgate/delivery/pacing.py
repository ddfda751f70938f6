"""Ingest first: while this process's ingest is saturated, delivery runs in short slices.

Delivery shares the event loop (and SQLite's write lock) with ingest. Left alone, ten
destinations each sending every operation take most of a small machine's CPU and ingest slows
to two thirds of its speed. So every step of delivery (a store read, a send, a store write)
first takes its turn here: while ingest is busy the turns come only in the first `share` of
each `period`, so delivery takes about that share of the time and catches up as soon as ingest
calms down. When ingest is not busy a turn is immediate: a steady stream of writes that the
process keeps up with does not slow delivery at all.

"Busy" is a signal the caller gives (the runtime uses write requests in flight: a process
keeping up with its load serves one or two at a time, a saturated one dozens).
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

SHARE = 0.08  # of each period, delivery's while ingest is busy
PERIOD_S = 0.1


class IngestFirst:
    def __init__(self, busy: Callable[[], bool], *, share: float = SHARE, period_s: float = PERIOD_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.busy = busy
        self.open_s = share * period_s
        self.period_s = period_s
        self._clock = clock
        self._sleep = sleep

    async def turn(self) -> None:
        """Return when delivery may do its next step."""
        while self.busy():
            phase = self._clock() % self.period_s
            if phase < self.open_s:
                return
            await self._sleep(self.period_s - phase)
