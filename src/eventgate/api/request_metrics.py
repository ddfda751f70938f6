"""Counts every HTTP request and times it, by method, route template and status class.

A plain ASGI middleware, not Starlette's BaseHTTPMiddleware (which runs each request in a
task of its own and copies the response through a stream): on the ingest path it costs two
clock reads, one dictionary look-up and three metric updates. The route is the one Starlette's
router chose (`scope["route"]`, set once routing is done), so the label is its template and
never the raw path with its ids; a path no route matches is `unmatched`. WebSocket connections
are not requests: the live subscriber gauge counts them.

It also counts the write requests in flight into the process's `IngestLoad`, which delivery
reads to leave ingest the CPU while it is saturated.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Awaitable, Callable

from eventgate.ingest_load import WRITE_METHODS, IngestLoad
from eventgate.metrics import http_request_seconds, http_requests

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


class RequestMetrics:
    def __init__(self, app: ASGIApp, load: IngestLoad | None = None) -> None:
        self.app = app
        self.load = load or IngestLoad()
        # (method, route, status class) → the bound counter and histogram: labels are resolved
        # once per combination, not on every request. Routes and methods are finite, so is this.
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # what the server answers when the app fails before its response starts

        def send_noting_status(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        writes = scope["method"] in WRITE_METHODS
        if writes:
            self.load.started()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            if writes:
                self.load.ended()
            self._record(scope, status, perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        method = scope["method"]
        key = (method, template, STATUS_CLASSES.get(status // 100, "other"))
        children = self._children.get(key)
        if children is None:
            label = method if method in METHODS else OTHER_METHOD
            children = (http_requests.labels(label, template, key[2]), http_request_seconds.labels(label, template))
            if method in METHODS:  # an invented method is never a key of its own
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
