"""seq: strictly increasing per workspace in commit order, dense, across concurrent writers (SPEC §1)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from eventgate.store.events import operations_after
from tests.helpers import body_form


def test_seq_is_dense_and_visible_in_commit_order_across_two_writers(server_factory):
    # Two servers on one database behave like two processes: each has its own group-commit writer.
    first, second = server_factory(), server_factory()
    workspace = first.create_workspace()
    channels = [first.create_channel(workspace_id=workspace) for _ in range(2)]
    stop = threading.Event()
    violations: list[str] = []
    seen: list[int] = []

    def watch() -> None:
        cursor = 0
        while True:
            finished = stop.is_set()
            with first.database.reader.connect() as connection:
                batch = [op["seq"] for op in operations_after(connection, workspace, cursor, 10_000)]
            expected = list(range(cursor + 1, cursor + 1 + len(batch)))
            if batch != expected:
                violations.append(f"after {cursor} saw {batch[:5]}…, expected {expected[:5]}…")
                return
            if batch:
                cursor = batch[-1]
                seen.extend(batch)
            if finished:
                return

    def produce(index: int) -> int:
        target = (first, second)[index % 2]
        with httpx.Client(base_url=target.base_url, timeout=30) as client:
            ok = 0
            for n in range(15):
                reply = client.post("/event/create", json=body_form(channels[index % 2], title=f"t{index}-{n}"))
                ok += reply.status_code == 200
            return ok

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        acknowledged = sum(pool.map(produce, range(8)))
    stop.set()
    watcher.join(timeout=60)
    assert not violations, violations
    assert acknowledged == 120
    assert seen == list(range(1, 121))


def test_each_workspace_counts_its_own_seq(server, client):
    workspace = server.create_workspace()
    channel = server.create_channel(workspace_id=workspace)
    for _ in range(3):
        assert client.post("/event/create", json=body_form(channel)).status_code == 200
    with server.database.reader.connect() as connection:
        assert [op["seq"] for op in operations_after(connection, workspace, 0, 100)] == [1, 2, 3]
