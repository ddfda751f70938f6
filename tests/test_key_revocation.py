"""A revoked or expired API key ends its open live streams within seconds, on every server
process: a WebSocket closes with 4001 and a reason, an SSE stream sends a final `event: close`
and ends. Key lookups are cached, and revocation still holds: the process that revoked a key
refuses it at once, every other process within the sweep interval (about a second)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from eventgate.domain.times import now_ms
from eventgate.store.database import migrate, open_database
from eventgate.service.keys import KeyDirectory
from eventgate.store.keys import create_key, revoke_key
from eventgate.store.workspaces import create_workspace
from tests.conftest import _backends, broker_urls, fresh_database_url
from tests.live_client import (  # noqa: F401  (fixtures)
    EVENTGATE,
    SSE_PATH,
    ServeProcess,
    both_servers,
    close_code,
    frames_server_factory,
    live,
    live_both,
    subscribe,
    welcome,
)
from tests.processes import client_on, node_ids

KEY_ENDED = 4001
DEADLINE = 15.0  # seconds: generous for a loaded machine; the sweep runs every second


def poll(condition: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def admin_client(base_url: str, admin_key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {admin_key}"})


def new_key(admin: httpx.Client, scopes: tuple[str, ...] = ("subscribe", "events:read")) -> dict[str, Any]:
    reply = admin.post("/admin/keys", json={"user_id": "watcher", "scopes": list(scopes)})
    assert reply.status_code == 201, reply.text
    return reply.json()["data"]


def revoke(admin: httpx.Client, key_id: str) -> None:
    reply = admin.delete(f"/admin/keys/{key_id}")
    assert reply.status_code == 204, reply.text


def cli(database_url: str, *args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "eventgate", *args, "--database-url", database_url, "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def status_of(base_url: str, key: str) -> int:
    return httpx.get(base_url + "/events", headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code


class SseStream:
    """An open SSE subscription read line by line."""

    def __init__(self, reply: httpx.Response) -> None:
        self.reply = reply
        self.lines = reply.iter_lines()

    def messages(self) -> Iterator[dict[str, Any]]:
        current: dict[str, Any] = {}
        for line in self.lines:
            if line == "":
                if "data" in current:
                    yield current
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                current[name] = json.loads(value) if name == "data" else value.strip()

    def welcome(self) -> dict[str, Any]:
        message = next(self.messages())
        assert message["data"]["type"] == "welcome", message
        return message["data"]

    def until_end(self) -> list[dict[str, Any]]:
        """Every message until the server ends the response."""
        return list(self.messages())


@contextlib.contextmanager
def sse(base_url: str, key: str) -> Iterator[SseStream]:
    with httpx.stream("GET", base_url + SSE_PATH, headers={"Authorization": f"Bearer {key}"},
                      timeout=httpx.Timeout(30, read=DEADLINE)) as reply:
        assert reply.status_code == 200, reply.read()
        yield SseStream(reply)


def assert_sse_closed(stream: SseStream, reason: str) -> None:
    messages = stream.until_end()
    assert messages, "the stream ended without a close message"
    last = messages[-1]
    assert last.get("event") == "close", last
    assert last["data"]["code"] == KEY_ENDED and last["data"]["reason"] == reason, last


# -- one server process -------------------------------------------------------------------------


@pytest.fixture
def admin(live) -> Iterator[httpx.Client]:
    with admin_client(live.base_url, live.new_key(("admin",))) as client:
        yield client


def test_admin_revoke_closes_a_websocket_with_4001(live_both):
    with admin_client(live_both.base_url, live_both.new_key(("admin",))) as admin:
        key = new_key(admin)
        with subscribe(live_both.base_url, key["key"]) as ws:
            welcome(ws)
            revoke(admin, key["id"])
            code, reason, _ = close_code(ws, timeout=DEADLINE)
    assert (code, reason) == (KEY_ENDED, "api key revoked")


def test_admin_revoke_ends_an_sse_stream_with_a_close_message(live, admin):
    key = new_key(admin)
    with sse(live.base_url, key["key"]) as stream:
        stream.welcome()
        revoke(admin, key["id"])
        assert_sse_closed(stream, "api key revoked")


def test_revoking_one_key_leaves_other_keys_streams_open(live, admin):
    doomed, kept = new_key(admin), new_key(admin)
    with subscribe(live.base_url, doomed["key"]) as ending, subscribe(live.base_url, kept["key"]) as staying:
        welcome(ending)
        welcome(staying)
        revoke(admin, doomed["id"])
        assert close_code(ending, timeout=DEADLINE)[0] == KEY_ENDED
        event_id = live.create()
        frame = json.loads(staying.recv(timeout=DEADLINE))
        while frame["type"] != "event":
            frame = json.loads(staying.recv(timeout=DEADLINE))
    assert frame["event"]["id"] == event_id


def test_a_cached_key_is_401_at_once_after_an_admin_revoke(live, admin):
    key = new_key(admin)
    assert status_of(live.base_url, key["key"]) == 200
    assert status_of(live.base_url, key["key"]) == 200  # now served from the cache
    revoke(admin, key["id"])
    assert status_of(live.base_url, key["key"]) == 401


def test_a_revoked_key_cannot_open_a_new_stream(live, admin):
    key = new_key(admin)
    with subscribe(live.base_url, key["key"]) as ws:
        welcome(ws)
        revoke(admin, key["id"])
        close_code(ws, timeout=DEADLINE)
    reply = httpx.get(live.base_url + SSE_PATH, headers={"Authorization": f"Bearer {key['key']}"}, timeout=30)
    assert reply.status_code == 401


def test_cli_revoke_from_another_process_closes_websocket_and_sse_streams(live, admin):
    key = new_key(admin)
    database_url = live.server.settings.database_url
    with subscribe(live.base_url, key["key"]) as ws, sse(live.base_url, key["key"]) as stream:
        welcome(ws)
        stream.welcome()
        assert status_of(live.base_url, key["key"]) == 200  # cached
        cli(database_url, "key", "revoke", key["id"], "--workspace", live.workspace_id)
        code, reason, _ = close_code(ws, timeout=DEADLINE)
        assert (code, reason) == (KEY_ENDED, "api key revoked")
        assert_sse_closed(stream, "api key revoked")
    assert poll(lambda: status_of(live.base_url, key["key"]) == 401)


def test_an_expiring_key_closes_its_websocket_at_expiry(live_both):
    key = live_both.new_key(expires_at=now_ms() + 3000)
    with subscribe(live_both.base_url, key) as ws:
        welcome(ws)
        code, reason, _ = close_code(ws, timeout=DEADLINE)
    assert (code, reason) == (KEY_ENDED, "api key expired")
    assert status_of(live_both.base_url, key) == 401


def test_an_expiring_key_ends_its_sse_stream_at_expiry(live):
    key = live.new_key(expires_at=now_ms() + 3000)
    with sse(live.base_url, key) as stream:
        stream.welcome()
        assert_sse_closed(stream, "api key expired")


def test_a_key_created_by_the_cli_with_seconds_of_lifetime_ends_its_stream(live):
    created = cli(live.server.settings.database_url, "key", "create", "--user", "brief", "--scope", "subscribe",
                  "--expires", "3s", "--workspace", live.workspace_id)
    with subscribe(live.base_url, created["key"]) as ws:
        welcome(ws)
        code, reason, _ = close_code(ws, timeout=DEADLINE)
    assert (code, reason) == (KEY_ENDED, "api key expired")


# -- the lookup cache ----------------------------------------------------------------------------


@contextlib.contextmanager
def key_reads(engine: Any) -> Iterator[list[str]]:
    """The statements that look a key up by its hash, as the database receives them."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "api_keys" in statement and "key_hash" in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def test_many_requests_and_connections_with_one_key_read_it_once(live):
    key = live.new_key(("subscribe", "events:read"))
    with key_reads(live.server.runtime.database.reader) as reads:
        for _ in range(10):
            assert status_of(live.base_url, key) == 200
        for _ in range(5):
            with subscribe(live.base_url, key) as ws:
                welcome(ws)
    assert len(reads) == 1


