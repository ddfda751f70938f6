"""Liveness, readiness and metrics."""

from __future__ import annotations

import anyio
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.envelope import JSONResponse
from eventgate import metrics as prometheus_metrics


async def healthz(request: Request) -> Response:
    """The process is up."""
    return JSONResponse({"status": "ok"})


def _database_ok(runtime) -> bool:  # type: ignore[no-untyped-def]
    try:
        with runtime.database.reader.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False


async def readyz(request: Request) -> Response:
    """The database (and the broker, when one is configured) can be reached, and the writer is
    alive and not stuck (a write it holds past the write deadline)."""
    runtime = request.app.state.runtime
    checks = {"database": await anyio.to_thread.run_sync(_database_ok, runtime),
              "writer": runtime.writer.is_healthy()}
    broker = getattr(runtime, "broker", None)
    if broker is not None:
        checks["broker"] = await broker.is_ready()
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text exposition: the whole server's metrics, whichever worker answers (read from
    files, so off the event loop)."""
    body, content_type = await anyio.to_thread.run_sync(prometheus_metrics.exposition)
    return Response(body, media_type=content_type)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
