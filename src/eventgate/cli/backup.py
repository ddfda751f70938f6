"""`eventgate backup FILE` and `eventgate restore FILE`: a consistent copy of a live SQLite
database, and putting one back (docs/backup.md). The SQLite mechanics live in store/backup.py;
PostgreSQL has its own tools, which the refusal names."""

from __future__ import annotations

import shlex
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable

import click

from eventgate.cli import database_url_option, emit, json_option, main, open_migrated, require_existing_database
from eventgate.store.backup import (
    DEFAULT_STEP_PAGES,
    DEFAULT_STEP_PAUSE,
    BackupError,
    DatabaseContents,
    backup_database,
    restore_database,
)


class Refused(click.ClickException):
    """One line and exit status 2: the command was refused and changed nothing."""

    exit_code = 2


def _postgresql_url(url: Any) -> str:
    """The URL as pg_dump and pg_restore take it, without its password (they read PGPASSWORD or
    ~/.pgpass): a command line that can be shown and pasted."""
    query = {k: v for k, v in url.query.items() if k.lower() not in ("password", "passwd", "pwd")}
    # URL.set(password=None) would keep the password: None there means "unchanged".
    plain = url._replace(password=None).set(drivername="postgresql", query=query)
    return plain.render_as_string(hide_password=False)


def _sqlite_file(database_url: str, postgresql_advice: Callable[[str], str]) -> Path:
    """The SQLite file behind the URL; a PostgreSQL URL is refused with the advice to use its tools."""
    import sqlalchemy as sa

    from eventgate.store.database import is_sqlite, normalize_url

    url = sa.make_url(normalize_url(database_url))
    if not is_sqlite(str(url)):
        raise Refused(postgresql_advice(shlex.quote(_postgresql_url(url))))
    if not url.database or url.database == ":memory:" or "mode=memory" in database_url:
        raise Refused("an in-memory SQLite database belongs to its process: there is no file to copy")
    return Path(url.database).expanduser().resolve()


def _contents_lines(contents: DatabaseContents) -> list[str]:
    return [f"  workspace {w.name}: last seq {w.last_seq}, {w.events} events" for w in contents.workspaces]


def _contents_json(contents: DatabaseContents) -> list[dict[str, Any]]:
    return [{"id": w.id, "name": w.name, "last_seq": w.last_seq, "events": w.events} for w in contents.workspaces]


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    size = count / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_url_option
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--step-pages", default=DEFAULT_STEP_PAGES, show_default=True, type=click.IntRange(1),
              help="Pages copied per step.")
@click.option("--step-pause", default=DEFAULT_STEP_PAUSE, show_default=True, type=click.FloatRange(0, 10),
              help="Seconds to pause between steps, to spare a busy disk.")
@json_option
def backup(file: Path, database_url: str, force: bool, step_pages: int, step_pause: float, as_json: bool) -> None:
    """Copy the SQLite database, live, into FILE: one consistent snapshot, checked before FILE appears.

    The server goes on taking writes meanwhile. For PostgreSQL use pg_dump (docs/backup.md)."""
    database = _sqlite_file(database_url, lambda url: (
        "eventgate backup copies SQLite databases; back up PostgreSQL with pg_dump: "
        f"pg_dump --format=custom --file={shlex.quote(str(file))} {url} "
        "(the password from PGPASSWORD or ~/.pgpass; see docs/backup.md)"))
    require_existing_database(database_url)
    # Stopped by a service manager: end through the cleanup that removes the partial copy.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        result = backup_database(database, file, replace=force, step_pages=step_pages, step_pause=step_pause)
    except BackupError as error:
        raise Refused(str(error)) from None
    except (sqlite3.Error, OSError) as error:
        raise click.ClickException(f"the backup failed, {file} was not written: {error}") from None
    payload = {"file": str(result.file), "database": str(result.database), "bytes": result.bytes,
               "seconds": round(result.seconds, 3), "integrity": result.integrity,
               "revision": result.contents.revision, "workspaces": _contents_json(result.contents)}
    text = "\n".join([
        f"backed up {result.database} to {result.file}: {_size(result.bytes)}, schema revision "
        f"{result.contents.revision}, integrity {result.integrity}, {result.seconds:.2f} s",
        *_contents_lines(result.contents)])
    emit(as_json, payload, text)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_url_option
@click.option("--force", is_flag=True,
              help="Replace an existing database (kept beside it as <name>.before-restore-<time>).")
@json_option
def restore(file: Path, database_url: str, force: bool, as_json: bool) -> None:
    """Put a backup made by `eventgate backup` in place of the database, then migrate it.

    The server must be stopped. For PostgreSQL use pg_restore (docs/backup.md)."""
    from eventgate.store.database import current_revision

    database = _sqlite_file(database_url, lambda url: (
        "eventgate restore puts back SQLite backups; restore PostgreSQL with pg_restore: "
        f"pg_restore --clean --if-exists --no-owner --dbname={url} {shlex.quote(str(file))} "
        "then eventgate migrate (see docs/backup.md)"))
    try:
        result = restore_database(file, database, replace=force)
    except BackupError as error:
        raise Refused(str(error)) from None
    except (sqlite3.Error, OSError) as error:
        raise click.ClickException(f"the restore failed, {database} is as it was: {error}") from None
    kept = f" (the previous database is kept as {result.previous_kept_as})" if result.previous_kept_as else ""
    try:
        migrated = open_migrated(database_url)
        revision = current_revision(migrated)
        migrated.dispose()
    except Exception as error:
        raise click.ClickException(f"{file} was restored into {database}{kept}, but migrating it failed: "
                                   f"{error}") from None
    restored = result.contents.revision
    payload = {"file": str(result.file), "database": str(result.database),
               "previous_kept_as": str(result.previous_kept_as) if result.previous_kept_as else None,
               "restored_revision": restored, "revision": revision,
               "workspaces": _contents_json(result.contents)}
    text = "\n".join([
        f"restored {result.file} into {result.database}{kept}: schema revision {revision}"
        + (f" (migrated from {restored})" if restored != revision else ""),
        *_contents_lines(result.contents)])
    emit(as_json, payload, text)
