"""Seed 003: the event-type registry at /api/b/v2/events (SPEC §5)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import httpx
import pytest

from tests.helpers import error_code

TYPES = "/api/b/v2/events"
SYSTEM_CODES = ["event_created", "event_updated", "event_closed", "event_deleted"]


class Registry:
    """A fresh workspace and a client whose key may read and write its types."""

    def __init__(self, server: Any, scopes: tuple[str, ...] = ("types:read", "types:write")) -> None:
        self.server = server
        self.workspace_id = server.create_workspace()
        self.key = server.create_key(scopes, workspace_id=self.workspace_id)
        self.client: httpx.Client = server.client(headers={"Authorization": f"Bearer {self.key}"})

    def create(self, code: str, name: str | None = None) -> int:
        reply = self.client.post(TYPES, json={"name": name or code.replace("_", " "), "code": code})
        assert reply.status_code == 201, reply.text
        return reply.json()["id"]

    def get(self, type_id: int) -> dict[str, Any]:
        reply = self.client.get(f"{TYPES}/{type_id}")
        assert reply.status_code == 200, reply.text
        return reply.json()

    def all(self) -> list[dict[str, Any]]:
        return self.client.get(TYPES, params={"per_page": 100}).json()["data"]


@pytest.fixture
def registry(server) -> Registry:
    return Registry(server)


@pytest.fixture(scope="module")
def shared(server) -> Registry:
    """One workspace for the tests whose requests are all refused (they change nothing)."""
    return Registry(server)


# -- create and read -----------------------------------------------------------------------------


def test_create_returns_201_with_an_integer_id(registry):
    reply = registry.client.post(TYPES, json={"name": "Door opened", "code": "door_open"})
    assert reply.status_code == 201
    assert list(reply.json()) == ["id"]
    assert isinstance(reply.json()["id"], int)


def test_created_type_is_an_active_custom_type(registry):
    type_id = registry.create("door_open", "Door opened")
    assert registry.get(type_id) == {"id": type_id, "name": "Door opened", "code": "door_open",
                                     "status": 1, "type": "CUSTOM"}


def test_name_may_hold_any_printable_unicode(registry):
    type_id = registry.create("door_open", "Tür geöffnet 🚪")
    assert registry.get(type_id)["name"] == "Tür geöffnet 🚪"


def test_name_is_trimmed(registry):
    type_id = registry.create("door_open", "  Door opened  ")
    assert registry.get(type_id)["name"] == "Door opened"


def test_code_of_64_characters_is_accepted(registry):
    code = "a" * 64
    assert registry.get(registry.create(code))["code"] == code


def test_duplicate_code_is_400(registry):
    registry.create("door_open")
    reply = registry.client.post(TYPES, json={"name": "again", "code": "door_open"})
    assert reply.status_code == 400
    assert error_code(reply) == "code_exists"
    assert "code" in reply.json()["error"]


def test_duplicate_code_differing_only_in_case_is_400(registry):
    registry.create("door_open")
    reply = registry.client.post(TYPES, json={"name": "again", "code": "DOOR_Open"})
    assert reply.status_code == 400
    assert error_code(reply) == "code_exists"


def test_system_code_cannot_be_registered(registry):
    reply = registry.client.post(TYPES, json={"name": "mine", "code": "Event_Created"})
    assert reply.status_code == 400
    assert error_code(reply) == "code_exists"
    assert "SYSTEM" in reply.json()["error"]


def test_refused_create_changes_nothing(registry):
    registry.create("door_open")
    before = registry.all()
    registry.client.post(TYPES, json={"name": "again", "code": "DOOR_OPEN"})
    registry.client.post(TYPES, json={"name": "bad", "code": "door-open"})
    assert registry.all() == before


def test_same_code_in_another_workspace_is_a_separate_type(server, registry):
    first = registry.create("door_open")
    other = Registry(server)
    second = other.create("door_open")
    assert second != first
    assert other.get(second)["code"] == "door_open"


def test_get_unknown_id_is_404(shared):
    reply = shared.client.get(f"{TYPES}/999999999")
    assert reply.status_code == 404
    assert error_code(reply) == "event_type_not_found"


def test_type_of_another_workspace_is_404(server, registry):
    type_id = registry.create("door_open")
    other = Registry(server)
    assert other.client.get(f"{TYPES}/{type_id}").status_code == 404
    assert other.client.put(f"{TYPES}/{type_id}", json={"name": "x", "code": "x"}).status_code == 404
    assert other.client.post(f"{TYPES}/{type_id}/deactivate").status_code == 404
    assert other.client.delete(f"{TYPES}/{type_id}").status_code == 404
    assert registry.get(type_id)["status"] == 1


# -- SYSTEM types ---------------------------------------------------------------------------------


def test_new_workspace_lists_the_four_system_types(registry):
    listed = registry.all()
    assert [(t["code"], t["type"], t["status"]) for t in listed] == [(c, "SYSTEM", 1) for c in SYSTEM_CODES]


def test_default_workspace_has_the_system_types(server):
    key = server.create_key(("types:read",))
    listed = server.client().get(TYPES, params={"per_page": 100}, headers={"X-Api-Key": key}).json()["data"]
    assert {t["code"] for t in listed if t["type"] == "SYSTEM"} == set(SYSTEM_CODES)


def _system_id(registry: Registry, code: str = "event_closed") -> int:
    return next(t["id"] for t in registry.all() if t["code"] == code)


def test_system_type_cannot_be_updated(registry):
    type_id = _system_id(registry)
    reply = registry.client.put(f"{TYPES}/{type_id}", json={"name": "Closed", "code": "closed"})
    assert reply.status_code == 400
    assert error_code(reply) == "event_type_system"
    assert "cannot be changed" in reply.json()["error"]
    assert registry.get(type_id)["code"] == "event_closed"


def test_system_type_cannot_be_deleted(registry):
    type_id = _system_id(registry)
    reply = registry.client.delete(f"{TYPES}/{type_id}")
    assert reply.status_code == 400
    assert error_code(reply) == "event_type_system"
    assert "cannot be deleted" in reply.json()["error"]
    assert registry.get(type_id)["code"] == "event_closed"


def test_system_type_cannot_be_deactivated(registry):
    type_id = _system_id(registry)
    reply = registry.client.post(f"{TYPES}/{type_id}/deactivate")
    assert reply.status_code == 400
    assert error_code(reply) == "event_type_system"
    assert "cannot be deactivated" in reply.json()["error"]
    assert registry.get(type_id)["status"] == 1


def test_activating_a_system_type_is_a_no_op(registry):
    type_id = _system_id(registry)
    assert registry.client.post(f"{TYPES}/{type_id}/activate").status_code == 204
    assert registry.get(type_id)["status"] == 1


# -- update ----------------------------------------------------------------------------------------


def test_update_changes_name_and_code_and_returns_the_type(registry):
    type_id = registry.create("door_open", "Door opened")
    reply = registry.client.put(f"{TYPES}/{type_id}", json={"name": "Gate opened", "code": "gate_open"})
    assert reply.status_code == 200
    expected = {"id": type_id, "name": "Gate opened", "code": "gate_open", "status": 1, "type": "CUSTOM"}
    assert reply.json() == expected
    assert registry.get(type_id) == expected


def test_update_keeps_the_status(registry):
    type_id = registry.create("door_open")
    registry.client.post(f"{TYPES}/{type_id}/deactivate")
    reply = registry.client.put(f"{TYPES}/{type_id}", json={"name": "Gate", "code": "gate_open"})
    assert reply.json()["status"] == 0


def test_update_may_change_only_the_case_of_its_own_code(registry):
    type_id = registry.create("door_open")
    reply = registry.client.put(f"{TYPES}/{type_id}", json={"name": "Door", "code": "Door_Open"})
    assert reply.status_code == 200
    assert registry.get(type_id)["code"] == "Door_Open"


def test_update_to_a_code_another_type_has_is_400(registry):
    registry.create("door_open")
    type_id = registry.create("gate_open")
    reply = registry.client.put(f"{TYPES}/{type_id}", json={"name": "x", "code": "DOOR_OPEN"})
    assert reply.status_code == 400
    assert error_code(reply) == "code_exists"
    assert registry.get(type_id)["code"] == "gate_open"


def test_old_code_is_free_after_a_rename(registry):
    type_id = registry.create("door_open")
    registry.client.put(f"{TYPES}/{type_id}", json={"name": "Gate", "code": "gate_open"})
    assert registry.create("door_open") != type_id


def test_update_unknown_id_is_404(shared):
    reply = shared.client.put(f"{TYPES}/999999999", json={"name": "x", "code": "x"})
    assert reply.status_code == 404


def test_update_requires_both_fields(registry):
    type_id = registry.create("door_open")
    reply = registry.client.put(f"{TYPES}/{type_id}", json={"name": "only a name"})
    assert reply.status_code == 400
    assert error_code(reply) == "code_required"


# -- delete, activate, deactivate ------------------------------------------------------------------


def test_delete_is_204_with_an_empty_body_and_the_type_is_gone(registry):
    type_id = registry.create("door_open")
    reply = registry.client.delete(f"{TYPES}/{type_id}")
    assert reply.status_code == 204
    assert reply.content == b""
    assert registry.client.get(f"{TYPES}/{type_id}").status_code == 404
    assert "door_open" not in {t["code"] for t in registry.all()}


def test_id_of_a_deleted_type_is_never_handed_out_again(registry):
    registry.create("door_open")
    newest = registry.create("gate_open")
    registry.client.delete(f"{TYPES}/{newest}")
    assert registry.create("window_open") > newest


def test_delete_unknown_id_is_404(shared):
    assert shared.client.delete(f"{TYPES}/999999999").status_code == 404


def test_deactivate_sets_status_0(registry):
    type_id = registry.create("door_open")
    reply = registry.client.post(f"{TYPES}/{type_id}/deactivate")
    assert reply.status_code == 204
    assert reply.content == b""
    assert registry.get(type_id)["status"] == 0


def test_activate_sets_status_1(registry):
    type_id = registry.create("door_open")
    registry.client.post(f"{TYPES}/{type_id}/deactivate")
    reply = registry.client.post(f"{TYPES}/{type_id}/activate")
    assert reply.status_code == 204
    assert reply.content == b""
    assert registry.get(type_id)["status"] == 1


def test_deactivate_twice_is_still_204(registry):
    type_id = registry.create("door_open")
    assert registry.client.post(f"{TYPES}/{type_id}/deactivate").status_code == 204
    assert registry.client.post(f"{TYPES}/{type_id}/deactivate").status_code == 204
    assert registry.get(type_id)["status"] == 0


@pytest.mark.parametrize("action", ["activate", "deactivate"])
def test_status_change_of_unknown_id_is_404(shared, action):
    reply = shared.client.post(f"{TYPES}/999999999/{action}")
    assert reply.status_code == 404
    assert error_code(reply) == "event_type_not_found"


# -- listing and pagination ------------------------------------------------------------------------


def test_list_returns_data_and_pagination(registry):
    registry.create("door_open")
    body = registry.client.get(TYPES).json()
    assert set(body) == {"data", "pagination"}
    assert body["pagination"] == {"page": 1, "per_page": 20, "total_pages": 1, "total_count": 5}
    assert body["data"][-1]["code"] == "door_open"
    assert set(body["data"][0]) == {"id", "name", "code", "status", "type"}


def test_list_pages_through_every_type_once(registry):
    for n in range(7):
        registry.create(f"kind_{n}")
    seen: list[str] = []
    for page in (1, 2, 3, 4):
        body = registry.client.get(TYPES, params={"page": page, "per_page": 3}).json()
        assert body["pagination"] == {"page": page, "per_page": 3, "total_pages": 4, "total_count": 11}
        seen += [t["code"] for t in body["data"]]
    assert seen == SYSTEM_CODES + [f"kind_{n}" for n in range(7)]


def test_page_after_the_last_is_empty(registry):
    body = registry.client.get(TYPES, params={"page": 5, "per_page": 10}).json()
    assert body["data"] == []
    assert body["pagination"]["total_count"] == 4


def test_empty_page_parameters_mean_the_defaults(registry):
    reply = registry.client.get(f"{TYPES}?page=&per_page=")
    assert reply.status_code == 200
    assert reply.json()["pagination"]["page"] == 1
    assert reply.json()["pagination"]["per_page"] == 20


def test_offset_of_exactly_10000_is_allowed(shared):
    reply = shared.client.get(TYPES, params={"page": 101, "per_page": 100})
    assert reply.status_code == 200
    assert reply.json()["data"] == []


@pytest.mark.parametrize("page, per_page", [(102, 100), (10002, 1), (10**30, 20)])
def test_offset_over_10000_is_400(shared, page, per_page):
    reply = shared.client.get(TYPES, params={"page": page, "per_page": per_page})
    assert reply.status_code == 400
    assert error_code(reply) == "page_out_of_range"
    assert "10,000" in reply.json()["error"]


@pytest.mark.parametrize("query, code", [
    ({"page": 0}, "page_invalid"),
    ({"page": -1}, "page_invalid"),
    ({"page": "abc"}, "page_invalid"),
    ({"page": "1.5"}, "page_invalid"),
    ({"page": "1e3"}, "page_invalid"),
    ({"page": "٣"}, "page_invalid"),
    ({"per_page": 0}, "per_page_invalid"),
    ({"per_page": 101}, "per_page_invalid"),
    ({"per_page": 1000}, "per_page_invalid"),
    ({"per_page": "ten"}, "per_page_invalid"),
    ({"per_page": "9" * 40}, "per_page_invalid"),
])
def test_bad_page_parameters_are_400_naming_the_field(shared, query, code):
    reply = shared.client.get(TYPES, params=query)
    assert reply.status_code == 400
    assert error_code(reply) == code
    assert code.removesuffix("_invalid") in reply.json()["error"]


# -- bad input ---------------------------------------------------------------------------------


BAD_CODES = ["door open", "door-open", "tür", "门", "a" * 65, "", "   ", "door.open", "door\nopen"]


@pytest.mark.parametrize("code", BAD_CODES)
def test_create_with_a_bad_code_is_400(shared, code):
    reply = shared.client.post(TYPES, json={"name": "x", "code": code})
    assert reply.status_code == 400
    assert error_code(reply) == "code_invalid"
    assert "code" in reply.json()["error"]


@pytest.mark.parametrize("code", BAD_CODES)
def test_update_with_a_bad_code_is_400(registry, code):
    type_id = registry.create("door_open")
    reply = registry.client.put(f"{TYPES}/{type_id}", json={"name": "x", "code": code})
    assert reply.status_code == 400
    assert error_code(reply) == "code_invalid"
    assert registry.get(type_id)["code"] == "door_open"


@pytest.mark.parametrize("name, code", [("", "name_invalid"), ("   ", "name_invalid"),
                                        ("n" * 257, "name_too_long"), ("Door\x00opened", "name_invalid"),
                                        ("Door\nopened", "name_invalid")])
def test_bad_name_is_400(shared, name, code):
    reply = shared.client.post(TYPES, json={"name": name, "code": "door_open"})
    assert reply.status_code == 400
    assert error_code(reply) == code
    assert "name" in reply.json()["error"]


@pytest.mark.parametrize("body, code", [
    ({"code": "door_open"}, "name_required"),
    ({"name": "Door"}, "code_required"),
    ({"name": 5, "code": "door_open"}, "name_invalid"),
    ({"name": "Door", "code": 7}, "code_invalid"),
    ({"name": None, "code": "door_open"}, "name_invalid"),
    ({"name": "Door", "code": ["door_open"]}, "code_invalid"),
    ({"name": "Door", "code": "door_open", "status": 0}, "unknown_field"),
])
def test_bad_body_is_400_naming_the_field(shared, body, code):
    reply = shared.client.post(TYPES, json=body)
    assert reply.status_code == 400
    assert error_code(reply) == code
    field = code.rsplit("_", 1)[0] if code != "unknown_field" else "status"
    assert field in reply.json()["error"]


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'"door_open"', b"null", b"\xff\xfe"])
def test_body_that_is_not_a_json_object_is_400(shared, content):
    reply = shared.client.post(TYPES, content=content, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert error_code(reply) in ("invalid_json", "invalid_request")


def test_oversized_body_is_413(shared):
    reply = shared.client.post(TYPES, json={"name": "n" * 40_000, "code": "door_open"})
    assert reply.status_code == 413


def test_unsupported_content_type_is_415(shared):
    reply = shared.client.post(TYPES, content=b"<type/>", headers={"Content-Type": "application/xml"})
    assert reply.status_code == 415


def test_json_body_with_curl_default_form_content_type_is_accepted(registry):
    reply = registry.client.post(TYPES, content=b'{"name": "Door opened", "code": "door_open"}',
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 201
    assert registry.get(reply.json()["id"])["name"] == "Door opened"


def test_form_body_is_accepted(registry):
    reply = registry.client.post(TYPES, data={"name": "Door opened", "code": "door_open"})
    assert reply.status_code == 201
    assert registry.get(reply.json()["id"])["code"] == "door_open"


def test_form_body_with_an_unknown_field_is_400(registry):
    reply = registry.client.post(TYPES, data={"name": "Door", "code": "door_open", "colour": "red"})
    assert reply.status_code == 400
    assert error_code(reply) == "unknown_field"


BAD_IDS = ["abc", "1.5", "-1", "0", "1e3", "99999999999999999999", "%20", "٣"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize("method, suffix", [("GET", ""), ("PUT", ""), ("DELETE", ""),
                                            ("POST", "/activate"), ("POST", "/deactivate")])
def test_non_integer_id_in_the_path_is_400(shared, bad_id, method, suffix):
    body = {"name": "x", "code": "x"} if method == "PUT" else None
    reply = shared.client.request(method, f"{TYPES}/{bad_id}{suffix}", json=body)
    assert reply.status_code == 400
    assert error_code(reply) == "id_invalid"
    assert "id" in reply.json()["error"]


# -- auth --------------------------------------------------------------------------------------


def test_missing_key_is_401(server):
    reply = server.client().get(TYPES)
    assert reply.status_code == 401


def test_unknown_key_is_401(server):
    reply = server.client().post(TYPES, json={"name": "x", "code": "x"},
                                 headers={"Authorization": "Bearer egk_nope"})
    assert reply.status_code == 401


def test_reading_needs_types_read(server):
    registry = Registry(server, scopes=("types:write", "events:read"))
    reply = registry.client.get(TYPES)
    assert reply.status_code == 403
    assert "types:read" in reply.json()["error"]


@pytest.mark.parametrize("method, suffix", [("POST", ""), ("PUT", "/1"), ("DELETE", "/1"),
                                            ("POST", "/1/activate"), ("POST", "/1/deactivate")])
def test_writing_needs_types_write(server, method, suffix):
    registry = Registry(server, scopes=("types:read",))
    reply = registry.client.request(method, TYPES + suffix, json={"name": "x", "code": "x"})
    assert reply.status_code == 403
    assert "types:write" in reply.json()["error"]
    assert len(registry.all()) == 4


def test_x_api_key_header_is_accepted(server):
    registry = Registry(server)
    workspace_key = registry.key
    reply = server.client().get(TYPES, headers={"X-Api-Key": workspace_key})
    assert reply.status_code == 200


# -- with the real curl binary, as a user would type it ---------------------------------------------


def curl(*args: str) -> tuple[int, str]:
    done = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True,
                          timeout=30, check=True)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_every_endpoint_works_with_curl(server, registry):
    base = f"{server.base_url}{TYPES}"
    auth = f"Authorization: Bearer {registry.key}"
    json_type = "Content-Type: application/json"

    status, body = curl("-X", "POST", base, "-H", auth, "-H", json_type,
                        "-d", '{"name": "Door opened", "code": "door_open"}')
    assert status == 201
    type_id = json.loads(body)["id"]
    # curl's default form content type with a JSON body, as people often type it
    status, body = curl("-X", "POST", base, "-H", auth, "-d", '{"name": "Backup failed", "code": "backup_failed"}')
    assert status == 201

    status, body = curl(f"{base}?page=1&per_page=20", "-H", auth)
    assert status == 200
    listed = json.loads(body)
    assert listed["pagination"]["total_count"] == 6

    status, body = curl(f"{base}/{type_id}", "-H", auth)
    assert (status, json.loads(body)["code"]) == (200, "door_open")

    status, body = curl("-X", "PUT", f"{base}/{type_id}", "-H", auth, "-H", json_type,
                        "-d", '{"name": "Gate opened", "code": "gate_open"}')
    assert (status, json.loads(body)["code"]) == (200, "gate_open")

    assert curl("-X", "POST", f"{base}/{type_id}/deactivate", "-H", auth) == (204, "")
    assert curl("-X", "POST", f"{base}/{type_id}/activate", "-H", auth) == (204, "")
    assert curl("-X", "DELETE", f"{base}/{type_id}", "-H", auth) == (204, "")
    status, _ = curl(f"{base}/{type_id}", "-H", auth)
    assert status == 404
