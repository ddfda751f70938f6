"""ntfy subscribing (SPEC §13): channels as ntfy topics, read by ntfy's apps and libraries with
an API key or a channel token, as JSON lines, Server-Sent Events, raw text or a WebSocket, with
ntfy's since, poll and filters; an event's operations are messages with one sequence_id."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from websockets.sync.client import connect

from eventgate.api.ntfy.messages import message_id, seq_of_message_id
from tests.intake import intake_channel, new_token
from tests.live_client import close, create, update
from tests.ntfy_client import NtfyStream, auth_parameter, basic

PUBLIC_URL = "https://eventgate.example"
ID = re.compile(r"[A-Za-z0-9]{12}")


@pytest.fixture(scope="module")
def phones(server_factory):
    """A server with a public URL, so messages carry the event page as `click`."""
    return server_factory(public_url=PUBLIC_URL)


@pytest.fixture
def home(phones):
    return intake_channel(phones)


@pytest.fixture
def key(phones, home):
    return phones.create_key(workspace_id=home.workspace_id, user="alice")


@pytest.fixture
def producer(phones):
    return phones.client()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def open_stream(server, topics: str, secret: str | None, form: str = "json", **params: str) -> NtfyStream:
    headers = bearer(secret) if secret else {}
    stream = NtfyStream(server.base_url, f"/{topics}/{form}", headers=headers, params=params or None)
    assert stream.response.status_code == 200, stream.response.read()
    return stream


def ntfy_error(reply, status: int, code: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["code"] == code and body["http"] == status and body["error"], body
    assert set(body) <= {"code", "http", "error", "link"}
    return body


def poll(server, topics: str, secret: str, **params: str) -> list[dict[str, Any]]:
    reply = server.client().get(f"/{topics}/json", params={"poll": "1", **params}, headers=bearer(secret))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/x-ndjson; charset=utf-8"
    return [json.loads(line) for line in reply.text.splitlines()]


# -- the JSON stream, byte by byte -------------------------------------------------------------------


def test_a_json_stream_opens_with_ntfys_open_line(phones, home, key):
    with open_stream(phones, home.channel_id, key) as stream:
        assert stream.response.headers["content-type"] == "application/x-ndjson; charset=utf-8"
        line = stream.line()
    assert re.fullmatch(rb'\{"id":"[A-Za-z0-9]{12}","time":\d+,"event":"open","topic":"' +
                        home.channel_id.encode() + rb'"\}\n', line), line


def test_each_operation_is_one_message_line_with_the_event_as_sequence_id(phones, home, key, producer):
    with open_stream(phones, home.channel_id, key) as stream:
        stream.line()
        event_id = create(producer, home.channel_id, title="Disk", message="disk 91%", severity="high",
                          tags=["disk", "nas"])
        line = stream.line()
        while b'"event":"keepalive"' in line:  # the live heartbeat may come first
            line = stream.line()
    body = json.loads(line)
    assert line == json.dumps(body, separators=(",", ":")).encode() + b"\n"  # one compact line
    assert list(body) == ["id", "time", "event", "topic", "title", "message", "priority", "tags", "click",
                          "actions", "sequence_id"]
    assert ID.fullmatch(body["id"]) and body["id"].startswith("eg") and abs(body["time"] - time.time()) < 60
    assert (body["event"], body["topic"], body["title"], body["message"]) == ("message", home.channel_id, "Disk",
                                                                              "disk 91%")
    assert body["priority"] == 4 and body["tags"] == ["disk", "nas"] and body["sequence_id"] == event_id
    assert body["click"] == f"{PUBLIC_URL}/#/events/{event_id}"


def test_create_update_close_are_three_messages_with_one_sequence_id(phones, home, key, producer):
    with open_stream(phones, home.channel_id, key) as stream:
        stream.line()
        event_id = create(producer, home.channel_id, title="Pump", message="pressure low", severity="critical")
        update(producer, home.channel_id, event_id, message="pressure rising", severity="normal")
        close(producer, home.channel_id, event_id, message="pressure ok", severity="low")
        created, updated, closed = stream.messages(3)
    assert {m["sequence_id"] for m in (created, updated, closed)} == {event_id}
    assert [m["priority"] for m in (created, updated, closed)] == [5, 3, 2]
    assert [m["message"] for m in (created, updated, closed)] == ["pressure low", "pressure rising", "pressure ok"]
    assert created["title"] == updated["title"] == "Pump" and closed["title"] == "Closed: Pump"
    seqs = [seq_of_message_id(m["id"]) for m in (created, updated, closed)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


def test_one_tap_on_the_acknowledge_button_acknowledges_via_link_and_clears_every_phone(phones, home, key,
                                                                                      producer):
    with open_stream(phones, home.channel_id, key) as stream:
        stream.line()
        event_id = create(producer, home.channel_id, title="Boiler", message="flame out", severity="critical")
        [created] = stream.messages(1)
        acknowledge, view = created["actions"]
        assert view == {"action": "view", "label": "Open", "url": f"{PUBLIC_URL}/#/events/{event_id}"}
        assert (acknowledge["action"], acknowledge["label"], acknowledge["method"], acknowledge["clear"]) == (
            "http", "Acknowledge", "POST", True)
        assert acknowledge["url"].startswith(f"{PUBLIC_URL}/act/")
        # What the ntfy app does on a tap: an HTTP request with the action's method to its URL.
        path = acknowledge["url"].removeprefix(PUBLIC_URL)
        assert phones.client().post(path).status_code == 200
        [cleared] = stream.messages(1)
        assert (cleared["event"], cleared["sequence_id"]) == ("message_clear", event_id)
        close(producer, home.channel_id, event_id, message="relit")
        [closed] = stream.messages(1)
    assert "actions" not in closed  # nothing left to acknowledge
    event = phones.client().get(f"/events/{event_id}", headers=bearer(key)).json()["data"]
    assert event["acknowledged_by"] == "via link", event


def test_a_message_id_is_the_operations_seq_both_ways():
    for seq in (0, 1, 61, 62, 12345, 2**40, 62**10 - 1):
        assert seq_of_message_id(message_id(seq)) == seq and ID.fullmatch(message_id(seq))
    assert seq_of_message_id("1700000000") is None and seq_of_message_id("xx0000000001") is None


def test_a_message_published_with_ntfy_is_received_with_the_same_id(phones, home, key):
    with open_stream(phones, home.channel_id, key) as stream:
        stream.line()
        published = phones.client().put(f"/{home.channel_id}", content="hello", headers=bearer(home.token)).json()
        [received] = stream.messages(1)
    assert received["id"] == published["id"] and received["message"] == "hello" and received["priority"] == 3


def test_an_acknowledgement_is_a_message_clear_for_the_sequence_id(phones, home, key, producer):
    with open_stream(phones, home.channel_id, key) as stream:
        stream.line()
        event_id = create(producer, home.channel_id)
        reply = home.reader.post(f"/events/{event_id}/acknowledge")
        assert reply.status_code == 200, reply.text
        created, cleared = stream.messages(2)
    assert created["event"] == "message"
    assert cleared["event"] == "message_clear" and cleared["sequence_id"] == event_id
    assert set(cleared) == {"id", "time", "event", "topic", "sequence_id"}


def test_a_deleted_event_is_a_message_delete(phones, home, key, producer):
    with open_stream(phones, home.channel_id, key) as stream:
        stream.line()
        event_id = create(producer, home.channel_id)
        assert home.reader.delete(f"/events/{event_id}").status_code == 204
        _, deleted = stream.messages(2)
    assert deleted["event"] == "message_delete" and deleted["sequence_id"] == event_id


def test_a_quiet_stream_gets_keepalive_lines(server_factory):
    quick = server_factory(heartbeat_seconds=0.5)
    channel = intake_channel(quick)
    with open_stream(quick, channel.channel_id, quick.create_key(workspace_id=channel.workspace_id)) as stream:
        stream.line()
        keepalive = stream.event()
    assert keepalive["event"] == "keepalive" and keepalive["topic"] == channel.channel_id
    assert set(keepalive) == {"id", "time", "event", "topic"}


# -- since and poll ----------------------------------------------------------------------------------


def test_poll_returns_the_stored_messages_and_ends(phones, home, key, producer):
    first = create(producer, home.channel_id, message="one")
    second = create(producer, home.channel_id, message="two")
    messages = poll(phones, home.channel_id, key)
    assert [(m["message"], m["sequence_id"]) for m in messages] == [("one", first), ("two", second)]
    assert all(m["event"] == "message" for m in messages)  # no open, no keepalive in a poll


def test_since_a_message_id_resumes_right_after_it(phones, home, key, producer):
    for text in ("one", "two", "three"):
        create(producer, home.channel_id, message=text)
    first, *_ = poll(phones, home.channel_id, key)
    assert [m["message"] for m in poll(phones, home.channel_id, key, since=first["id"])] == ["two", "three"]


def test_since_all_none_and_latest(phones, home, key, producer):
    for text in ("one", "two"):
        create(producer, home.channel_id, message=text)
    assert [m["message"] for m in poll(phones, home.channel_id, key, since="all")] == ["one", "two"]
    assert [m["message"] for m in poll(phones, home.channel_id, key, since="latest")] == ["two"]
    assert poll(phones, home.channel_id, key, since="none") == []


def test_since_a_unix_time_or_a_duration(phones, home, key, producer):
    create(producer, home.channel_id, message="old")
    time.sleep(1.1)
    cut = int(time.time())
    time.sleep(1.1)
    create(producer, home.channel_id, message="new")
    assert [m["message"] for m in poll(phones, home.channel_id, key, since=str(cut))] == ["new"]
    assert [m["message"] for m in poll(phones, home.channel_id, key, since="10m")] == ["old", "new"]


def test_since_on_a_stream_replays_then_continues_live(phones, home, key, producer):
    create(producer, home.channel_id, message="before")
    with open_stream(phones, home.channel_id, key, since="all") as stream:
        assert stream.event()["event"] == "open"
        [before] = stream.messages(1)
        create(producer, home.channel_id, message="after")
        [after] = stream.messages(1)
    assert (before["message"], after["message"]) == ("before", "after")


@pytest.mark.parametrize("since", ["yesterday", "xx0000000001", "-5"])
def test_an_unreadable_since_is_ntfys_400(phones, home, key, since):
    reply = phones.client().get(f"/{home.channel_id}/json", params={"poll": "1", "since": since}, headers=bearer(key))
    ntfy_error(reply, 400, 40008)


# -- filters -----------------------------------------------------------------------------------------


def test_ntfys_filters_title_message_priority_and_tags(phones, home, key, producer):
    create(producer, home.channel_id, title="Disk", message="full", severity="critical", tags=["a", "b"])
    create(producer, home.channel_id, title="Door", message="open", severity="low", tags=["a"])

    def messages(**filters: str) -> list[str]:
        return [m["title"] for m in poll(phones, home.channel_id, key, **filters)]

    assert messages(title="Disk") == ["Disk"] and messages(message="open") == ["Door"]
    assert messages(priority="5") == ["Disk"] and messages(priority="low,urgent") == ["Disk", "Door"]
    assert messages(tags="a,b") == ["Disk"] and messages(tags="a") == ["Disk", "Door"]
    assert messages(priority="high") == []
    ntfy_error(phones.client().get(f"/{home.channel_id}/json", params={"poll": "1", "priority": "9"},
                                   headers=bearer(key)), 400, 40007)


def test_filters_apply_to_a_live_stream(phones, home, key, producer):
    with open_stream(phones, home.channel_id, key, priority="5") as stream:
        stream.line()
        create(producer, home.channel_id, title="minor", severity="low")
        create(producer, home.channel_id, title="major", severity="critical")
        [message] = stream.messages(1)
    assert message["title"] == "major"


# -- credentials ---------------------------------------------------------------------------------------


def test_a_key_as_basic_password_with_any_user(phones, home, key):
    reply = phones.client().get(f"/{home.channel_id}/auth", headers={"Authorization": basic(key, "whoever")})
    assert reply.status_code == 200 and reply.json() == {"success": True}


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_the_auth_query_parameter_as_ntfy_encodes_it(phones, home, key, scheme):
    header = basic(key) if scheme == "basic" else f"Bearer {key}"
    with NtfyStream(phones.base_url, f"/{home.channel_id}/json", params={"auth": auth_parameter(header)}) as stream:
        assert stream.response.status_code == 200 and stream.event()["event"] == "open"


def test_no_credential_is_ntfys_401(phones, home):
    body = ntfy_error(phones.client().get(f"/{home.channel_id}/json"), 401, 40101)
    assert body["link"].startswith("https://docs.ntfy.sh/")


@pytest.mark.parametrize("header", ["Bearer egk_wrong", "Bearer " + "a" * 32, basic("nope")])
def test_a_wrong_credential_is_ntfys_401(phones, home, header):
    ntfy_error(phones.client().get(f"/{home.channel_id}/auth", headers={"Authorization": header}), 401, 40101)
    ntfy_error(phones.client().get(f"/{home.channel_id}/json", headers={"Authorization": header}), 401, 40101)


def test_a_key_without_the_subscribe_scope_is_403(phones, home):
    writer = phones.create_key(("events:write",), workspace_id=home.workspace_id)
    ntfy_error(phones.client().get(f"/{home.channel_id}/json", headers=bearer(writer)), 403, 40301)


def test_a_channel_of_another_workspace_is_403(phones, home):
    other = intake_channel(phones)
    ntfy_error(phones.client().get(f"/{other.channel_id}/json", headers=bearer(phones.create_key(
        workspace_id=home.workspace_id))), 403, 40301)
    ntfy_error(phones.client().get("/no-such-channel/auth", headers=bearer(phones.create_key(
        workspace_id=home.workspace_id))), 403, 40301)


def test_a_restricted_key_reads_only_its_channels(phones, home, producer):
    other = phones.create_channel(workspace_id=home.workspace_id, name="garage")
    restricted = phones.create_key(workspace_id=home.workspace_id, channels=(home.channel_id,))
    assert phones.client().get(f"/{home.channel_id}/auth", headers=bearer(restricted)).status_code == 200
    ntfy_error(phones.client().get(f"/{other}/auth", headers=bearer(restricted)), 403, 40301)
    ntfy_error(phones.client().get(f"/{home.channel_id},{other}/json", headers=bearer(restricted)), 403, 40301)


def test_a_channel_token_reads_its_own_channel_only(phones, home, producer):
    other = phones.create_channel(workspace_id=home.workspace_id, name="garage")
    with open_stream(phones, home.name, home.token) as stream:
        stream.line()
        create(producer, home.channel_id, message="for the token")
        [message] = stream.messages(1)
    assert message["message"] == "for the token" and message["topic"] == home.name
    ntfy_error(phones.client().get(f"/{other}/json", headers=bearer(home.token)), 403, 40301)


# -- formats -------------------------------------------------------------------------------------------


def test_sse_is_ntfys_event_stream(phones, home, key, producer):
    with open_stream(phones, home.channel_id, key, form="sse") as stream:
        assert stream.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        opened = stream.block()
        event_id = create(producer, home.channel_id, message="via sse")
        message = stream.block()
        while message.startswith(b"event: keepalive\n"):  # the live heartbeat may come first
            message = stream.block()
    assert re.fullmatch(rb'event: open\ndata: \{"id":"[A-Za-z0-9]{12}","time":\d+,"event":"open","topic":"'
                        + home.channel_id.encode() + rb'"\}\n\n', opened), opened
    head, data = message.split(b"\ndata: ")
    body = json.loads(data)
    assert head == b"id: " + body["id"].encode() and data.endswith(b"}\n\n")
    assert body["message"] == "via sse" and body["sequence_id"] == event_id


def test_sse_resumes_from_last_event_id(phones, home, key, producer):
    for text in ("one", "two"):
        create(producer, home.channel_id, message=text)
    first, _ = poll(phones, home.channel_id, key)
    stream = NtfyStream(phones.base_url, f"/{home.channel_id}/sse",
                        headers={**bearer(key), "Last-Event-ID": first["id"]})
    with stream:
        stream.block()
        block = stream.block()
        while block.startswith(b"event: keepalive\n"):
            block = stream.block()
        body = json.loads(block.split(b"data: ")[1])
    assert body["message"] == "two"


def test_raw_is_the_message_text_per_line(phones, home, key, producer):
    with open_stream(phones, home.channel_id, key, form="raw") as stream:
        assert stream.response.headers["content-type"] == "text/plain; charset=utf-8"
        assert stream.line() == b"\n"  # open
        create(producer, home.channel_id, message="line one\nline two")
        line = stream.line()
        while line == b"\n":  # a keepalive is a blank line too
            line = stream.line()
        assert line == b"line one line two\n"


def test_a_websocket_carries_ntfys_json_events(phones, home, key, producer):
    url = phones.base_url.replace("http://", "ws://") + f"/{home.channel_id}/ws"
    with connect(url, additional_headers={"Authorization": basic(key)}) as ws:
        opened = json.loads(ws.recv(timeout=30))
        event_id = create(producer, home.channel_id, message="over ws")
        text = ws.recv(timeout=30)
        while '"event":"keepalive"' in text:
            text = ws.recv(timeout=30)
    assert opened["event"] == "open" and opened["topic"] == home.channel_id
    body = json.loads(text)
    assert text.endswith("\n") and body["event"] == "message" and body["sequence_id"] == event_id


def test_a_websocket_with_a_wrong_credential_is_refused_with_ntfys_401(phones, home):
    from websockets.exceptions import InvalidStatus

    url = phones.base_url.replace("http://", "ws://") + f"/{home.channel_id}/ws"
    with pytest.raises(InvalidStatus) as refused:
        with connect(url, additional_headers={"Authorization": "Bearer egk_wrong"}):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["code"] == 40101


def test_several_topics_by_id_and_name(phones, home, key, producer):
    garage = phones.create_channel(workspace_id=home.workspace_id, name="garage")
    with open_stream(phones, f"{home.channel_id},garage", key) as stream:
        assert stream.event()["topic"] == f"{home.channel_id},garage"
        create(producer, home.channel_id, message="house")
        create(producer, garage, message="car")
        house, car = stream.messages(2)
    assert (house["topic"], car["topic"]) == (home.channel_id, "garage")


# -- revocation ----------------------------------------------------------------------------------------


def test_revoking_the_key_ends_its_stream(phones, home):
    reply = home.admin.post("/admin/keys", json={"user_id": "phone", "scopes": ["subscribe"]})
    assert reply.status_code in (200, 201), reply.text
    created = reply.json()
    key = created.get("key") or created["data"]["key"]
    key_id = created.get("id") or created["data"]["id"]
    with open_stream(phones, home.channel_id, key) as stream:
        stream.line()
        assert home.admin.delete(f"/admin/keys/{key_id}").status_code in (200, 204)
        stream.wait_for_end(timeout=15)
    ntfy_error(phones.client().get(f"/{home.channel_id}/json", headers=bearer(key)), 401, 40101)


def test_revoking_the_channel_token_ends_its_stream(phones, home):
    token, token_id = new_token(phones, home.workspace_id, home.channel_id, "phone")
    with open_stream(phones, home.channel_id, token) as stream:
        stream.line()
        reply = home.admin.delete(f"/admin/channels/{home.channel_id}/tokens/{token_id}")
        assert reply.status_code == 204, reply.text
        stream.wait_for_end(timeout=15)
    ntfy_error(phones.client().get(f"/{home.channel_id}/json", headers=bearer(token)), 401, 40101)


# -- clear and delete from the client side ---------------------------------------------------------------


def test_clear_with_a_write_key_acknowledges_and_clears_every_phone(phones, home, key, producer):
    event_id = create(producer, home.channel_id)
    with open_stream(phones, home.channel_id, key) as stream:
        stream.line()
        reply = phones.client().put(f"/{home.channel_id}/{event_id}/clear", headers=bearer(key))
        assert reply.status_code == 200, reply.text
        [cleared] = stream.messages(1)
    assert reply.json()["event"] == "message_clear" and reply.json()["sequence_id"] == event_id
    assert cleared["event"] == "message_clear" and cleared["sequence_id"] == event_id
    assert cleared["id"] == reply.json()["id"]
    event = home.reader.get(f"/events/{event_id}").json()["data"]
    assert event["acknowledged_by"] == "alice" and event["acknowledged_at"]


def test_delete_with_a_write_key_deletes_the_event(phones, home, key, producer):
    event_id = create(producer, home.channel_id)
    with open_stream(phones, home.channel_id, key) as stream:
        stream.line()
        reply = phones.client().delete(f"/{home.channel_id}/{event_id}", headers=bearer(key))
        assert reply.status_code == 200, reply.text
        [deleted] = stream.messages(1)
    assert deleted["event"] == "message_delete" and deleted["sequence_id"] == event_id
    assert home.reader.get(f"/events/{event_id}").status_code == 404


def test_clear_needs_a_write_key(phones, home, producer):
    event_id = create(producer, home.channel_id)
    reader_only = phones.create_key(("subscribe",), workspace_id=home.workspace_id)
    ntfy_error(phones.client().put(f"/{home.channel_id}/{event_id}/clear", headers=bearer(reader_only)), 403, 40301)
    ntfy_error(phones.client().put(f"/{home.channel_id}/{event_id}/clear", headers=bearer(home.token)), 403, 40301)
    ntfy_error(phones.client().delete(f"/{home.channel_id}/{event_id}", headers=bearer(home.token)), 403, 40301)


def test_clear_of_an_event_not_in_the_topic_is_404(phones, home, key, producer):
    garage = phones.create_channel(workspace_id=home.workspace_id, name="garage")
    event_id = create(producer, garage)
    ntfy_error(phones.client().put(f"/{home.channel_id}/{event_id}/clear", headers=bearer(key)), 404, 40401)
    ntfy_error(phones.client().put(f"/{home.channel_id}/nope/clear", headers=bearer(key)), 404, 40401)


def test_eventgates_own_paths_keep_their_methods(phones, home):
    assert phones.client().delete("/admin/keys", headers=bearer(home.token)).status_code == 405
    assert phones.client().get("/events/json", headers=bearer(phones.create_key(
        workspace_id=home.workspace_id))).status_code == 404  # an event id, not a topic


# -- what clients ask when a server is added ----------------------------------------------------------


def test_health(phones):
    reply = phones.client().get("/v1/health")
    assert reply.status_code == 200 and reply.json() == {"healthy": True}


def test_account_of_a_key_a_token_and_no_one(phones, home, key):
    client = phones.client()
    assert client.get("/v1/account", headers={"Authorization": basic(key)}).json()["username"] == "alice"
    assert client.get("/v1/account", headers=bearer(home.token)).json()["username"] == "token:backup-script"
    assert client.get("/v1/account").json()["username"] == "*"
    ntfy_error(client.get("/v1/account", headers=bearer("egk_wrong")), 401, 40101)


def test_account_token_is_the_secret_presented(phones, key):
    reply = phones.client().post("/v1/account/token", json={"label": "Home Assistant"},
                                 headers={"Authorization": basic(key, "alice")})
    assert reply.status_code == 200 and reply.json()["token"] == key
    ntfy_error(phones.client().post("/v1/account/token"), 401, 40101)


@pytest.mark.parametrize("path", ["/v1/config", "/v1/version", "/v1/stats", "/v1/tiers"])
def test_what_eventgate_does_not_have_is_ntfys_404(phones, path):
    ntfy_error(phones.client().get(path), 404, 40401)
