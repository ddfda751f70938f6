"""The event-type registry (seed 003): list, get, create, rename, delete, activate, deactivate.

Rules kept here:
- codes are 1-64 of [A-Za-z0-9_], unique per workspace ignoring case; names 1-256 characters;
- SYSTEM types (event_created, event_updated, event_closed, event_deleted) are read-only;
  activating one is a no-op because it is always active;
- a type that stored events still carry cannot be deleted (409 event_type_in_use): deleting it
  would leave those events without a type. Deactivate it instead, or delete the events first.

Each change runs in one transaction holding the workspace's write lock, so it is ordered with
the event writes of that workspace (see store.event_types.lock_workspace_writes).

The functions are synchronous (the CLI calls them); `EventTypeRegistry` runs them off the
event loop for the HTTP API.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import anyio
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError, bad_request, conflict, not_found
from eventgate.store import event_types as store
from eventgate.store.database import Database
from eventgate.store.event_types import EventType

T = TypeVar("T")

MAX_NAME = 256
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
# Seed 003: page-based listing is limited to the first 10,000 records.
MAX_OFFSET = 10_000


@dataclass(frozen=True, slots=True)
class TypePage:
    types: list[EventType]
    page: int
    per_page: int
    total_count: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total_count / self.per_page)


# -- rules ------------------------------------------------------------------------------------


def valid_name(value: Any) -> str:
    name = rules.text(value, "name", MAX_NAME)
    # PostgreSQL text cannot hold NUL, and no other control character belongs in a display name.
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise bad_request("name_invalid", "name must not contain control characters", "name")
    return name


def valid_code(value: Any) -> str:
    return rules.type_code(value, "code")


def page_window(page: int, per_page: int) -> int:
    """The offset of a page, after checking both numbers; raises 400 naming the field."""
    if page < 1:
        raise bad_request("page_invalid", "page must be an integer of at least 1", "page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise bad_request("per_page_invalid", f"per_page must be an integer from 1 to {MAX_PER_PAGE}", "per_page")
    offset = (page - 1) * per_page
    if offset > MAX_OFFSET:
        raise bad_request("page_out_of_range",
                          f"page: listing is limited to the first {MAX_OFFSET:,} records "
                          f"(page {page} with per_page {per_page} starts at record {offset:,})", "page")
    return offset


def _not_found(type_id: int) -> DomainError:
    return not_found("event_type_not_found", f"event type {type_id} does not exist")


def _read_only(found: EventType, action: str) -> DomainError:
    return bad_request("event_type_system",
                       f"{found.code} is a SYSTEM event type; SYSTEM types cannot be {action}")


def _code_taken(code: str, holder: EventType | None = None) -> DomainError:
    if holder is not None and holder.is_system:
        return bad_request("code_exists", f"code {code!r} belongs to the SYSTEM event type {holder.code}", "code")
    return bad_request("code_exists", f"code: an event type with code {code!r} already exists in this workspace "
                                      "(codes are compared ignoring case)", "code")


# -- transactions -----------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(database: Database, workspace_id: str) -> Iterator[sa.Connection]:
    # SQLite allows one writer: use the writer engine, whose BEGIN IMMEDIATE takes the write
    # lock up front. PostgreSQL: the reader pool, so that registry changes never wait for the
    # writer thread's small pool; the row lock below does the ordering.
    engine = database.writer if database.is_sqlite else database.reader
    with engine.begin() as connection:
        if not store.lock_workspace_writes(connection, workspace_id, is_postgres=not database.is_sqlite):
            raise not_found("workspace_not_found", f"workspace {workspace_id} does not exist")
        yield connection


# -- operations -------------------------------------------------------------------------------


def list_page(database: Database, workspace_id: str, page: int = 1, per_page: int = DEFAULT_PER_PAGE) -> TypePage:
    offset = page_window(page, per_page)
    with database.reader.begin() as connection:
        total = store.count_types(connection, workspace_id)
        found = store.list_types(connection, workspace_id, offset=offset, limit=per_page) if offset < total else []
    return TypePage(found, page, per_page, total)


def list_all(database: Database, workspace_id: str) -> list[EventType]:
    with database.reader.connect() as connection:
        return store.list_types(connection, workspace_id)


def get_type(database: Database, workspace_id: str, type_id: int) -> EventType:
    with database.reader.connect() as connection:
        found = store.find_type(connection, workspace_id, type_id)
    if found is None:
        raise _not_found(type_id)
    return found


def find_type(database: Database, workspace_id: str, code_or_id: str) -> EventType:
    """A type by its code (ignoring case) or, failing that, by its numeric id (for the CLI)."""
    with database.reader.connect() as connection:
        found = store.find_type_by_code(connection, workspace_id, code_or_id)
        if found is None and code_or_id.isascii() and code_or_id.isdigit() and len(code_or_id) <= 18:
            found = store.find_type(connection, workspace_id, int(code_or_id))
    if found is None:
        raise not_found("event_type_not_found", f"no event type with code or id {code_or_id!r}")
    return found


def create_type(database: Database, workspace_id: str, name: Any, code: Any) -> EventType:
    """Register an active CUSTOM type; 400 code_exists when the code is taken (ignoring case)."""
    name, code = valid_name(name), valid_code(code)
    try:
        with _locked(database, workspace_id) as connection:
            holder = store.find_type_by_code(connection, workspace_id, code)
            if holder is not None:
                raise _code_taken(code, holder)
            type_id = store.insert_custom_type(connection, workspace_id, name, code)
    except IntegrityError:  # a writer that does not take the lock registered it first
        raise _code_taken(code) from None
    return EventType(type_id, name, code, store.ACTIVE, store.CUSTOM)


def update_type(database: Database, workspace_id: str, type_id: int, name: Any, code: Any) -> EventType:
    """Change a CUSTOM type's name and code; its events stay attached (they refer to it by id)."""
    name, code = valid_name(name), valid_code(code)
    try:
        with _locked(database, workspace_id) as connection:
            found = store.find_type(connection, workspace_id, type_id)
            if found is None:
                raise _not_found(type_id)
            if found.is_system:
                raise _read_only(found, "changed")
            holder = store.find_type_by_code(connection, workspace_id, code)
            if holder is not None and holder.id != type_id:
                raise _code_taken(code, holder)
            store.rename_type(connection, workspace_id, type_id, name, code)
    except IntegrityError:
        raise _code_taken(code) from None
    return EventType(type_id, name, code, found.status, found.type)


