"""The ASGI application: routes from every API module, the runtime in app.state, JSON errors."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sqlite3
from typing import AsyncIterator

import psycopg
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from eventgate.api import channel_events_body, channel_events_path, events_resource, health, openapi
from eventgate.api import type_registry
from eventgate.api import dashboard, stats
from eventgate.api import admin, destinations, phone_setup
from eventgate.api.allowed_methods import AllowedMethods
from eventgate.api import live_sse, live_ws
from eventgate.api import action_links, alertmanager, event_actions, gotify, ntfy, pagerduty
from eventgate.api.envelope import failure, internal_error
from eventgate.api.request_metrics import RequestMetrics
from eventgate.config import Settings
from eventgate.domain.errors import DomainError
from eventgate.runtime import Runtime
from eventgate.store.database import is_store_unavailable
from eventgate.store.group_commit import store_unavailable

log = logging.getLogger("eventgate")


def build_app(settings: Settings) -> Starlette:
    runtime = Runtime.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    routes = [
        *channel_events_body.routes,
        *channel_events_path.routes,
        *events_resource.routes,
        *event_actions.routes,
        *action_links.routes,
        *health.routes,
        *live_ws.routes,
        *live_sse.routes,
        *openapi.routes,
        *type_registry.routes,
        *stats.routes,
        *admin.routes,
        *phone_setup.routes,
        *destinations.routes,
        *gotify.routes,
        *pagerduty.routes,
        *alertmanager.routes,
        *dashboard.routes,  # the page at / and its files
        *ntfy.routes,  # last: PUT/POST /{topic} takes only single-segment paths no route above claims
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(RequestMetrics, load=runtime.ingest_load), Middleware(AllowedMethods, routes=routes)],
                    exception_handlers={
        HTTPException: _http_error, Exception: _unexpected_error,
        # Reads on the way to a write (channel, API key) meet the store first when it is down.
        sa.exc.SQLAlchemyError: _store_error, sqlite3.Error: _store_error, psycopg.Error: _store_error,
    })
    app.state.runtime = runtime
    return app


async def _http_error(request: Request, exc: HTTPException) -> Response:
    codes = {404: "not_found", 405: "method_not_allowed"}
    return failure(DomainError(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail),
                               headers=dict(exc.headers or {})))


async def _store_error(request: Request, exc: Exception) -> Response:
    if request.scope["type"] != "http":
        raise exc  # a live connection ends as any failure does (api/live_errors.py)
    if is_store_unavailable(exc):
        log.warning("%s %s: the store is unavailable: %s", request.method, request.url.path,
                    str(exc).split("\n", 1)[0][:300])
        return failure(store_unavailable())
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return internal_error()


def app_from_environment() -> Starlette:
    """uvicorn factory: settings come from EVENTGATE_* variables (the CLI sets them)."""
    from eventgate.cli import settings_from_environment

    app = build_app(settings_from_environment(os.environ))
    _tune_garbage_collector()
    return app


def _tune_garbage_collector() -> None:
    """The server process only (tests run servers in their own process and keep the defaults).

    Everything imported so far lives as long as the process: gc.freeze() takes it out of every
    later collection. Requests allocate many short-lived containers; at the default threshold
    (700) the young generation is collected every few requests, and each full collection walks
    every long-lived object, which showed in the tail latency of bench/ingest.py."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


GC_YOUNG_THRESHOLD = 20_000
