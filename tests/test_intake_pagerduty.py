"""PagerDuty's Events API v2, `POST /v2/enqueue` (SPEC §9): a dedup_key names an event of the
routing key's channel; trigger opens or updates it, acknowledge says so, resolve closes it."""

from __future__ import annotations

import asyncio
import datetime

import httpx
import pytest

from tests.intake import intake_channel
from tests.live_client import read_events, subscribe, welcome

SUCCESS = {"status": "success", "message": "Event processed"}


@pytest.fixture
def intake(server):
    return intake_channel(server)


@pytest.fixture
def pagerduty(server):
    return server.client()


def event(token, action="trigger", dedup_key=None, **payload):
    body = {"routing_key": token, "event_action": action}
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    if action == "trigger":
        body["payload"] = {"summary": "Disk full on nas", "source": "nas", "severity": "error", **payload}
    return body


def accepted(reply):
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert {k: body[k] for k in SUCCESS} == SUCCESS and isinstance(body["dedup_key"], str)
    return body["dedup_key"]


def invalid(reply, status=400):
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid", body
    assert body["errors"] and all(isinstance(error, str) and error for error in body["errors"])
    return body["errors"]


def test_a_trigger_opens_an_event_with_every_field_mapped(pagerduty, intake):
    body = event(intake.token, dedup_key="disk-nas", component="sda", group="storage", **{"class": "disk"},
                 timestamp="2026-11-29T08:00:00.250Z", custom_details={"free": "1%", "mounts": {"root": {"free": 1}}})
    body["images"] = [{"src": "https://graphs.example/disk.png", "href": "https://graphs.example", "alt": "graph"}]
    body["links"] = [{"href": "https://wiki.example/disk", "text": "Runbook"}, {"href": "ftp://nope", "text": "x"}]
    body["client"] = "Monitoring"
    body["client_url"] = "https://monitoring.example/nas"
    assert accepted(pagerduty.post("/v2/enqueue", json=body)) == "disk-nas"
    found = intake.only_event()
    assert found["title"] == found["message"] == "Disk full on nas"
    assert found["state"] == "ongoing" and found["status"] == "triggered" and found["severity"] == "high"
    assert found["event_type"] == "pagerduty"
    assert found["attrs"] == {"source": "nas", "dedup_key": "disk-nas", "component": "sda", "group": "storage",
                              "class": "disk", "details": {"free": "1%", "mounts.root.free": 1}}
    assert found["images"] == ["https://graphs.example/disk.png"]
    assert found["actions"] == [{"label": "Runbook", "url": "https://wiki.example/disk"},
                                {"label": "Monitoring", "url": "https://monitoring.example/nas"}]
    started = datetime.datetime(2026, 11, 29, 8, 0, 0, 250000, tzinfo=datetime.timezone.utc).timestamp()
    assert found["started_at"] == pytest.approx(started)


@pytest.mark.parametrize("severity, mapped", [
    ("critical", "critical"), ("error", "high"), ("warning", "normal"), ("info", "low"),
])
def test_severity_maps(pagerduty, intake, severity, mapped):
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, severity=severity)))
    assert intake.only_event()["severity"] == mapped


def test_a_trigger_without_a_dedup_key_gets_one_and_it_names_the_event(pagerduty, intake):
    dedup_key = accepted(pagerduty.post("/v2/enqueue", json=event(intake.token)))
    assert len(dedup_key) == 32
    assert intake.only_event()["attrs"]["dedup_key"] == dedup_key
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, "resolve", dedup_key)))
    assert intake.only_event()["state"] == "closed"


def test_trigger_acknowledge_resolve_is_one_event_with_its_whole_timeline(pagerduty, intake):
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, dedup_key="k1", timestamp="2026-11-29T08:00:00Z")))
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, dedup_key="k1", summary="Disk still full",
                                                      severity="critical", timestamp="2026-11-29T09:00:00Z")))
    updated = intake.only_event()
    assert updated["title"] == "Disk still full" and updated["severity"] == "critical"
    assert updated["state"] == "ongoing"
    # A repeated trigger updates: the event keeps the time it started.
    assert updated["started_at"] == datetime.datetime(2026, 11, 29, 8, tzinfo=datetime.timezone.utc).timestamp()
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, "acknowledge", "k1")))
    acknowledged = intake.only_event()
    assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledged_by"] == "pagerduty"
    assert acknowledged["acknowledged_at"] is not None
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, "resolve", "k1")))
    closed = intake.only_event()
    assert closed["id"] == updated["id"] and closed["state"] == "closed" and closed["status"] == "resolved"
    timeline = intake.timeline(closed["id"])
    assert [entry["kind"] for entry in timeline] == ["create", "update", "update", "close"]
    assert timeline[2]["fields"] == {"status": "acknowledged", "acknowledged": True, "by": "pagerduty"}


def test_a_trigger_after_resolve_opens_a_new_event(pagerduty, intake):
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, dedup_key="flap")))
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, "resolve", "flap")))
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, dedup_key="flap")))
    events = intake.events()
    assert len(events) == 2 and {e["state"] for e in events} == {"ongoing", "closed"}


