"""The Python client (eventgate.client) against real servers: the lifecycle round trip, retries
that reuse one op_id through real faults (a lost answer, a 502 from a proxy, a restarted
server), refusals, the async client, and the live stream's resume (SPEC §9)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest

from eventgate.client import AsyncClient, Client, EventgateError, Gap, ServerUnavailable, StreamEnded
from tests.conftest import PASSWORD
from tests.live_client import LiveWorkspace, ServeProcess, close, free_port, live, prepare_database  # noqa: F401
from tests.tcp_proxy import proxy_to


def client_for(live: LiveWorkspace, url: str | None = None, **options: Any) -> Client:
    return Client(url or live.base_url, channel=live.channel, password=PASSWORD, key=live.key, **options)


def async_client_for(live: LiveWorkspace, **options: Any) -> AsyncClient:
    return AsyncClient(live.base_url, channel=live.channel, password=PASSWORD, key=live.key, **options)


def stored_operations(live: LiveWorkspace, event_id: str) -> list[dict[str, Any]]:
    with client_for(live) as client:
        return client.timeline(event_id)


def event_count(live: LiveWorkspace) -> int:
    reply = httpx.get(live.base_url + "/events", params={"limit": 500},
                      headers={"Authorization": f"Bearer {live.key}"}, timeout=30)
    assert reply.status_code == 200, reply.text
    return len(reply.json()["data"])


# -- writing and reading ----------------------------------------------------------------------


def test_create_update_close_round_trip_is_visible_through_get_and_the_timeline(live):
    with client_for(live) as client:
        event_id = client.create(title="Nightly backup", message="copying /srv", severity="high",
                                 tags=["backup"], attrs={"host": "nas"})
        created = client.get(event_id)
        assert (created["title"], created["subtitle"], created["severity"], created["topics"]) == \
            ("Nightly backup", "copying /srv", "high", ["backup"])
        assert created["state"] == "ongoing" and created["status"] == "ongoing"

        assert client.update(event_id, message="copying /home", attrs={"files": 120}) == event_id
        updated = client.get(event_id)
        assert updated["subtitle"] == "copying /home"
        assert updated["severity"] == "high"  # what an update leaves out keeps its value
        assert updated["context"] == {"host": "nas", "files": 120}

        assert client.close(event_id, message="done") == event_id
        closed = client.get(event_id)
        assert closed["state"] == "closed" and closed["status"] == "closed"
        timeline = client.timeline(event_id)
    assert [op["kind"] for op in timeline] == ["create", "update", "close"]
    assert [op["seq"] for op in timeline] == sorted(op["seq"] for op in timeline)


def test_send_returns_the_op_id_the_server_stored(live):
    with client_for(live) as client:
        receipt = client.send("create", title="Door open")
        assert receipt.op_id.startswith("op-") and receipt.channel_id == live.channel
        assert [op["op_id"] for op in client.timeline(receipt.event_id)] == [receipt.op_id]


def test_create_with_an_event_type_registers_and_stores_it(live):
    with client_for(live) as client:
        event_id = client.create(event_type="door_open", title="Front door", severity="low")
        event = client.get(event_id)
    assert event["event_type"] == "door_open" and event["title"] == "Front door" and event["severity"] == "low"


def test_an_op_id_chosen_by_the_caller_makes_a_repeat_a_replay(live):
    with client_for(live) as client:
        first = client.create(title="Deploy", op_id="deploy-42", event_time=1_800_000_000)
        again = client.create(title="Deploy", op_id="deploy-42", event_time=1_800_000_000)
        assert first == again
        assert len(client.timeline(first)) == 1


# -- retries: one op_id, never stored twice ---------------------------------------------------


def test_an_answer_lost_after_the_commit_is_retried_with_the_same_op_id_and_stored_once(live):
    before = event_count(live)
    with proxy_to(live.base_url) as proxy, client_for(live, proxy.base_url, retries=5) as client:
        proxy.answers_to_drop = 1
        event_id = client.create(title="Lost answer")
        assert proxy.answers_dropped == 1
        proxy.answers_to_drop = 1
        client.close(event_id, message="closed through a lost answer")
        assert proxy.answers_dropped == 2
    assert event_count(live) == before + 1
    operations = stored_operations(live, event_id)
    assert [op["kind"] for op in operations] == ["create", "close"]


def test_a_502_from_a_proxy_without_its_upstream_is_retried_until_it_is_back(live):
    with proxy_to(live.base_url) as proxy, client_for(live, proxy.base_url, retries=8) as client:
        proxy.upstream_down = True
        threading.Timer(1.0, lambda: setattr(proxy, "upstream_down", False)).start()
        started = time.monotonic()
        event_id = client.create(title="Through a proxy")
        assert time.monotonic() - started >= 0.9
    assert len(stored_operations(live, event_id)) == 1


def test_a_server_stopped_then_restarted_between_attempts_gets_the_write_once(database_url, tmp_path):
    channel, key = prepare_database(database_url)
    server = ServeProcess(database_url, port=free_port(), log_path=tmp_path / "serve.log").start()
    try:
        with Client(server.base_url, channel=channel, password=PASSWORD, key=key, retries=12) as client:
            event_id = client.create(title="Before the restart")
            server.stop()
            restart = threading.Timer(1.0, server.start)
            restart.start()
            assert client.update(event_id, message="while it restarted") == event_id
            restart.join()
            assert [op["kind"] for op in client.timeline(event_id)] == ["create", "update"]
    finally:
        server.stop()


def test_exhausted_retries_raise_server_unavailable():
    with Client(f"http://127.0.0.1:{free_port()}", channel="06J0FZG1Y8XGG14VTQ4Y3G10MR", password=PASSWORD,
                retries=2) as client:
        with pytest.raises(ServerUnavailable) as raised:
            client.create(title="Nobody listens")
    assert raised.value.code == "server_unavailable" and "3 attempts" in raised.value.message
    assert isinstance(raised.value, EventgateError)


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("call,status,code", [
    (lambda c, _: Client(c.url, channel=c.channel, password="wrong-password").create(title="x"), 403,
     "password_mismatch"),
    (lambda c, _: c.update("no-such-event", message="x"), 404, "event_not_found"),
    (lambda c, _: c.create(message="no title"), 400, "title_required"),
    (lambda c, _: c.create(title="x", colour="red"), 400, "unknown_field"),
    (lambda c, e: c.close(e), 409, "event_closed"),
    (lambda c, _: c.get("no-such-event"), 404, "event_not_found"),
    (lambda c, e: Client(c.url, key="egk_wrong").get(e), 401, None),
])
def test_refusals_raise_with_the_status_code_and_message_of_the_server(live, call, status, code):
    with client_for(live, retries=0) as client:
        closed = client.create(title="Already closed")
        client.close(closed)
        with pytest.raises(EventgateError) as raised:
            call(client, closed)
    error = raised.value
    assert not isinstance(error, ServerUnavailable)
    assert error.status == status and error.message
    if code:
        assert error.code == code
    assert PASSWORD not in str(error)


def test_a_refusal_is_not_retried(live):
    sent = []
    with client_for(live, retries=5) as client:
        client._http.event_hooks["request"].append(sent.append)  # every request that leaves the client
        with pytest.raises(EventgateError):
            client.update("no-such-event", message="x")
    assert len(sent) == 1


def test_reading_without_a_key_says_so(live):
    with Client(live.base_url) as client, pytest.raises(EventgateError) as raised:
        client.get("anything")
    assert raised.value.code == "key_required"


def test_the_repr_shows_no_secret(live):
    text = repr(client_for(live, token="gateway-secret"))
    assert PASSWORD not in text and live.key not in text and "gateway-secret" not in text


# -- the async client -------------------------------------------------------------------------


def test_async_client_round_trip_and_subscribe(live):
    async def scenario() -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        async with async_client_for(live) as client:
            event_id = await client.create(title="Async", severity="critical")
            await client.update(event_id, status="investigating")
            await client.close(event_id)
            seen = []
            async for frame in client.subscribe(since=0):
                seen.append(frame)
                if len(seen) == 3:
                    break
            return event_id, seen, await client.get(event_id)

    event_id, seen, event = asyncio.run(scenario())
    assert [(f["event_type"], f["event"]["id"]) for f in seen] == [
        ("event_created", event_id), ("event_updated", event_id), ("event_closed", event_id)]
    assert event["state"] == "closed" and event["severity"] == "critical"


def test_async_client_retries_a_lost_answer_with_the_same_op_id(live):
    async def scenario(url: str) -> str:
        async with AsyncClient(url, channel=live.channel, password=PASSWORD, retries=5) as client:
            return await client.create(title="Async lost answer")

    with proxy_to(live.base_url) as proxy:
        proxy.answers_to_drop = 1
        event_id = asyncio.run(scenario(proxy.base_url))
        assert proxy.answers_dropped == 1
    assert len(stored_operations(live, event_id)) == 1


def test_async_client_raises_server_unavailable():
    async def scenario() -> None:
        async with AsyncClient(f"http://127.0.0.1:{free_port()}", channel="c", password=PASSWORD,
                               retries=1) as client:
            await client.create(title="x")

    with pytest.raises(ServerUnavailable):
        asyncio.run(scenario())


# -- the live stream --------------------------------------------------------------------------


class Collector(threading.Thread):
    """Iterates a subscription in a thread, keeping every item and the error that ended it."""

    def __init__(self, items: Any, limit: int | None = None) -> None:
        super().__init__(daemon=True)
        self.source = items
        self.limit = limit  # stop (and close the subscription) after this many items
        self.items: list[Any] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for item in self.source:
                self.items.append(item)
                if self.limit is not None and len(self.items) >= self.limit:
                    break
        except BaseException as error:  # noqa: BLE001 — handed to the test
            self.error = error
        finally:
            self.source.close()

    def seqs(self) -> list[int]:
        return [item["seq"] for item in self.items if isinstance(item, dict)]

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seqs()) < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {self.seqs()}"
            time.sleep(0.02)


def test_subscribe_resumes_after_every_connection_is_cut_without_loss_or_duplicates(live):
    with proxy_to(live.base_url) as proxy, client_for(live, proxy.base_url) as client:
        for _ in range(3):
            live.create()
        collector = Collector(client.subscribe(since=0), limit=15)
        collector.start()
        collector.wait_for(3)
        for round_number in range(3):
            assert proxy.drop_connections() >= 1
            for _ in range(4):  # written while the subscriber is away, or while it reconnects
                live.create()
            collector.wait_for(3 + 4 * (round_number + 1))
        proxy.stop()
    assert collector.seqs() == list(range(1, 16))


def test_subscribe_resumes_after_the_server_is_restarted(database_url, tmp_path):
    channel, key = prepare_database(database_url)
    server = ServeProcess(database_url, port=free_port(), log_path=tmp_path / "serve.log").start()
    try:
        with Client(server.base_url, channel=channel, password=PASSWORD, key=key, retries=12) as client:
            collector = Collector(client.subscribe(since=0, channel_id=channel), limit=3)  # the database is shared
            collector.start()
            first = client.create(title="one")
            collector.wait_for(1)
            server.kill()  # a crash: no close frame
            server.start()
            client.update(first, message="two")
            client.close(first, message="three")
            collector.wait_for(3)
    finally:
        server.stop()
    seqs = collector.seqs()
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    assert [item["event_type"] for item in collector.items] == ["event_created", "event_updated", "event_closed"]


def test_subscribe_without_since_starts_from_now_and_filters(live):
    live.create(title="before the subscription")
    with client_for(live) as client:
        items = client.subscribe(severity="high")
        collector = Collector(items, limit=1)
        collector.start()
        time.sleep(0.5)  # let it connect: only what follows its welcome is shown
        live.create(title="too low", severity="low")
        wanted = live.create(title="high enough", severity="critical")
        collector.wait_for(1)
    assert [item["event"]["id"] for item in collector.items] == [wanted]


def test_subscribe_yields_a_gap_where_retention_removed_operations(live):
    from tests.test_retention import age, retain

    first = live.create(title="A")  # seq 1, removed
    second = live.create(title="B")  # seq 2
    close(live.client, live.channel, first)  # seq 3, removed
    live.create(title="C")  # seq 4
    age(live.server.database, live.workspace_id, [first])
    retain(live)
    with client_for(live) as client:
        items = []
        for item in client.subscribe(since=0):
            items.append(item)
            if isinstance(item, dict) and item["seq"] == 4:
                break
    assert items[0] == Gap(after_seq=0, through_seq=3)
    assert [(item["seq"], item["event"]["id"]) for item in items[1:]] == [(2, second), (4, items[2]["event"]["id"])]


def test_subscribe_raises_stream_ended_when_its_key_is_revoked(live):
    admin = live.server.client(headers={"Authorization": f"Bearer {live.new_key(('admin',))}"})
    created = admin.post("/admin/keys", json={"user_id": "watcher", "scopes": ["subscribe"]})
    assert created.status_code == 201, created.text
    key = created.json()["data"]
    with Client(live.base_url, key=key["key"]) as client:
        collector = Collector(client.subscribe())
        collector.start()
        live.create()
        collector.wait_for(1)
        assert admin.delete(f"/admin/keys/{key['id']}").status_code == 204
        collector.join(30)
    assert not collector.is_alive()
    assert isinstance(collector.error, StreamEnded), collector.error
    assert "revoked" in collector.error.message


def test_subscribe_with_a_bad_key_raises_at_once(live):
    with Client(live.base_url, key="egk_wrong") as client, pytest.raises(EventgateError) as raised:
        next(iter(client.subscribe()))
    assert raised.value.status == 401 and not isinstance(raised.value, StreamEnded)


def test_subscribe_gives_up_after_the_time_it_was_given():
    with Client(f"http://127.0.0.1:{free_port()}", key="egk_any") as client, pytest.raises(ServerUnavailable):
        next(iter(client.subscribe(give_up_after=1)))
