"""How much ingest this process is serving right now: write requests in flight.

The request middleware counts them (api/request_metrics.py); delivery reads `busy` to leave
ingest the CPU while it is saturated (delivery/pacing.py). A process that keeps up with its
load serves one or two writes at a time; a saturated one has as many in flight as its clients
allow.
"""

from __future__ import annotations

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BUSY_WRITES = 8  # write requests in flight that make ingest "busy"


class IngestLoad:
    def __init__(self, busy_writes: int = BUSY_WRITES) -> None:
        self.in_flight = 0
        self.busy_writes = busy_writes

    def busy(self) -> bool:
        return self.in_flight >= self.busy_writes
