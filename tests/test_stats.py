"""`GET /stats/overview`: events per hour over the last 24 hours by severity, and ongoing now."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from eventgate.store.schema import events
from eventgate.store.stats import HOUR_MS, overview
from tests.helpers import create_event, error_code, lifecycle_body

OVERVIEW = "/stats/overview"


class Workspace:
    """A fresh workspace with a channel and a client whose key may read its events."""

    def __init__(self, server: Any, scopes: tuple[str, ...] = ("events:read",)) -> None:
        self.server = server
        self.id = server.create_workspace()
        self.channel = server.create_channel(workspace_id=self.id)
        self.key = server.create_key(scopes, workspace_id=self.id)
        self.reader: httpx.Client = server.client(headers={"Authorization": f"Bearer {self.key}"})
        self.producer: httpx.Client = server.client()

    def create(self, severity: str = "normal", channel: str | None = None) -> str:
        return create_event(self.producer, channel or self.channel, severity=severity)

    def close(self, event_id: str) -> None:
        reply = self.producer.post("/event/close", json=lifecycle_body(self.channel, event_id, status="resolved"))
        assert reply.status_code == 200, reply.text

    def age(self, event_id: str, hours: float) -> None:
        """Move an event's creation time back (test setup: the API only creates events now)."""
        with self.server.database.writer.begin() as connection:
            connection.execute(
                sa.update(events).where(events.c.workspace_id == self.id, events.c.id == event_id)
                .values(created_at=events.c.created_at - int(hours * HOUR_MS))
            )

    def created_ms(self, event_id: str) -> int:
        with self.server.database.reader.connect() as connection:
            return connection.execute(
                sa.select(events.c.created_at).where(events.c.workspace_id == self.id, events.c.id == event_id)
            ).scalar_one()

    def overview(self) -> dict[str, Any]:
        reply = self.reader.get(OVERVIEW)
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]


@pytest.fixture
def workspace(server) -> Workspace:
    return Workspace(server)


def severities(counts: dict[str, int]) -> dict[str, int]:
    return {name: counts[name] for name in ("critical", "high", "normal", "low")}


# -- access ---------------------------------------------------------------------------------------


def test_overview_without_a_key_is_401(client):
    reply = client.get(OVERVIEW)
    assert reply.status_code == 401
    assert error_code(reply) == "authentication_required"


def test_overview_with_an_unknown_key_is_401(client):
    reply = client.get(OVERVIEW, headers={"Authorization": "Bearer egk_not-a-key"})
    assert reply.status_code == 401
    assert error_code(reply) == "invalid_api_key"


def test_overview_without_events_read_scope_is_403(server):
    workspace = Workspace(server, scopes=("subscribe",))
    reply = workspace.reader.get(OVERVIEW)
    assert reply.status_code == 403
    assert error_code(reply) == "insufficient_scope"


# -- shape ----------------------------------------------------------------------------------------


def test_overview_of_an_empty_workspace_is_all_zeros(workspace):
    data = workspace.overview()
    assert data["ongoing"] == {"total": 0, "critical": 0, "high": 0, "normal": 0, "low": 0}
    assert data["last_24h"]["total"] == 0
    assert all(hour["total"] == 0 for hour in data["hours"])


def test_overview_has_24_whole_hours_ending_with_the_current_one(workspace):
    data = workspace.overview()
    starts = [hour["start"] for hour in data["hours"]]
    assert len(starts) == 24
    assert data["bucket_seconds"] == 3600
    assert data["from"] == starts[0] and data["from"] % 3600 == 0
    assert all(b - a == 3600 for a, b in zip(starts, starts[1:]))
    assert data["to"] == starts[-1] + 3600
    assert starts[-1] <= data["generated_at"] < data["to"]


# -- counts ---------------------------------------------------------------------------------------


def test_overview_counts_ongoing_events_by_severity(workspace):
    for severity in ("critical", "high", "high", "low"):
        workspace.create(severity)
    ongoing = workspace.overview()["ongoing"]
    assert ongoing["total"] == 4
    assert severities(ongoing) == {"critical": 1, "high": 2, "normal": 0, "low": 1}


