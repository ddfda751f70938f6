"""What the broker tests stand in for the hub: a node that collects what arrives and answers
requests, and operations to send."""

from __future__ import annotations

import asyncio
import time
from typing import Any


class Node:
    """What the hub gives a broker: collects what arrives, answers requests."""

    def __init__(self) -> None:
        self.operations: list[dict[str, Any]] = []
        self.reconnections = 0
        self.arrived = asyncio.Event()

    def operations_received(self, operations: list[dict[str, Any]]) -> None:
        self.operations.extend(operations)
        self.arrived.set()

    def broker_reconnected(self) -> None:
        self.reconnections += 1

    async def command_received(self, command: dict[str, Any]) -> dict[str, Any]:
        return {"result": "ok", "echo": command}

    async def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.operations) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - time.monotonic()))
        return self.operations


def operation(seq: int, size: int = 10) -> dict[str, Any]:
    return {"workspace_id": "w", "seq": seq, "kind": "create", "op_id": f"op-{seq}", "event_id": "e",
            "channel_id": "c", "event_time": 0, "received_at": 0, "fields": {}, "event": {"blob": "x" * size}}
