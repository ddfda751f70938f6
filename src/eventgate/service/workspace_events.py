"""Creating, updating and deleting events with a workspace API key (seed 002).

The key authorises the write, so the writer gets no password hash to re-check; what is
checked instead is that the target channel belongs to the key's workspace and that the key
may use it (for updates and deletes inside the write's transaction, by the domain's decision).

Every write is idempotent: with an `Idempotency-Key` the caller's key, otherwise one of our
own, names the operation within the workspace, so a request repeated after a lost answer
(or a commit retried after a lost connection) is replayed, never stored twice.
"""

from __future__ import annotations

import hashlib
from typing import Any

import anyio
import msgspec

from eventgate import ids
from eventgate.auth.keys import ApiKey
from eventgate.domain.errors import DomainError, not_found
from eventgate.domain.lifecycle import LifecycleCommand
from eventgate.domain.operations import WriteOutcome
from eventgate.domain.people_actions import acknowledge_command, close_command, note_command
from eventgate.domain.resource_commands import (
    build_create_command,
    build_delete_command,
    build_update_command,
    resolve_channel_name,
)
from eventgate.service.event_reads import EventReader
from eventgate.store.channels import default_channel, get_channel
from eventgate.store.database import Database
from eventgate.store.group_commit import GroupCommit


def channel_forbidden(channel_id: str) -> DomainError:
    return DomainError(403, "channel_forbidden", f"this API key may not use channel {channel_id}")


def _identify(command: LifecycleCommand, key: ApiKey, idempotency_key: str | None,
              body: dict[str, Any] | None) -> LifecycleCommand:
    """Name the operation for idempotency: the caller's key (same body → replay, other body → 409)."""
    command.op_id = idempotency_key or ids.new_op_id()
    material = [command.kind, command.event_id or "", body or {}]
    command.request_hash = hashlib.sha256(msgspec.json.encode(material, order="sorted")).hexdigest()
    command.allowed_channel_ids = None if key.channel_ids is None else frozenset(key.channel_ids)
    return command


class WorkspaceEvents:
    def __init__(self, database: Database, writer: GroupCommit, reader: EventReader) -> None:
        self.database = database
        self.writer = writer
        self.reader = reader

    def _target_channel(self, workspace_id: str, channel_id: str | None) -> str | None:
        with self.database.reader.connect() as connection:
            channel = (get_channel(connection, channel_id) if channel_id is not None
                       else default_channel(connection, workspace_id))
        if channel is None or channel.workspace_id != workspace_id:
            return None
        return channel.id

    async def _event_after(self, key: ApiKey, outcome: WriteOutcome) -> dict[str, Any]:
        """The event as the operation left it (for a replay: as the first request was told)."""
        if outcome.operation is not None:
            return outcome.operation.event
        receipt = outcome.receipt
        if receipt.seq is not None:
            event = await self.reader.event_after(key.workspace_id, receipt.seq)
            if event is not None:
                return event
        return await self.reader.event(key.workspace_id, receipt.event_id)

    async def create(self, key: ApiKey, body: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Create an event in the named channel (or the workspace's default); returns the event."""
        named = resolve_channel_name(body)
        command = build_create_command(body, workspace_id=key.workspace_id, channel_id=named or "")
        _identify(command, key, idempotency_key, {**body, "channel_id": named})
        channel_id = await anyio.to_thread.run_sync(self._target_channel, key.workspace_id, named)
        if channel_id is None:
            if named is None:
                raise not_found("channel_not_found", "this workspace has no default channel")
            raise not_found("channel_not_found", f"channel {named} does not exist")
        if not key.may_use_channel(channel_id):
            if named is None:
                raise DomainError(403, "channel_forbidden",
                                  "this API key may not use the default channel; name a channel_id it may use")
            raise channel_forbidden(channel_id)
        command.channel_id = channel_id
        outcome = await self.writer.submit(command, workspace_id=key.workspace_id, verified_password_hash=None)
        return await self._event_after(key, outcome)

    async def update(self, key: ApiKey, event_id: str, body: dict[str, Any], *,
                     idempotency_key: str | None = None) -> dict[str, Any]:
        """Apply the fields given (context replaces attrs); returns the event after the update."""
        command = build_update_command(body, workspace_id=key.workspace_id, event_id=event_id)
        _identify(command, key, idempotency_key, body)
        outcome = await self.writer.submit(command, workspace_id=key.workspace_id, verified_password_hash=None)
        return await self._event_after(key, outcome)

    async def delete(self, key: ApiKey, event_id: str, *, idempotency_key: str | None = None) -> int | None:
        """Delete the event (its tags and actions go with it); an event_deleted operation is
        recorded. Returns its seq."""
        command = _identify(build_delete_command(workspace_id=key.workspace_id, event_id=event_id),
                            key, idempotency_key, None)
        outcome = await self.writer.submit(command, workspace_id=key.workspace_id, verified_password_hash=None)
        return outcome.receipt.seq

    async def act(self, key: ApiKey, event_id: str, action: str, body: dict[str, Any] | None = None, *,
                  idempotency_key: str | None = None) -> dict[str, Any]:
        """A person acknowledges, closes or adds a note to an event (SPEC §11); returns the event after it."""
        command = people_action(action, event_id, body, workspace_id=key.workspace_id, actor=key.user_id)
        _identify(command, key, idempotency_key, {"action": action, **(body or {})})
        outcome = await self.writer.submit(command, workspace_id=key.workspace_id, verified_password_hash=None)
        return await self._event_after(key, outcome)

    async def act_by_link(self, workspace_id: str, event_id: str, action: str) -> dict[str, Any]:
        """The same, from a notification's one-tap link (domain/action_links.py): by "via link"."""
        command = people_action(action, event_id, None, workspace_id=workspace_id, actor=VIA_LINK)
        command.op_id = ids.new_op_id()
        outcome = await self.writer.submit(command, workspace_id=workspace_id, verified_password_hash=None)
        if outcome.operation is not None:
            return outcome.operation.event
        return await self.reader.event(workspace_id, event_id)


VIA_LINK = "via link"


def people_action(action: str, event_id: str, body: dict[str, Any] | None, *, workspace_id: str,
                  actor: str) -> LifecycleCommand:
    if action == "acknowledge":
        return acknowledge_command(event_id, workspace_id=workspace_id, actor=actor)
    if action == "close":
        return close_command(event_id, workspace_id=workspace_id, actor=actor)
    return note_command(event_id, (body or {}).get("text"), workspace_id=workspace_id, actor=actor)
