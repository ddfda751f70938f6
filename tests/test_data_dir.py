"""`serve` and every admin command find the same data (--data-dir / EVENTGATE_DATA_DIR, default
./data); an admin command never silently creates a second, empty database (SPEC §12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from eventgate.store.database import migrate, open_database


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTGATE_")}
    env.update(extra)
    return env


def eventgate(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eventgate", *args], cwd=cwd, env=_clean_environment(**env),
                          capture_output=True, text=True, timeout=120)


CHANNEL_CREATE = ("channel", "create", "--name", "n", "--password", "password-123", "--json")


def _existing_data_dir(path: Path) -> Path:
    database = open_database(f"sqlite:///{path / 'eventgate.db'}")
    migrate(database)
    database.dispose()
    return path


def _channel_names(data_dir: Path) -> list[str]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'eventgate.db'}")
    with engine.connect() as connection:
        names = [row[0] for row in connection.exec_driver_sql("SELECT name FROM channels")]
    engine.dispose()
    return names


def test_channel_create_in_an_empty_directory_fails_clearly_and_creates_nothing(tmp_path):
    result = eventgate(*CHANNEL_CREATE, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    looked_at = str(tmp_path.resolve() / "data" / "eventgate.db")
    assert looked_at in result.stderr
    assert "--data-dir" in result.stderr and "EVENTGATE_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [
    ("key", "create", "--user", "u", "--json"),
    ("key", "list"),
    ("channel", "list"),
    ("workspace", "create", "--name", "w"),
    ("type", "list"),
])
def test_other_admin_commands_never_create_a_database(tmp_path, command):
    result = eventgate(*command, cwd=tmp_path, EVENTGATE_DATA_DIR=str(tmp_path / "nowhere"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(tmp_path.resolve() / "nowhere" / "eventgate.db") in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_missing_database_url_file_is_not_created_either(tmp_path):
    result = eventgate(*CHANNEL_CREATE, "--database-url", f"sqlite:///{tmp_path / 'typo.db'}", cwd=tmp_path)
    assert result.returncode == 2
    assert str(tmp_path.resolve() / "typo.db") in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_channel_create_with_the_data_dir_variable_lands_in_that_database(tmp_path):
    data_dir = _existing_data_dir(tmp_path / "server-data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = eventgate(*CHANNEL_CREATE, cwd=elsewhere, EVENTGATE_DATA_DIR=str(data_dir))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["channel_id"]
    assert "n" in _channel_names(data_dir)
    assert list(elsewhere.iterdir()) == []


def test_channel_create_with_the_data_dir_flag_lands_in_that_database(tmp_path):
    data_dir = _existing_data_dir(tmp_path / "server-data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = eventgate(*CHANNEL_CREATE, "--data-dir", str(data_dir), cwd=elsewhere,
                       EVENTGATE_DATA_DIR=str(tmp_path / "wrong"))
    assert result.returncode == 0, result.stderr
    assert "n" in _channel_names(data_dir)
    assert not (tmp_path / "wrong").exists()


def test_data_dir_relative_to_where_the_command_runs(tmp_path):
    _existing_data_dir(tmp_path / "data")
    result = eventgate(*CHANNEL_CREATE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "n" in _channel_names(tmp_path / "data")


def test_migrate_creates_the_database_in_the_data_dir(tmp_path):
    result = eventgate("migrate", "--data-dir", str(tmp_path / "fresh"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fresh" / "eventgate.db").is_file()
    assert eventgate(*CHANNEL_CREATE, "--data-dir", str(tmp_path / "fresh"), cwd=tmp_path).returncode == 0


def test_serve_uses_the_data_dir(tmp_path, monkeypatch):
    """serve hands the data directory's database to its workers (and, with several, migrates it)."""
    import uvicorn
    from click.testing import CliRunner

    from eventgate.cli import main, settings_from_environment

    saved = dict(os.environ)
    seen: list[dict[str, str]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.append(dict(os.environ)))
    try:
        result = CliRunner().invoke(main, ["serve", "--workers", "2", "--data-dir", str(tmp_path / "served")],
                                    env={"EVENTGATE_DATABASE_URL": None, "EVENTGATE_BROKER_URL": None},
                                    catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.exit_code == 0, result.output
    settings = settings_from_environment(seen[0])
    assert settings.database_url == f"sqlite:///{tmp_path / 'served' / 'eventgate.db'}"
    assert (tmp_path / "served" / "eventgate.db").is_file()
    # and an admin command pointed at the same directory finds that database
    assert eventgate(*CHANNEL_CREATE, "--data-dir", str(tmp_path / "served"), cwd=tmp_path).returncode == 0
