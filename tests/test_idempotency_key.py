"""Seed 002's `Idempotency-Key` through real HTTP: POST /events, PUT and DELETE /events/{id}.

Same key + same body → the first answer again and no second operation; same key + another
body → 409 idempotency_conflict; keys belong to the API key's workspace. Every test works in a
workspace of its own, so its listings and counts are its alone."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from eventgate.store.schema import events, operations
from tests.helpers import error_code

EVENT = {"title": "Disk full", "subtitle": "on db-1", "topics": ["ops"], "context": {"host": "db-1"}}




def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def without_timestamp(event: dict) -> dict:
    """The event object minus `timestamp`, the time of the response itself."""
    return {k: v for k, v in event.items() if k != "timestamp"}


def create(api, key: str | None = None, **fields) -> httpx.Response:
    return api.post("/events", json={**EVENT, **fields}, headers=keyed(key) if key else {})


def created_id(api, **fields) -> str:
    reply = create(api, **fields)
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def timeline(api, event_id: str) -> list[dict]:
    reply = api.get(f"/events/{event_id}/timeline")
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def operation_kinds(server, workspace: str, event_id: str) -> list[str]:
    """From the table itself: the timeline route cannot show a deleted event's operations."""
    with server.database.reader.connect() as connection:
        return list(connection.execute(
            sa.select(operations.c.kind)
            .where(operations.c.workspace_id == workspace, operations.c.event_id == event_id)
            .order_by(operations.c.seq)).scalars())


def event_count(server, workspace: str) -> int:
    with server.database.reader.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(events).where(events.c.workspace_id == workspace)).scalar_one()


def operation_count(server, workspace: str) -> int:
    with server.database.reader.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(operations)
            .where(operations.c.workspace_id == workspace)).scalar_one()


# -- create -------------------------------------------------------------------------------------------


def test_create_repeated_with_the_same_key_and_body_is_the_first_201_again(server, workspace, api):
    first = create(api, "create-1")
    again = create(api, "create-1")
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert without_timestamp(again.json()) == without_timestamp(first.json())
    assert event_count(server, workspace) == 1
    assert [(op["kind"], op["op_id"]) for op in timeline(api, first.json()["id"])] == [("create", "create-1")]


def test_a_replayed_create_answers_the_event_as_created_not_as_it_is_now(api):
    first = create(api, "create-then-update")
    event_id = first.json()["id"]
    assert api.put(f"/events/{event_id}", json={"subtitle": "changed since"}).status_code == 200
    again = create(api, "create-then-update")
    assert again.status_code == 201
    assert again.json()["subtitle"] == "on db-1"
    assert without_timestamp(again.json()) == without_timestamp(first.json())
    assert [op["kind"] for op in timeline(api, event_id)] == ["create", "update"]


def test_create_with_the_same_key_and_another_body_is_409_idempotency_conflict(server, workspace, api):
    first = create(api, "create-2")
    assert first.status_code == 201
    other = create(api, "create-2", subtitle="on db-2")
    assert other.status_code == 409 and error_code(other) == "idempotency_conflict"
    assert other.json()["success"] is False and other.json()["data"] is None and other.json()["error"]
    assert event_count(server, workspace) == 1
    assert len(timeline(api, first.json()["id"])) == 1


def test_create_with_the_same_key_in_another_channel_is_409(server, workspace, api):
    assert create(api, "create-3").status_code == 201  # the default channel
    other = create(api, "create-3", channel_id=server.create_channel(workspace_id=workspace))
    assert other.status_code == 409 and error_code(other) == "idempotency_conflict"


def test_create_retried_10_times_concurrently_makes_one_event_and_one_operation(server, workspace, api):
    def attempt(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=30,
                          headers={"Authorization": api.headers["Authorization"]}) as client:
            return create(client, "concurrent-1")

    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(attempt, range(10)))
    assert [r.status_code for r in replies] == [201] * 10, [r.text for r in replies]
    assert len({r.json()["id"] for r in replies}) == 1
    assert event_count(server, workspace) == 1
    assert operation_count(server, workspace) == 1
    assert [op["op_id"] for op in timeline(api, replies[0].json()["id"])] == ["concurrent-1"]


