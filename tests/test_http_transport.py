"""The HTTP protocol eventgate serves with (api/http_transport.py) holds a response's head back
until its body follows. Whatever the timing, every response must still arrive whole and in
order, and a head whose body is late must not wait for it."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import uvicorn

from eventgate.api.http_transport import OneWriteHttpProtocol
from tests.conftest import PASSWORD
from tests.raw_http import read_response


def _address(server: Any) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def _connect(server: Any) -> socket.socket:
    sock = socket.create_connection(_address(server), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def test_many_responses_on_one_connection_each_arrive_whole(server):
    with _connect(server) as sock:
        buffer = bytearray()
        for _ in range(50):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_response(sock, buffer)
            assert status == 200
            assert json.loads(body) == {"status": "ok"}
        assert buffer == b""


def test_pipelined_requests_are_answered_in_order(server, channel):
    create = json.dumps({"password": PASSWORD, "event_type": "door_open"}).encode()
    requests = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        + f"POST /v1/channel/{channel}/event/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          f"Content-Length: {len(create)}\r\n\r\n".encode() + create
        + b"POST /event/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n{"
        + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with _connect(server) as sock:
        sock.sendall(requests)
        buffer = bytearray()
        answers = [read_response(sock, buffer) for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 400, 200]
    assert "event_id" in json.loads(answers[1][2])
    assert json.loads(answers[2][2])["error_code"] == "invalid_json"


def test_a_head_request_gets_the_head_alone(server):
    with _connect(server) as sock:
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        buffer = bytearray()
        while buffer.count(b"HTTP/1.1 200") < 2 or not buffer.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk
            buffer.extend(chunk)
    first, second = bytes(buffer).split(b"HTTP/1.1 200")[1:]
    assert first.endswith(b"\r\n\r\n")  # the HEAD answer carries no body
    assert second.endswith(b'{"status":"ok"}')


def test_connection_close_gets_the_whole_response_then_the_end(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = bytearray()
        while chunk := sock.recv(65536):
            received.extend(chunk)
    assert received.startswith(b"HTTP/1.1 200")
    assert received.endswith(b'{"status":"ok"}')


def test_100_continue_is_sent_before_the_body_is(server, channel):
    body = json.dumps({"password": PASSWORD, "event_type": "door_open"}).encode()
    with _connect(server) as sock:
        sock.sendall(f"POST /v1/channel/{channel}/event/create HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                     "Expect: 100-continue\r\n\r\n".encode())
        interim = sock.recv(65536)  # the client waits for this before sending the body
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        buffer = bytearray(interim.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n"))
        sock.sendall(body)
        status, _, reply = read_response(sock, buffer)
    assert status == 200
    assert "event_id" in json.loads(reply)


def test_a_head_whose_body_is_late_leaves_without_waiting_for_it():
    """A stream that starts with a pause: the client must see the head while the app still
    waits, here until the test has read the head."""
    head_seen = threading.Event()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        import anyio

        released = await anyio.to_thread.run_sync(head_seen.wait, 10)
        await send({"type": "http.response.body", "body": b"late" if released else b"never"})

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", loop="asyncio",
                            http=OneWriteHttpProtocol, lifespan="on")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = running.servers[0].sockets[0].getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            received = bytearray()
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)  # times out (fails) if the head waits for the body
                assert chunk
                received.extend(chunk)
            assert received.startswith(b"HTTP/1.1 200")
            assert b"late" not in received
            head_seen.set()
            while not received.endswith(b"0\r\n\r\n"):
                chunk = sock.recv(65536)
                assert chunk
                received.extend(chunk)
        assert b"late" in received
    finally:
        head_seen.set()
        running.should_exit = True
        thread.join(timeout=10)