def test_the_same_dedup_key_in_another_channel_is_another_event(server, pagerduty, intake):
    other = intake_channel(server)
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, dedup_key="shared")))
    accepted(pagerduty.post("/v2/enqueue", json=event(other.token, dedup_key="shared")))
    accepted(pagerduty.post("/v2/enqueue", json=event(other.token, "resolve", "shared")))
    assert intake.only_event()["state"] == "ongoing"
    assert other.only_event()["state"] == "closed"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_of_an_unknown_key_is_accepted_and_changes_nothing(pagerduty, intake, action):
    assert accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, action, "nobody"))) == "nobody"
    assert intake.events() == []


def test_concurrent_triggers_of_one_key_open_one_event(server, intake):
    async def burst():
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            return await asyncio.gather(*(
                client.post("/v2/enqueue", json=event(intake.token, dedup_key="storm", summary=f"storm {n}"))
                for n in range(20)))

    replies = asyncio.run(burst())
    assert [reply.status_code for reply in replies] == [202] * 20
    found = intake.only_event()
    kinds = [entry["kind"] for entry in intake.timeline(found["id"])]
    assert kinds == ["create"] + ["update"] * 19


def test_an_idempotency_key_makes_a_retry_a_replay(pagerduty, intake):
    body = event(intake.token, dedup_key="once")
    for _ in range(2):
        accepted(pagerduty.post("/v2/enqueue", json=body, headers={"Idempotency-Key": "retry-1"}))
    found = intake.only_event()
    assert len(intake.timeline(found["id"])) == 1


def test_the_routing_key_may_come_as_a_header(pagerduty, intake):
    body = event(intake.token)
    del body["routing_key"]
    accepted(pagerduty.post("/v2/enqueue", json=body, headers={"X-Routing-Key": intake.token}))
    assert len(intake.events()) == 1


def test_a_long_summary_is_shortened_in_the_title_and_kept_whole(pagerduty, intake):
    summary = "word " * 200  # 1,000 characters: PagerDuty allows 1,024
    accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, summary=summary)))
    found = intake.only_event()
    assert len(found["title"]) == 256 and found["title"].endswith("…")
    assert len(found["message"]) == 512 and found["description"] == summary


def test_unknown_or_revoked_routing_keys_are_refused(pagerduty, intake):
    assert invalid(pagerduty.post("/v2/enqueue", json=event("0" * 32))) == ["Invalid routing key"]
    intake.revoke()
    assert invalid(pagerduty.post("/v2/enqueue", json=event(intake.token))) == ["Invalid routing key"]
    assert intake.events() == []


@pytest.mark.parametrize("change, says", [
    ({"routing_key": None}, "routing_key"),
    ({"event_action": None}, "event_action"),
    ({"event_action": "escalate"}, "event_action"),
    ({"payload": None}, "payload"),
    ({"payload": {"source": "nas", "severity": "error"}}, "payload.summary"),
    ({"payload": {"summary": "s", "severity": "error"}}, "payload.source"),
    ({"payload": {"summary": "s", "source": "nas"}}, "payload.severity"),
    ({"payload": {"summary": "s", "source": "nas", "severity": "major"}}, "payload.severity"),
    ({"payload": {"summary": "s", "source": "nas", "severity": "info", "timestamp": "yesterday"}},
     "payload.timestamp"),
    ({"dedup_key": "k" * 256}, "dedup_key"),
    ({"dedup_key": "  "}, "dedup_key"),
    ({"routing_key": 12}, "routing_key"),
    ({"payload": "text"}, "payload"),
    ({"payload": {"summary": ["s"], "source": "nas", "severity": "info"}}, "summary"),
])
def test_an_invalid_event_is_400_in_pagerdutys_shape_and_stores_nothing(pagerduty, intake, change, says):
    body = event(intake.token)
    for name, value in change.items():
        if value is None:
            body.pop(name)
        else:
            body[name] = value
    errors = invalid(pagerduty.post("/v2/enqueue", json=body))
    assert any(says in error for error in errors), errors
    assert intake.events() == []


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_need_a_dedup_key(pagerduty, intake, action):
    assert any("dedup_key" in e for e in invalid(pagerduty.post("/v2/enqueue", json=event(intake.token, action))))


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'"text"', b"null", b'{"a": ' * 300 + b"1" + b"}" * 300])
def test_a_body_that_is_not_an_event_is_400(pagerduty, raw):
    invalid(pagerduty.post("/v2/enqueue", content=raw, headers={"Content-Type": "application/json"}))


def test_a_body_over_512_kib_is_413(pagerduty, intake):
    body = event(intake.token, custom_details={"blob": "x" * (600 * 1024)})
    invalid(pagerduty.post("/v2/enqueue", json=body), status=413)


def test_details_too_large_for_an_event_are_400_naming_attrs(pagerduty, intake):
    body = event(intake.token, custom_details={f"k{n}": "x" * 400 for n in range(100)})
    assert any("attrs" in error for error in invalid(pagerduty.post("/v2/enqueue", json=body)))
    assert intake.events() == []


def test_the_operations_reach_live_subscribers(server, pagerduty, intake):
    key = server.create_key(("subscribe",), workspace_id=intake.workspace_id)
    with subscribe(server.base_url, key) as ws:
        welcome(ws)
        accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, dedup_key="live")))
        accepted(pagerduty.post("/v2/enqueue", json=event(intake.token, "resolve", "live")))
        frames = read_events(ws, 2)
    assert [frame["op"]["kind"] for frame in frames] == ["create", "close"]
    assert frames[1]["event"]["status"] == "resolved"
