"""Fixtures that build real eventgate servers on real sockets over real databases.

Every test that takes `server` (or `database_url`) runs once on SQLite and, when
EVENTGATE_TEST_DATABASE_URL is set, once more on PostgreSQL (a fresh database per session).
Under CI=true the PostgreSQL and broker URLs must be set and reachable: the suite fails
instead of skipping.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from eventgate.api.http_transport import OneWriteHttpProtocol
from eventgate.app import build_app
from eventgate.auth.keys import DEFAULT_SCOPES
from eventgate.auth.passwords import hash_password
from eventgate.config import Settings
from eventgate.store.channels import create_channel
from eventgate.store.database import Database, migrate, normalize_url, open_database
from eventgate.store.keys import create_key
from eventgate.store.workspaces import create_workspace

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_DATABASE_URL = os.environ.get("EVENTGATE_TEST_DATABASE_URL") or None
TEST_BROKER_URL = os.environ.get("EVENTGATE_TEST_BROKER_URL") or None
PASSWORD = "correct-horse-battery"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    default_ports = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "nats": 4222}
    scheme = parts.scheme.split("+")[0]
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_ports[scheme]), 3):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    if not IN_CI:
        return
    missing = [name for name, value in (("EVENTGATE_TEST_DATABASE_URL", TEST_DATABASE_URL),
                                        ("EVENTGATE_TEST_BROKER_URL", TEST_BROKER_URL)) if not value]
    if missing:
        pytest.exit(f"CI=true but {', '.join(missing)} is not set", returncode=3)
    for url in (TEST_DATABASE_URL, *TEST_BROKER_URL.split(",")):  # type: ignore[union-attr]
        if not _reachable(url.strip()):
            pytest.exit(f"CI=true and {url} is unreachable: the suite needs it", returncode=3)


def broker_urls() -> list[str]:
    """Every broker under test (EVENTGATE_TEST_BROKER_URL may list several, comma-separated)."""
    return [u.strip() for u in (TEST_BROKER_URL or "").split(",") if u.strip()]


# -- databases ------------------------------------------------------------------------------


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]


def fresh_postgres_url() -> Iterator[str]:
    """Create an empty database beside EVENTGATE_TEST_DATABASE_URL; drop it afterwards."""
    assert TEST_DATABASE_URL
    base = sa.make_url(normalize_url(TEST_DATABASE_URL))
    name = f"eventgate_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def fresh_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/eventgate.db"
    else:
        yield from fresh_postgres_url()


@pytest.fixture(scope="session", params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from fresh_database_url(request.param, tmp_path_factory)


# -- servers --------------------------------------------------------------------------------


LOOPBACK_DESTINATIONS = "127.0.0.1,::1,localhost"


@dataclass
class RunningServer:
    """A live eventgate on 127.0.0.1 and a handle on its database for test setup."""

    base_url: str
    settings: Settings
    database: Database
    uvicorn_server: uvicorn.Server
    thread: threading.Thread
    app: Any = None
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def client(self, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, timeout=30, **kwargs)
        self._clients.append(client)
        return client

    def create_workspace(self, name: str | None = None) -> str:
        with self.database.writer.begin() as connection:
            return create_workspace(connection, name or f"ws-{secrets.token_hex(4)}").id

    def create_channel(self, password: str = PASSWORD, *, workspace_id: str = "default",
                       name: str = "test") -> str:
        with self.database.writer.begin() as connection:
            return create_channel(connection, workspace_id, name, hash_password(password)).id

    def create_key(self, scopes: tuple[str, ...] = DEFAULT_SCOPES, *, workspace_id: str = "default",
                   user: str = "tester", channels: tuple[str, ...] | None = None,
                   expires_at: int | None = None) -> str:
        with self.database.writer.begin() as connection:
            plain, _ = create_key(connection, workspace_id, user, scopes, channels, expires_at)
        return plain

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self.uvicorn_server.should_exit = True
        self.thread.join(timeout=30)
        self.database.dispose()


def start_server(settings: Settings, **uvicorn_options: Any) -> RunningServer:
    """Run eventgate in a background thread on a free port; returns once it accepts requests.

    Its deliveries may reach loopback (the tests' receivers), unless the settings name an
    allow-list of their own ("" for none)."""
    if settings.destination_allow_list is None:
        settings.destination_allow_list = LOOPBACK_DESTINATIONS
    app = build_app(settings)
    # As `eventgate serve` without --forwarded-allow-ips: no forwarded header is believed.
    uvicorn_options.setdefault("proxy_headers", False)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on",
                            loop="asyncio", http=OneWriteHttpProtocol, access_log=False, **uvicorn_options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="eventgate-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    database = open_database(settings.database_url)
    return RunningServer(f"http://127.0.0.1:{port}", settings, database, server, thread, app)


@pytest.fixture(scope="session")
def server_factory(database_url: str) -> Iterator[Any]:
    """start(**settings) → a RunningServer on the session's database; stopped at the end."""
    started: list[RunningServer] = []

    def start(**overrides: Any) -> RunningServer:
        running = start_server(Settings(database_url=database_url, **overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A real webhook receiver on loopback (tests/webhook_receiver.py)."""
    from tests.webhook_receiver import start_receiver

    running = start_receiver()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def server(server_factory: Any) -> RunningServer:
    return server_factory()


@pytest.fixture
def client(server: RunningServer) -> httpx.Client:
    return server.client()


@pytest.fixture
def channel(server: RunningServer) -> str:
    """A fresh channel in the default workspace, password PASSWORD."""
    return server.create_channel()


@pytest.fixture
def workspace(server: RunningServer) -> str:
    """A fresh workspace of its own."""
    return server.create_workspace()


@pytest.fixture
def api(server: RunningServer, workspace: str) -> httpx.Client:
    """Seed 002: a client of `workspace` whose key has every scope but admin."""
    return server.client(headers={"Authorization": f"Bearer {server.create_key(workspace_id=workspace)}"})


@pytest.fixture
def migrated_database(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    migrate(database)
    yield database
    database.dispose()
