"""Which methods a path supports, answered for the whole path rather than for one route.

Starlette registers one Route per (path, method) here, and when no route takes the request's
method it answers 405 with the `Allow` of the first route whose path matched: `OPTIONS /events`
said `Allow: GET, HEAD` although `POST /events` exists. This middleware looks at every route
of the path instead:

- `OPTIONS` on a known path → 204 with `Allow` listing every method of the path (RFC 9110 §9.3.7);
- a method the path does not take → 405 (the §2 envelope, `method_not_allowed`) with that `Allow`;
- anything else (a supported method, an unknown path, a WebSocket) goes on unchanged.
"""

from __future__ import annotations

from typing import Iterable

from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from eventgate.api.envelope import failure
from eventgate.domain.errors import DomainError


class AllowedMethods:
    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.routes = [route for route in routes if isinstance(route, Route) and route.methods]

    def allowed(self, path: str) -> list[str] | None:
        """The methods of every route matching `path` (plus OPTIONS), or None if none matches."""
        methods: set[str] = set()
        for route in self.routes:
            if route.path_regex.match(path):
                methods.update(route.methods or ())
        if not methods:
            return None
        methods.add("OPTIONS")
        return sorted(methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        allowed = self.allowed(scope.get("path", ""))
        if allowed is None or (method in allowed and method != "OPTIONS"):
            await self.app(scope, receive, send)
            return
        allow = ", ".join(allowed)
        if method == "OPTIONS":
            response = Response(status_code=204, headers={"Allow": allow})
        else:
            response = failure(DomainError(405, "method_not_allowed",
                                           f"{method} is not supported here; allowed: {allow}",
                                           headers={"Allow": allow}))
        await response(scope, receive, send)
