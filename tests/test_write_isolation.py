"""One request's fault stays that request's: a request the store refuses fails alone (4xx) while
its batch-mates commit, and a writer thread that dies is started again.

The refusal is real: a trigger in the test's database rejects one title, the way a constraint
or a driver would reject data, so the group commit sees a genuine IntegrityError mid-batch.
"""

from __future__ import annotations

import asyncio
import ctypes
import secrets
import time

import httpx
import pytest

from eventgate.metrics import registry
from tests.helpers import body_form


def _install_poison(server, marker: str) -> None:
    with server.database.writer.begin() as connection:
        if server.database.is_sqlite:
            connection.exec_driver_sql(
                f"CREATE TRIGGER poison_{marker} BEFORE INSERT ON events WHEN NEW.title = 'poison-{marker}' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned title'); END")
        else:
            connection.exec_driver_sql(
                f"CREATE FUNCTION poison_{marker}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.title = 'poison-{marker}' THEN RAISE EXCEPTION 'poisoned title' "
                "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$")
            connection.exec_driver_sql(
                f"CREATE TRIGGER poison_{marker} BEFORE INSERT ON events FOR EACH ROW "
                f"EXECUTE FUNCTION poison_{marker}()")


def _remove_poison(server, marker: str) -> None:
    with server.database.writer.begin() as connection:
        if server.database.is_sqlite:
            connection.exec_driver_sql(f"DROP TRIGGER poison_{marker}")
        else:
            connection.exec_driver_sql(f"DROP TRIGGER poison_{marker} ON events")
            connection.exec_driver_sql(f"DROP FUNCTION poison_{marker}()")


@pytest.fixture
def poisoned_title(server):
    marker = secrets.token_hex(4)
    _install_poison(server, marker)
    yield f"poison-{marker}"
    _remove_poison(server, marker)


def _refusals(reason: str) -> float:
    return registry.get_sample_value("eventgate_write_refusals_total", {"reason": reason}) or 0.0


async def _burst(base_url: str, bodies: list[dict]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=100)) as client:
        return await asyncio.gather(*(client.post("/event/create", json=body) for body in bodies))


def test_a_request_the_store_refuses_fails_alone_and_its_batch_mates_commit(server, channel, poisoned_title):
    refused_before = _refusals("store_rejected")
    for _ in range(3):  # several bursts, so the poison lands in batches with others
        bodies = [body_form(channel, title=f"clean {i}") for i in range(32)]
        bodies.insert(16, body_form(channel, title=poisoned_title))
        replies = asyncio.run(_burst(server.base_url, bodies))
        poisoned = replies.pop(16)
        assert poisoned.status_code == 400, poisoned.text
        assert poisoned.json()["error_code"] == "store_rejected"
        assert [r.status_code for r in replies] == [200] * 32
        key = server.create_key(("events:read",))
        for reply in replies[:4]:
            event_id = reply.json()["data"]["event_id"]
            assert server.client().get(f"/events/{event_id}", headers={"X-Api-Key": key}).status_code == 200
    assert _refusals("store_rejected") - refused_before == 3


def test_a_refused_request_is_not_retried_as_unavailable(server, client, channel, poisoned_title):
    """The store refusing data is the request's fault: a 4xx, never a 503 that invites retries."""
    reply = client.post("/event/create", json=body_form(channel, title=poisoned_title))
    assert reply.status_code == 400
    assert "Retry-After" not in reply.headers


def _kill_thread(thread) -> None:
    """Raise SystemExit inside the thread (it leaves at its next Python instruction)."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(SystemExit))
    assert done == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_writer_thread_is_started_again(server_factory):
    server = server_factory(write_timeout=2.0)
    channel = server.create_channel()
    client = server.client()
    writer = server.runtime.writer
    dead = writer._thread
    _kill_thread(dead)
    # The thread sleeps in the queue; the next write wakes it and it dies holding that write,
    # which is answered at its deadline.
    first = client.post("/event/create", json=body_form(channel))
    assert first.status_code in (200, 503), first.text
    dead.join(timeout=10)
    assert not dead.is_alive()
    deadline = time.monotonic() + 10
    while writer.restarts == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.restarts >= 1
    reply = client.post("/event/create", json=body_form(channel))
    assert reply.status_code == 200, reply.text
    assert client.get("/readyz").json()["checks"]["writer"] is True