def test_the_cache_holds_at_most_its_bound_and_every_key_still_works(migrated_database):
    with migrated_database.writer.begin() as connection:
        workspace_id = create_workspace(connection, f"cache-{secrets.token_hex(4)}").id
        keys = [create_key(connection, workspace_id, f"u{i}", ("subscribe",))[0] for i in range(5)]
    directory = KeyDirectory(migrated_database, cache_size=3)

    async def look_up_all() -> list[Any]:
        return [await directory.find(key) for key in keys + keys]

    found = asyncio.run(look_up_all())
    assert all(key is not None for key in found)
    assert directory.size == 3


def test_a_key_revoked_elsewhere_is_forgotten_by_the_next_sweep(migrated_database):
    with migrated_database.writer.begin() as connection:
        workspace_id = create_workspace(connection, f"cache-{secrets.token_hex(4)}").id
        plain, record = create_key(connection, workspace_id, "u", ("subscribe",))
    directory = KeyDirectory(migrated_database)

    async def revoke_then_sweep() -> tuple[Any, Any, Any]:
        before = await directory.find(plain)
        with migrated_database.writer.begin() as connection:
            revoke_key(connection, workspace_id, record.id)
        cached = await directory.find(plain)  # still served from this process's cache...
        await directory.sweep()
        return before, cached, await directory.find(plain)  # ...until the sweep

    before, cached, after = asyncio.run(revoke_then_sweep())
    assert before is not None and cached is not None and after is None


