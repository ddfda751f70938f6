"""ntfy publishing (SPEC §9): `POST /` (JSON) and `PUT`/`POST /{topic}` with a channel token;
each message is an event created already closed in the topic's channel."""

from __future__ import annotations

import base64
import secrets
import time

import pytest
from starlette.routing import Route

from eventgate.api.ntfy.messages import seq_of_message_id
from eventgate.api.ntfy.topics import OWN_ROUTES, RESERVED_TOPICS
from tests.conftest import broker_urls
from tests.intake import intake_channel, new_token
from tests.live_client import read_events, subscribe, welcome


@pytest.fixture
def intake(server):
    return intake_channel(server)


@pytest.fixture
def ntfy(server, intake):
    return server.client(headers={"Authorization": f"Bearer {intake.token}"})


def ntfy_error(reply, status, code=None):
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["http"] == status and body["code"] // 100 == status and body["error"]
    if code is not None:
        assert body["code"] == code, body
    return body


def test_a_message_put_to_the_channel_topic_is_an_event_created_already_closed(ntfy, intake):
    reply = ntfy.put(f"/{intake.channel_id}", content="Backup failed on nas",
                     headers={"X-Title": "Backup", "X-Priority": "4", "X-Tags": "warning,backup"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["event"] == "message" and body["topic"] == intake.channel_id
    assert body["message"] == "Backup failed on nas" and body["title"] == "Backup" and body["priority"] == 4
    assert body["tags"] == ["warning", "backup"] and isinstance(body["id"], str) and isinstance(body["time"], int)
    event = intake.only_event()
    assert (event["title"], event["message"], event["severity"]) == ("Backup", "Backup failed on nas", "high")
    assert event["tags"] == ["warning", "backup"] and event["event_type"] == "ntfy"
    assert event["state"] == "closed" and event["started_at"] == event["ended_at"]
    [operation] = intake.timeline(event["id"])
    assert operation["kind"] == "create" and seq_of_message_id(body["id"]) == operation["seq"]


def test_the_topic_may_be_the_channel_name(ntfy, intake):
    assert ntfy.post(f"/{intake.name}", content="by name").status_code == 200
    assert intake.only_event()["message"] == "by name"


def test_the_channel_id_topic_is_case_insensitive(ntfy, intake):
    assert ntfy.post(f"/{intake.channel_id.lower()}", content="lower").status_code == 200
    assert intake.only_event()["message"] == "lower"


def test_a_json_publish_to_the_root(ntfy, intake):
    reply = ntfy.post("/", json={"topic": intake.channel_id, "title": "Disk", "message": "Disk full", "priority": 5,
                                 "tags": ["disk"], "click": "https://nas.local/"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["click"] == "https://nas.local/"
    event = intake.only_event()
    assert (event["title"], event["message"], event["severity"], event["tags"]) == ("Disk", "Disk full", "critical",
                                                                                   ["disk"])
    assert event["actions"] == [{"label": "Open", "url": "https://nas.local/"}]
    assert event["attrs"]["ntfy"]["click"] == "https://nas.local/"


def test_a_json_publish_is_read_whatever_its_content_type_and_its_fields_win_over_headers(ntfy, intake):
    reply = ntfy.post("/", content=f'{{"topic": "{intake.channel_id}", "title": "from json"}}',
                      headers={"Content-Type": "application/x-www-form-urlencoded", "X-Title": "from header",
                               "X-Priority": "high", "X-Tags": "a,b"})
    assert reply.status_code == 200, reply.text
    event = intake.only_event()
    assert event["title"] == "from json" and event["severity"] == "high" and event["tags"] == ["a", "b"]
    assert event["message"] == "triggered"


@pytest.mark.parametrize("priority, severity", [
    ("1", "low"), ("2", "low"), ("3", "normal"), ("4", "high"), ("5", "critical"),
    ("min", "low"), ("low", "low"), ("default", "normal"), ("high", "high"), ("max", "critical"),
    ("urgent", "critical"), ("MAX", "critical"),
])
def test_priority_maps_to_severity(ntfy, intake, priority, severity):
    assert ntfy.post(f"/{intake.channel_id}", content="m", headers={"Priority": priority}).status_code == 200
    assert intake.only_event()["severity"] == severity


@pytest.mark.parametrize("priority, status", [(4.0, 200), (0.0, 200), (4.5, 400), (6.0, 400)])
def test_a_json_priority_written_as_a_float_is_read_as_its_whole_number(ntfy, intake, priority, status):
    # JSON Schema's integer (the OpenAPI document) includes 4.0.
    reply = ntfy.post("/", content=f'{{"topic": "{intake.channel_id}", "message": "m", "priority": {priority}}}')
    assert reply.status_code == status, reply.text
    if status == 200:
        assert intake.only_event()["severity"] == ("high" if priority == 4.0 else "normal")
    else:
        ntfy_error(reply, 400, 40007)
        assert intake.events() == []


def test_no_priority_is_normal(ntfy, intake):
    reply = ntfy.post(f"/{intake.channel_id}", content="m")
    assert reply.status_code == 200 and "priority" not in reply.json()
    assert intake.only_event()["severity"] == "normal"


@pytest.mark.parametrize("title, priority, tags", [
    ("X-Title", "X-Priority", "X-Tags"), ("Title", "Priority", "Tags"), ("ti", "prio", "tag"), ("t", "p", "ta"),
])
def test_every_header_name_ntfy_reads(ntfy, intake, title, priority, tags):
    reply = ntfy.post(f"/{intake.channel_id}", content="m", headers={title: "T", priority: "max", tags: "x, y"})
    assert reply.status_code == 200, reply.text
    event = intake.only_event()
    assert (event["title"], event["severity"], event["tags"]) == ("T", "critical", ["x", "y"])


def test_query_parameters_are_read_too(ntfy, intake):
    reply = ntfy.post(f"/{intake.channel_id}?title=Q&priority=low&tags=q1,q2&click=https://x.example/", content="m")
    assert reply.status_code == 200, reply.text
    event = intake.only_event()
    assert (event["title"], event["severity"], event["tags"]) == ("Q", "low", ["q1", "q2"])
    assert event["actions"] == [{"label": "Open", "url": "https://x.example/"}]


def test_an_empty_body_is_ntfys_triggered_message(ntfy, intake):
    reply = ntfy.post(f"/{intake.channel_id}")
    assert reply.status_code == 200 and reply.json()["message"] == "triggered"
    assert intake.only_event()["message"] == "triggered"


def test_a_utf8_title_in_an_rfc2047_header(ntfy, intake):
    assert ntfy.post(f"/{intake.channel_id}", content="m",
                     headers={"Title": "=?UTF-8?B?R2Fyw6dvbiDwn5qA?="}).status_code == 200
    assert intake.only_event()["title"] == "Garçon 🚀"


def test_view_actions_become_the_events_actions(ntfy, intake):
    actions = "view, Open portal, https://home.example/, clear=true; http, Close door, https://api.example/door"
    reply = ntfy.post(f"/{intake.channel_id}", content="m", headers={"X-Actions": actions})
    assert reply.status_code == 200, reply.text
    assert intake.only_event()["actions"] == [{"label": "Open portal", "url": "https://home.example/"}]


def test_json_actions_and_icon(ntfy, intake):
    reply = ntfy.post("/", json={"topic": intake.channel_id, "message": "m", "icon": "https://x.example/i.png",
                                 "actions": [{"action": "view", "label": "See", "url": "https://x.example/"}]})
    assert reply.status_code == 200, reply.text
    event = intake.only_event()
    assert event["actions"] == [{"label": "See", "url": "https://x.example/"}]
    assert event["attrs"]["ntfy"]["icon"] == "https://x.example/i.png"


def test_the_request_may_name_its_event_type(ntfy, intake):
    assert ntfy.post(f"/{intake.channel_id}?event_type=door_open", content="m").status_code == 200
    assert intake.only_event()["event_type"] == "door_open"


def test_a_message_reaches_live_subscribers_like_any_event(server, ntfy, intake):
    key = server.create_key(("subscribe",), workspace_id=intake.workspace_id)
    with subscribe(server.base_url, key, channel_id=intake.channel_id) as ws:
        welcome(ws)
        assert ntfy.put(f"/{intake.channel_id}", content="live", headers={"X-Priority": "5"}).status_code == 200
        [frame] = read_events(ws, 1)
    assert frame["op"]["kind"] == "create" and frame["event"]["state"] == "closed"
    assert frame["event"]["message"] == "live" and frame["event"]["severity"] == "critical"


# -- credentials ---------------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("form", ["bearer", "basic-password", "basic-user", "auth-query"])
def test_the_token_is_read_as_ntfy_clients_send_it(server, intake, form):
    headers, params = {}, {}
    if form == "bearer":
        headers["Authorization"] = f"Bearer {intake.token}"
    elif form == "basic-password":
        headers["Authorization"] = basic("anyone", intake.token)
    elif form == "basic-user":
        headers["Authorization"] = basic(intake.token, "")
    else:
        params["auth"] = base64.urlsafe_b64encode(f"Bearer {intake.token}".encode()).decode().rstrip("=")
    reply = server.client().post(f"/{intake.channel_id}", content=form, headers=headers, params=params)
    assert reply.status_code == 200, reply.text
    assert intake.only_event()["message"] == form


def test_no_credential_is_401(server, intake):
    reply = server.client().post(f"/{intake.channel_id}", content="m")
    ntfy_error(reply, 401, 40101)
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert intake.events() == []


@pytest.mark.parametrize("authorization", ["Bearer wrong", "Bearer " + "a" * 32, basic("u", "p"), "Basic !!!",
                                           "Token x"])
def test_a_wrong_credential_is_401(server, intake, authorization):
    reply = server.client().post(f"/{intake.channel_id}", content="m", headers={"Authorization": authorization})
    ntfy_error(reply, 401, 40101)
    assert intake.events() == []


def test_an_api_key_is_not_a_token(server, intake):
    key = server.create_key(workspace_id=intake.workspace_id)
    reply = server.client().post(f"/{intake.channel_id}", content="m", headers={"Authorization": f"Bearer {key}"})
    ntfy_error(reply, 401, 40101)


def test_a_revoked_token_is_refused_at_once(ntfy, intake):
    assert ntfy.post(f"/{intake.channel_id}", content="before").status_code == 200
    intake.revoke()
    ntfy_error(ntfy.post(f"/{intake.channel_id}", content="after"), 401, 40101)
    assert [e["message"] for e in intake.events()] == ["before"]


def test_a_token_of_channel_a_never_writes_to_channel_b(server, intake):
    other = server.create_channel(workspace_id=intake.workspace_id, name="other-b")
    client = server.client(headers={"Authorization": f"Bearer {intake.token}"})
    ntfy_error(client.post(f"/{other}", content="to B"), 403, 40301)
    ntfy_error(client.post("/other-b", content="to B"), 403, 40301)
    ntfy_error(client.post("/", json={"topic": other, "message": "to B"}), 403, 40301)
    b_token, _ = new_token(server, intake.workspace_id, other)
    reader = intake.reader.get("/events", params={"channel_id": other})
    assert reader.json()["data"] == [] and intake.events() == []
    assert server.client(headers={"Authorization": f"Bearer {b_token}"}).post(f"/{other}", content="ok").status_code == 200


# -- topics and routes ---------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["admin", "api", "v1", "v2", "integrations", "stats", "static", "Events",
                                   "HEALTHZ"])
def test_a_reserved_topic_is_400_with_a_clear_message(ntfy, topic):
    body = ntfy_error(ntfy.put(f"/{topic}", content="m"), 400, 40010)
    assert "reserved" in body["error"]


@pytest.mark.parametrize("path, allowed", [("events", {"GET", "HEAD", "POST"}), ("healthz", {"GET", "HEAD"}),
                                           ("metrics", {"GET", "HEAD"}), ("message", {"POST"}),
                                           ("docs", {"GET", "HEAD"}), ("whoami", {"GET", "HEAD"})])
def test_a_method_an_own_route_lacks_is_405_not_a_publish(ntfy, path, allowed):
    reply = ntfy.put(f"/{path}", content="m")
    assert reply.status_code == 405, reply.text
    assert set(reply.headers["allow"].replace(" ", "").split(",")) >= allowed


def test_the_topic_route_leaves_every_own_single_segment_route_alone(server):
    own = {route.path.strip("/") for route in server.app.routes
           if route.path.count("/") == 1 and route.path != "/" and "{" not in route.path}
    assert own == set(OWN_ROUTES)


def test_every_top_level_path_of_the_app_is_a_reserved_topic(server):
    for route in server.app.routes:
        first = route.path.strip("/").split("/")[0]
        if first and not first.startswith("{"):
            assert first.lower() in RESERVED_TOPICS, f"{route.path}: add {first!r} to the reserved topics"


@pytest.mark.parametrize("topic", ["a" * 65, "bad.topic", "spa%20ce"])
def test_an_invalid_topic_is_400(ntfy, topic):
    ntfy_error(ntfy.put(f"/{topic}", content="m"), 400)


def test_the_dashboard_is_still_served_at_the_root(client):
    reply = client.get("/")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")


def test_no_other_post_or_put_route_is_taken_by_the_topic_route(server, client):
    checked = 0
    for route in server.app.routes:
        if not isinstance(route, Route) or route.name.startswith("ntfy_"):
            continue
        for method in (route.methods or set()) & {"POST", "PUT"}:
            path = route.path.replace("{channel_id}", "06J0FZG1Y8XGG14VTQ4Y3G10MR")
            for name in ("event_id", "id", "key_id", "token_id", "destination_id", "delivery_id", "token"):
                path = path.replace("{" + name + "}", "1")
            reply = client.request(method, path, content=b"{}", headers={"Content-Type": "application/json"})
            assert reply.status_code < 500, (method, path, reply.text)
            if reply.headers["content-type"].startswith("text/html"):  # a page for people (/act/…), not ntfy's
                continue
            assert "http" not in reply.json(), f"{method} {path} was answered by the ntfy topic route"
            checked += 1
    assert checked >= 10


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers, code", [
    ({"X-Priority": "6"}, 40007),
    ({"X-Priority": "urgentest"}, 40007),
    ({"X-Delay": "30m"}, 40002),
    ({"X-Email": "me@example.com"}, 40001),
    ({"X-Icon": "not a url"}, None),
    ({"X-Actions": "dance, Now"}, 40018),
    ({"X-Actions": "[not json"}, 40018),
    ({"X-Actions": "view, a, https://a.example/; view, b, https://b.example/; view, c, https://c.example/; "
                   "view, d, https://d.example/"}, 40018),
    ({"X-Tags": ",".join(f"t{i}" for i in range(40))}, None),
    ({"X-Title": "t" * 300}, None),
    ({"X-Filename": "report.pdf"}, 40013),
    ({"X-Actions": '[{"action": "view", "label": "a", "url": "https://a.example/", "colour": "red"}]'}, 40018),
    ({"X-Actions": '[{"action": "http", "label": "a", "url": "https://a.example/", "headers": {"n": 1}}]'}, 40018),
    ({"X-Actions": '[{"action": "http", "label": "a", "clear": 5}]'}, 40018),
])
def test_a_bad_publish_is_400_and_stores_nothing(ntfy, intake, headers, code):
    ntfy_error(ntfy.put(f"/{intake.channel_id}", content="body", headers=headers), 400, code)
    assert intake.events() == []


