"""How event types govern events (SPEC §5): registered on first use, strict mode, inactive
types refusing new events, renames keeping events attached, deletes refused while in use,
and registry changes racing producers."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from eventgate.cli import settings_from_environment
from tests.conftest import PASSWORD
from tests.helpers import error_code

TYPES = "/api/b/v2/events"


class Workspace:
    """A fresh workspace with a channel, and a key that may read and write events and types."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.workspace_id = server.create_workspace()
        self.channel = server.create_channel(workspace_id=self.workspace_id)
        self.key = server.create_key(("types:read", "types:write", "events:read", "events:write"),
                                     workspace_id=self.workspace_id)
        self.api: httpx.Client = server.client(headers={"Authorization": f"Bearer {self.key}"})
        self.producer: httpx.Client = server.client()

    def produce(self, kind: str = "create", via: Any = None, **fields: Any) -> httpx.Response:
        client = via.client() if via is not None else self.producer
        return client.post(f"/v1/channel/{self.channel}/event/{kind}", json={"password": PASSWORD, **fields})

    def create_event(self, code: str, **fields: Any) -> str:
        reply = self.produce(event_type=code, **fields)
        assert reply.status_code == 200, reply.text
        return reply.json()["event_id"]

    def event(self, event_id: str) -> dict[str, Any]:
        reply = self.api.get(f"/events/{event_id}")
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]

    def types(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.api.get(TYPES, params={"page": page, "per_page": 100}).json()
            found += body["data"]
            if page >= body["pagination"]["total_pages"]:
                return found
            page += 1

    def types_of(self, prefix: str) -> list[dict[str, Any]]:
        """The types whose code starts with `prefix` (each test uses its own), oldest first."""
        return [t for t in self.types() if t["code"].lower().startswith(prefix.lower())]

    def register(self, code: str, name: str | None = None) -> int:
        reply = self.api.post(TYPES, json={"name": name or code, "code": code})
        assert reply.status_code == 201, reply.text
        return reply.json()["id"]

    def type_id(self, code: str) -> int:
        return next(t["id"] for t in self.types() if t["code"].lower() == code.lower())


@pytest.fixture(scope="module")
def ws(server) -> Workspace:
    """One workspace and channel for the module; each test works with its own codes."""
    return Workspace(server)


@pytest.fixture
def prefix() -> str:
    """A code prefix of this test's own: `prefix + "door_open"` is a code no other test uses."""
    return f"t{secrets.token_hex(4)}_"


@pytest.fixture(scope="module")
def strict_server(server_factory):
    """A second server on the same database, run with --strict-event-types."""
    return server_factory(strict_event_types=True)


@pytest.fixture(scope="module")
def second_server(server_factory):
    """Another process-like server on the same database (its own writer and pools)."""
    return server_factory()


# -- registration on first use -----------------------------------------------------------------------


def test_unknown_code_is_registered_on_first_use_as_an_active_custom_type(ws, prefix):
    ws.create_event(prefix + "door_open")
    assert [(t["code"], t["name"], t["status"], t["type"]) for t in ws.types_of(prefix)] == [
        (prefix + "door_open", prefix + "door_open", 1, "CUSTOM")]


def test_event_carries_its_type_code(ws, prefix):
    event_id = ws.create_event(prefix + "door_open")
    assert ws.event(event_id)["event_type"] == prefix + "door_open"


def test_second_event_of_a_code_reuses_its_type(ws, prefix):
    ws.create_event(prefix + "door_open")
    ws.create_event(prefix + "door_open")
    assert len(ws.types_of(prefix)) == 1


def test_code_matches_a_registered_type_ignoring_case(ws, prefix):
    type_id = ws.register(prefix + "Door_Open")
    event_id = ws.create_event((prefix + "door_open").upper())
    assert ws.event(event_id)["event_type"] == prefix + "Door_Open"
    assert [t["id"] for t in ws.types_of(prefix)] == [type_id]


@pytest.mark.parametrize("code", ["event_created", "EVENT_CLOSED", "event_deleted"])
def test_system_code_as_an_event_type_is_400(ws, code):
    reply = ws.produce(event_type=code)
    assert reply.status_code == 400
    assert error_code(reply) == "event_type_reserved"
    assert "SYSTEM" in reply.json()["error"]


def test_types_of_one_workspace_do_not_govern_another(server, ws, prefix):
    other = Workspace(server)
    other.api.post(f"{TYPES}/{other.register(prefix + 'door_open')}/deactivate")
    assert ws.produce(event_type=prefix + "door_open").status_code == 200


# -- strict types ---------------------------------------------------------------------------------------


def test_strict_server_refuses_an_unknown_code_with_400(strict_server, ws, prefix):
    reply = ws.produce(via=strict_server, event_type=prefix + "never_registered")
    assert reply.status_code == 400
    assert error_code(reply) == "unknown_event_type"
    assert prefix + "never_registered" in reply.json()["error"]
    assert ws.types_of(prefix) == []


def test_strict_server_accepts_a_registered_code(strict_server, ws, prefix):
    ws.register(prefix + "door_open")
    reply = ws.produce(via=strict_server, event_type=(prefix + "door_open").upper())
    assert reply.status_code == 200
    assert ws.event(reply.json()["event_id"])["event_type"] == prefix + "door_open"


def test_strict_server_refuses_an_unknown_code_on_update(strict_server, ws, prefix):
    event_id = ws.create_event(prefix + "door_open")
    reply = ws.produce("update", via=strict_server, event_id=event_id, event_type=prefix + "never_registered")
    assert reply.status_code == 400
    assert error_code(reply) == "unknown_event_type"
    assert ws.event(event_id)["event_type"] == prefix + "door_open"


def test_strict_server_still_refuses_inactive_types(strict_server, ws, prefix):
    ws.api.post(f"{TYPES}/{ws.register(prefix + 'door_open')}/deactivate")
    reply = ws.produce(via=strict_server, event_type=prefix + "door_open")
    assert reply.status_code == 409
    assert error_code(reply) == "event_type_inactive"


@pytest.mark.parametrize("value, strict", [("1", True), ("true", True), ("yes", True), ("", False), ("0", False)])
def test_strict_types_are_read_from_the_environment(value, strict):
    assert settings_from_environment({"EVENTGATE_STRICT_EVENT_TYPES": value}).strict_event_types is strict


# -- inactive types ------------------------------------------------------------------------------------


def test_inactive_type_refuses_new_events_with_409(ws, prefix):
    ws.api.post(f"{TYPES}/{ws.register(prefix + 'door_open')}/deactivate")
    reply = ws.produce(event_type=prefix + "door_open", event_id=prefix + "refused")
    assert reply.status_code == 409
    assert error_code(reply) == "event_type_inactive"
    assert ws.api.get(f"/events/{prefix}refused").status_code == 404


def test_inactive_type_is_refused_whatever_the_case_of_the_code(ws, prefix):
    ws.api.post(f"{TYPES}/{ws.register(prefix + 'door_open')}/deactivate")
    assert error_code(ws.produce(event_type=(prefix + "Door_OPEN"))) == "event_type_inactive"


def test_reactivated_type_accepts_events_again(ws, prefix):
    type_id = ws.register(prefix + "door_open")
    ws.api.post(f"{TYPES}/{type_id}/deactivate")
    ws.api.post(f"{TYPES}/{type_id}/activate")
    assert ws.produce(event_type=prefix + "door_open").status_code == 200


def test_deactivating_an_auto_registered_type_refuses_its_next_events(ws, prefix):
    ws.create_event(prefix + "backup_failed")
    ws.api.post(f"{TYPES}/{ws.type_id(prefix + 'backup_failed')}/deactivate")
    assert error_code(ws.produce(event_type=prefix + "backup_failed")) == "event_type_inactive"


def test_update_naming_an_inactive_type_is_409(ws, prefix):
    event_id = ws.create_event(prefix + "door_open")
    ws.api.post(f"{TYPES}/{ws.register(prefix + 'door_forced')}/deactivate")
    reply = ws.produce("update", event_id=event_id, event_type=prefix + "door_forced")
    assert reply.status_code == 409
    assert error_code(reply) == "event_type_inactive"
    assert ws.event(event_id)["event_type"] == prefix + "door_open"


def test_event_of_a_type_deactivated_later_can_still_be_updated_and_closed(ws, prefix):
    event_id = ws.create_event(prefix + "door_open")
    ws.api.post(f"{TYPES}/{ws.type_id(prefix + 'door_open')}/deactivate")
    assert ws.produce("update", event_id=event_id, message="still open").status_code == 200
    assert ws.produce("close", event_id=event_id).status_code == 200
    assert ws.event(event_id)["state"] == "closed"


# -- renames ---------------------------------------------------------------------------------------------


def _rename(ws: Workspace, type_id: int, code: str) -> None:
    reply = ws.api.put(f"{TYPES}/{type_id}", json={"name": "Renamed", "code": code})
    assert reply.status_code == 200, reply.text


def test_renamed_code_keeps_its_events_attached(ws, prefix):
    event_id = ws.create_event(prefix + "door_open")
    _rename(ws, ws.type_id(prefix + "door_open"), prefix + "gate_open")
    assert ws.event(event_id)["event_type"] == prefix + "gate_open"


def test_events_with_the_new_code_join_the_renamed_type(ws, prefix):
    ws.create_event(prefix + "door_open")
    type_id = ws.type_id(prefix + "door_open")
    _rename(ws, type_id, prefix + "gate_open")
    ws.create_event(prefix + "gate_open")
    assert [t["id"] for t in ws.types_of(prefix)] == [type_id]


def test_old_code_after_a_rename_registers_a_new_type(ws, prefix):
    first = ws.create_event(prefix + "door_open")
    _rename(ws, ws.type_id(prefix + "door_open"), prefix + "gate_open")
    second = ws.create_event(prefix + "door_open")
    assert ws.event(first)["event_type"] == prefix + "gate_open"
    assert ws.event(second)["event_type"] == prefix + "door_open"
    assert sorted(t["code"] for t in ws.types_of(prefix)) == [prefix + "door_open", prefix + "gate_open"]


def test_renamed_inactive_type_keeps_refusing_under_its_new_code(ws, prefix):
    type_id = ws.register(prefix + "door_open")
    ws.api.post(f"{TYPES}/{type_id}/deactivate")
    _rename(ws, type_id, prefix + "gate_open")
    assert error_code(ws.produce(event_type=prefix + "gate_open")) == "event_type_inactive"


# -- deletes ----------------------------------------------------------------------------------------------


def test_deleting_a_type_that_events_carry_is_409(ws, prefix):
    event_id = ws.create_event(prefix + "door_open")
    type_id = ws.type_id(prefix + "door_open")
    reply = ws.api.delete(f"{TYPES}/{type_id}")
    assert reply.status_code == 409
    assert error_code(reply) == "event_type_in_use"
    assert "deactivate" in reply.json()["error"]
    assert ws.event(event_id)["event_type"] == prefix + "door_open"
    assert ws.api.get(f"{TYPES}/{type_id}").status_code == 200


def test_deleting_a_type_whose_events_are_closed_is_still_409(ws, prefix):
    event_id = ws.create_event(prefix + "door_open")
    ws.produce("close", event_id=event_id)
    assert ws.api.delete(f"{TYPES}/{ws.type_id(prefix + 'door_open')}").status_code == 409


def test_deleted_code_registers_again_on_next_use(ws, prefix):
    type_id = ws.register(prefix + "door_open")
    assert ws.api.delete(f"{TYPES}/{type_id}").status_code == 204
    event_id = ws.create_event(prefix + "door_open")
    assert ws.event(event_id)["event_type"] == prefix + "door_open"
    assert [t["code"] for t in ws.types_of(prefix)] == [prefix + "door_open"]


# -- races -------------------------------------------------------------------------------------------------


def _together(jobs: list[Any]) -> list[Any]:
    """Run every job at once (a barrier releases them together); return their results in order."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Any) -> Any:
        barrier.wait(timeout=30)
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


@pytest.fixture
def servers(ws, server, second_server) -> tuple[Any, Any]:
    """Both servers, each having verified the channel password once (so the race is about types)."""
    for running in (server, second_server):
        assert ws.produce(via=running, event_type="warm_up").status_code == 200
    return server, second_server


def _create(client: httpx.Client, ws: Workspace, code: str) -> Any:
    return lambda: client.post(f"/v1/channel/{ws.channel}/event/create",
                               json={"password": PASSWORD, "event_type": code})


def test_producers_racing_on_a_new_code_register_exactly_one_type(ws, prefix, servers):
    replies = _together([_create(s.client(), ws, prefix + "new") for s in servers * 8])
    assert [r.status_code for r in replies] == [200] * 16
    assert [t["code"] for t in ws.types_of(prefix)] == [prefix + "new"]
    assert {ws.event(r.json()["event_id"])["event_type"] for r in replies} == {prefix + "new"}


def test_registry_create_racing_producers_leaves_one_type_and_no_500(ws, prefix, servers):
    registrars = [s.client(headers={"Authorization": f"Bearer {ws.key}"}) for s in servers * 3]
    jobs = [(lambda c=c: c.post(TYPES, json={"name": "Racing", "code": prefix + "new"})) for c in registrars]
    jobs += [_create(s.client(), ws, prefix + "new") for s in servers * 5]
    replies = _together(jobs)
    registry_replies, producer_replies = replies[:6], replies[6:]
    assert [r.status_code for r in producer_replies] == [200] * 10
    assert {r.status_code for r in registry_replies} <= {201, 400}
    assert [r.status_code for r in registry_replies].count(201) <= 1
    assert all(error_code(r) == "code_exists" for r in registry_replies if r.status_code == 400)
    assert [t["code"] for t in ws.types_of(prefix)] == [prefix + "new"]


def test_deactivate_racing_producers_answers_200_or_409_and_ends_refusing(ws, prefix, servers):
    type_id = ws.register(prefix + "door_open")
    toggler = servers[1].client(headers={"Authorization": f"Bearer {ws.key}"})
    jobs = [(lambda n=n: toggler.post(f"{TYPES}/{type_id}/{'deactivate' if n % 2 == 0 else 'activate'}"))
            for n in range(4)]
    jobs += [_create(s.client(), ws, prefix + "door_open") for s in servers * 6]
    replies = _together(jobs)
    assert {r.status_code for r in replies[:4]} == {204}
    assert {r.status_code for r in replies[4:]} <= {200, 409}
    assert toggler.post(f"{TYPES}/{type_id}/deactivate").status_code == 204
    assert error_code(ws.produce(event_type=prefix + "door_open")) == "event_type_inactive"


def test_delete_racing_producers_never_leaves_an_event_without_its_type(ws, prefix, servers):
    type_id = ws.register(prefix + "door_open")
    deleter = servers[1].client(headers={"Authorization": f"Bearer {ws.key}"})
    jobs = [(lambda: deleter.delete(f"{TYPES}/{type_id}"))]
    jobs += [_create(s.client(), ws, prefix + "door_open") for s in servers * 6]
    replies = _together(jobs)
    assert replies[0].status_code in (204, 409)
    assert [r.status_code for r in replies[1:]] == [200] * 12
    assert {ws.event(r.json()["event_id"])["event_type"] for r in replies[1:]} == {prefix + "door_open"}
    assert [t["code"] for t in ws.types_of(prefix)] == [prefix + "door_open"]


# -- the seed-002 resource (POST /events) obeys the same types ---------------------------------------------


def _resource_create(ws: Workspace, code: str, via: Any = None) -> httpx.Response:
    client = (via or ws.server).client(headers={"Authorization": f"Bearer {ws.key}"})
    return client.post("/events", json={"title": "Backup", "subtitle": "nightly backup failed", "topics": ["ops"],
                                        "event_type": code})


def test_seed_002_create_registers_an_unknown_code(ws, prefix):
    reply = _resource_create(ws, prefix + "backup_failed")
    assert reply.status_code in (200, 201), reply.text
    assert [t["code"] for t in ws.types_of(prefix)] == [prefix + "backup_failed"]
    assert ws.event(reply.json()["id"])["event_type"] == prefix + "backup_failed"


def test_seed_002_create_naming_an_inactive_type_is_409(ws, prefix):
    ws.api.post(f"{TYPES}/{ws.register(prefix + 'backup_failed')}/deactivate")
    reply = _resource_create(ws, prefix + "backup_failed")
    assert reply.status_code == 409
    assert error_code(reply) == "event_type_inactive"


def test_seed_002_create_with_an_unknown_code_on_a_strict_server_is_400(strict_server, ws, prefix):
    reply = _resource_create(ws, prefix + "never_registered", via=strict_server)
    assert reply.status_code == 400
    assert error_code(reply) == "unknown_event_type"
    assert ws.types_of(prefix) == []


def test_type_whose_events_were_all_deleted_can_be_deleted(ws, prefix):
    event_id = ws.create_event(prefix + "door_open")
    type_id = ws.type_id(prefix + "door_open")
    assert ws.api.delete(f"{TYPES}/{type_id}").status_code == 409
    assert ws.api.delete(f"/events/{event_id}").status_code == 204
    assert ws.api.delete(f"{TYPES}/{type_id}").status_code == 204
