"""SQLite backup and restore: a consistent copy of a live database, and putting a copy back.

A backup is one read transaction on the live database, copied a few pages at a time with
SQLite's online backup API. The database is in WAL mode, where a reader never blocks the writer
and the writer never disturbs a reader's snapshot: the copy is the database as it was when that
transaction began, while the server goes on committing. The backup therefore does not take the
cross-process write lock (store/write_lock.py): that lock only orders writers, and holding it
would stop every write for the whole copy. The read transaction is held across the steps on
purpose: without it each step would read a newer database, and SQLite restarts a backup from the
first page whenever another process committed between two steps (under steady writes it might
never finish). The pauses between steps only spread the disk reads out. While the snapshot is
held, the WAL cannot be checkpointed past it and grows with the writes meanwhile; the server's
checkpointer catches up once the backup ends.

A restore puts a checked copy in place of a database no process has open: SQLite's own locks say
whether one does (every connection of a running server holds a shared lock on the file).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

DEFAULT_STEP_PAGES = 1024  # 4 MiB of 4 KiB pages per step
DEFAULT_STEP_PAUSE = 0.005  # seconds between steps
SIDE_FILES = ("-wal", "-shm", "-journal")  # what SQLite keeps beside a database file
PARTIAL_SUFFIX = ".partial"


class BackupError(Exception):
    """A backup or restore that was refused or failed; the message is one line for the operator."""


class NotAnEventgateDatabase(BackupError):
    """The file is not a SQLite database, is damaged, or was not made by this eventgate."""


class TargetExists(BackupError):
    """The file or database to be written exists and replacing it was not asked for."""


class DatabaseInUse(BackupError):
    """A process (a running server) has the database open."""


@dataclass(frozen=True)
class WorkspaceContents:
    id: str
    name: str
    last_seq: int
    events: int


@dataclass(frozen=True)
class DatabaseContents:
    """What a copy holds, read from the copy itself."""

    revision: str
    workspaces: list[WorkspaceContents] = field(default_factory=list)


@dataclass(frozen=True)
class BackupResult:
    database: Path
    file: Path
    bytes: int
    seconds: float
    integrity: str
    contents: DatabaseContents


@dataclass(frozen=True)
class RestoreResult:
    file: Path
    database: Path
    previous_kept_as: Path | None
    contents: DatabaseContents


# -- backup ----------------------------------------------------------------------------------


def backup_database(database: Path, file: Path, *, replace: bool = False, step_pages: int = DEFAULT_STEP_PAGES,
                    step_pause: float = DEFAULT_STEP_PAUSE) -> BackupResult:
    """Copy the live database at `database` into `file`, which appears only once complete and checked."""
    started = time.monotonic()
    database = database.resolve()
    file = file.absolute()
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    if _same_file(file, database) or any(file.resolve() == Path(f"{database}{side}") for side in SIDE_FILES):
        raise BackupError(f"{file} is the database itself: name a file elsewhere")
    _check_writable_target(file, replace=replace)
    with _partial_file(file) as partial:
        source, copy = _connect(database), _connect(partial)
        try:
            # The snapshot begins with the first read and lasts until COMMIT: every step copies it.
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
            source.backup(copy, pages=step_pages, progress=_pause_between_steps(step_pause))
            source.execute("COMMIT")
            source.close()
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no WAL beside it
            integrity = _integrity(copy, file)
            contents = read_contents(copy, file)
        finally:
            source.close()
            copy.close()
        _fsync(partial)
        _put_in_place(partial, file, replace=replace)
    return BackupResult(database, file, file.stat().st_size, time.monotonic() - started, integrity, contents)


def _pause_between_steps(seconds: float):  # type: ignore[no-untyped-def]
    def progress(_status: int, remaining: int, _total: int) -> None:
        if remaining and seconds > 0:
            time.sleep(seconds)

    return progress


# -- restore ---------------------------------------------------------------------------------


def restore_database(file: Path, database: Path, *, replace: bool = False) -> RestoreResult:
    """Put the backup `file` in place of `database` (which may not exist yet); the previous
    database, if any, is kept beside it as <name>.before-restore-<UTC time>. Migrating the
    restored database to this eventgate's schema is the caller's next step."""
    file = file.absolute()
    database = database.absolute()
    if not file.is_file():
        raise BackupError(f"no file {file}")
    if _same_file(file, database):
        raise BackupError(f"{file} is the database itself")
    source = _open_read_only(file)
    try:
        contents = check_backup(source, file)
        exists = database.exists()
        if exists and database_in_use(database):
            raise DatabaseInUse(_in_use_message(database))
        if exists and not replace:
            raise TargetExists(f"there is a database at {database} already: --force replaces it "
                               f"(the old one is kept as {database.name}.before-restore-<time>)")
        database.parent.mkdir(parents=True, exist_ok=True)
        with _partial_file(database) as partial:
            copy = _connect(partial)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
            _fsync(partial)
            kept = _swap_in(partial, database) if exists else _place_new(partial, database)
    finally:
        source.close()
    return RestoreResult(file, database, kept, contents)


def check_backup(connection: sqlite3.Connection, file: Path) -> DatabaseContents:
    """The file is a sound SQLite database at a schema revision this eventgate knows."""
    _integrity(connection, file)
    _check_revision_known(_revision(connection, file), file)
    return read_contents(connection, file)


def database_in_use(database: Path) -> bool:
    """Whether another process has the database open. In WAL mode every connection holds a shared
    lock on the file for as long as it is open, idle or not, and a running server always keeps
    connections open; an exclusive lock is therefore granted only when nobody has it open."""
    connection = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("BEGIN EXCLUSIVE")
        connection.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as error:
        if _is_busy(error):
            return True
        raise
    finally:
        connection.close()


def _swap_in(partial: Path, database: Path) -> Path:
    """Replace the database by the copy while holding it exclusively: nothing can open the old one
    half-way. Its WAL is folded into the file first, so the old database is kept whole."""
    connection = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        try:
            connection.execute("PRAGMA locking_mode=EXCLUSIVE")
            # Leaving WAL mode checkpoints every committed frame and removes the -wal and -shm;
            # it is refused while any other connection is open.
            [mode] = connection.execute("PRAGMA journal_mode=DELETE").fetchone()
            connection.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                raise DatabaseInUse(_in_use_message(database)) from None
            raise
        if mode != "delete":
            raise DatabaseInUse(_in_use_message(database))
        _take_ownership_of(database, partial)
        _remove_side_files(database)
        kept = _keep_previous(database)
        os.replace(partial, database)
        _fsync_directory(database.parent)
        connection.execute("ROLLBACK")
    finally:
        connection.close()
    return kept


def _take_ownership_of(database: Path, partial: Path) -> None:
    """The new file gets the old one's permissions, and its owner where we may (as root), so the
    server that used the old database can open the new one."""
    info = database.stat()
    os.chmod(partial, stat.S_IMODE(info.st_mode))
    with contextlib.suppress(PermissionError):
        os.chown(partial, info.st_uid, info.st_gid)


def _place_new(partial: Path, database: Path) -> None:
    _remove_side_files(database)  # a stale WAL would be replayed into the new file
    try:
        os.link(partial, database)  # never over a database that appeared meanwhile
    except FileExistsError:
        raise TargetExists(f"a database appeared at {database} meanwhile; nothing was restored") from None
    _fsync_directory(database.parent)


def _keep_previous(database: Path) -> Path:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(1000):
        kept = database.with_name(f"{database.name}.before-restore-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            os.link(database, kept)
            return kept
        except FileExistsError:
            continue
    raise BackupError(f"could not name a file to keep the previous database beside {database}")


def _in_use_message(database: Path) -> str:
    holders = _processes_holding(database)
    who = f"process {', '.join(map(str, holders))}" if holders else "another process"
    return (f"the database {database} is in use by {who}: stop `eventgate serve` (and any other command "
            "using it), then restore")


def _processes_holding(database: Path) -> list[int]:
    """The processes holding locks on the file, where the system tells (Linux /proc/locks)."""
    try:
        info = database.stat()
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    found: set[int] = set()
    for line in lines:
        parts = line.split()
        # "1: POSIX  ADVISORY  READ 1234 08:01:5678 1073741826 1073742335"; blocked waiters start with "->"
        if len(parts) >= 6 and parts[1] != "->" and parts[5] == device and parts[4].isdigit():
            pid = int(parts[4])
            if pid not in (0, os.getpid()):
                found.add(pid)
    return sorted(found)


# -- reading and checking a copy -------------------------------------------------------------


def read_contents(connection: sqlite3.Connection, file: Path) -> DatabaseContents:
    """The schema revision and, per workspace, the last seq and the number of events."""
    revision = _revision(connection, file)
    try:
        rows = connection.execute(
            "SELECT w.id, w.name, coalesce(s.last_seq, 0),"
            " (SELECT count(*) FROM events AS e WHERE e.workspace_id = w.id)"
            " FROM workspaces AS w LEFT JOIN sequences AS s ON s.workspace_id = w.id"
            " ORDER BY w.created_at, w.name").fetchall()
    except sqlite3.DatabaseError as error:
        raise NotAnEventgateDatabase(f"{file} is not an eventgate database: {error}") from None
    return DatabaseContents(revision, [WorkspaceContents(*row) for row in rows])


def _revision(connection: sqlite3.Connection, file: Path) -> str:
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError:
        raise NotAnEventgateDatabase(f"{file} is not an eventgate database (it has no schema revision)") from None
    if len(rows) != 1:
        raise NotAnEventgateDatabase(f"{file} is not an eventgate database (it has {len(rows)} schema revisions)")
    return rows[0][0]


def _check_revision_known(revision: str, file: Path) -> None:
    """A revision outside this eventgate's migrations: a newer eventgate's, or another program's."""
    from alembic.script import ScriptDirectory

    from eventgate.store.database import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known = {entry.revision for entry in script.walk_revisions()}
    if revision not in known:
        raise NotAnEventgateDatabase(
            f"{file} is at schema revision {revision}, which this eventgate does not know (its newest is "
            f"{script.get_current_head()}): it was made by a newer eventgate, or is not an eventgate database")


