"""Connecting to SQLite or PostgreSQL, chosen by URL, and applying migrations.

Two engines per database: a *writer* (one connection, used only by the group-commit
thread; on SQLite it takes the write lock at BEGIN) and a *reader* pool for queries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger("eventgate.store")

DEFAULT_DATABASE_URL = "sqlite:///./data/eventgate.db"
MIGRATIONS_LOCK_ID = 0x6576656E74  # "event": serialises migrations of processes starting together
WRITER_AUTOCHECKPOINT_PAGES = 4000  # 16 MiB of 4 KiB pages
CHECKPOINT_INTERVAL_SECONDS = 0.25


SUPPORTED_URLS = "use sqlite:///path/to/eventgate.db or postgresql://user:password@host:5432/database"
SUPPORTED_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgres", "postgresql", "postgresql+psycopg")


class DatabaseOpenError(Exception):
    """The database URL is not one we support, or the database cannot be opened.

    Its message is one line for the operator, naming the URL without its password; the
    `eventgate` command prints it and exits 1 instead of a traceback (cli.OneLineErrors)."""


class UnsupportedDatabaseURL(DatabaseOpenError, ValueError):
    """A URL of a database we do not speak (mysql://…), or not a URL at all."""


def redact_url(url: str) -> str:
    """The URL as written, its password (in the user part or a password= parameter) as ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = _PASSWORD_PARAMETER.sub(r"\1***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query)) if (netloc, query) != (
        parts.netloc, parts.query) else url


_PASSWORD_PARAMETER = re.compile(r"((?:^|&)(?:password|passwd|pwd)=)[^&]*", re.IGNORECASE)


def normalize_url(url: str) -> str:
    """Accept the URLs people write (postgresql://, postgres://) and pick our drivers.

    Any other database (mysql://, …) raises UnsupportedDatabaseURL, naming the two we speak."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SUPPORTED_SCHEMES:
        raise UnsupportedDatabaseURL(f"unsupported database URL {redact_url(url)}: {SUPPORTED_URLS}")
    for prefix in ("postgres://", "postgresql://"):
        if url[:len(prefix)].lower() == prefix:
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _prepare_sqlite_file(url: sa.URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, *, writer: bool) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
        pool_size=1 if writer else 8,
        max_overflow=0 if writer else 8,
        pool_pre_ping=False,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged write survives power loss, not only a crash. Group commit pays for it.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")
        if writer:
            # The WalCheckpointer copies the WAL into the database file in the background; the
            # writer's own checkpoint (inside a commit) is only a backstop that finishes the job
            # and lets the WAL start over, so it may wait for more pages than SQLite's 1000.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        # The driver is in autocommit mode; we issue BEGIN ourselves so the writer can take
        # the write lock up front instead of failing to upgrade a read lock later.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def _postgres_engine(url: str, *, writer: bool) -> Engine:
    return sa.create_engine(
        url,
        # Readers: up to 20 at once, but only 4 kept open while idle. PostgreSQL's connections are
        # few and shared by every process of a deployment (and every server of the test suite).
        pool_size=2 if writer else 4,
        max_overflow=0 if writer else 16,
        pool_pre_ping=True,
    )


@dataclass
class Database:
    url: str
    writer: Engine
    reader: Engine

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def dispose(self) -> None:
        self.writer.dispose()
        self.reader.dispose()


def open_database(url: str) -> Database:
    """Engines for the database at `url`, once one connection to it has succeeded.

    An unsupported URL raises UnsupportedDatabaseURL; a database that cannot be reached or
    opened (no such database, server down, wrong password, unwritable directory) raises
    DatabaseOpenError with the driver's reason on one line."""
    given = url
    url = normalize_url(url)
    try:
        if is_sqlite(url):
            _prepare_sqlite_file(sa.make_url(url))
            database = Database(url, _sqlite_engine(url, writer=True), _sqlite_engine(url, writer=False))
        else:
            database = Database(url, _postgres_engine(url, writer=True), _postgres_engine(url, writer=False))
    except (sa.exc.ArgumentError, ValueError, ImportError) as error:
        raise UnsupportedDatabaseURL(
            f"unsupported database URL {redact_url(given)}: {_one_line(error)}; {SUPPORTED_URLS}") from error
    except OSError as error:
        raise DatabaseOpenError(f"cannot open the database {redact_url(given)}: {_one_line(error)}") from error
    try:
        with database.reader.connect():
            pass
    except (sa.exc.SQLAlchemyError, OSError) as error:
        database.dispose()
        raise DatabaseOpenError(f"cannot open the database {redact_url(given)}: {_one_line(error)}") from error
    return database


def _one_line(error: BaseException) -> str:
    """The driver's reason, without SQLAlchemy's wrapping: 'database "x" does not exist'."""
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    if not lines:
        return type(cause).__name__
    text = lines[0]
    if text.startswith("connection failed: "):
        text = text[len("connection failed: "):]
    if "FATAL:" in text:
        text = text.split("FATAL:", 1)[1]
    return " ".join(text.split())[:300]


class WalCheckpointer:
    """SQLite only: copies committed pages from the WAL into the database file, in its own thread.

    Left to itself, SQLite checkpoints inside the commit that crosses the threshold: that
    commit then also reads and writes every page of the WAL and syncs the database file, and
    every request in its batch waits for it. Here a PASSIVE checkpoint (never blocks the writer,
    runs with the GIL released) does that work on the side, so commits only append to the WAL.
    Durability does not change: a commit is acknowledged once its WAL frames are synced.
    """

    def __init__(self, database: Database, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self.database = database
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.database.is_sqlite or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="eventgate-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        connection = self.database.reader.raw_connection()
        try:
            while not self._stop.wait(self.interval):
                try:
                    connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except Exception:  # noqa: BLE001 — a missed checkpoint is retried; the writer's is the backstop
                    log.debug("background WAL checkpoint failed", exc_info=True)
        finally:
            connection.close()


@contextlib.contextmanager
def migration_lock(engine: Engine) -> Iterator[sa.Connection]:
    """On PostgreSQL, hold an advisory lock so that processes starting together migrate once."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATIONS_LOCK_ID})")
            connection.commit()
        try:
            yield connection
        finally:
            if engine.dialect.name == "postgresql":
                connection.rollback()
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATIONS_LOCK_ID})")
                connection.commit()


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def migrate(database: Database) -> None:
    """Bring the schema to the newest revision, then make sure the default workspace exists."""
    from alembic import command

    from eventgate.store.workspaces import ensure_default_workspace

    config = alembic_config(database.url)
    with migration_lock(database.reader) as _lock:
        with database.writer.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        ensure_default_workspace(database)


def current_revision(database: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with database.reader.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_store_unavailable(error: BaseException) -> bool:
    """The database could not be reached or used (down, restarting, locked, pool exhausted), as
    opposed to refusing what was asked of it."""
    if isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)):
        return True
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    # Driver errors that reach us unwrapped (the writer talks to the driver directly).
    return type(error).__name__ in ("OperationalError", "InterfaceError") and type(error).__module__.split(".")[0] in (
        "sqlite3", "psycopg")


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