def delete_type(database: Database, workspace_id: str, type_id: int) -> None:
    with _locked(database, workspace_id) as connection:
        found = store.find_type(connection, workspace_id, type_id)
        if found is None:
            raise _not_found(type_id)
        if found.is_system:
            raise _read_only(found, "deleted")
        in_use = store.count_events_of_type(connection, workspace_id, type_id)
        if in_use:
            raise conflict("event_type_in_use",
                           f"event type {found.code} is carried by {in_use} stored event(s); "
                           "deactivate it instead, or delete those events first")
        store.delete_type(connection, workspace_id, type_id)


def set_type_active(database: Database, workspace_id: str, type_id: int, active: bool) -> EventType:
    """Activate or deactivate (idempotent). An inactive type refuses new events (409 event_type_inactive)."""
    status = store.ACTIVE if active else store.INACTIVE
    with _locked(database, workspace_id) as connection:
        found = store.find_type(connection, workspace_id, type_id)
        if found is None:
            raise _not_found(type_id)
        if found.is_system:
            if not active:
                raise _read_only(found, "deactivated")
            return found
        if found.status != status:
            store.set_type_status(connection, workspace_id, type_id, status)
    return EventType(found.id, found.name, found.code, status, found.type)


class EventTypeRegistry:
    """The registry for the HTTP API: the operations above, run off the event loop."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def _run(self, operation: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(operation, self.database, *args)

    async def list_page(self, workspace_id: str, page: int, per_page: int) -> TypePage:
        page_window(page, per_page)  # refuse bad numbers before taking a thread
        return await self._run(list_page, workspace_id, page, per_page)

    async def get(self, workspace_id: str, type_id: int) -> EventType:
        return await self._run(get_type, workspace_id, type_id)

    async def create(self, workspace_id: str, name: Any, code: Any) -> EventType:
        valid_name(name), valid_code(code)
        return await self._run(create_type, workspace_id, name, code)

    async def update(self, workspace_id: str, type_id: int, name: Any, code: Any) -> EventType:
        valid_name(name), valid_code(code)
        return await self._run(update_type, workspace_id, type_id, name, code)

    async def delete(self, workspace_id: str, type_id: int) -> None:
        await self._run(delete_type, workspace_id, type_id)

    async def set_active(self, workspace_id: str, type_id: int, active: bool) -> EventType:
        return await self._run(set_type_active, workspace_id, type_id, active)
