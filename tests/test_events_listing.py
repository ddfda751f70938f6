"""Seed 002 listing: GET /events — order, limit, cursor paging, filters, and bad input (SPEC §4).

Every test works in a workspace of its own."""

from __future__ import annotations

import base64
import threading

import pytest
import sqlalchemy as sa

from eventgate.store.schema import events
from tests.helpers import body_form, error_code, lifecycle_body




def create(api, title="Event", **fields):
    body = {"title": title, "subtitle": fields.pop("subtitle", f"{title} happened"),
            "topics": fields.pop("topics", []), **fields}
    reply = api.post("/events", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def ids(reply):
    assert reply.status_code == 200, reply.text
    return [event["id"] for event in reply.json()["data"]]


def page_through(api, params, limit):
    """Every id of a listing, following next_cursor; asserts each page is at most `limit` long."""
    seen, cursor = [], None
    while True:
        reply = api.get("/events", params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        page = ids(reply)
        assert len(page) <= limit
        seen.extend(page)
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            return seen


def set_created(server, event_id, created_ms):
    with server.database.writer.begin() as connection:
        connection.execute(sa.update(events).where(events.c.id == event_id).values(created_at=created_ms))


# -- order, limit, cursor -----------------------------------------------------------------------


def test_list_is_newest_first(api):
    created = [create(api, f"e{i}") for i in range(3)]
    assert ids(api.get("/events")) == created[::-1]


def test_list_default_limit_is_50(api):
    for i in range(51):
        create(api, f"e{i}")
    reply = api.get("/events")
    assert len(ids(reply)) == 50
    assert reply.json()["next_cursor"] is not None


def test_next_cursor_pages_through_everything_once(api):
    created = [create(api, f"e{i}") for i in range(7)]
    assert page_through(api, {}, limit=3) == created[::-1]


def test_last_page_has_no_next_cursor(api):
    create(api)
    reply = api.get("/events", params={"limit": 5})
    assert reply.json()["next_cursor"] is None


def test_limit_of_500_is_accepted(api):
    assert api.get("/events", params={"limit": 500}).status_code == 200


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5", "1e2"])
def test_limit_out_of_range_or_not_a_number_is_400(api, limit):
    reply = api.get("/events", params={"limit": limit})
    assert reply.status_code == 400 and error_code(reply) == "limit_invalid"


@pytest.mark.parametrize("cursor", ["not-a-cursor", "%%%", base64.urlsafe_b64encode(b'{"pk":1}').decode(),
                                    base64.urlsafe_b64encode(b"[1,-5]").decode(),
                                    base64.urlsafe_b64encode(b"[1,99999999999999999999999]").decode(),
                                    base64.urlsafe_b64encode(b"[7,1]").decode()])
def test_a_cursor_this_server_did_not_issue_is_400(api, cursor):
    reply = api.get("/events", params={"cursor": cursor})
    assert reply.status_code == 400 and error_code(reply) == "invalid_cursor"


def test_a_cursor_of_a_time_ordered_listing_is_refused_without_since(api):
    for i in range(3):
        create(api, f"e{i}")
    cursor = api.get("/events", params={"since": 0, "limit": 1}).json()["next_cursor"]
    reply = api.get("/events", params={"cursor": cursor})
    assert reply.status_code == 400 and error_code(reply) == "invalid_cursor"


def test_unknown_query_parameter_is_400(api):
    reply = api.get("/events", params={"sort": "oldest"})
    assert reply.status_code == 400 and error_code(reply) == "unknown_parameter"
    assert "sort" in reply.json()["error"]


def test_a_parameter_given_twice_is_400(api):
    reply = api.get("/events?severity=high&severity=low")
    assert reply.status_code == 400 and error_code(reply) == "severity_invalid"


def test_an_empty_parameter_is_ignored(api):
    event_id = create(api)
    assert ids(api.get("/events?q=&topic=&cursor=")) == [event_id]


# -- filters ------------------------------------------------------------------------------------


def test_active_true_lists_ongoing_and_false_lists_closed(server, workspace, api):
    channel = server.create_channel(workspace_id=workspace)
    producer = server.client()
    closed = producer.post("/event/create", json=body_form(channel)).json()["data"]["event_id"]
    producer.post("/event/close", json=lifecycle_body(channel, closed))
    ongoing = create(api)
    assert ids(api.get("/events", params={"active": "true"})) == [ongoing]
    assert ids(api.get("/events", params={"active": "false"})) == [closed]


def test_active_that_is_not_a_boolean_is_400(api):
    reply = api.get("/events", params={"active": "maybe"})
    assert reply.status_code == 400 and error_code(reply) == "active_invalid"


def test_acknowledged_true_lists_acknowledged_and_false_the_others(api):
    acknowledged = create(api, "seen")
    assert api.post(f"/events/{acknowledged}/acknowledge").status_code == 200
    waiting = create(api, "waiting")
    noted = create(api, "noted")
    assert api.post(f"/events/{noted}/notes", json={"text": "a note is no acknowledgement"}).status_code == 200
    assert ids(api.get("/events", params={"acknowledged": "true"})) == [acknowledged]
    assert ids(api.get("/events", params={"acknowledged": "false"})) == [noted, waiting]
    assert ids(api.get("/events", params={"acknowledged": "false", "active": "true"})) == [noted, waiting]


def test_acknowledged_pages_with_its_cursor(api):
    waiting = [create(api, f"e{i}") for i in range(5)]
    seen = create(api, "seen")
    api.post(f"/events/{seen}/acknowledge")
    assert page_through(api, {"acknowledged": "false"}, limit=2) == waiting[::-1]


@pytest.mark.parametrize("value", ["maybe", "1", "yes", "TRUE", "null"])
def test_acknowledged_that_is_not_true_or_false_is_400(api, value):
    reply = api.get("/events", params={"acknowledged": value})
    assert reply.status_code == 400 and error_code(reply) == "acknowledged_invalid"


def test_topic_filter(api):
    tagged = create(api, topics=["billing", "users"])
    create(api, topics=["users"])
    assert ids(api.get("/events", params={"topic": "billing"})) == [tagged]


def test_topic_filter_pages_with_its_cursor(api):
    tagged = [create(api, f"e{i}", topics=["t"]) for i in range(5)]
    create(api, topics=["other"])
    assert page_through(api, {"topic": "t"}, limit=2) == tagged[::-1]


def test_severity_filter(api):
    high = create(api, severity="high")
    create(api, severity="low")
    assert ids(api.get("/events", params={"severity": "HIGH"})) == [high]


def test_severity_that_does_not_exist_is_400(api):
    reply = api.get("/events", params={"severity": "urgent"})
    assert reply.status_code == 400 and error_code(reply) == "severity_invalid"


def test_channel_id_filter(server, workspace, api):
    channel = server.create_channel(workspace_id=workspace)
    in_channel = create(api, channel_id=channel)
    create(api)
    assert ids(api.get("/events", params={"channel_id": channel})) == [in_channel]


def test_thing_id_filter(server, workspace, api):
    channel = server.create_channel(workspace_id=workspace)
    producer = server.client()
    door = producer.post("/event/create", json=body_form(channel, thing_id="front-door")).json()["data"]["event_id"]
    producer.post("/event/create", json=body_form(channel, thing_id="back-door"))
    assert ids(api.get("/events", params={"thing_id": "front-door"})) == [door]


def test_event_type_filter_matches_the_code_in_any_case(api):
    signup = create(api, event_type="signup")
    create(api, event_type="login")
    assert ids(api.get("/events", params={"event_type": "SIGNUP"})) == [signup]


def test_event_type_filter_with_an_unregistered_code_lists_nothing(api):
    create(api, event_type="signup")
    assert ids(api.get("/events", params={"event_type": "never_used"})) == []


def test_since_and_until_bound_created_inclusively(server, api):
    old, middle, new = create(api, "old"), create(api, "middle"), create(api, "new")
    base = 1_700_000_000_000
    for offset, event_id in ((0, old), (100_000, middle), (200_000, new)):
        set_created(server, event_id, base + offset + 250)
    assert ids(api.get("/events", params={"since": 1_700_000_100})) == [new, middle]
    assert ids(api.get("/events", params={"until": 1_700_000_100})) == [middle, old]
    assert ids(api.get("/events", params={"since": 1_700_000_050, "until": 1_700_000_150})) == [middle]


def test_since_in_milliseconds_is_accepted(server, api):
    event_id = create(api)
    set_created(server, event_id, 1_700_000_000_000)
    assert ids(api.get("/events", params={"since": 1_700_000_000_000})) == [event_id]


def test_time_ordered_listing_pages_through_everything_once(server, api):
    created = [create(api, f"e{i}") for i in range(6)]
    for i, event_id in enumerate(created):
        set_created(server, event_id, 1_700_000_000_000 + (i // 2) * 1000)  # pairs share a created time
    assert page_through(api, {"since": 1_600_000_000}, limit=4) == created[::-1]


def test_since_later_than_until_is_400(api):
    reply = api.get("/events", params={"since": 200, "until": 100})
    assert reply.status_code == 400 and error_code(reply) == "since_after_until"


@pytest.mark.parametrize("name, value", [("since", "yesterday"), ("until", "-5"), ("since", "nan")])
def test_a_time_that_is_not_unix_seconds_is_400(api, name, value):
    reply = api.get("/events", params={name: value})
    assert reply.status_code == 400 and error_code(reply) == f"{name}_invalid"


def test_q_finds_words_in_title_or_subtitle_in_any_case(api):
    in_title = create(api, "Disk FULL on web-1", subtitle="cleanup started")
    in_subtitle = create(api, "Cleanup", subtitle="the disk full alarm cleared")
    create(api, "Memory high", subtitle="swap in use")
    assert ids(api.get("/events", params={"q": "disk full"})) == [in_subtitle, in_title]


def test_q_needs_every_word(api):
    both = create(api, "Disk full", subtitle="on web-1")
    create(api, "Disk ok", subtitle="on web-1")
    assert ids(api.get("/events", params={"q": "full disk"})) == [both]


def test_q_matches_whole_words_only(api):
    create(api, "Certificate expires", subtitle="renew soon")
    assert ids(api.get("/events", params={"q": "certif"})) == []
    assert ids(api.get("/events", params={"q": "expire"})) == []


def test_q_word_with_a_star_matches_the_words_it_begins(api):
    event_id = create(api, "Certificate expires", subtitle="renew soon")
    assert ids(api.get("/events", params={"q": "certif*"})) == [event_id]
    assert ids(api.get("/events", params={"q": "CERTIF* renew"})) == [event_id]
    assert ids(api.get("/events", params={"q": "ertificate*"})) == []


def test_q_prefix_shorter_than_three_characters_is_400(api):
    reply = api.get("/events", params={"q": "ce*"})
    assert reply.status_code == 400 and error_code(reply) == "q_invalid"


def test_q_treats_punctuation_as_a_word_break(api):
    host = create(api, "Disk full on web-17", subtitle="user_id=42 at peter@parker.com")
    for q in ("web 17", "web-17", "WEB_17", "user id", "parker com", "peter@parker.com"):
        assert ids(api.get("/events", params={"q": q})) == [host], q


def test_q_with_quotes_and_search_operators_is_plain_words(api):
    quoted = create(api, 'He said "stop" OR ELSE')
    assert ids(api.get("/events", params={"q": '"stop" OR'})) == [quoted]
    assert ids(api.get("/events", params={"q": "NEAR(stop else)"})) == []
    assert ids(api.get("/events", params={"q": "stop:* & !else"})) == [quoted]


def test_q_follows_updates_of_the_subtitle(api):
    event_id = create(api, "Alpha", subtitle="before the change")
    api.put(f"/events/{event_id}", json={"subtitle": "after the edit"})
    assert ids(api.get("/events", params={"q": "before"})) == []
    assert ids(api.get("/events", params={"q": "after edit"})) == [event_id]


@pytest.mark.parametrize("q, code", [("%%% ---", "q_invalid"), ("x" * 257, "q_too_long"),
                                     (" ".join(["w"] * 17), "q_invalid")])
def test_q_without_words_or_too_long_is_400(api, q, code):
    reply = api.get("/events", params={"q": q})
    assert reply.status_code == 400 and error_code(reply) == code


def test_filters_combine(server, workspace, api):
    match = create(api, "Disk full", severity="high", topics=["infra"])
    create(api, "Disk full", severity="low", topics=["infra"])
    create(api, "Disk full", severity="high", topics=["other"])
    create(api, "CPU hot", severity="high", topics=["infra"])
    params = {"q": "disk", "severity": "high", "topic": "infra", "active": "true"}
    assert ids(api.get("/events", params=params)) == [match]


# -- consistency --------------------------------------------------------------------------------


def test_a_deleted_event_is_never_listed(api):
    kept, deleted = create(api, "kept", topics=["t"]), create(api, "deleted", topics=["t"])
    api.delete(f"/events/{deleted}")
    for params in ({}, {"topic": "t"}, {"q": "deleted"}, {"since": 0}, {"active": "true"}):
        assert deleted not in ids(api.get("/events", params=params)), params
    assert ids(api.get("/events")) == [kept]


@pytest.mark.parametrize("params", [{}, {"topic": "t"}, {"since": 0}], ids=["pk", "topic", "created"])
def test_paging_while_others_write_never_repeats_or_skips_an_existing_event(server, workspace, api, params):
    existing = {create(api, f"e{i}", topics=["t"]) for i in range(40)}
    writer_key = server.create_key(workspace_id=workspace)
    stop = threading.Event()

    def keep_writing():
        other = server.client(headers={"X-Api-Key": writer_key})
        i = 0
        while not stop.is_set():
            new_id = other.post("/events", json={"title": f"new{i}", "subtitle": "s", "topics": ["t"]}).json()["id"]
            other.put(f"/events/{new_id}", json={"subtitle": "changed"})
            i += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        seen = page_through(api, params, limit=3)
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen)), "an event was listed twice"
    assert existing <= set(seen), "an event that existed when paging began was skipped"


# -- keys ---------------------------------------------------------------------------------------


def test_a_key_restricted_to_channels_lists_only_those_channels(server, workspace, api):
    channel = server.create_channel(workspace_id=workspace)
    allowed = create(api, channel_id=channel)
    create(api)
    restricted = server.client(headers={"X-Api-Key": server.create_key(workspace_id=workspace, channels=(channel,))})
    assert ids(restricted.get("/events")) == [allowed]


def test_a_key_restricted_to_channels_naming_another_channel_is_403(server, workspace):
    channel = server.create_channel(workspace_id=workspace)
    other = server.create_channel(workspace_id=workspace)
    restricted = server.client(headers={"X-Api-Key": server.create_key(workspace_id=workspace, channels=(channel,))})
    reply = restricted.get("/events", params={"channel_id": other})
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"


def test_a_key_of_another_workspace_lists_none_of_these_events(server, api):
    create(api)
    stranger = server.client(headers={"X-Api-Key": server.create_key(workspace_id=server.create_workspace())})
    assert ids(stranger.get("/events")) == []


@pytest.mark.parametrize("name", ["topic", "thing_id", "channel_id", "q", "event_type", "cursor", "since"])
def test_nul_characters_in_a_parameter_are_400(api, name):
    reply = api.get(f"/events?{name}=a%00b")
    assert reply.status_code == 400 and error_code(reply) == f"{name}_invalid", reply.text


@pytest.mark.parametrize("query", ["limit=99999999999999999999", "since=1e400", "until=0x10", "cursor=%C3%A9t%C3%A9",
                                   "channel_id=" + "C" * 65, "thing_id=a%20b", "active=", "limit=%20"])
def test_odd_parameter_values_are_4xx_never_500(api, query):
    reply = api.get(f"/events?{query}")
    assert reply.status_code < 500, reply.text
