"""The request head is bounded (api/http_transport.py): a URL over MAX_URL_BYTES gets 414,
headers over MAX_HEADER_BYTES get 431, a head still incomplete HEAD_TIMEOUT_SECONDS after its
first byte gets 408. Each refusal is answered at once, with Connection: close, and the server
neither reads on nor buffers what follows. Raw sockets against the real in-process server."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from typing import Any

import pytest

from eventgate.api.http_transport import (
    HEAD_TIMEOUT_SECONDS,
    MAX_HEADER_BYTES,
    MAX_URL_BYTES,
    OneWriteHttpProtocol,
)
from tests.raw_http import read_response


def _address(server: Any) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def _connect(server: Any, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection(_address(server), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _assert_closed(sock: socket.socket, buffer: bytearray) -> None:
    """The server closes: EOF (or a reset) within a few seconds, with nothing more sent."""
    sock.settimeout(5)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buffer.extend(chunk)
    assert buffer == b""


def _refused(server: Any, request: bytes) -> tuple[int, dict[str, str], bytes, float]:
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(request)
        buffer = bytearray()
        status, headers, body = read_response(sock, buffer)
        elapsed = time.monotonic() - started
        _assert_closed(sock, buffer)
    return status, headers, body, elapsed


def _healthz(server: Any) -> float:
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = read_response(sock, bytearray())
    assert status == 200
    return time.monotonic() - started


def test_the_limits_are_module_constants():
    assert MAX_URL_BYTES == 16 * 1024
    assert MAX_HEADER_BYTES == 16 * 1024
    assert HEAD_TIMEOUT_SECONDS == 10
    assert OneWriteHttpProtocol.head_timeout == HEAD_TIMEOUT_SECONDS


def test_a_17_kib_header_value_is_431_at_once_and_the_connection_closes(server):
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (17 * 1024) + b"\r\n\r\n"
    status, headers, body, elapsed = _refused(server, request)
    assert status == 431
    assert headers["connection"] == "close"
    assert json.loads(body)["error_code"] == "request_header_fields_too_large"
    assert elapsed < 2


def test_a_20_kib_url_is_414(server):
    request = b"GET /healthz?q=" + b"a" * (20 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, headers, body, _ = _refused(server, request)
    assert status == 414
    assert headers["connection"] == "close"
    assert json.loads(body)["error_code"] == "uri_too_long"


def test_a_url_under_the_cap_is_served(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz?q=" + b"a" * (15 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = read_response(sock, bytearray())
    assert status == 200


def test_many_headers_summing_over_the_cap_are_431(server):
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 600) for i in range(30))  # ~18 KiB, none big
    status, _, body, _ = _refused(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status == 431
    assert json.loads(body)["error_code"] == "request_header_fields_too_large"


def test_a_normal_request_with_8_kib_of_headers_is_served(server):
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1024) for i in range(8))
    with _connect(server) as sock:
        buffer = bytearray()
        for _ in range(3):  # and the connection stays usable
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
            status, _, body = read_response(sock, buffer)
            assert status == 200
            assert json.loads(body) == {"status": "ok"}


def test_a_100_mb_header_is_refused_after_the_cap_without_being_read(server):
    total = 100 * 1024 * 1024
    chunk = b"a" * 65536
    sent = 0
    buffer = bytearray()
    slowest_healthz: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            slowest_healthz.append(_healthz(server))
            time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with _connect(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ")
            sock.setblocking(False)
            deadline = time.monotonic() + 20
            while sent < total and time.monotonic() < deadline:
                readable, writable, _ = select.select([sock], [sock], [], 1)
                if readable:
                    break  # the server has answered: stop sending
                if writable:
                    try:
                        sent += sock.send(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        break
                    except BlockingIOError:
                        pass
            sock.setblocking(True)
            sock.settimeout(10)
            status, headers, body = read_response(sock, buffer)
            _assert_closed(sock, buffer)
    finally:
        stop.set()
        prober.join()
    assert status == 431
    assert headers["connection"] == "close"
    assert sent < 20 * 1024 * 1024, f"the client got {sent} bytes through"
    assert slowest_healthz and max(slowest_healthz) < 1, slowest_healthz
    assert _healthz(server) < 1


def test_pipelined_requests_before_an_oversized_head_are_answered_first(server):
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 * 1024) + b"\r\n\r\n"
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2 + big)
        buffer = bytearray()
        answers = [read_response(sock, buffer)[0] for _ in range(3)]
        _assert_closed(sock, buffer)
    assert answers == [200, 200, 431]


@pytest.fixture
def short_head_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(OneWriteHttpProtocol, "head_timeout", 0.5)
    return 0.5


def test_a_head_that_stalls_gets_408_within_the_timeout(server, short_head_timeout):
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        buffer = bytearray()
        status, headers, body = read_response(sock, buffer)
        elapsed = time.monotonic() - started
        _assert_closed(sock, buffer)
    assert status == 408
    assert headers["connection"] == "close"
    assert json.loads(body)["error_code"] == "request_timeout"
    assert short_head_timeout * 0.8 <= elapsed < short_head_timeout + 2


def test_a_head_dribbled_byte_by_byte_still_times_out(server, short_head_timeout):
    started = time.monotonic()
    with _connect(server) as sock:
        buffer = bytearray()
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if select.select([sock], [], [], 0.05)[0]:
                break
        status, _, _ = read_response(sock, buffer)
    assert status == 408
    assert time.monotonic() - started < short_head_timeout + 2


def test_an_idle_keep_alive_connection_is_not_timed_out_as_a_slow_head(server, short_head_timeout):
    with _connect(server) as sock:
        buffer = bytearray()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock, buffer)[0] == 200
        time.sleep(short_head_timeout * 3)  # idle longer than the head timeout, under keep-alive's 5 s
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock, buffer)[0] == 200


def test_a_slow_body_is_not_a_slow_head(server, channel, short_head_timeout):
    from tests.conftest import PASSWORD
    create = json.dumps({"password": PASSWORD, "event_type": "door_open"}).encode()
    with _connect(server) as sock:
        sock.sendall(f"POST /v1/channel/{channel}/event/create HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(create)}\r\n\r\n".encode())
        time.sleep(short_head_timeout * 2)
        sock.sendall(create)
        status, _, body = read_response(sock, bytearray())
    assert status == 200, body


def test_a_connection_that_never_sends_a_byte_is_closed(server, monkeypatch):
    monkeypatch.setattr(OneWriteHttpProtocol, "first_byte_timeout", 0.5)
    started = time.monotonic()
    with _connect(server) as sock:
        _assert_closed(sock, bytearray())
    assert time.monotonic() - started < 3