# -- a server with several worker processes -----------------------------------------------------

WORKERS = 2


class Deployment:
    """`eventgate serve --workers 2` on a fresh database, with an admin key of its own workspace."""

    def __init__(self, server: ServeProcess, database_url: str, workspace_id: str, admin_key: str) -> None:
        self.server = server
        self.base_url = server.base_url
        self.database_url = database_url
        self.workspace_id = workspace_id
        self.admin_key = admin_key
        self.nodes = node_ids(server.base_url, WORKERS)

    def key(self, **kwargs: Any) -> dict[str, Any]:
        with self.admin_on(self.nodes[0]) as admin:
            return new_key(admin, **kwargs)

    @contextlib.contextmanager
    def admin_on(self, node: str) -> Iterator[httpx.Client]:
        with client_on(self.base_url, node) as client:
            client.headers["Authorization"] = f"Bearer {self.admin_key}"
            yield client

    @contextlib.contextmanager
    def subscriber_on(self, node: str, key: str) -> Iterator[Any]:
        for _ in range(200):
            with subscribe(self.base_url, key) as ws:
                if welcome(ws)["client_id"].startswith(node):
                    yield ws
                    return
        raise AssertionError(f"no subscription reached worker {node}")

    def status_on(self, node: str, key: str) -> int:
        with client_on(self.base_url, node) as client:
            return client.get("/events", headers={"Authorization": f"Bearer {key}"}).status_code


def prepared(database_url: str) -> tuple[str, str]:
    database = open_database(database_url)
    try:
        migrate(database)
        with database.writer.begin() as connection:
            workspace_id = create_workspace(connection, f"rv-{secrets.token_hex(4)}").id
            admin_key = create_key(connection, workspace_id, "root", ("admin",))[0]
    finally:
        database.dispose()
    return workspace_id, admin_key


