"""SIGTERM with live subscribers: `eventgate serve` ends every SSE stream (a final `event: close`)
and closes every WebSocket with 1012 "service restart" at once, then exits promptly, without
waiting out uvicorn's graceful-shutdown timeout and without a traceback in its log."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.live_client import SSE_PATH, close_code, subscribe, welcome

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
# Not a benchmark: a bound well under uvicorn's 10 s graceful timeout and a container's 10 s stop.
EXIT_BOUND_SECONDS = 3.0

pytestmark = pytest.mark.skipif(not Path(EVENTGATE).exists(), reason="the eventgate command is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _create_key(database_url: str, workdir: Path) -> str:
    # Commands other than serve/migrate never create a database: make it first.
    subprocess.run([EVENTGATE, "migrate", "--database-url", database_url], cwd=workdir, capture_output=True,
                   timeout=60, check=True)
    result = subprocess.run([EVENTGATE, "key", "create", "--user", "watcher", "--database-url", database_url,
                             "--json"], cwd=workdir, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)["key"]


class _SseReader(threading.Thread):
    """Reads one SSE stream to its end, remembering the frames and whether the body ended."""

    def __init__(self, base_url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.base_url, self.key = base_url, key
        self.events: list[tuple[str, dict]] = []
        self.welcomed = threading.Event()
        self.ended = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(5, read=30)) as client, \
                    client.stream("GET", SSE_PATH, headers={"Authorization": f"Bearer {self.key}"}) as reply:
                assert reply.status_code == 200, reply.read()
                name = "message"
                for line in reply.iter_lines():
                    if line.startswith("event:"):
                        name = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line.split(":", 1)[1])
                        self.events.append((name, data))
                        if data.get("type") == "welcome":
                            self.welcomed.set()
                    elif not line:
                        name = "message"
            self.ended.set()  # the body ended cleanly (chunked terminator received)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_closes_live_streams_and_exits_promptly(tmp_path: Path, workers: int) -> None:
    database_url = f"sqlite:///{tmp_path / 'eventgate.db'}"
    key = _create_key(database_url, tmp_path)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [EVENTGATE, "serve", "--port", str(port), "--database-url", database_url, "--workers", str(workers),
             "--log-level", "info"],
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"eventgate serve exited with {process.returncode}: {log_path.read_text()}"
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "eventgate serve did not become ready"
            time.sleep(0.05)

        sse = _SseReader(base_url, key)
        sse.start()
        assert sse.welcomed.wait(20), f"no SSE welcome: {sse.error!r}"
        with subscribe(base_url, key) as ws:
            welcome(ws)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code, reason, _ = close_code(ws, timeout=10)
            ws_closed_after = time.monotonic() - started
            assert sse.ended.wait(10), f"the SSE stream did not end: {sse.error!r}"
            sse_ended_after = time.monotonic() - started
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pytest.fail("eventgate serve still running 10 s after SIGTERM")
            exited_after = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)

    text = log_path.read_text(errors="replace")
    assert code == 1012, (code, reason)
    assert "resume with since" in reason, reason  # the app's own close, not only uvicorn's bare 1012
    assert ws_closed_after < 2.0, ws_closed_after
    assert sse_ended_after < 2.0, sse_ended_after
    assert sse.events[-1][0] == "close", sse.events[-1]
    assert sse.events[-1][1]["code"] == 1012
    assert sse.events[-1][1]["reason"].endswith("resume with Last-Event-ID")
    assert exited_after < EXIT_BOUND_SECONDS, f"exited {exited_after:.1f} s after SIGTERM\n{text}"
    assert "Traceback" not in text and "CancelledError" not in text, text
    assert "timeout graceful shutdown exceeded" not in text, text
