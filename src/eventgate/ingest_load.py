"""How much ingest this process is serving right now: write requests in flight.

The request middleware counts them (api/request_metrics.py); delivery reads `busy` to leave
ingest the CPU while it is saturated (delivery/pacing.py). A process that keeps up with its
load serves one or two writes at a time; a saturated one has as many in flight as its clients
allow. A saturated process's count still dips for a moment after each group commit (the whole
batch is answered at once, and its clients have not sent their next writes yet), so "busy"
holds for `hold_s` after the count was last seen at the threshold.
"""

from __future__ import annotations

import time

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BUSY_WRITES = 8  # write requests in flight that make ingest "busy"
HOLD_S = 0.5


class IngestLoad:
    def __init__(self, busy_writes: int = BUSY_WRITES, hold_s: float = HOLD_S) -> None:
        self.in_flight = 0
        self.busy_writes = busy_writes
        self.hold_s = hold_s
        self.busy_seen_at = float("-inf")  # time.monotonic() when in_flight last reached busy_writes

    def started(self) -> None:
        self.in_flight += 1
        if self.in_flight >= self.busy_writes:
            self.busy_seen_at = time.monotonic()

    def ended(self) -> None:
        self.in_flight -= 1

    def busy(self) -> bool:
        return self.in_flight >= self.busy_writes or time.monotonic() - self.busy_seen_at < self.hold_s
