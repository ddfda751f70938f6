"""(channel_id, op_id) identifies an operation: replays, conflicts and races (SPEC §2)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.helpers import body_form, create_event, error_code, lifecycle_body


def timeline(server, client, event_id):
    key = server.create_key(("events:read",))
    return client.get(f"/events/{event_id}/timeline", headers={"X-Api-Key": key}).json()["data"]


def test_replay_returns_first_response_and_records_nothing(server, client, channel):
    body = body_form(channel, op_id="create-once")
    first = client.post("/event/create", json=body)
    second = client.post("/event/create", json=body)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert len(timeline(server, client, first.json()["data"]["event_id"])) == 1


def test_same_op_id_with_different_body_is_409(client, channel):
    assert client.post("/event/create", json=body_form(channel, op_id="op-x")).status_code == 200
    reply = client.post("/event/create", json=body_form(channel, op_id="op-x", title="Another"))
    assert reply.status_code == 409
    assert error_code(reply) == "idempotency_conflict"


def test_same_op_id_in_another_channel_is_independent(server, client, channel):
    other = server.create_channel()
    first = client.post("/event/create", json=body_form(channel, op_id="shared-op"))
    second = client.post("/event/create", json=body_form(other, op_id="shared-op"))
    assert second.status_code == 200
    assert first.json()["data"]["event_id"] != second.json()["data"]["event_id"]


def test_replay_of_close_after_close_returns_first_response(server, client, channel):
    event_id = create_event(client, channel)
    body = lifecycle_body(channel, event_id, op_id="close-1")
    first = client.post("/event/close", json=body)
    again = client.post("/event/close", json=body)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert [op["kind"] for op in timeline(server, client, event_id)] == ["create", "close"]


def test_failed_request_does_not_consume_the_op_id(client, channel):
    bad = client.post("/event/update", json=lifecycle_body(channel, "missing", op_id="retry-me"))
    assert bad.status_code == 404
    event_id = create_event(client, channel)
    good = client.post("/event/update", json=lifecycle_body(channel, event_id, op_id="retry-me"))
    assert good.status_code == 200


def test_twenty_identical_racing_requests_make_one_operation(server, channel):
    body = body_form(channel, op_id="race-1")

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=30) as c:
            return c.post("/event/create", json=body)

    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(send, range(20)))
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies if r.status_code != 200]
    event_ids = {r.json()["data"]["event_id"] for r in replies}
    assert len(event_ids) == 1
    client = server.client()
    assert len(timeline(server, client, event_ids.pop())) == 1


def test_replay_with_a_different_password_field_is_still_a_replay(server, client, channel):
    # The password authenticates; it is not part of what the operation carries.
    body = body_form(channel, op_id="pw-op")
    first = client.post("/event/create", json=body)
    body["password"] = "  " + body["password"] + "  "
    assert client.post("/event/create", json=body).json() == first.json()
