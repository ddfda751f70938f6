"""Per workspace, hand operations to the hub in dense `seq` order, whatever order they arrive in.

Operations come from this process's writer, from the broker (other processes) and from the
store. Because seq is given in commit order, seeing seq n means every seq below n has
committed: a gap can always be filled from the store. Out-of-order arrival is normal across
processes, so a gap first gets a short grace period to fill itself from the broker before the
store is read.

Seqs are dense until retention removes old operations (store/retention.py): a seq the store
says is complete but does not hold is gone for good, so the sequence steps over it instead of
waiting for it (store.streams.operations_to_fill).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from prometheus_client import Counter

from eventgate.metrics import registry

log = logging.getLogger("eventgate.hub")

GAP_GRACE_SECONDS = 0.05
FILL_PAGE = 500
# Operations held while waiting for a gap to fill; beyond this they are re-read from the store.
MAX_PENDING = 5_000

gap_fills = Counter("eventgate_live_gap_fills", "Store reads that filled a gap in the live sequence",
                    registry=registry)

Operation = dict[str, Any]
# (workspace, after seq, limit) → (operations after it, the seq through which the store is complete)
ReadAfter = Callable[[str, int, int], Awaitable[tuple[list[Operation], int]]]


class WorkspaceSequencer:
    def __init__(self, workspace_id: str, last_seq: int, deliver: Callable[[Operation], None],
                 read_after: ReadAfter) -> None:
        self.workspace_id = workspace_id
        self.last = last_seq  # every operation up to here has been delivered
        self.highest_seen = last_seq
        self.pending: dict[int, Operation] = {}
        self.fills = 0
        self._deliver = deliver
        self._read_after = read_after
        self._fill_task: asyncio.Task[None] | None = None
        self._closed = False

    def offer(self, operations: list[Operation]) -> None:
        """Take operations in any order, deliver those that continue the sequence."""
        for operation in operations:
            seq = operation["seq"]
            if seq <= self.last:
                continue
            if seq > self.highest_seen:
                self.highest_seen = seq
            if len(self.pending) < MAX_PENDING:
                self.pending[seq] = operation
        self._drain()
        if self.highest_seen > self.last:
            self._schedule_fill(GAP_GRACE_SECONDS)

    def caught_up_to(self, store_seq: int) -> None:
        """The store says operations up to `store_seq` exist: make sure they get delivered."""
        if store_seq > self.highest_seen:
            self.highest_seen = store_seq
        if self.highest_seen > self.last:
            self._schedule_fill(GAP_GRACE_SECONDS)

    def close(self) -> None:
        self._closed = True
        if self._fill_task is not None:
            self._fill_task.cancel()

    def _drain(self) -> None:
        pending = self.pending
        while pending:
            operation = pending.pop(self.last + 1, None)
            if operation is None:
                return
            self.last += 1
            try:
                self._deliver(operation)
            except Exception:  # one bad frame must not stop the stream
                log.exception("delivering seq %s of workspace %s failed", operation["seq"], self.workspace_id)

    def _step_through(self, complete_through: int) -> None:
        """Deliver, in order, what is held up to `complete_through`: the store holds every
        operation up to there that still exists, so a seq missing below it was removed by
        retention and is stepped over."""
        held = sorted(seq for seq in self.pending if seq <= complete_through)
        missing = complete_through - self.last - len(held)
        if missing > 0:
            log.info("workspace %s: %d seq(s) up to %d no longer stored (retention); stepping over them",
                     self.workspace_id, missing, complete_through)
        for seq in held:
            operation = self.pending.pop(seq)
            self.last = seq
            try:
                self._deliver(operation)
            except Exception:  # one bad frame must not stop the stream
                log.exception("delivering seq %s of workspace %s failed", seq, self.workspace_id)
        self.last = max(self.last, complete_through)

    def _schedule_fill(self, delay: float) -> None:
        if self._fill_task is None and not self._closed:
            self._fill_task = asyncio.get_running_loop().create_task(self._fill(delay))

    async def _fill(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            failures = 0
            while self.highest_seen > self.last and not self._closed:
                try:
                    operations, complete_through = await self._read_after(self.workspace_id, self.last, FILL_PAGE)
                except Exception:
                    failures += 1
                    log.warning("reading missed operations of workspace %s failed; retrying", self.workspace_id,
                                exc_info=failures == 1)
                    await asyncio.sleep(min(5.0, 0.1 * 2 ** failures))
                    continue
                failures = 0
                self.fills += 1
                gap_fills.inc()
                if complete_through <= self.last:
                    # Announced seqs that the store does not hold are not this deployment's
                    # (a broker shared by mistake): forget them rather than wait forever.
                    log.warning("workspace %s: seq %d was announced but the store ends at %d; ignoring it",
                                self.workspace_id, self.highest_seen, self.last)
                    self.pending = {}
                    self.highest_seen = self.last
                    break
                for operation in operations:
                    if operation["seq"] > self.last:
                        self.pending[operation["seq"]] = operation
                self._step_through(complete_through)
                self._drain()
                self.highest_seen = max(self.highest_seen, self.last)
        finally:
            self._fill_task = None