def test_closing_an_event_takes_it_out_of_ongoing(workspace):
    keep = workspace.create("high")
    closing = workspace.create("high")
    workspace.close(closing)
    data = workspace.overview()
    assert data["ongoing"]["total"] == 1 and data["ongoing"]["high"] == 1
    assert data["last_24h"]["high"] == 2, "a closed event still happened in the last 24 hours"
    assert keep


def test_overview_counts_events_in_the_hour_they_were_created(workspace):
    recent = workspace.create("critical")
    earlier = workspace.create("normal")
    workspace.age(earlier, 5)
    data = workspace.overview()
    by_start = {hour["start"]: hour for hour in data["hours"]}
    for event_id, severity in ((recent, "critical"), (earlier, "normal")):
        created_s = workspace.created_ms(event_id) // 1000
        hour = by_start[created_s - created_s % 3600]
        assert hour[severity] == 1 and hour["total"] == 1
    assert data["last_24h"]["total"] == 2
    assert sum(hour["total"] for hour in data["hours"]) == 2


def test_events_older_than_24_hours_are_not_in_the_chart_but_still_ongoing(workspace):
    old = workspace.create("high")
    workspace.age(old, 25)
    data = workspace.overview()
    assert data["last_24h"]["total"] == 0
    assert all(hour["total"] == 0 for hour in data["hours"])
    assert data["ongoing"]["high"] == 1


def test_overview_counts_only_the_keys_workspace(server, workspace):
    other = Workspace(server)
    other.create("critical")
    workspace.create("low")
    data = workspace.overview()
    assert data["ongoing"]["total"] == 1 and data["ongoing"]["low"] == 1
    assert data["last_24h"]["critical"] == 0


def test_a_channel_restricted_key_counts_only_its_channels(server, workspace):
    second = server.create_channel(workspace_id=workspace.id, name="second")
    workspace.create("high")
    workspace.create("low", channel=second)
    restricted_key = server.create_key(("events:read",), workspace_id=workspace.id, channels=(second,))
    reply = server.client().get(OVERVIEW, headers={"Authorization": f"Bearer {restricted_key}"})
    data = reply.json()["data"]
    assert data["ongoing"]["total"] == 1 and data["ongoing"]["low"] == 1
    assert data["last_24h"]["total"] == 1


def test_deleted_events_are_not_counted(server, workspace):
    writer_key = server.create_key(("events:read", "events:write"), workspace_id=workspace.id)
    client = server.client(headers={"Authorization": f"Bearer {writer_key}"})
    created = client.post("/events", json={"title": "Short-lived", "subtitle": "gone soon", "topics": ["t"]})
    assert created.status_code in (200, 201), created.text
    workspace.create("critical")
    assert client.delete(f"/events/{created.json()['id']}").status_code == 204
    data = workspace.overview()
    assert data["ongoing"]["total"] == 1 and data["ongoing"]["critical"] == 1
    assert data["last_24h"]["total"] == 1


def test_an_event_created_on_the_hour_counts_in_the_hour_it_starts(server, workspace):
    event_id = workspace.create("normal")
    created = workspace.created_ms(event_id)
    on_the_hour = created - created % HOUR_MS
    workspace.age(event_id, (created - on_the_hour) / HOUR_MS)
    assert workspace.created_ms(event_id) == on_the_hour
    with server.database.reader.connect() as connection:
        # Seen from the last millisecond of that hour, and from 23 hours later: first hour of the window.
        same_hour = overview(connection, workspace.id, now_ms=on_the_hour + HOUR_MS - 1)
        a_day_later = overview(connection, workspace.id, now_ms=on_the_hour + 23 * HOUR_MS)
        too_late = overview(connection, workspace.id, now_ms=on_the_hour + 24 * HOUR_MS)
    assert same_hour.hours[23]["normal"] == 1
    assert a_day_later.first_hour_ms == on_the_hour and a_day_later.hours[0]["normal"] == 1
    assert sum(hour["normal"] for hour in too_late.hours) == 0
