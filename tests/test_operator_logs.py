"""What an operator reads in the log of `eventgate serve`: one clear line when the database cannot
be opened (no traceback, never the password), no ERROR line for a refused WebSocket, and one
start-up summary line naming the listening URL, database, broker, workers and strict types."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.processes import stop

EVENTGATE = shutil.which("eventgate", path=str(Path(sys.executable).parent)) or "eventgate"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), 3):
            return True
    except OSError:
        return False


needs_postgres = pytest.mark.skipif(not _postgres_reachable(), reason="no PostgreSQL at 127.0.0.1:5432")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_until_exit(database_url: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`eventgate serve --workers 1` that is expected to refuse to start."""
    return subprocess.run(
        [EVENTGATE, "serve", "--workers", "1", "--port", str(_free_port()), "--database-url", database_url, *extra],
        cwd=workdir, capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"},
    )


class _Server:
    def __init__(self, database_url: str, workdir: Path) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "serve.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [EVENTGATE, "serve", "--workers", "1", "--port", str(self.port), "--database-url", database_url],
            cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"serve exited {self.process.returncode}:\n{self.output()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.05)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        stop(self.process)
        self._log.close()
        return self.output()


@contextlib.contextmanager
def _serving(database_url: str, workdir: Path) -> Iterator[_Server]:
    server = _Server(database_url, workdir)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def _fresh_postgres_database() -> Iterator[str]:
    import psycopg

    name = f"eventgate_logs_{secrets.token_hex(4)}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _lines_mentioning(output: str, word: str) -> list[str]:
    return [line for line in output.splitlines() if word in line]


# -- the database cannot be opened -------------------------------------------------------------


@needs_postgres
def test_a_missing_postgresql_database_is_one_line_without_traceback(tmp_path: Path) -> None:
    name = f"no_such_db_{secrets.token_hex(4)}"
    result = _serve_until_exit(f"postgresql://postgres:hunter2@127.0.0.1:5432/{name}", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert "hunter2" not in output, output
    mentions = _lines_mentioning(output, name)
    assert mentions, output
    assert any("does not exist" in line and "cannot open the database" in line for line in mentions), output
    assert len(output.strip().splitlines()) <= 3, output


def test_a_database_of_a_newer_eventgate_is_one_line_without_traceback(tmp_path: Path) -> None:
    """The database opens but cannot be migrated (it was written by a newer eventgate)."""
    import sqlite3

    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('9999')")
    for workers in ("1", "2"):
        result = subprocess.run(
            [EVENTGATE, "serve", "--workers", workers, "--port", str(_free_port()), "--database-url",
             f"sqlite:///{path}"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "Traceback" not in output, output
        assert any("cannot migrate the database" in line and "9999" in line for line in output.splitlines()), output
        assert len(output.strip().splitlines()) <= 3, output


def test_an_unsupported_scheme_is_one_clear_line(tmp_path: Path) -> None:
    result = _serve_until_exit("mysql://x", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output and "ModuleNotFoundError" not in output, output
    assert any("sqlite:///" in line and "postgresql://" in line and "mysql://x" in line
               for line in output.splitlines()), output
    assert len(output.strip().splitlines()) <= 3, output


def test_an_unreachable_postgresql_server_is_one_line(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    result = _serve_until_exit(f"postgresql://postgres:hunter2@127.0.0.1:{port}/eventgate", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output and "hunter2" not in output, output
    assert any("cannot open the database" in line for line in output.splitlines()), output


def test_the_migrate_command_names_an_unsupported_scheme(tmp_path: Path) -> None:
    result = subprocess.run([EVENTGATE, "migrate", "--database-url", "mysql://x"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "ModuleNotFoundError" not in output, output
    assert "sqlite:///" in output, output


# -- a refused WebSocket ------------------------------------------------------------------------


def _websocket_upgrade(port: int, path: str) -> bytes:
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(request.encode())
        sock.settimeout(10)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk


def test_a_refused_websocket_logs_no_handshake_error(tmp_path: Path) -> None:
    with _serving(f"sqlite:///{tmp_path}/eventgate.db", tmp_path) as server:
        reply = _websocket_upgrade(server.port, "/api/v1/ws/subscribe?token=egk_wrong")
        assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
        assert b'"code"' in reply, reply  # the seed-004 error body, not uvicorn's 500
        time.sleep(0.3)
        output = server.output()
    assert "ASGI callable returned without completing handshake" not in output, output
    assert "ERROR" not in output, output


# -- the start-up summary -----------------------------------------------------------------------


@needs_postgres
def test_the_start_up_summary_names_the_database_without_its_password(tmp_path: Path) -> None:
    with _fresh_postgres_database() as name:
        url = f"postgresql://postgres:hunter2@127.0.0.1:5432/{name}"
        with _serving(url, tmp_path) as server:
            output = server.output()
            port = server.port
    assert "hunter2" not in output, output
    summary = [line for line in output.splitlines() if "eventgate ready" in line]
    assert len(summary) == 1, output
    line = summary[0]
    assert f"dashboard http://127.0.0.1:{port}/" in line, line
    assert f"127.0.0.1:5432/{name}" in line, line
    assert "broker memory" in line, line
    assert "workers 1" in line, line
    assert "strict event types off" in line, line


def test_the_start_up_summary_of_sqlite(tmp_path: Path) -> None:
    with _serving(f"sqlite:///{tmp_path}/eventgate.db", tmp_path) as server:
        output = server.output()
    summary = [line for line in output.splitlines() if "eventgate ready" in line]
    assert len(summary) == 1, output
    assert f"sqlite:///{tmp_path}/eventgate.db" in summary[0], summary[0]
    assert "broker memory" in summary[0] and "workers 1" in summary[0], summary[0]
