"""Ingest first: while this process's ingest is saturated, delivery takes a few steps a tenth
of a second.

Delivery shares the event loop (and SQLite's write lock) with ingest. Left alone, ten
destinations each sending every operation take most of a small machine's CPU and ingest slows
to two thirds of its speed. So every step of delivery (a store read, a send, a store write)
first takes its turn here. While ingest is busy, each `period_s` grants `steps` turns and the
rest wait for the next period: delivery keeps moving (a few dozen sends a second) and catches
up as soon as ingest calms down; the cursor simply stays behind meanwhile, so nothing is lost.
When ingest is not busy a turn is immediate: a steady stream of writes that the process keeps
up with does not slow delivery at all.

A budget of steps, not a share of time: a send started in an open window goes on costing CPU
after it (its response, its record), so a time window of 8 % still cost ingest a fifth of its
speed in bench/delivery.py, while two steps a period cost it a few per cent.

"Busy" is a signal the caller gives (the runtime uses write requests in flight: a process
keeping up with its load serves one or two at a time, a saturated one dozens).
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

STEPS = 2  # delivery steps per period while ingest is busy
PERIOD_S = 0.1


class IngestFirst:
    def __init__(self, busy: Callable[[], bool], *, steps: int = STEPS, period_s: float = PERIOD_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.busy = busy
        self.steps = steps
        self.period_s = period_s
        self._clock = clock
        self._sleep = sleep
        self._period = -1
        self._taken = 0

    async def turn(self) -> None:
        """Return when delivery may do its next step."""
        while self.busy():
            now = self._clock()
            period = int(now // self.period_s)
            if period != self._period:
                self._period, self._taken = period, 0
            if self._taken < self.steps:
                self._taken += 1
                return
            await self._sleep((period + 1) * self.period_s - now)
