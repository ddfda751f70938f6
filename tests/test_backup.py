"""`eventgate backup FILE` and `eventgate restore FILE` (SPEC §12).

A backup is taken from a real `eventgate serve` while concurrent clients write to it; the copy
is then checked as a file (integrity, one consistent snapshot), restored into a fresh data
directory and served again. Refusals are one line and exit status 2.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from alembic.script import ScriptDirectory

from eventgate.auth.passwords import hash_password
from eventgate.store.channels import create_channel
from eventgate.store.database import alembic_config, migrate, open_database
from eventgate.store.keys import create_key
from eventgate.store.workspaces import create_workspace
from tests.conftest import PASSWORD
from tests.live_client import EVENTGATE, Producers, ServeProcess

pytestmark = pytest.mark.skipif(not Path(EVENTGATE).exists(), reason="the eventgate command is not installed")


def eventgate_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "eventgate", *map(str, args)]


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EVENTGATE_")}


def eventgate(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(eventgate_command(*args), env=clean_environment(), capture_output=True, text=True,
                          timeout=120)


def database_url_of(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'eventgate.db'}"


def migrated(data_dir: Path) -> Path:
    """A data directory with a database, as `eventgate migrate` leaves it."""
    database = open_database(database_url_of(data_dir))
    migrate(database)
    database.dispose()
    return data_dir


def open_read_only(path: Path) -> sqlite3.Connection:
    """(On a database in WAL mode it leaves the -wal and -shm files behind: it may not remove them.)"""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def column(path: Path, sql: str, *parameters: object) -> list:
    connection = open_read_only(path)
    try:
        return [row[0] for row in connection.execute(sql, parameters)]
    finally:
        connection.close()


def add_channel(data_dir: Path, name: str) -> None:
    database = open_database(database_url_of(data_dir))
    with database.writer.begin() as connection:
        create_channel(connection, "default", name, hash_password(PASSWORD))
    database.dispose()


def refused_in_one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def partial_files(directory: Path) -> list[Path]:
    return [path for path in directory.iterdir() if path.name.endswith(".partial")]


# -- a backup of a live server under concurrent writes -----------------------------------------


@dataclass
class Tenant:
    workspace_id: str
    channel: str
    key: str


@dataclass
class LiveBackup:
    data_dir: Path
    server: ServeProcess
    file: Path
    report: dict
    tenants: list[Tenant]
    acknowledged_before: list[list[str]]  # per tenant: event ids acknowledged before the backup began
    acknowledged_during: int  # writes acknowledged between the backup's start and its end
    acknowledged_while_stopped: int  # ... of which while the backup was held mid-copy


def make_tenant(database_url: str, workspace_name: str | None) -> Tenant:
    database = open_database(database_url)
    try:
        with database.writer.begin() as connection:
            workspace_id = create_workspace(connection, workspace_name).id if workspace_name else "default"
            channel = create_channel(connection, workspace_id, "producers", hash_password(PASSWORD)).id
            key, _ = create_key(connection, workspace_id, "reader", ("events:read",))
    finally:
        database.dispose()
    return Tenant(workspace_id, channel, key)


def wait_for_copy_in_progress(process: subprocess.Popen, directory: Path) -> Path:
    """The backup's partial file once its first pages are in it (its snapshot is then held)."""
    deadline = time.monotonic() + 60
    while True:
        found = [path for path in partial_files(directory) if path.stat().st_size > 0]
        if found:
            return found[0]
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the backup never began copying"
        time.sleep(0.005)


