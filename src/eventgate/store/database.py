"""Connecting to SQLite or PostgreSQL, chosen by URL, and applying migrations.

Two engines per database: a *writer* (one connection, used only by the group-commit
thread; on SQLite it takes the write lock at BEGIN) and a *reader* pool for queries.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine

DEFAULT_DATABASE_URL = "sqlite:///./data/eventgate.db"
MIGRATIONS_LOCK_ID = 0x6576656E74  # "event": serialises migrations of processes starting together


def normalize_url(url: str) -> str:
    """Accept the URLs people write (postgresql://, postgres://) and pick our drivers."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
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
        pool_size=2 if writer else 10,
        max_overflow=0 if writer else 10,
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
    url = normalize_url(url)
    if is_sqlite(url):
        _prepare_sqlite_file(sa.make_url(url))
        return Database(url, _sqlite_engine(url, writer=True), _sqlite_engine(url, writer=False))
    return Database(url, _postgres_engine(url, writer=True), _postgres_engine(url, writer=False))


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


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
