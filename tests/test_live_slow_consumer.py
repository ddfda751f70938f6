"""A subscriber that stops reading is cut off with close code 4008 naming the last seq it was
sent; it loses nothing when it resumes, and it never holds up producers or other subscribers."""

from __future__ import annotations

import re
import socket
import threading
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect

from tests.live_client import (
    LiveWorkspace,
    close_code,
    create,
    frames_server_factory,  # noqa: F401  (fixture)
    read_frame,
    read_until_seq,
    subscribe,
    welcome,
    ws_url,
)

QUEUE_SIZE = 8
BIG = "x" * 4000  # large frames fill the socket buffers sooner


def _slow_consumers(base_url: str) -> float:
    text = httpx.get(base_url + "/metrics").text
    match = re.search(r"^eventgate_live_slow_consumers_total (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _stalled_connection(base_url: str, key: str):  # type: ignore[no-untyped-def]
    """A WebSocket whose owner does not read: tiny receive buffer, one-message client queue."""
    parts = urlsplit(base_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    return connect(ws_url(base_url), sock=sock, additional_headers={"Authorization": f"Bearer {key}"},
                   max_queue=1, open_timeout=20, max_size=None, compression=None)


class Reader(threading.Thread):
    """Keeps reading a healthy subscriber's frames."""

    def __init__(self, ws) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.ws = ws
        self.seqs: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                frame = read_frame(self.ws, timeout=120)
                if frame["type"] == "event":
                    self.seqs.append(frame["seq"])
        except BaseException as error:  # the connection closing ends the thread
            self.error = error


@pytest.fixture(scope="module", params=["asgi", "frames"])
def small_queue_server(request, server_factory, frames_server_factory):  # type: ignore[no-untyped-def]
    """Frames sent as ASGI messages, or written directly to the socket (as `eventgate serve` does)."""
    factory = server_factory if request.param == "asgi" else frames_server_factory
    return factory(subscriber_queue_size=QUEUE_SIZE)


def test_stalled_subscriber_is_closed_4008_and_resumes_without_loss(small_queue_server):
    workspace = LiveWorkspace(small_queue_server)
    base_url = workspace.base_url
    before = _slow_consumers(base_url)
    with _stalled_connection(base_url, workspace.key) as stalled, workspace.subscribe() as healthy:
        start = welcome(stalled)["seq"]
        welcome(healthy)
        reader = Reader(healthy)
        reader.start()
        produced = 0
        with httpx.Client(base_url=base_url, timeout=30) as producer:
            while _slow_consumers(base_url) == before:
                assert produced < 3000, "the stalled subscriber was never cut off"
                for _ in range(20):
                    create(producer, workspace.channel, description=BIG)  # each one acknowledged
                    produced += 1
        last = start + produced

        code, reason, received = close_code(stalled)
        assert code == 4008
        match = re.fullmatch(r"slow consumer; last seq (\d+)", reason)
        assert match, reason
        cut_at = int(match.group(1))
        assert [f["seq"] for f in received] == list(range(start + 1, cut_at + 1))

        with workspace.subscribe(since=cut_at) as resumed:
            welcome(resumed)
            rest = read_until_seq(resumed, last)
        assert [f["seq"] for f in rest] == list(range(cut_at + 1, last + 1))

        healthy_seqs = reader.seqs
        while not healthy_seqs or healthy_seqs[-1] < last:
            assert reader.is_alive(), reader.error
            reader.join(0.05)
        assert healthy_seqs[:last - start] == list(range(start + 1, last + 1))


def test_stalled_subscriber_does_not_stop_other_subscribers_or_producers(small_queue_server):
    workspace = LiveWorkspace(small_queue_server)
    before = _slow_consumers(workspace.base_url)
    with _stalled_connection(workspace.base_url, workspace.key) as stalled, \
            subscribe(workspace.base_url, workspace.key) as first, \
            subscribe(workspace.base_url, workspace.key) as second:
        start = welcome(stalled)["seq"]
        welcome(first)
        welcome(second)
        readers = [Reader(first), Reader(second)]
        for reader in readers:
            reader.start()
        produced = 0
        with httpx.Client(base_url=workspace.base_url, timeout=30) as producer:
            # Keep writing while the stalled subscriber is full, and well after it is cut off.
            while _slow_consumers(workspace.base_url) == before:
                assert produced < 3000, "the stalled subscriber was never cut off"
                for _ in range(20):
                    create(producer, workspace.channel, description=BIG)
                    produced += 1
            for _ in range(50):
                create(producer, workspace.channel, description=BIG)
                produced += 1
        last = start + produced
        for reader in readers:
            while not reader.seqs or reader.seqs[-1] < last:
                assert reader.is_alive(), reader.error
                reader.join(0.05)
            assert reader.seqs == list(range(start + 1, last + 1))
        assert close_code(stalled)[0] == 4008


def test_stalled_sse_subscriber_gets_a_final_close_event_naming_the_last_seq(small_queue_server):
    workspace = LiveWorkspace(small_queue_server)
    parts = urlsplit(workspace.base_url)
    before = _slow_consumers(workspace.base_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    try:
        sock.sendall(f"GET /api/v1/sse/subscribe HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     f"Authorization: Bearer {workspace.key}\r\nConnection: close\r\n\r\n".encode())
        produced = 0
        with httpx.Client(base_url=workspace.base_url, timeout=30) as producer:
            while _slow_consumers(workspace.base_url) == before:
                assert produced < 3000, "the stalled subscriber was never cut off"
                for _ in range(20):
                    create(producer, workspace.channel, description=BIG)
                    produced += 1
        sock.settimeout(60)
        received = bytearray()
        while chunk := sock.recv(65536):  # the server ends the response, then closes
            received.extend(chunk)
    finally:
        sock.close()
    text = _dechunk(bytes(received)).decode()
    ids = [int(n) for n in re.findall(r"^id: (\d+)$", text, re.M)][1:]  # the first is the welcome's
    close_data = re.search(r"event: close\ndata: (.*)\n", text).group(1)
    assert '"code":4008' in close_data
    assert f'"seq":{ids[-1]}' in close_data
    assert ids == list(range(ids[0], ids[-1] + 1))


def _dechunk(response: bytes) -> bytes:
    """The body of a chunked HTTP/1.1 response."""
    head, _, rest = response.partition(b"\r\n\r\n")
    assert b"200" in head.split(b"\r\n")[0], head
    body = bytearray()
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body.extend(rest[:size])
        rest = rest[size + 2:]
    return bytes(body)