@pytest.fixture(scope="module", params=_backends())
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if not Path(EVENTGATE).exists():
        pytest.skip("the eventgate command is not installed")
    databases = fresh_database_url(request.param, tmp_path_factory)
    database_url = next(databases)
    workspace_id, admin_key = prepared(database_url)
    server = ServeProcess(database_url, workers=WORKERS,
                          log_path=tmp_path_factory.mktemp("serve") / "serve.log").start()
    try:
        yield Deployment(server, database_url, workspace_id, admin_key)
    finally:
        server.stop()
        databases.close()


def test_admin_revoke_closes_streams_on_every_worker(deployment):
    first, second = deployment.nodes
    key = deployment.key()
    with deployment.subscriber_on(first, key["key"]) as on_first, \
            deployment.subscriber_on(second, key["key"]) as on_second:
        with deployment.admin_on(first) as admin:
            revoke(admin, key["id"])
        assert close_code(on_first, timeout=DEADLINE)[:2] == (KEY_ENDED, "api key revoked")
        assert close_code(on_second, timeout=DEADLINE)[:2] == (KEY_ENDED, "api key revoked")


def test_a_revoked_key_is_401_at_once_where_revoked_and_soon_on_the_other_worker(deployment):
    first, second = deployment.nodes
    key = deployment.key()
    assert deployment.status_on(second, key["key"]) == 200  # cached by the other worker
    with deployment.admin_on(first) as admin:
        assert admin.get("/events", headers={"Authorization": f"Bearer {key['key']}"}).status_code == 200
        revoke(admin, key["id"])
        assert admin.get("/events", headers={"Authorization": f"Bearer {key['key']}"}).status_code == 401
    assert poll(lambda: deployment.status_on(second, key["key"]) == 401)


def test_cli_revoke_closes_streams_on_every_worker(deployment):
    first, second = deployment.nodes
    key = deployment.key()
    with deployment.subscriber_on(first, key["key"]) as on_first, \
            deployment.subscriber_on(second, key["key"]) as on_second:
        cli(deployment.database_url, "key", "revoke", key["id"], "--workspace", deployment.workspace_id)
        assert close_code(on_first, timeout=DEADLINE)[:2] == (KEY_ENDED, "api key revoked")
        assert close_code(on_second, timeout=DEADLINE)[:2] == (KEY_ENDED, "api key revoked")


# -- separate server processes sharing a database and a broker ----------------------------------


def _broker_params() -> list[Any]:
    urls = broker_urls()
    return urls or [pytest.param(None, marks=pytest.mark.skip(reason="needs EVENTGATE_TEST_BROKER_URL"))]


@pytest.mark.parametrize("broker_url", _broker_params(), ids=lambda url: (url or "none").split(":")[0])
def test_revoking_through_one_server_closes_streams_on_another(broker_url, tmp_path_factory):
    if not Path(EVENTGATE).exists():
        pytest.skip("the eventgate command is not installed")
    backend = "postgresql" if "postgresql" in _backends() else "sqlite"
    databases = fresh_database_url(backend, tmp_path_factory)
    database_url = next(databases)
    workspace_id, admin_key = prepared(database_url)
    prefixed = f"{broker_url}{'&' if '?' in broker_url else '?'}prefix=egtest{secrets.token_hex(4)}"
    logs = tmp_path_factory.mktemp("logs")
    first = ServeProcess(database_url, prefixed, log_path=logs / "a.log").start(wait=False)
    second = ServeProcess(database_url, prefixed, log_path=logs / "b.log").start(wait=False)
    try:
        first.wait_ready()
        second.wait_ready()
        with admin_client(first.base_url, admin_key) as admin:
            key = new_key(admin)
            with subscribe(second.base_url, key["key"]) as ws:
                welcome(ws)
                revoke(admin, key["id"])
                assert close_code(ws, timeout=DEADLINE)[:2] == (KEY_ENDED, "api key revoked")
        assert status_of(second.base_url, key["key"]) == 401
    finally:
        first.stop()
        second.stop()
        databases.close()
