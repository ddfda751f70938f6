"""`eventgate type list|create|activate|deactivate` against the same database as a live server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from eventgate.cli import main
from tests.conftest import PASSWORD
from tests.helpers import error_code


@pytest.fixture
def workspace(server) -> str:
    return server.create_workspace()


@pytest.fixture
def eventgate(database_url, workspace):
    """Run `eventgate type …` in the test workspace; returns click's Result."""
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, ["type", *args, "--workspace", workspace, "--database-url", database_url])

    return run


def listed(eventgate) -> list[dict[str, Any]]:
    result = eventgate("list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["data"]


def test_type_create_prints_the_new_id(eventgate):
    result = eventgate("create", "--code", "door_open", "--name", "Door opened")
    assert result.exit_code == 0, result.output
    type_id = int(result.output.strip())
    assert {"id": type_id, "name": "Door opened", "code": "door_open", "status": 1, "type": "CUSTOM"} in listed(eventgate)


def test_type_create_json_prints_the_type(eventgate):
    result = eventgate("create", "--code", "door_open", "--json")
    created = json.loads(result.output)
    assert created == {"id": created["id"], "name": "door_open", "code": "door_open", "status": 1, "type": "CUSTOM"}


def test_type_create_with_a_taken_code_fails(eventgate):
    eventgate("create", "--code", "door_open")
    result = eventgate("create", "--code", "DOOR_OPEN")
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert [t["code"] for t in listed(eventgate)].count("door_open") == 1


def test_type_create_with_a_bad_code_fails(eventgate):
    result = eventgate("create", "--code", "door-open")
    assert result.exit_code == 1
    assert "code must be" in result.output


def test_type_list_shows_the_system_types(eventgate):
    result = eventgate("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "CODE", "STATUS", "TYPE", "NAME"]
    assert [line.split()[1:4] for line in lines[1:]] == [
        [code, "active", "SYSTEM"] for code in ("event_created", "event_updated", "event_closed", "event_deleted")]


def test_type_deactivate_by_code_refuses_new_events(server, workspace, eventgate):
    eventgate("create", "--code", "door_open")
    result = eventgate("deactivate", "Door_Open")
    assert result.exit_code == 0, result.output
    assert "is inactive" in result.output
    channel = server.create_channel(workspace_id=workspace)
    reply = server.client().post(f"/v1/channel/{channel}/event/create",
                                 json={"password": PASSWORD, "event_type": "door_open"})
    assert reply.status_code == 409
    assert error_code(reply) == "event_type_inactive"


def test_type_activate_by_id(eventgate):
    type_id = json.loads(eventgate("create", "--code", "door_open", "--json").output)["id"]
    eventgate("deactivate", "door_open")
    result = eventgate("activate", str(type_id), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == 1
    assert next(t for t in listed(eventgate) if t["id"] == type_id)["status"] == 1


def test_type_deactivate_of_a_system_type_fails(eventgate):
    result = eventgate("deactivate", "event_created")
    assert result.exit_code == 1
    assert "SYSTEM" in result.output
    assert all(t["status"] == 1 for t in listed(eventgate))


def test_type_deactivate_of_an_unknown_type_fails(eventgate):
    result = eventgate("deactivate", "never_registered")
    assert result.exit_code == 1
    assert "never_registered" in result.output


def test_type_commands_refuse_an_unknown_workspace(database_url):
    result = CliRunner().invoke(main, ["type", "list", "--workspace", "no-such-workspace",
                                       "--database-url", database_url])
    assert result.exit_code == 2
    assert "no workspace" in result.output
