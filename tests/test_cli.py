"""The command line: serve's refusals, migrate, channel and key creation (SPEC §7)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from eventgate.auth.keys import DEFAULT_SCOPES
from eventgate.cli import parse_duration
from eventgate.store.keys import find_active_key


@pytest.fixture(autouse=True)
def _database_exists(migrated_database):
    """Admin commands work on an existing database and never create one (SPEC §12): create it first."""


def eventgate(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eventgate", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_channel_create_prints_json_with_a_channel_id(database_url):
    result = eventgate("channel", "create", "--name", "garage", "--password", "open-sesame",
                       "--database-url", database_url, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert len(payload["channel_id"]) == 26


def test_channel_create_prints_only_the_id_without_json(database_url):
    result = eventgate("channel", "create", "--name", "garage", "--password", "open-sesame",
                       "--database-url", database_url)
    assert result.returncode == 0
    assert len(result.stdout.strip()) == 26


def test_channel_create_refuses_short_password(database_url):
    result = eventgate("channel", "create", "--name", "x", "--password", "short", "--database-url", database_url)
    assert result.returncode != 0
    assert "8-128" in result.stderr


def test_key_create_defaults_to_every_scope_but_admin(database_url, migrated_database):
    result = eventgate("key", "create", "--user", "alice", "--database-url", database_url, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) >= {"key", "id"}
    with migrated_database.reader.connect() as connection:
        key = find_active_key(connection, payload["key"])
    assert key is not None and key.user_id == "alice"
    assert set(key.scopes) == set(DEFAULT_SCOPES) and "admin" not in key.scopes


def test_key_create_with_scopes_channels_and_expiry(database_url, migrated_database):
    result = eventgate("key", "create", "--user", "bob", "--scope", "events:read", "--scope", "subscribe",
                       "--channel", "06J0FZG1Y8XGG14VTQ4Y3G10MR", "--expires", "2h",
                       "--database-url", database_url, "--json")
    assert result.returncode == 0, result.stderr
    with migrated_database.reader.connect() as connection:
        key = find_active_key(connection, json.loads(result.stdout)["key"])
    assert key.scopes == ("events:read", "subscribe")
    assert key.channel_ids == ("06J0FZG1Y8XGG14VTQ4Y3G10MR",)
    assert key.expires_at is not None


def test_key_is_stored_only_as_a_hash(database_url, migrated_database):
    result = eventgate("key", "create", "--user", "carol", "--database-url", database_url, "--json")
    plain = json.loads(result.stdout)["key"]
    with migrated_database.reader.connect() as connection:
        dump = "\n".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM api_keys"))
    assert plain not in dump


def test_unknown_scope_is_refused(database_url):
    result = eventgate("key", "create", "--user", "x", "--scope", "everything", "--database-url", database_url)
    assert result.returncode != 0


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("30m", 1800), ("12h", 43200), ("30d", 2592000), ("2w", 1209600)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_serve_refuses_workers_on_an_in_memory_sqlite_database():
    result = eventgate("serve", "--workers", "2", "--database-url", "sqlite://")
    assert result.returncode == 2
    assert "in-memory" in result.stderr


def test_serve_refuses_workers_with_a_memory_broker(tmp_path):
    result = eventgate("serve", "--workers", "2", "--broker-url", "memory:", "--database-url",
                       f"sqlite:///{tmp_path}/eventgate.db")
    assert result.returncode == 2
    assert "memory:" in result.stderr


def test_migrate_reports_the_revision(database_url):
    result = eventgate("migrate", "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    assert "revision" in result.stdout


def test_flags_read_environment_variables(database_url, tmp_path):
    import os

    env = dict(os.environ, EVENTGATE_DATABASE_URL=database_url)
    result = eventgate("channel", "create", "--name", "env", "--password", "from-the-env", "--json", env=env)
    assert result.returncode == 0, result.stderr


def test_help_lists_the_commands():
    result = eventgate("--help")
    for command in ("serve", "migrate", "channel", "key"):
        assert command in result.stdout


def test_workspace_create_makes_a_separate_tenant(database_url):
    result = eventgate("workspace", "create", "--name", "acme-cli-test", "--database-url", database_url, "--json")
    assert result.returncode == 0, result.stderr
    workspace_id = json.loads(result.stdout)["workspace_id"]
    channel = eventgate("channel", "create", "--name", "a", "--password", "password-123", "--workspace",
                        "acme-cli-test", "--database-url", database_url, "--json")
    assert json.loads(channel.stdout)["workspace_id"] == workspace_id
    again = eventgate("workspace", "create", "--name", "acme-cli-test", "--database-url", database_url)
    assert again.returncode != 0
