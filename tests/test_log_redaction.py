"""No secret reaches a log line, at any level, in either format (src/eventgate/log_redaction.py).

A real `eventgate serve` at `--log-level debug` and `info` (debug again with `--log-format
json`) is given API keys (in a WebSocket query, Authorization and X-Api-Key headers), a cookie,
a channel password and a gateway token;
its log must hold none of them, yet hold the redacted lines that would have carried them.
Then the filter itself, on records with %-style args, tracebacks and uvicorn's access records.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from eventgate.log_redaction import RedactingFilter, logging_config, redact
from tests.processes import wait_until_serving

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
PASSWORD = "channel-password-Zq81"
GATEWAY_TOKEN = "gateway-token-Xv42"
COOKIE = "session-cookie-Pw93"


def _cli(*args: str) -> dict:
    result = subprocess.run([EVENTGATE, *args, "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not Path(EVENTGATE).exists(), reason="the eventgate command is not installed")
@pytest.mark.parametrize("level,log_format", [("debug", "text"), ("info", "text"), ("debug", "json")])
def test_serve_logs_no_secret(level, log_format, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'eventgate.sqlite'}"
    subprocess.run([EVENTGATE, "migrate", "--database-url", database_url], check=True, capture_output=True,
                   timeout=120)
    key = _cli("key", "create", "--user", "alice", "--database-url", database_url)["key"]
    other_key = _cli("key", "create", "--user", "bob", "--database-url", database_url)["key"]
    channel = _cli("channel", "create", "--name", "n", "--password", PASSWORD, "--database-url",
                   database_url)["channel_id"]
    secrets = [key, key.removeprefix("egk_"), other_key, other_key.removeprefix("egk_"), PASSWORD, GATEWAY_TOKEN,
               COOKIE]

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [EVENTGATE, "serve", "--port", str(port), "--workers", "1", "--database-url", database_url,
             "--gateway-token", GATEWAY_TOKEN, "--log-level", level, "--log-format", log_format],
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(process, base, log_path)

        headers = {"Authorization": f"Bearer {other_key}", "X-Api-Key": other_key, "Cookie": f"s={COOKIE}",
                   "Proxy-Authorization": f"Bearer {GATEWAY_TOKEN}"}
        with connect(f"ws://127.0.0.1:{port}/api/v1/ws/subscribe?token={key}", additional_headers=headers) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/whoami", headers={"Authorization": f"Bearer {key}"}).status_code == 200
            assert client.get("/whoami", headers={"X-Api-Key": key}).status_code == 200
            assert client.get("/whoami", params={"token": key, "password": PASSWORD},
                              headers={"Cookie": f"s={COOKIE}"}).status_code == 401
            reply = client.post("/event/create", headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"},
                                json={"channel_id": channel, "password": PASSWORD, "title": "t", "status": "ongoing",
                                      "message": "m", "severity": "high", "event_time": int(time.time())})
            assert reply.status_code == 200, reply.text
            reply = client.post("/event/create", headers={"Authorization": "Bearer wrong-gateway-token"},
                                json={"channel_id": channel, "password": PASSWORD})
            assert reply.status_code == 401
    finally:
        process.terminate()
        process.wait(30)

    text = log_path.read_text()
    for secret in secrets:
        assert secret not in text, f"{secret!r} was logged:\n{text}"
    if log_format == "json":  # the same lines, as JSON: what they say is in their message
        entries = [json.loads(line) for line in text.splitlines()]
        text = "\n".join(entry["message"] + "\n" + entry.get("exception", "") for entry in entries)
    for secret in secrets:
        assert secret not in text, f"{secret!r} was logged:\n{text}"
    assert "wrong-gateway-token" not in text
    # The lines were logged, redacted.
    assert '"WebSocket /api/v1/ws/subscribe?token=***" [accepted]' in text, text
    if level == "debug":
        assert "< GET /api/v1/ws/subscribe?token=*** HTTP/1.1" in text, text
        for name in ("authorization", "x-api-key", "cookie", "proxy-authorization"):
            assert f"< {name}: ***" in text, text


def _record(msg, args=(), *, exc_info=None, name="uvicorn.error", **extra) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def _emit(record: logging.LogRecord, formatter: logging.Formatter | None = None) -> str:
    assert RedactingFilter().filter(record) is True
    return (formatter or logging.Formatter("%(message)s")).format(record)


KEY = "egk_" + "A1b2-C3d4_" * 4


def test_the_filter_redacts_after_formatting_percent_args():
    record = _record('%s - "WebSocket %s" [%s]', ("127.0.0.1:5", f"/api/v1/ws/subscribe?token={KEY}&since=4",
                                                  "accepted"))
    assert _emit(record) == '127.0.0.1:5 - "WebSocket /api/v1/ws/subscribe?token=***&since=4" [accepted]'
    # A secret split between the format and an argument.
    record = _record("< %s: %s", ("authorization", "Bearer gw-secret-1"))
    assert _emit(record) == "< authorization: ***"
    record = _record("login with password=%s for %s", ("hunter2hunter2", "alice"))
    assert _emit(record) == "login with password=*** for alice"
    record = _record("%(who)s sent %(key)s", {"who": "alice", "key": KEY})
    assert _emit(record) == "alice sent ***"
    assert record.getMessage() == "alice sent ***"  # the record itself no longer holds it


def test_the_filter_redacts_headers_query_values_and_keys_in_every_form():
    cases = {
        "< x-api-key: plain-secret": "< x-api-key: ***",
        "< cookie: a=b; c=d": "< cookie: ***",
        "< Proxy-Authorization: Basic Zm9vOmJhcg==": "< Proxy-Authorization: ***",
        "headers [(b'authorization', b'Bearer zz-zz'), (b'host', b'h')]":
            "headers [(b'authorization', b'***'), (b'host', b'h')]",
        "body {'password': 'hunter22', 'title': 't'}": "body {'password': '***', 'title': 't'}",
        'GET /x?api_key=k1&password=p2&auth=a3&secret=s4&key=k5&ok=1':
            'GET /x?api_key=***&password=***&auth=***&secret=***&key=***&ok=1',
        f"bad key {KEY}.": "bad key ***.",
        "a valid gateway token is required": "a valid gateway token is required",
        "event_type=door_open seq=3": "event_type=door_open seq=3",
    }
    for given, expected in cases.items():
        assert redact(given) == expected
        assert _emit(_record("%s", (given,))) == expected


def test_the_filter_redacts_tracebacks():
    try:
        raise ValueError(f"no such key {KEY} (password=hunter22)")
    except ValueError:
        record = _record("request failed for %s", (f"/x?token={KEY}",), exc_info=sys.exc_info())
    text = _emit(record)
    assert KEY not in text and "hunter22" not in text
    assert "request failed for /x?token=***" in text and "ValueError: no such key *** (password=***)" in text


def test_uvicorn_formatters_keep_working():
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    access = _record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET", f"/events?token={KEY}", "1.1", 200),
                     name="uvicorn.access")
    assert _emit(access, AccessFormatter("%(client_addr)s - \"%(request_line)s\" %(status_code)s",
                                         use_colors=False)) == '127.0.0.1:5 - "GET /events?token=*** HTTP/1.1" 200 OK'
    colored = _record("%s - \"WebSocket %s\"", ("127.0.0.1:5", f"/ws?token={KEY}"),
                      color_message="%s - \"WebSocket \x1b[1m%s\x1b[0m\"")
    text = _emit(colored, DefaultFormatter("%(message)s", use_colors=True))
    assert KEY not in text and "token=***" in text


def test_the_logging_config_filters_every_handler_and_the_root():
    config = logging_config("debug")
    assert all("redact_secrets" in handler["filters"] for handler in config["handlers"].values())
    assert config["root"] == {"handlers": ["default"], "level": "WARNING"}
    assert logging_config("error")["root"]["level"] == "ERROR"
