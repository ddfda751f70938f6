"""The broker of a single process: nothing to carry, since the hub hears this process's
writer directly. Chosen when no --broker-url is given."""

from __future__ import annotations

from typing import Any

from eventgate.broker.base import Broker, BrokerHandler


class MemoryBroker(Broker):
    async def start(self, handler: BrokerHandler) -> None:
        self.handler = handler
        self._connection_changed(True)  # /readyz counts it as up: so does eventgate_broker_connected

    def publish_operations(self, operations: list[dict[str, Any]]) -> None:
        return None

    async def request(self, node_id: str, command: dict[str, Any]) -> dict[str, Any] | None:
        return None  # there are no other nodes

    async def is_ready(self) -> bool:
        return True

    async def stop(self) -> None:
        self._connection_ended()