def _integrity(connection: sqlite3.Connection, file: Path) -> str:
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as error:
        raise NotAnEventgateDatabase(f"{file} is not a SQLite database ({error})") from None
    if problems != ["ok"]:
        raise NotAnEventgateDatabase(f"{file} is damaged: integrity check says {problems[0]!r}"
                                     + (f" and {len(problems) - 1} more" if len(problems) > 1 else ""))
    return "ok"


# -- files -----------------------------------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30, isolation_level=None)


def _open_read_only(file: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _check_writable_target(file: Path, *, replace: bool) -> None:
    if file.is_dir():
        raise BackupError(f"{file} is a directory: name the file to write")
    if not file.parent.is_dir():
        raise BackupError(f"no directory {file.parent} to write {file.name} in")
    if file.exists() and not replace:
        raise TargetExists(f"{file} exists: --force replaces it")


@contextlib.contextmanager
def _partial_file(beside: Path) -> Iterator[Path]:
    """A new private file in the target's directory (so the final rename is atomic), removed with
    SQLite's side files unless it was put in place."""
    descriptor, name = tempfile.mkstemp(dir=beside.parent, prefix=f".{beside.name}.", suffix=PARTIAL_SUFFIX)
    os.close(descriptor)
    partial = Path(name)
    try:
        yield partial
    finally:
        for path in (partial, *(Path(f"{partial}{side}") for side in SIDE_FILES)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _put_in_place(partial: Path, file: Path, *, replace: bool) -> None:
    if replace:
        os.replace(partial, file)
    else:
        try:
            os.link(partial, file)  # fails rather than replace a file that appeared meanwhile
        except FileExistsError:
            raise TargetExists(f"{file} exists: --force replaces it") from None
    _fsync_directory(file.parent)


def _remove_side_files(database: Path) -> None:
    for side in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            Path(f"{database}{side}").unlink()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be synced
        _fsync(directory)
