"""Alertmanager's webhook (SPEC §9): `POST /integrations/alertmanager`, each alert a keyed command
whose fingerprint names the event — hand-written notifications through the real server.
tests/test_intake_alertmanager_real.py drives the same route from the real Alertmanager."""

from __future__ import annotations

import base64
import copy
import json
import threading
from typing import Any

import httpx
import pytest

from tests.intake import intake_channel, new_token
from tests.live_client import read_events, subscribe, welcome

ROUTE = "/integrations/alertmanager"
STARTS_AT = "2024-05-01T10:00:00.123456789Z"  # Go writes nanoseconds
STARTED_AT = 1714557600.123


@pytest.fixture
def intake(server):
    return intake_channel(server)


@pytest.fixture
def am(server, intake):
    return server.client(headers={"Authorization": f"Bearer {intake.token}"})


def alert(fingerprint: str = "c0ffee01", *, status: str = "firing", **fields: Any) -> dict[str, Any]:
    """One alert as Alertmanager 0.25 writes it (a firing alert carries Go's zero endsAt)."""
    body: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": "DiskFull", "instance": "db1:9100", "severity": "warning"},
        "annotations": {"summary": "Disk almost full on db1", "description": "/var is 93% full"},
        "startsAt": STARTS_AT,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.local:9090/graph?g0.expr=disk_used",
        "fingerprint": fingerprint,
    }
    body.update(fields)
    return body


def resolved(fingerprint: str = "c0ffee01", ends_at: str = "2024-05-01T10:05:00.5Z", **fields: Any) -> dict[str, Any]:
    return alert(fingerprint, status="resolved", endsAt=ends_at, **fields)


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    status = "firing" if any(a.get("status") == "firing" for a in alerts) else "resolved"
    return {"version": "4", "groupKey": '{}:{alertname="DiskFull"}', "truncatedAlerts": 0, "status": status,
            "receiver": "eventgate", "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager.local:9093", "alerts": list(alerts)}


def post(client: httpx.Client, *alerts: dict[str, Any], status: int = 200, **kwargs: Any) -> list[dict[str, Any]]:
    reply = client.post(ROUTE, json=notification(*alerts), **kwargs)
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["status"] == "success"
    assert len(body["alerts"]) == len(alerts)
    return body["alerts"]