def test_a_body_that_is_not_utf8_is_400(ntfy, intake):
    ntfy_error(ntfy.put(f"/{intake.channel_id}", content=b"\xff\xfe"), 400, 40011)


def test_a_message_over_4096_characters_is_400(ntfy, intake):
    ntfy_error(ntfy.put(f"/{intake.channel_id}", content="m" * 5000), 400)


def test_a_body_over_the_limit_is_413(ntfy, intake):
    ntfy_error(ntfy.put(f"/{intake.channel_id}", content="m" * 40_000), 413)


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b'{"message": "no topic"}', b'{"topic": 5}',
                                  b'{"topic": "x", "priority": "high"}', b'{"topic": "x", "tags": "a,b"}'])
def test_a_bad_json_publish_is_400(ntfy, body):
    ntfy_error(ntfy.post("/", content=body, headers={"Content-Type": "application/json"}), 400)


def test_when_the_store_cannot_take_writes_the_answer_is_503_never_429(server_factory, intake):
    full = server_factory(write_queue_size=0)
    reply = full.client().put(f"/{intake.channel_id}", content="m", headers={"Authorization": f"Bearer {intake.token}"})
    ntfy_error(reply, 503)
    assert reply.headers["Retry-After"] == "1"


def _broker_params() -> list:
    return broker_urls() or [pytest.param(None, marks=pytest.mark.skip(reason="needs EVENTGATE_TEST_BROKER_URL"))]


