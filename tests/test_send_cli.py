"""`eventgate send create|update|close`: the event id on stdout, exit codes a shell can test
(0 acknowledged, 2 refused or bad usage, 3 unreachable), the EVENTGATE_* variables."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import httpx

from tests.conftest import PASSWORD
from tests.live_client import EVENTGATE, LiveWorkspace, free_port, live  # noqa: F401  (fixture)
from tests.tcp_proxy import proxy_to


def send(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EVENTGATE_")}
    return subprocess.run([EVENTGATE, "send", *args], capture_output=True, text=True, timeout=120,
                          env={**base, **(env or {})})


def flags(live: LiveWorkspace, url: str | None = None) -> list[str]:
    return ["--url", url or live.base_url, "--channel", live.channel, "--password", PASSWORD]


def read_event(live: LiveWorkspace, event_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{live.base_url}/events/{event_id}", headers={"Authorization": f"Bearer {live.key}"},
                      timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def test_create_update_close_print_the_event_id_and_exit_0(live):
    created = send("create", *flags(live), "--title", "Nightly backup", "--message", "copying /srv",
                   "--severity", "HIGH", "--tag", "backup", "--tag", "nas", "--attr", "host=nas",
                   "--attr", "files=120", "--thing-id", "nas-1")
    assert created.returncode == 0, created.stderr
    event_id = created.stdout.strip()
    event = read_event(live, event_id)
    assert (event["title"], event["subtitle"], event["severity"]) == ("Nightly backup", "copying /srv", "high")
    assert sorted(event["topics"]) == ["backup", "nas"]
    assert event["context"] == {"host": "nas", "files": 120}

    updated = send("update", event_id, *flags(live), "--status", "verifying", "--attr", "files=null")
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.strip() == event_id
    event = read_event(live, event_id)
    assert event["status"] == "verifying" and event["severity"] == "high" and event["context"] == {"host": "nas"}

    closed = send("close", event_id, *flags(live), "--message", "done")
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout.strip() == event_id
    assert read_event(live, event_id)["state"] == "closed"


def test_json_prints_the_whole_acknowledgement(live):
    chosen = ("--op-id", "deploy-cli-1", "--event-time", "1800000000")
    result = send("create", *flags(live), "--title", "Deploy", *chosen, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["op_id"] == "deploy-cli-1" and payload["kind"] == "create"
    assert payload["answer"]["success"] is True and payload["answer"]["data"]["event_id"] == payload["event_id"]
    again = send("create", *flags(live), "--title", "Deploy", *chosen, "--json")
    assert json.loads(again.stdout)["event_id"] == payload["event_id"]  # same op_id, same body: a replay


def test_event_type_is_accepted(live):
    result = send("create", *flags(live), "--event-type", "door_open")
    assert result.returncode == 0, result.stderr
    event = read_event(live, result.stdout.strip())
    assert event["event_type"] == "door_open" and event["title"] == "door_open"


def test_the_environment_gives_url_channel_and_password(live):
    env = {"EVENTGATE_URL": live.base_url, "EVENTGATE_CHANNEL": live.channel, "EVENTGATE_PASSWORD": PASSWORD}
    result = send("create", "--title", "From the environment", env=env)
    assert result.returncode == 0, result.stderr
    assert read_event(live, result.stdout.strip())["title"] == "From the environment"


def test_a_refusal_exits_2_with_the_servers_code_on_one_line_and_no_password(live):
    secret = "wrong-password-123"
    result = send("create", "--url", live.base_url, "--channel", live.channel, "--password", secret,
                  "--title", "x")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "password_mismatch" in lines[0] and "403" in lines[0]
    assert secret not in result.stderr

    unknown = send("close", "no-such-event", *flags(live))
    assert unknown.returncode == 2 and "event_not_found" in unknown.stderr


def test_a_repeated_update_with_a_chosen_op_id_is_a_replay(live):
    event_id = send("create", *flags(live), "--title", "Deploy").stdout.strip()
    for _ in range(2):
        result = send("update", event_id, *flags(live), "--message", "50%", "--op-id", "deploy-half")
        assert result.returncode == 0, result.stderr
    reply = httpx.get(f"{live.base_url}/events/{event_id}/timeline", headers={"Authorization": f"Bearer {live.key}"},
                      timeout=30)
    assert [op["kind"] for op in reply.json()["data"]] == ["create", "update"]


def test_bad_usage_exits_2(live):
    assert send("create", "--url", live.base_url, "--title", "no channel").returncode == 2
    assert send("update", *flags(live)).returncode == 2  # no EVENT_ID
    bad_attr = send("create", *flags(live), "--title", "x", "--attr", "novalue")
    assert bad_attr.returncode == 2 and "--attr" in bad_attr.stderr


def test_an_unreachable_server_exits_3_after_the_retries(live):
    result = send("create", "--url", f"http://127.0.0.1:{free_port()}", "--channel", live.channel,
                  "--password", PASSWORD, "--title", "x", "--retries", "1")
    assert result.returncode == 3
    assert "server_unavailable" in result.stderr and PASSWORD not in result.stderr


def test_a_lost_answer_is_retried_and_stored_once(live):
    with proxy_to(live.base_url) as proxy:
        proxy.answers_to_drop = 1
        result = send("create", *flags(live, proxy.base_url), "--title", "Lost once")
        assert proxy.answers_dropped == 1
    assert result.returncode == 0, result.stderr
    reply = httpx.get(f"{live.base_url}/events/{result.stdout.strip()}/timeline",
                      headers={"Authorization": f"Bearer {live.key}"}, timeout=30)
    assert len(reply.json()["data"]) == 1
    listed = httpx.get(f"{live.base_url}/events", params={"q": "Lost once"},
                       headers={"Authorization": f"Bearer {live.key}"}, timeout=30)
    assert len(listed.json()["data"]) == 1


def test_help_lists_send():
    result = subprocess.run([EVENTGATE, "--help"], capture_output=True, text=True, timeout=60)
    assert "send" in result.stdout
