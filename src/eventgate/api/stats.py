"""`GET /stats/overview`: the counts the dashboard draws (scope events:read; §2 error envelope)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.key_auth import require_key
from eventgate.domain.errors import DomainError
from eventgate.service.stats import StatsReader


class StatsSeverityCounts(msgspec.Struct):
    total: int
    critical: int
    high: int
    normal: int
    low: int


class StatsHourCounts(msgspec.Struct):
    start: int
    total: int
    critical: int
    high: int
    normal: int
    low: int


class StatsOverview(msgspec.Struct, rename={"from_": "from"}):
    generated_at: int | float
    bucket_seconds: int
    from_: int
    to: int
    ongoing: StatsSeverityCounts
    last_24h: StatsSeverityCounts
    hours: list[StatsHourCounts]


class StatsOverviewReply(msgspec.Struct):
    data: StatsOverview


async def stats_overview(request: Request) -> Response:
    """Events created per hour over the last 24 hours by severity, and the events ongoing now.

    A key restricted to some channels sees only those channels' events."""
    try:
        key = await require_key(request, "events:read")
        data = await StatsReader(request.app.state.runtime.database).overview(key)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": data})


routes = [
    Route("/stats/overview", stats_overview, methods=["GET"], name="stats_overview"),
]
