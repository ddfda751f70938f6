"""Creating, updating and deleting events with a workspace API key (seed 002).

The key authorises the write, so the writer gets no password hash to re-check; what is
checked here instead is that the target channel belongs to the key's workspace and that
the key may use it.
"""

from __future__ import annotations

from typing import Any

import anyio

from eventgate.auth.keys import ApiKey
from eventgate.domain.errors import DomainError, not_found
from eventgate.domain.resource_commands import (
    build_create_command,
    build_delete_command,
    build_update_command,
    resolve_channel_name,
)
from eventgate.service.event_reads import EventReader
from eventgate.store.channels import default_channel, get_channel
from eventgate.store.database import Database
from eventgate.store.writer import EventWriter


def channel_forbidden(channel_id: str) -> DomainError:
    return DomainError(403, "channel_forbidden", f"this API key may not use channel {channel_id}")


class WorkspaceEvents:
    def __init__(self, database: Database, writer: EventWriter, reader: EventReader) -> None:
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

    async def create(self, key: ApiKey, body: dict[str, Any]) -> dict[str, Any]:
        """Create an event in the named channel (or the workspace's default); returns the event."""
        named = resolve_channel_name(body)
        command = build_create_command(body, workspace_id=key.workspace_id, channel_id=named or "")
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
        assert outcome.operation is not None
        return outcome.operation.event

    async def _accessible(self, key: ApiKey, event_id: str) -> dict[str, Any]:
        event = await self.reader.event(key.workspace_id, event_id)
        if not key.may_use_channel(event["channel_id"]):
            raise channel_forbidden(event["channel_id"])
        return event

    async def update(self, key: ApiKey, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Apply the fields given (context replaces attrs); returns the event after the update."""
        command = build_update_command(body, workspace_id=key.workspace_id, event_id=event_id)
        await self._accessible(key, event_id)
        outcome = await self.writer.submit(command, workspace_id=key.workspace_id, verified_password_hash=None)
        assert outcome.operation is not None
        return outcome.operation.event

    async def delete(self, key: ApiKey, event_id: str) -> None:
        """Delete the event (its tags and actions go with it); an event_deleted operation is recorded."""
        await self._accessible(key, event_id)
        await self.writer.submit(build_delete_command(workspace_id=key.workspace_id, event_id=event_id),
                                 workspace_id=key.workspace_id, verified_password_hash=None)