def error(reply: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["success"] is False and body["error"], body
    if code is not None:
        assert body["error_code"] == code, body
    return body


# -- mapping ---------------------------------------------------------------------------------------


def test_a_firing_alert_creates_an_ongoing_event(am, intake):
    [result] = post(am, alert())
    assert result["result"] == "created" and result["fingerprint"] == "c0ffee01" and result["status"] == "firing"
    event = intake.only_event()
    assert result["event_id"] == event["id"] and result["seq"] == event["seq"]
    assert event["state"] == "ongoing" and event["ended_at"] is None and event["status"] == "firing"
    assert event["title"] == "Disk almost full on db1" and event["message"] == "/var is 93% full"
    assert event["severity"] == "normal" and event["event_type"] == "alertmanager"
    assert event["attrs"] == {"alertname": "DiskFull", "instance": "db1:9100", "severity": "warning"}
    assert event["metadata"] == {"summary": "Disk almost full on db1", "description": "/var is 93% full"}
    assert event["actions"] == [{"label": "Source", "url": "http://prometheus.local:9090/graph?g0.expr=disk_used"}]
    assert event["started_at"] == STARTED_AT  # nanoseconds read down to the millisecond
    [operation] = intake.timeline(event["id"])
    assert operation["kind"] == "create" and operation["seq"] == event["seq"]


def test_no_summary_titles_the_event_with_the_alertname(am, intake):
    post(am, alert(annotations={"description": "only a description"}))
    event = intake.only_event()
    assert event["title"] == "DiskFull" and event["message"] == "only a description"
    assert event["metadata"] == {"description": "only a description"}


def test_no_description_makes_the_summary_the_message(am, intake):
    post(am, alert(annotations={"summary": "Disk almost full"}))
    event = intake.only_event()
    assert event["title"] == "Disk almost full" and event["message"] == "Disk almost full"


def test_neither_summary_nor_alertname_still_makes_an_event(am, intake):
    post(am, alert(labels={"job": "node"}, annotations={}))
    event = intake.only_event()
    assert event["title"] == "alert" and event["attrs"] == {"job": "node"} and event["metadata"] == {}


@pytest.mark.parametrize("label, severity", [
    ("critical", "critical"), ("error", "high"), ("high", "high"), ("warning", "normal"),
    ("info", "low"), ("none", "low"), ("Critical", "critical"), (" warning ", "normal"),
    ("page", "normal"), ("P1", "normal"), ("", "normal"), (None, "normal"),
])
def test_the_severity_label_maps_to_severity(am, intake, label, severity):
    labels = {"alertname": "X"} if label is None else {"alertname": "X", "severity": label}
    post(am, alert(labels=labels))
    assert intake.only_event()["severity"] == severity


def test_a_long_annotation_is_shortened_in_metadata_and_the_description_kept_whole(am, intake):
    description = "d" * 3000
    runbook = "https://runbooks.local/" + "r" * 1000
    post(am, alert(annotations={"summary": "Long", "description": description, "runbook_url": runbook}))
    event = intake.only_event()
    assert len(event["metadata"]["description"]) == 512 and event["metadata"]["description"].endswith("…")
    assert event["metadata"]["runbook_url"] == runbook[:511] + "…"
    assert event["metadata"]["summary"] == "Long"
    assert event["description"] == description
    assert len(event["message"]) == 512 and event["message"].endswith("…")


def test_a_description_past_the_description_limit_is_shortened_never_refused(am, intake):
    # Alertmanager bounds no annotation, and does not retry a 400: the alert would be lost.
    [result] = post(am, alert(annotations={"summary": "Huge", "description": "z" * 10_000}))
    assert result["result"] == "created"
    event = intake.only_event()
    assert event["description"] == "z" * 4095 + "…" and event["message"] == "z" * 511 + "…"
    assert event["metadata"]["description"] == "z" * 511 + "…"


def test_a_summary_past_the_title_limit_is_shortened(am, intake):
    post(am, alert(annotations={"summary": "s" * 1000}))
    assert intake.only_event()["title"] == "s" * 255 + "…"


def test_grafanas_dashboard_and_panel_urls_become_actions(am, intake):
    post(am, alert(dashboardURL="https://grafana.local/d/abc", panelURL="https://grafana.local/d/abc?viewPanel=2",
                   silenceURL="https://grafana.local/alerting/silence/new", valueString="[ var=A value=93 ]"))
    assert intake.only_event()["actions"] == [
        {"label": "Source", "url": "http://prometheus.local:9090/graph?g0.expr=disk_used"},
        {"label": "Dashboard", "url": "https://grafana.local/d/abc"},
        {"label": "Panel", "url": "https://grafana.local/d/abc?viewPanel=2"},
    ]


def test_a_generator_url_that_is_not_http_is_no_action(am, intake):
    post(am, alert(generatorURL="javascript:alert(1)"))
    event = intake.only_event()
    assert event["actions"] == [] and event["state"] == "ongoing"


def test_the_request_may_name_its_event_type(am, intake):
    post(am, alert(), headers={"X-Event-Type": "disk_alert"})
    assert intake.only_event()["event_type"] == "disk_alert"


def test_the_query_may_name_the_event_type_too(am, intake):
    post(am, alert(), params={"event_type": "from_query"})
    assert intake.only_event()["event_type"] == "from_query"


def test_an_alert_without_a_fingerprint_is_named_by_its_labels(am, intake):
    first = alert(annotations={"summary": "one"})
    del first["fingerprint"]
    again = alert(annotations={"summary": "two"})
    del again["fingerprint"]
    [created] = post(am, first)
    [updated] = post(am, again)
    assert created["result"] == "created" and updated["result"] == "updated"
    assert created["event_id"] == updated["event_id"] and intake.only_event()["title"] == "two"


# -- lifecycle ---------------------------------------------------------------------------------------


def test_an_unchanged_repeat_is_a_replay_that_adds_nothing(am, intake):
    [first] = post(am, alert())
    for _ in range(3):  # group_interval, repeat_interval, retries: the same alert again
        [again] = post(am, alert())
        assert again["result"] == "replayed"
        assert (again["event_id"], again["seq"]) == (first["event_id"], first["seq"])
    event = intake.only_event()
    assert event["seq"] == first["seq"] and len(intake.timeline(event["id"])) == 1


def test_a_changed_annotation_while_firing_updates_the_event(am, intake):
    [first] = post(am, alert())
    [second] = post(am, alert(annotations={"summary": "Disk almost full on db1", "description": "/var is 97% full"}))
    assert second["result"] == "updated" and second["event_id"] == first["event_id"]
    assert second["seq"] > first["seq"]
    event = intake.only_event()
    assert event["state"] == "ongoing" and event["message"] == "/var is 97% full"
    assert event["metadata"]["description"] == "/var is 97% full"
    assert event["started_at"] == STARTED_AT
    assert [op["kind"] for op in intake.timeline(event["id"])] == ["create", "update"]
    [replayed] = post(am, alert(annotations={"summary": "Disk almost full on db1", "description": "/var is 97% full"}))
    assert replayed["result"] == "replayed" and len(intake.timeline(event["id"])) == 2


def test_a_changed_severity_label_updates_severity_and_attrs(am, intake):
    post(am, alert())
    [second] = post(am, alert(labels={"alertname": "DiskFull", "instance": "db1:9100", "severity": "critical"}))
    assert second["result"] == "updated"
    event = intake.only_event()
    assert event["severity"] == "critical" and event["attrs"]["severity"] == "critical"


def test_resolved_closes_the_event_at_ends_at(am, intake):
    [created] = post(am, alert())
    [closed] = post(am, resolved())
    assert closed["result"] == "closed" and closed["event_id"] == created["event_id"]
    assert closed["status"] == "resolved"
    event = intake.only_event()
    assert event["state"] == "closed" and event["status"] == "resolved"
    assert event["started_at"] == STARTED_AT and event["ended_at"] == 1714557900.5
    assert [op["kind"] for op in intake.timeline(event["id"])] == ["create", "close"]


def test_a_resolved_repeat_adds_no_operation(am, intake):
    post(am, alert())
    [closed] = post(am, resolved())
    for _ in range(2):
        [again] = post(am, resolved())
        assert again["result"] == "replayed" and again["event_id"] == closed["event_id"]
        assert again["seq"] == closed["seq"]
    event = intake.only_event()
    assert event["seq"] == closed["seq"] and len(intake.timeline(event["id"])) == 2


def test_a_refire_after_resolve_is_a_new_event(am, intake):
    [first] = post(am, alert())
    post(am, resolved())
    [refire] = post(am, alert(startsAt="2024-05-01T11:00:00Z"))
    assert refire["result"] == "created" and refire["event_id"] != first["event_id"]
    events = {event["id"]: event for event in intake.events()}
    assert len(events) == 2
    assert events[first["event_id"]]["state"] == "closed"
    assert events[refire["event_id"]]["state"] == "ongoing"
    assert events[refire["event_id"]]["started_at"] == 1714561200.0
    [closed] = post(am, resolved(ends_at="2024-05-01T11:10:00Z", startsAt="2024-05-01T11:00:00Z"))
    assert closed["result"] == "closed" and closed["event_id"] == refire["event_id"]


def test_resolved_for_an_unknown_fingerprint_is_ignored_with_200(am, intake):
    [result] = post(am, resolved("never-fired"))
    assert result["result"] == "ignored" and result["error_code"] == "keyed_event_not_found"
    assert "event_id" not in result
    assert intake.events() == []


def test_each_alert_of_a_notification_is_handled(am, intake):
    [to_close] = post(am, alert("aaaa0001"))
    results = post(am, alert("aaaa0002", labels={"alertname": "CPU", "severity": "critical"},
                             annotations={"summary": "CPU hot"}),
                   resolved("aaaa0001"), resolved("aaaa0003"), alert("aaaa0001"))
    assert [(r["fingerprint"], r["result"]) for r in results] == [
        ("aaaa0002", "created"), ("aaaa0001", "closed"), ("aaaa0003", "ignored"), ("aaaa0001", "replayed")]
    assert results[1]["event_id"] == to_close["event_id"]
    events = {event["id"]: event for event in intake.events()}
    assert len(events) == 2
    assert events[to_close["event_id"]]["state"] == "closed"
    cpu = events[results[0]["event_id"]]
    assert (cpu["state"], cpu["title"], cpu["severity"]) == ("ongoing", "CPU hot", "critical")


@pytest.mark.parametrize("bad, code", [
    ({"status": "pending"}, "alert_status_invalid"),
    ({"status": None}, "alert_status_invalid"),
    ({"startsAt": "yesterday"}, "startsAt_invalid"),
    ({"status": "resolved", "endsAt": "2024-13-45T00:00:00Z"}, "endsAt_invalid"),
    ({"fingerprint": "f" * 400}, "event_key_invalid"),
])
def test_one_invalid_alert_is_refused_and_the_others_applied(am, intake, bad, code):
    results = post(am, alert("good0001"), {**alert("bad00001"), **bad}, alert("good0002"))
    assert [r["result"] for r in results] == ["created", "refused", "created"]
    assert results[1]["error_code"] == code and results[1]["error"]
    assert "event_id" not in results[1]
    assert sorted(e["id"] for e in intake.events()) == sorted([results[0]["event_id"], results[2]["event_id"]])


def test_every_alert_invalid_is_400_and_stores_nothing(am, intake):
    reply = am.post(ROUTE, json=notification(alert("bad1", status="pending"), alert("bad2", startsAt="not a time")))
    body = error(reply, 400, "alerts_refused")
    assert "firing or resolved" in body["error"]  # the first alert's reason
    assert intake.events() == []


def test_an_all_ignored_notification_is_not_an_error(am, intake):
    results = post(am, resolved("gone0001"), resolved("gone0002"))
    assert [r["result"] for r in results] == ["ignored", "ignored"]


# -- credentials -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["query", "bearer", "basic"])
def test_the_token_is_read_where_alertmanager_sends_it(server, intake, where):
    headers, params = {}, {}
    if where == "query":
        params["token"] = intake.token
    elif where == "bearer":
        headers["Authorization"] = f"Bearer {intake.token}"
    else:  # http_config.basic_auth: the password is the token, the user anything
        headers["Authorization"] = "Basic " + base64.b64encode(f"alertmanager:{intake.token}".encode()).decode()
    [result] = post(server.client(), alert(annotations={"summary": where}), headers=headers, params=params)
    assert result["result"] == "created"
    assert intake.only_event()["title"] == where


def test_no_token_is_401(server, intake):
    reply = server.client().post(ROUTE, json=notification(alert()))
    error(reply, 401, "token_required")
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert intake.events() == []


@pytest.mark.parametrize("token", ["wrong", "a" * 32, "egk_notatoken"])
def test_an_unknown_token_is_401(server, intake, token):
    error(server.client().post(ROUTE, json=notification(alert()), params={"token": token}), 401)
    error(server.client().post(ROUTE, json=notification(alert()), headers={"Authorization": f"Bearer {token}"}), 401)
    assert intake.events() == []


def test_an_api_key_is_not_a_token(server, intake):
    key = server.create_key(workspace_id=intake.workspace_id)
    error(server.client().post(ROUTE, json=notification(alert()), headers={"Authorization": f"Bearer {key}"}), 401)
    assert intake.events() == []


def test_a_revoked_token_is_refused_at_once(am, intake):
    post(am, alert())
    intake.revoke()
    error(am.post(ROUTE, json=notification(resolved())), 401)
    assert intake.only_event()["state"] == "ongoing"


def test_a_token_writes_only_to_its_own_channel(server, intake):
    other = server.create_channel(workspace_id=intake.workspace_id, name="other")
    other_token, _ = new_token(server, intake.workspace_id, other)
    post(server.client(), alert(), params={"token": other_token})
    assert intake.events() == []


def test_a_fingerprint_names_an_event_per_channel(server, am, intake):
    other = intake_channel(server)
    [mine] = post(am, alert())
    [theirs] = post(server.client(), alert(), params={"token": other.token})
    assert mine["result"] == theirs["result"] == "created" and mine["event_id"] != theirs["event_id"]
    post(am, resolved())
    assert intake.only_event()["state"] == "closed" and other.only_event()["state"] == "ongoing"


# -- bodies the route cannot read --------------------------------------------------------------------


def test_no_alerts_is_400(am, intake):
    body = notification(alert())
    del body["alerts"]
    error(am.post(ROUTE, json=body), 400, "alerts_required")
    error(am.post(ROUTE, json={"alerts": None}), 400, "alerts_required")


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'{"alerts": "none"}', b'{"alerts": [{"labels": []}]}'])
def test_a_body_that_is_not_a_notification_is_400(am, intake, raw):
    error(am.post(ROUTE, content=raw, headers={"Content-Type": "application/json"}), 400)
    assert intake.events() == []