def test_create_retried_10_times_at_once_on_one_event_loop_makes_one_event(server, workspace, api):
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30,
                                     headers={"Authorization": api.headers["Authorization"]}) as client:
            return await asyncio.gather(*(client.post("/events", json=EVENT, headers=keyed("concurrent-2"))
                                          for _ in range(10)))

    replies = asyncio.run(burst())
    assert [r.status_code for r in replies] == [201] * 10
    assert len({r.json()["id"] for r in replies}) == 1
    assert event_count(server, workspace) == 1 and operation_count(server, workspace) == 1


def test_without_the_header_two_identical_creates_make_two_events(server, workspace, api):
    first, second = create(api), create(api)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert event_count(server, workspace) == 2


def test_a_failed_create_records_nothing_so_a_retry_with_the_key_can_succeed(server, workspace, api):
    missing = create(api, "create-after-404", channel_id="01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert missing.status_code == 404 and error_code(missing) == "channel_not_found"
    channel = server.create_channel(workspace_id=workspace)
    reply = create(api, "create-after-404", channel_id=channel)
    assert reply.status_code == 201, reply.text


# -- update -------------------------------------------------------------------------------------------


def test_update_repeated_with_the_same_key_and_body_is_the_first_answer_again(api):
    event_id = created_id(api)
    first = api.put(f"/events/{event_id}", json={"subtitle": "still full"}, headers=keyed("update-1"))
    again = api.put(f"/events/{event_id}", json={"subtitle": "still full"}, headers=keyed("update-1"))
    assert first.status_code == again.status_code == 200, again.text
    assert without_timestamp(again.json()) == without_timestamp(first.json())
    assert [(op["kind"], op["op_id"]) for op in timeline(api, event_id)][1:] == [("update", "update-1")]


def test_a_replayed_update_answers_the_event_as_that_update_left_it(api):
    event_id = created_id(api)
    first = api.put(f"/events/{event_id}", json={"subtitle": "second"}, headers=keyed("update-2"))
    assert first.status_code == 200
    assert api.put(f"/events/{event_id}", json={"subtitle": "third", "context": {"a": 1}}).status_code == 200
    again = api.put(f"/events/{event_id}", json={"subtitle": "second"}, headers=keyed("update-2"))
    assert again.status_code == 200
    assert again.json()["subtitle"] == "second" and again.json()["context"] == {"host": "db-1"}
    assert without_timestamp(again.json()) == without_timestamp(first.json())
    assert api.get(f"/events/{event_id}").json()["data"]["subtitle"] == "third"
    assert [op["kind"] for op in timeline(api, event_id)] == ["create", "update", "update"]


def test_update_with_the_same_key_and_another_body_is_409_idempotency_conflict(api):
    event_id = created_id(api)
    assert api.put(f"/events/{event_id}", json={"subtitle": "a"}, headers=keyed("update-3")).status_code == 200
    other = api.put(f"/events/{event_id}", json={"subtitle": "b"}, headers=keyed("update-3"))
    assert other.status_code == 409 and error_code(other) == "idempotency_conflict"
    assert api.get(f"/events/{event_id}").json()["data"]["subtitle"] == "a"
    assert len(timeline(api, event_id)) == 2


def test_update_with_the_same_key_and_body_on_another_event_is_409(api):
    first_id, second_id = created_id(api), created_id(api)
    assert api.put(f"/events/{first_id}", json={"subtitle": "x"}, headers=keyed("update-4")).status_code == 200
    other = api.put(f"/events/{second_id}", json={"subtitle": "x"}, headers=keyed("update-4"))
    assert other.status_code == 409 and error_code(other) == "idempotency_conflict"
    assert len(timeline(api, second_id)) == 1


def test_a_key_used_to_create_cannot_be_reused_to_update(api):
    event_id = create(api, "create-then-put").json()["id"]
    reply = api.put(f"/events/{event_id}", json={"subtitle": "x"}, headers=keyed("create-then-put"))
    assert reply.status_code == 409 and error_code(reply) == "idempotency_conflict"


def test_a_replayed_update_is_replayed_even_after_the_event_was_deleted(server, workspace, api):
    event_id = created_id(api)
    first = api.put(f"/events/{event_id}", json={"subtitle": "last words"}, headers=keyed("update-5"))
    assert api.delete(f"/events/{event_id}").status_code == 204
    again = api.put(f"/events/{event_id}", json={"subtitle": "last words"}, headers=keyed("update-5"))
    assert again.status_code == 200, again.text
    assert without_timestamp(again.json()) == without_timestamp(first.json())
    assert operation_kinds(server, workspace, event_id) == ["create", "update", "delete"]


# -- delete -------------------------------------------------------------------------------------------


def test_delete_repeated_with_the_same_key_is_204_again_though_the_event_is_gone(server, workspace, api):
    event_id = created_id(api)
    first = api.delete(f"/events/{event_id}", headers=keyed("delete-1"))
    again = api.delete(f"/events/{event_id}", headers=keyed("delete-1"))
    assert first.status_code == again.status_code == 204 and again.content == b""
    assert api.get(f"/events/{event_id}").status_code == 404
    assert operation_kinds(server, workspace, event_id) == ["create", "delete"]


def test_delete_with_a_new_key_after_the_event_is_gone_is_404(api):
    event_id = created_id(api)
    assert api.delete(f"/events/{event_id}", headers=keyed("delete-2")).status_code == 204
    reply = api.delete(f"/events/{event_id}", headers=keyed("delete-3"))
    assert reply.status_code == 404 and error_code(reply) == "event_not_found"


def test_delete_with_a_key_used_for_another_event_is_409(server, workspace, api):
    first_id, second_id = created_id(api), created_id(api)
    assert api.delete(f"/events/{first_id}", headers=keyed("delete-4")).status_code == 204
    other = api.delete(f"/events/{second_id}", headers=keyed("delete-4"))
    assert other.status_code == 409 and error_code(other) == "idempotency_conflict"
    assert api.get(f"/events/{second_id}").status_code == 200
    assert operation_kinds(server, workspace, second_id) == ["create"]


# -- scope: the workspace -----------------------------------------------------------------------------


def test_two_keys_of_the_same_workspace_share_its_idempotency_keys(server, workspace, api):
    colleague = server.client(headers={"X-Api-Key": server.create_key(workspace_id=workspace)})
    first = create(api, "shared-1")
    again = create(colleague, "shared-1")
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert event_count(server, workspace) == 1


def test_the_same_key_in_two_workspaces_names_two_independent_writes(server, workspace, api):
    other_workspace = server.create_workspace()
    other_channel = server.create_channel(workspace_id=other_workspace)
    stranger = server.client(headers={"X-Api-Key": server.create_key(workspace_id=other_workspace)})
    mine = create(api, "everywhere")
    theirs = create(stranger, "everywhere", channel_id=other_channel)
    assert mine.status_code == theirs.status_code == 201, theirs.text
    assert mine.json()["id"] != theirs.json()["id"]
    assert (mine.json()["workspace_id"], theirs.json()["workspace_id"]) == (workspace, other_workspace)
    assert theirs.json()["channel_id"] == other_channel
    # within each workspace the key still names that workspace's write
    assert create(stranger, "everywhere", channel_id=other_channel).json()["id"] == theirs.json()["id"]
    different = create(stranger, "everywhere", channel_id=other_channel, subtitle="elsewhere")
    assert different.status_code == 409 and error_code(different) == "idempotency_conflict"
    assert event_count(server, workspace) == event_count(server, other_workspace) == 1
    assert [op["op_id"] for op in timeline(api, mine.json()["id"])] == ["everywhere"]
    assert [op["op_id"] for op in timeline(stranger, theirs.json()["id"])] == ["everywhere"]


def test_the_same_update_key_in_two_workspaces_is_independent(server, workspace, api):
    other_workspace = server.create_workspace()
    other_channel = server.create_channel(workspace_id=other_workspace)
    stranger = server.client(headers={"X-Api-Key": server.create_key(workspace_id=other_workspace)})
    mine, theirs = created_id(api), created_id(stranger, channel_id=other_channel)
    assert api.put(f"/events/{mine}", json={"subtitle": "m"}, headers=keyed("put-everywhere")).status_code == 200
    reply = stranger.put(f"/events/{theirs}", json={"subtitle": "t"}, headers=keyed("put-everywhere"))
    assert reply.status_code == 200 and reply.json()["subtitle"] == "t"


# -- a key restricted to some channels ----------------------------------------------------------------


@pytest.fixture
def allowed_channel(server, workspace):
    return server.create_channel(workspace_id=workspace, name="allowed")


@pytest.fixture
def restricted(server, workspace, allowed_channel):
    """A client whose key may use only `allowed_channel`, not the workspace's default channel."""
    key = server.create_key(workspace_id=workspace, channels=(allowed_channel,))
    return server.client(headers={"X-Api-Key": key})


@pytest.mark.parametrize("with_key", [False, True])
def test_a_restricted_key_may_not_update_an_event_of_another_channel(api, restricted, with_key):
    event_id = created_id(api)
    reply = restricted.put(f"/events/{event_id}", json={"subtitle": "mine now"},
                           headers=keyed("restricted-put") if with_key else {})
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"
    assert api.get(f"/events/{event_id}").json()["data"]["subtitle"] == "on db-1"
    assert [op["kind"] for op in timeline(api, event_id)] == ["create"]


@pytest.mark.parametrize("with_key", [False, True])
def test_a_restricted_key_may_not_delete_an_event_of_another_channel(api, restricted, with_key):
    event_id = created_id(api)
    reply = restricted.delete(f"/events/{event_id}", headers=keyed("restricted-delete") if with_key else {})
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"
    assert api.get(f"/events/{event_id}").status_code == 200
    assert [op["kind"] for op in timeline(api, event_id)] == ["create"]


def test_a_forbidden_request_records_nothing_under_its_key(api, restricted):
    event_id = created_id(api)
    assert restricted.put(f"/events/{event_id}", json={"subtitle": "x"},
                          headers=keyed("first-refused")).status_code == 403
    reply = api.put(f"/events/{event_id}", json={"subtitle": "x"}, headers=keyed("first-refused"))
    assert reply.status_code == 200 and reply.json()["subtitle"] == "x"


def test_a_restricted_key_replaying_another_keys_update_of_a_forbidden_channel_is_403(api, restricted):
    """A replay would hand back an event of a channel this key may not read."""
    event_id = created_id(api)
    assert api.put(f"/events/{event_id}", json={"subtitle": "secret"},
                   headers=keyed("replayed-elsewhere")).status_code == 200
    reply = restricted.put(f"/events/{event_id}", json={"subtitle": "secret"}, headers=keyed("replayed-elsewhere"))
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"
    assert "secret" not in reply.text


def test_a_restricted_key_replaying_another_keys_delete_of_a_forbidden_channel_is_403(api, restricted):
    event_id = created_id(api)
    assert api.delete(f"/events/{event_id}", headers=keyed("deleted-elsewhere")).status_code == 204
    reply = restricted.delete(f"/events/{event_id}", headers=keyed("deleted-elsewhere"))
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"


def test_a_restricted_key_replays_its_own_writes_in_its_channel(restricted, allowed_channel):
    first = create(restricted, "restricted-create", channel_id=allowed_channel)
    again = create(restricted, "restricted-create", channel_id=allowed_channel)
    assert first.status_code == again.status_code == 201, again.text
    event_id = first.json()["id"]
    assert again.json()["id"] == event_id
    put = restricted.put(f"/events/{event_id}", json={"subtitle": "x"}, headers=keyed("restricted-put-2"))
    put_again = restricted.put(f"/events/{event_id}", json={"subtitle": "x"}, headers=keyed("restricted-put-2"))
    assert put.status_code == put_again.status_code == 200
    assert without_timestamp(put_again.json()) == without_timestamp(put.json())
    gone = restricted.delete(f"/events/{event_id}", headers=keyed("restricted-delete-2"))
    gone_again = restricted.delete(f"/events/{event_id}", headers=keyed("restricted-delete-2"))
    assert gone.status_code == gone_again.status_code == 204


def test_a_restricted_key_creating_in_the_default_channel_is_403_even_with_a_key(api, restricted):
    reply = create(restricted, "restricted-default")
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"


# -- the header itself --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "has space", "x" * 129, "semi;colon", "slash/y", "dot.ted",
                                   "caf\u00e9".encode(), "tab\there"])
def test_an_invalid_idempotency_key_is_400_and_writes_nothing(server, workspace, api, value):
    event_id = created_id(api)
    replies = [
        api.post("/events", json=EVENT, headers={"Idempotency-Key": value}),
        api.put(f"/events/{event_id}", json={"subtitle": "x"}, headers={"Idempotency-Key": value}),
        api.delete(f"/events/{event_id}", headers={"Idempotency-Key": value}),
    ]
    for reply in replies:
        assert reply.status_code == 400, reply.text
        assert error_code(reply) == "idempotency_key_invalid"
    assert event_count(server, workspace) == 1
    assert [op["kind"] for op in timeline(api, event_id)] == ["create"]


def test_an_idempotency_key_of_128_allowed_characters_is_accepted(api):
    value = ("Az09_:-" * 19)[:128]
    first, again = create(api, value), create(api, value)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["id"] == again.json()["id"]