@pytest.mark.parametrize("broker_url", _broker_params())
def test_a_message_published_to_one_process_reaches_a_subscriber_of_another(server_factory, broker_url):
    url = f"{broker_url}{'&' if '?' in broker_url else '?'}prefix=egintake{secrets.token_hex(4)}"
    first, second = server_factory(broker_url=url), server_factory(broker_url=url)
    for process in (first, second):
        deadline = time.monotonic() + 30
        while process.client().get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the broker never became ready"
            time.sleep(0.1)
    intake = intake_channel(first)
    key = first.create_key(("subscribe",), workspace_id=intake.workspace_id)
    with subscribe(second.base_url, key, channel_id=intake.channel_id) as ws:
        welcome(ws)
        reply = first.client().put(f"/{intake.channel_id}", content="across",
                                   headers={"Authorization": f"Bearer {intake.token}"})
        assert reply.status_code == 200, reply.text
        [frame] = read_events(ws, 1)
    assert frame["event"]["message"] == "across" and frame["event"]["state"] == "closed"
    assert seq_of_message_id(reply.json()["id"]) == frame["seq"]


def test_every_field_of_ntfys_actions_is_taken(ntfy, intake):
    actions = [{"action": "http", "label": "Open door", "url": "https://door.example/open", "method": "PUT",
                "headers": {"Authorization": "Bearer x"}, "body": "{}", "clear": True},
               {"action": "view", "label": "Camera", "url": "https://cam.example/", "clear": "true"},
               {"action": "broadcast", "label": "Alarm", "intent": "io.heckel.ntfy.USER_ACTION",
                "extras": {"cmd": "stop"}}]
    reply = ntfy.post("/", json={"topic": intake.channel_id, "message": "door", "actions": actions})
    assert reply.status_code == 200, reply.text
    assert intake.only_event()["actions"] == [{"label": "Camera", "url": "https://cam.example/"}]
