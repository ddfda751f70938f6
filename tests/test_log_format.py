"""`serve --log-format json` (SPEC §12): one JSON object per line for log shippers, with no
secret in any of them (src/eventgate/log_redaction.py).

A real `eventgate serve --log-format json` process, its stderr read line by line; then the
formatter itself on records with arguments, tracebacks and uvicorn's access parts.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from eventgate.log_redaction import JsonFormatter, RedactingFilter, logging_config
from tests.live_client import free_port, prepare_database
from tests.processes import wait_until_serving

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
KEY = "egk_" + "Zx9-Yw8_" * 5


def _lines(text: str) -> list[dict]:
    """Every line parsed as one JSON object (fails naming the first line that is not)."""
    parsed = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\nin:\n{text}") from None
        assert isinstance(entry, dict), line
        parsed.append(entry)
    return parsed


@pytest.mark.skipif(not Path(EVENTGATE).exists(), reason="the eventgate command is not installed")
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_logs_one_json_object_per_line_and_no_secret(workers, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'eventgate.db'}"
    _, key = prepare_database(database_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stderr_path, stdout_path = tmp_path / "stderr.log", tmp_path / "stdout.log"
    with open(stderr_path, "wb") as stderr, open(stdout_path, "wb") as stdout:
        process = subprocess.Popen(
            [EVENTGATE, "serve", "--port", str(port), "--workers", str(workers), "--database-url", database_url,
             "--log-format", "json", "--log-level", "info"],
            cwd=tmp_path, stdout=stdout, stderr=stderr)
    try:
        wait_until_serving(process, base, stderr_path)
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/whoami", params={"token": key}).status_code in (200, 401)
            assert client.get("/whoami", params={"token": KEY}).status_code == 401
        with connect(f"ws://127.0.0.1:{port}/api/v1/ws/subscribe?token={key}") as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
    finally:
        process.terminate()
        process.wait(30)

    text = stderr_path.read_text()
    entries = _lines(text)
    _lines(stdout_path.read_text())  # the access handler's stream, should anything be written there
    for secret in (key, key.removeprefix("egk_"), KEY, KEY.removeprefix("egk_")):
        assert secret not in text
    for entry in entries:
        assert {"time", "level", "logger", "message", "pid"} <= set(entry), entry
        assert datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    messages = [entry["message"] for entry in entries]
    summaries = [m for m in messages if m.startswith("eventgate ready: dashboard http://")]
    assert len(summaries) == workers, messages
    # The WebSocket handshake line was logged, its key redacted.
    assert any("/api/v1/ws/subscribe?token=***" in m for m in messages), messages


def _record(msg, args=(), *, name="uvicorn.error", level=logging.INFO, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def _json(record: logging.LogRecord) -> dict:
    assert RedactingFilter().filter(record) is True
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)


def test_a_json_line_has_the_rendered_redacted_message_and_its_context():
    entry = _json(_record("%s opened %s", ("alice", f"/x?token={KEY}&since=3"), level=logging.WARNING))
    assert entry["message"] == "alice opened /x?token=***&since=3"
    assert entry["level"] == "WARNING" and entry["logger"] == "uvicorn.error"
    assert isinstance(entry["pid"], int)
    assert entry["time"].endswith("Z")


def test_a_json_line_carries_the_redacted_traceback():
    try:
        raise ValueError(f"bad key {KEY}\nsecond line password=hunter22")
    except ValueError:
        entry = _json(_record("failed", exc_info=sys.exc_info(), level=logging.ERROR))
    assert entry["message"] == "failed"
    assert "ValueError: bad key ***" in entry["exception"] and "password=***" in entry["exception"]
    assert KEY not in json.dumps(entry) and "hunter22" not in json.dumps(entry)


def test_an_access_line_gives_its_parts_redacted():
    record = _record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET", f"/events?token={KEY}", "1.1", 200),
                     name="uvicorn.access")
    entry = _json(record)
    assert entry["path"] == "/events?token=***" and entry["status"] == 200 and entry["method"] == "GET"
    assert KEY not in json.dumps(entry)


def test_the_json_config_formats_every_handler_with_the_filter_still_on():
    config = logging_config("info", "json")
    assert {formatter["()"] for formatter in config["formatters"].values()} == \
        {"eventgate.log_redaction.JsonFormatter"}
    assert all("redact_secrets" in handler["filters"] for handler in config["handlers"].values())
    assert logging_config("info", "text")["formatters"]["default"]["()"] == "uvicorn.logging.DefaultFormatter"
    with pytest.raises(ValueError):
        logging_config("info", "xml")