def test_too_many_alerts_is_400(am, intake):
    error(am.post(ROUTE, json=notification(*[alert(f"fp{i}") for i in range(1001)])), 400, "alerts_too_many")
    assert intake.events() == []


def test_a_body_over_one_mebibyte_is_413(am, intake):
    big = alert(annotations={"description": "x" * (1024 * 1024)})
    error(am.post(ROUTE, json=notification(big)), 413)
    assert intake.events() == []


def test_a_body_just_under_one_mebibyte_is_accepted(am, intake):
    body = notification(alert(annotations={"summary": "big", "description": ""}))
    room = 1024 * 1024 - len(json.dumps(body).encode())
    body["alerts"][0]["annotations"]["description"] = "y" * room
    raw = json.dumps(body).encode()
    assert len(raw) == 1024 * 1024
    reply = am.post(ROUTE, content=raw, headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    event = intake.only_event()
    assert event["title"] == "big" and event["description"] == "y" * 4095 + "…"


def test_when_the_store_cannot_take_writes_the_answer_is_503_so_alertmanager_retries(server_factory, intake):
    full = server_factory(write_queue_size=0)  # every write is refused as overloaded
    reply = full.client().post(ROUTE, json=notification(alert(), alert("other001")),
                               headers={"Authorization": f"Bearer {intake.token}"})
    error(reply, 503)
    assert reply.headers["Retry-After"] == "1"
    assert intake.events() == []


def test_the_reply_names_no_secret(am, intake):
    reply = am.post(ROUTE, json=notification(alert()))
    assert reply.status_code == 200 and intake.token not in reply.text


# -- live delivery and concurrency -------------------------------------------------------------------


def test_the_alert_reaches_live_subscribers(server, am, intake):
    key = server.create_key(("subscribe",), workspace_id=intake.workspace_id)
    with subscribe(server.base_url, key) as ws:
        welcome(ws)
        post(am, alert(labels={"alertname": "DiskFull", "severity": "critical"}))
        post(am, alert(labels={"alertname": "DiskFull", "severity": "critical"}))  # a replay: no frame
        post(am, resolved(labels={"alertname": "DiskFull", "severity": "critical"}))
        created, closed = read_events(ws, 2)
    assert created["event_type"] == "event_created" and created["op"]["kind"] == "create"
    assert created["event"]["state"] == "ongoing" and created["event"]["severity"] == "critical"
    assert created["event"]["channel_id"] == intake.channel_id
    assert closed["event_type"] == "event_closed" and closed["op"]["kind"] == "close"
    assert closed["event"]["id"] == created["event"]["id"] and closed["event"]["state"] == "closed"
    assert closed["seq"] == created["seq"] + 1


def concurrently(server, token: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST each body from its own thread and connection, all released at once."""
    barrier = threading.Barrier(len(bodies))
    results: list[Any] = [None] * len(bodies)

    def send(index: int) -> None:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            barrier.wait()
            try:
                reply = client.post(ROUTE, json=bodies[index], headers={"Authorization": f"Bearer {token}"})
                results[index] = (reply.status_code, reply.json())
            except Exception as exc:  # reported below, with the others
                results[index] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(isinstance(r, tuple) and r[0] == 200 for r in results), results
    return [body["alerts"][0] for _, body in results]


def test_twenty_concurrent_posts_of_one_firing_alert_make_one_event(server, intake):
    results = concurrently(server, intake.token, [notification(alert()) for _ in range(20)])
    event = intake.only_event()
    assert sorted(r["result"] for r in results) == ["created"] + ["replayed"] * 19
    assert {r["event_id"] for r in results} == {event["id"]}
    assert len(intake.timeline(event["id"])) == 1


def test_twenty_concurrent_changes_of_one_alert_are_one_event_under_the_writers_lock(server, intake):
    # Different annotations: twenty different operations, no replay to lean on — only the keyed
    # resolution inside the writer's transaction keeps them on one event.
    bodies = [notification(alert(annotations={"summary": "Disk", "description": f"{80 + i}% full"}))
              for i in range(20)]
    results = concurrently(server, intake.token, copy.deepcopy(bodies))
    event = intake.only_event()
    assert sorted(r["result"] for r in results) == ["created"] + ["updated"] * 19
    assert {r["event_id"] for r in results} == {event["id"]}
    timeline = intake.timeline(event["id"])
    assert [op["kind"] for op in timeline] == ["create"] + ["update"] * 19
    assert len({op["seq"] for op in timeline}) == 20
