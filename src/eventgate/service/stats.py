"""The dashboard's overview counts, read off the event loop and shaped for the wire."""

from __future__ import annotations

from typing import Any

import anyio

from eventgate.auth.keys import ApiKey
from eventgate.domain.fields import SEVERITIES
from eventgate.domain.times import ms_to_seconds, now_ms
from eventgate.store.database import Database
from eventgate.store.stats import HOUR_MS, Overview, overview

OVERVIEW_HOURS = 24


class StatsReader:
    def __init__(self, database: Database) -> None:
        self.database = database

    def _overview(self, key: ApiKey, at_ms: int) -> Overview:
        with self.database.reader.connect() as connection:
            return overview(connection, key.workspace_id, now_ms=at_ms, hours=OVERVIEW_HOURS,
                            channel_ids=key.channel_ids)

    async def overview(self, key: ApiKey) -> dict[str, Any]:
        at_ms = now_ms()
        found = await anyio.to_thread.run_sync(self._overview, key, at_ms)
        return overview_view(found, at_ms)


def _with_total(counts: dict[str, int]) -> dict[str, int]:
    return {"total": sum(counts.values()), **{s: counts[s] for s in SEVERITIES}}


def overview_view(found: Overview, at_ms: int) -> dict[str, Any]:
    """Times in Unix seconds; every severity present (zero when none)."""
    last_24h = {s: sum(hour[s] for hour in found.hours) for s in SEVERITIES}
    return {
        "generated_at": ms_to_seconds(at_ms),
        "bucket_seconds": HOUR_MS // 1000,
        "from": ms_to_seconds(found.first_hour_ms),
        "to": ms_to_seconds(found.first_hour_ms + len(found.hours) * HOUR_MS),
        "ongoing": _with_total(found.ongoing),
        "last_24h": _with_total(last_24h),
        "hours": [{"start": ms_to_seconds(found.first_hour_ms + i * HOUR_MS), **_with_total(hour)}
                  for i, hour in enumerate(found.hours)],
    }