@pytest.fixture(scope="module")
def live_backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBackup]:
    data_dir = migrated(tmp_path_factory.mktemp("live") / "data")
    database_url = database_url_of(data_dir)
    tenants = [make_tenant(database_url, None), make_tenant(database_url, "second")]
    backups = tmp_path_factory.mktemp("backups")
    file = backups / "eventgate-backup.db"
    server = ServeProcess(database_url, workers=1, log_path=backups / "serve.log").start()
    try:
        producers = [Producers(server.base_url, tenants[0].channel, threads=2),
                     Producers(server.base_url, tenants[1].channel, threads=1)]
        with producers[0], producers[1]:
            producers[0].wait_for(150)
            producers[1].wait_for(50)
            before = [list(p.acknowledged) for p in producers]
            # Small steps with pauses: the copy lasts long enough to be caught in the middle.
            process = subprocess.Popen(
                eventgate_command("backup", file, "--data-dir", data_dir, "--json",
                                  "--step-pages", "2", "--step-pause", "0.01"),
                env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            partial = wait_for_copy_in_progress(process, backups)
            # Hold the backup mid-copy, its snapshot open: the server must go on committing.
            os.kill(process.pid, signal.SIGSTOP)
            try:
                assert partial.exists(), "the backup finished before it could be held"
                held_at = len(producers[0].acknowledged)
                producers[0].wait_for(held_at + 25)
                while_stopped = len(producers[0].acknowledged) - held_at
            finally:
                os.kill(process.pid, signal.SIGCONT)
            stdout, stderr = process.communicate(timeout=120)
            during = sum(len(p.acknowledged) for p in producers) - sum(map(len, before))
        assert process.returncode == 0, stderr
        yield LiveBackup(data_dir, server, file, json.loads(stdout), tenants, before, during, while_stopped)
    finally:
        server.stop()


def test_backup_reports_the_file_its_size_and_the_last_seq_of_each_workspace(live_backup):
    report = live_backup.report
    assert report["file"] == str(live_backup.file)
    assert report["database"] == str(live_backup.data_dir / "eventgate.db")
    assert report["bytes"] == live_backup.file.stat().st_size
    assert report["integrity"] == "ok"
    last_seqs = dict(zip(column(live_backup.file, "SELECT workspace_id FROM sequences ORDER BY workspace_id"),
                         column(live_backup.file, "SELECT last_seq FROM sequences ORDER BY workspace_id")))
    assert {w["id"]: w["last_seq"] for w in report["workspaces"]} == last_seqs
    for workspace in report["workspaces"]:
        assert workspace["events"] == column(
            live_backup.file, "SELECT count(*) FROM events WHERE workspace_id = ?", workspace["id"])[0]


def test_every_write_acknowledged_before_the_backup_began_is_in_the_copy(live_backup):
    for tenant, acknowledged in zip(live_backup.tenants, live_backup.acknowledged_before):
        copied = set(column(live_backup.file, "SELECT id FROM events WHERE workspace_id = ?", tenant.workspace_id))
        assert set(acknowledged) <= copied


def test_the_copy_passes_integrity_check(live_backup):
    assert column(live_backup.file, "PRAGMA integrity_check") == ["ok"]


def test_the_copy_is_one_snapshot_its_operations_dense_up_to_each_last_seq(live_backup):
    for tenant in live_backup.tenants:
        [last_seq] = column(live_backup.file, "SELECT last_seq FROM sequences WHERE workspace_id = ?",
                            tenant.workspace_id)
        seqs = column(live_backup.file, "SELECT seq FROM operations WHERE workspace_id = ? ORDER BY seq",
                      tenant.workspace_id)
        assert seqs == list(range(1, last_seq + 1))
        # no event from after the snapshot either: each copied event's operations are in the copy
        assert column(live_backup.file, "SELECT count(*) FROM events WHERE workspace_id = ? AND seq > ?",
                      tenant.workspace_id, last_seq) == [0]


def test_the_copy_is_a_single_file_that_needs_no_wal(live_backup):
    assert column(live_backup.file, "PRAGMA journal_mode") == ["delete"]
    assert not Path(f"{live_backup.file}-wal").exists()
    assert partial_files(live_backup.file.parent) == []


def test_the_server_went_on_accepting_writes_during_the_backup(live_backup):
    assert live_backup.acknowledged_while_stopped >= 25
    assert live_backup.acknowledged_during >= live_backup.acknowledged_while_stopped


def test_backup_refuses_to_overwrite_an_existing_file(live_backup):
    before = live_backup.file.read_bytes()
    line = refused_in_one_line(eventgate("backup", live_backup.file, "--data-dir", live_backup.data_dir))
    assert str(live_backup.file) in line and "--force" in line
    assert live_backup.file.read_bytes() == before


def test_backup_with_force_replaces_the_file(live_backup, tmp_path):
    file = tmp_path / "again.db"
    file.write_text("an older backup")
    result = eventgate("backup", file, "--data-dir", live_backup.data_dir, "--force")
    assert result.returncode == 0, result.stderr
    assert column(file, "PRAGMA integrity_check") == ["ok"]
    assert str(file) in result.stdout and "default" in result.stdout


def test_backup_refuses_to_write_over_the_database_itself(live_backup):
    database = live_backup.data_dir / "eventgate.db"
    line = refused_in_one_line(eventgate("backup", database, "--data-dir", live_backup.data_dir, "--force"))
    assert "database itself" in line
    assert live_backup.server.process.poll() is None
    assert httpx.get(f"{live_backup.server.base_url}/readyz", timeout=10).status_code == 200


def test_restore_refuses_while_a_server_runs_on_the_database(live_backup):
    database = live_backup.data_dir / "eventgate.db"
    line = refused_in_one_line(eventgate("restore", live_backup.file, "--data-dir", live_backup.data_dir, "--force"))
    assert "in use" in line and str(database) in line
    assert not list(live_backup.data_dir.glob("eventgate.db.before-restore-*"))
    tenant = live_backup.tenants[0]
    reply = httpx.get(f"{live_backup.server.base_url}/events/{live_backup.acknowledged_before[0][0]}",
                      headers={"Authorization": f"Bearer {tenant.key}"}, timeout=30)
    assert reply.status_code == 200


def test_restore_into_a_fresh_data_dir_then_serve_serves_the_backed_up_events(live_backup, tmp_path):
    data_dir = tmp_path / "restored"
    result = eventgate("restore", live_backup.file, "--data-dir", data_dir, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["database"] == str(data_dir / "eventgate.db") and report["previous_kept_as"] is None
    with ServeProcess(database_url_of(data_dir), workers=1, log_path=tmp_path / "serve.log") as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for tenant, acknowledged in zip(live_backup.tenants, live_backup.acknowledged_before):
                for event_id in (acknowledged[0], acknowledged[-1]):
                    reply = client.get(f"/events/{event_id}", headers={"Authorization": f"Bearer {tenant.key}"})
                    assert reply.status_code == 200, reply.text
                    assert reply.json()["data"]["id"] == event_id


# -- restore: what it refuses, what it keeps ---------------------------------------------------


@pytest.fixture(scope="module")
def small_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of a stopped database holding one channel, `from-the-backup`."""
    data_dir = migrated(tmp_path_factory.mktemp("small") / "data")
    add_channel(data_dir, "from-the-backup")
    file = data_dir.parent / "small-backup.db"
    result = eventgate("backup", file, "--data-dir", data_dir)
    assert result.returncode == 0, result.stderr
    return file


def test_restore_refuses_to_replace_an_existing_database_without_force(small_backup, tmp_path):
    data_dir = migrated(tmp_path / "data")
    add_channel(data_dir, "already-here")
    line = refused_in_one_line(eventgate("restore", small_backup, "--data-dir", data_dir))
    assert str(data_dir / "eventgate.db") in line and "--force" in line
    assert sorted(p.name for p in data_dir.iterdir()) == ["eventgate.db"]
    assert column(data_dir / "eventgate.db", "SELECT name FROM channels WHERE name != 'default'") == ["already-here"]


def leave_a_wal_behind(database: Path, channel_name: str) -> None:
    """A process that committed into the WAL and died without closing (nothing checkpointed)."""
    script = ("import os, sqlite3, sys\n"
              "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
              "c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA wal_autocheckpoint=0')\n"
              "c.execute(\"UPDATE channels SET name = ? WHERE name = 'doomed'\", (sys.argv[2],))\n"
              "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", script, str(database), channel_name], check=True, timeout=60)
    assert Path(f"{database}-wal").stat().st_size > 0


def test_restore_with_force_keeps_the_previous_database_whole_and_drops_its_wal(small_backup, tmp_path):
    data_dir = migrated(tmp_path / "data")
    add_channel(data_dir, "doomed")
    database = data_dir / "eventgate.db"
    leave_a_wal_behind(database, "only-in-the-wal")
    database.chmod(0o640)
    result = eventgate("restore", small_backup, "--data-dir", data_dir, "--force", "--json")
    assert result.returncode == 0, result.stderr
    kept = Path(json.loads(result.stdout)["previous_kept_as"])
    assert kept.parent == data_dir and kept.name.startswith("eventgate.db.before-restore-")
    assert sorted(p.name for p in data_dir.iterdir()) == ["eventgate.db", kept.name]
    # the previous database, with what only its WAL held, is one file of its own
    assert column(kept, "SELECT name FROM channels WHERE name != 'default'") == ["only-in-the-wal"]
    assert column(kept, "PRAGMA integrity_check") == ["ok"]
    assert column(database, "SELECT name FROM channels WHERE name != 'default'") == ["from-the-backup"]
    assert database.stat().st_mode & 0o777 == 0o640  # the server that used the old one can open it


def test_restore_migrates_and_reports_the_revision(small_backup, tmp_path):
    result = eventgate("restore", small_backup, "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert f"schema revision {revision}" in result.stdout
    assert column(tmp_path / "data" / "eventgate.db", "SELECT version_num FROM alembic_version") == [revision]


def sqlite_file(path: Path, *statements: str) -> Path:
    connection = sqlite3.connect(path)
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("kind", ["text", "other-sqlite", "newer-eventgate"])
def test_restore_of_a_file_that_is_not_an_eventgate_database_exits_2(tmp_path, kind):
    if kind == "text":
        file = tmp_path / "notes.db"
        file.write_text("not a database at all\n" * 200)
    elif kind == "other-sqlite":
        file = sqlite_file(tmp_path / "other.db", "CREATE TABLE songs (title TEXT)")
    else:
        file = sqlite_file(tmp_path / "newer.db", "CREATE TABLE alembic_version (version_num VARCHAR(32))",
                           "INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    line = refused_in_one_line(eventgate("restore", file, "--data-dir", tmp_path / "data"))
    assert str(file) in line
    if kind == "newer-eventgate":
        assert "9999_from_the_future" in line and "newer" in line
    assert not (tmp_path / "data").exists()


def test_restore_of_a_missing_file_exits_2(tmp_path):
    line = refused_in_one_line(eventgate("restore", tmp_path / "nowhere.db", "--data-dir", tmp_path / "data"))
    assert str(tmp_path / "nowhere.db") in line
    assert not (tmp_path / "data").exists()


# -- what backup refuses -----------------------------------------------------------------------


def test_backup_of_a_missing_database_exits_2_and_creates_nothing(tmp_path):
    result = eventgate("backup", tmp_path / "copy.db", "--data-dir", tmp_path / "nowhere")
    assert result.returncode == 2
    assert str(tmp_path / "nowhere" / "eventgate.db") in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command, tool", [("backup", "pg_dump"), ("restore", "pg_restore")])
def test_a_postgresql_url_exits_2_naming_the_postgresql_tool_and_no_password(tmp_path, command, tool):
    file = tmp_path / "eventgate.dump"
    file.write_bytes(b"PGDMP")
    url = "postgresql://eventgate:s3cret-pw@db.example:5432/eventgate"
    line = refused_in_one_line(eventgate(command, file, "--database-url", url))
    assert tool in line and "postgresql://eventgate@db.example:5432/eventgate" in line
    assert "s3cret-pw" not in line
