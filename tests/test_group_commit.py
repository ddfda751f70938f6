"""The store's durability settings and group commit (many requests, one transaction)."""

from __future__ import annotations

import asyncio

import pytest

from eventgate.metrics import registry
from eventgate.store.database import open_database
from tests.helpers import body_form


def _histogram(name: str) -> tuple[float, float]:
    count = registry.get_sample_value(f"{name}_count") or 0.0
    total = registry.get_sample_value(f"{name}_sum") or 0.0
    return count, total


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path):
    database = open_database(f"sqlite:///{tmp_path}/x.db")
    with database.writer.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    database.dispose()


def test_default_database_lives_under_data(tmp_path, monkeypatch):
    from eventgate.config import Settings

    monkeypatch.chdir(tmp_path)
    database = open_database(Settings().database_url)
    with database.writer.connect():
        pass
    database.dispose()
    assert (tmp_path / "data" / "eventgate.db").exists()


def test_concurrent_requests_share_transactions(server, channel):
    import httpx

    batches_before, requests_before = _histogram("eventgate_write_batch_size")

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30,
                                     limits=httpx.Limits(max_connections=100)) as client:
            replies = await asyncio.gather(*(client.post("/event/create", json=body_form(channel))
                                             for _ in range(200)))
        return [r.status_code for r in replies]

    statuses = asyncio.run(burst())
    assert statuses == [200] * 200
    batches_after, requests_after = _histogram("eventgate_write_batch_size")
    requests = requests_after - requests_before
    batches = batches_after - batches_before
    assert requests == 200
    assert batches < requests, f"{batches} transactions for {requests} requests: nothing was grouped"


@pytest.mark.parametrize("kinds", [("create", "update", "close")])
def test_operations_in_one_batch_see_each_other(server, channel, kinds):
    """A create and its update landing in the same transaction must apply in order."""
    import httpx

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            path = f"/v1/channel/{channel}/event"
            password = body_form(channel)["password"]
            return await asyncio.gather(
                client.post(f"{path}/create", json={"password": password, "event_type": "t", "event_id": "same-batch"}),
                *(client.post(f"{path}/update", json={"password": password, "event_id": "same-batch",
                                                      "attrs": {f"k{i}": i}}) for i in range(5)),
            )

    replies = asyncio.run(run())
    assert replies[0].status_code == 200
    # Updates that raced ahead of the create are 404; the others were applied after it.
    applied = [r for r in replies[1:] if r.status_code == 200]
    assert all(r.status_code in (200, 404) for r in replies[1:])
    key = server.create_key(("events:read",))
    event = server.client().get("/events/same-batch", headers={"X-Api-Key": key}).json()["data"]
    assert len(event["attrs"]) == len(applied)
