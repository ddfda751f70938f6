"""Each broker (Redis, NATS) carries operations and requests between nodes: two broker
instances on the real service, as two server processes would hold them."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from eventgate.broker import open_broker
from eventgate.broker.memory import MemoryBroker
from tests.broker_node import Node, operation
from tests.conftest import broker_urls


def _params() -> list[Any]:
    return broker_urls() or [pytest.param(None, marks=pytest.mark.skip(reason="needs EVENTGATE_TEST_BROKER_URL"))]


async def _pair(url: str):  # type: ignore[no-untyped-def]
    url = f"{url}{'&' if '?' in url else '?'}prefix=egtest{secrets.token_hex(4)}"
    first, second = open_broker(url), open_broker(url)
    nodes = Node(), Node()
    await first.start(nodes[0])
    await second.start(nodes[1])
    for _ in range(200):
        if await first.is_ready() and await second.is_ready():
            break
        await asyncio.sleep(0.05)
    return (first, second), nodes


@pytest.mark.parametrize("url", _params())
def test_operations_published_by_one_node_reach_the_others_but_not_itself(url):
    async def scenario() -> tuple[list, list]:
        (first, second), (one, two) = await _pair(url)
        try:
            first.publish_operations([operation(1), operation(2)])
            await asyncio.wait_for(two.arrived.wait(), 10)
            await asyncio.sleep(0.2)
            return one.operations, two.operations
        finally:
            await first.stop()
            await second.stop()

    own, other = asyncio.run(scenario())
    assert own == []
    assert [op["seq"] for op in other] == [1, 2]


@pytest.mark.parametrize("url", _params())
def test_a_batch_too_large_for_one_message_arrives_whole(url):
    async def scenario() -> list:
        (first, second), (_, two) = await _pair(url)
        try:
            first.publish_operations([operation(seq, size=20_000) for seq in range(1, 61)])
            while len(two.operations) < 60:
                two.arrived.clear()
                await asyncio.wait_for(two.arrived.wait(), 10)
            return two.operations
        finally:
            await first.stop()
            await second.stop()

    assert [op["seq"] for op in asyncio.run(scenario())] == list(range(1, 61))


@pytest.mark.parametrize("url", _params())
def test_a_request_reaches_its_node_and_returns_the_reply(url):
    async def scenario() -> dict | None:
        (first, second), _ = await _pair(url)
        try:
            return await first.request(second.node_id, {"kind": "unsubscribe", "client_id": "c1"})
        finally:
            await first.stop()
            await second.stop()

    reply = asyncio.run(scenario())
    assert reply == {"result": "ok", "echo": {"kind": "unsubscribe", "client_id": "c1"}}


@pytest.mark.parametrize("url", _params())
def test_a_request_to_a_node_nobody_runs_is_none(url):
    async def scenario() -> dict | None:
        (first, second), _ = await _pair(url)
        try:
            return await first.request("0" * 12, {"kind": "unsubscribe"})
        finally:
            await first.stop()
            await second.stop()

    assert asyncio.run(scenario()) is None


@pytest.mark.parametrize("url", _params())
def test_connecting_counts_as_a_reconnection_so_the_hub_catches_up(url):
    async def scenario() -> int:
        (first, second), (one, _) = await _pair(url)
        await first.stop()
        await second.stop()
        return one.reconnections

    assert asyncio.run(scenario()) >= 1


def test_memory_broker_has_no_other_nodes():
    async def scenario() -> dict | None:
        broker = MemoryBroker()
        await broker.start(Node())
        broker.publish_operations([operation(1)])
        return await broker.request("anyone", {"kind": "unsubscribe"})

    assert asyncio.run(scenario()) is None


def test_unknown_broker_scheme_is_refused():
    with pytest.raises(ValueError, match="redis://"):
        open_broker("kafka://127.0.0.1:9092")
