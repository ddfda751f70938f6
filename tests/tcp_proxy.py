"""A TCP proxy in front of a real server, for the faults a client meets on the way: every
connection cut at once, an answer lost after the server has committed the request, a
reverse proxy answering 502 while its upstream is away."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Iterator

BAD_GATEWAY = (b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
               b"Connection: close\r\n\r\nbad gateway")


class TcpProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.answers_to_drop = 0  # the next answers from upstream are discarded and their connections cut
        self.answers_dropped = 0
        self.upstream_down = False  # answer 502 without reaching upstream
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.upstream_down:
                threading.Thread(target=self._bad_gateway, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    @staticmethod
    def _bad_gateway(client: socket.socket) -> None:
        with contextlib.suppress(OSError), client:
            client.settimeout(5)
            client.recv(65536)
            client.sendall(BAD_GATEWAY)

    def _pump(self, source: socket.socket, target: socket.socket, from_upstream: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_upstream and self._take_drop():
                    break  # the server answered (so it committed); the client never hears it
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._cut(source, target)

    def _take_drop(self) -> bool:
        with self._lock:
            if self.answers_to_drop > 0:
                self.answers_to_drop -= 1
                self.answers_dropped += 1
                return True
            return False

    @staticmethod
    def _cut(*sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def drop_connections(self) -> int:
        """Cut every open connection, as a network failure or a restarted proxy does."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            self._cut(*pair)
        return len(pairs)

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self.listener.close()
        self.drop_connections()


@contextlib.contextmanager
def proxy_to(base_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(int(base_url.rsplit(":", 1)[1]))
    try:
        yield proxy
    finally:
        proxy.stop()
