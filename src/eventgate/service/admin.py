"""Administration of a workspace's API keys and channels: the operations behind the admin
HTTP API (`/admin/…`) and the `eventgate key|channel …` commands.

Methods are synchronous (the CLI calls them directly, the HTTP API in a worker thread) and
each change is one transaction on the writer engine, so a check and the change it guards
(the channel belongs to this workspace; it is not the default channel) cannot be split.

Secrets are returned once, by the call that made them: a new key, a generated channel
password. Only hashes are stored.

Decisions (docs/reference.md, "API keys and administration"): deleting a channel keeps its
events and their timelines (history is not lost with the channel; its producers can no longer
write, and people can still acknowledge, close and delete those events); its channel tokens
go with it; destination filters naming it are left as they are (they still match what people
do to its kept events); live streams limited to it end (service.channel_streams); the default
channel cannot be deleted (409 `default_channel`); revoking a key takes effect at once on the
process that revoked it and within about a second on every other (service.keys), ending its
live streams too.
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa

from eventgate.auth.keys import DEFAULT_SCOPES, SCOPES, ApiKey
from eventgate.auth.passwords import hash_password
from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError, bad_request, conflict, not_found
from eventgate.domain.times import ms_to_seconds, now_ms
from eventgate.store import channels as channel_store
from eventgate.store import keys as key_store
from eventgate.store.database import Database

MAX_NAME = 128
GENERATED_PASSWORD_BYTES = 24  # 32 URL-safe characters


def key_view(record: dict[str, Any]) -> dict[str, Any]:
    """A stored key as the admin API and CLI show it (never its hash)."""
    now = now_ms()
    expired = record["expires_at"] is not None and record["expires_at"] <= now
    return {
        "id": record["id"],
        "user_id": record["user_id"],
        "scopes": record["scopes"],
        "channel_ids": record["channel_ids"],
        "expires_at": ms_to_seconds(record["expires_at"]),
        "created_at": ms_to_seconds(record["created_at"]),
        "revoked_at": ms_to_seconds(record["revoked_at"]),
        "active": record["revoked_at"] is None and not expired,
    }


def channel_view(channel: channel_store.Channel) -> dict[str, Any]:
    return {
        "channel_id": channel.id,
        "workspace_id": channel.workspace_id,
        "name": channel.name,
        "is_default": channel.is_default,
        "created_at": ms_to_seconds(channel.created_at),
    }


def channel_name(value: Any) -> str:
    return rules.text(value, "name", MAX_NAME)


def user_name(value: Any) -> str:
    return rules.text(value, "user_id", MAX_NAME)


def scopes_of(value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_SCOPES
    if not isinstance(value, list) or not value:
        raise bad_request("scopes_invalid", f"scopes must be a non-empty array of: {', '.join(SCOPES)}", "scopes")
    for scope in value:
        if scope not in SCOPES:
            raise bad_request("scopes_invalid", f"unknown scope {scope!r}; scopes are: {', '.join(SCOPES)}",
                              "scopes")
    return tuple(dict.fromkeys(value))


def new_channel_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


class Administration:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- keys ----------------------------------------------------------------------------

    def list_keys(self, workspace_id: str) -> list[dict[str, Any]]:
        with self.database.reader.connect() as connection:
            return [key_view(record) for record in key_store.list_keys(connection, workspace_id)]

    def create_key(self, workspace_id: str, user_id: Any, scopes: Any = None, channel_ids: Any = None,
                   expires_at_ms: int | None = None) -> tuple[str, dict[str, Any]]:
        """(the plain key — shown once —, its view)."""
        user = user_name(user_id)
        granted = scopes_of(scopes)
        if expires_at_ms is not None and expires_at_ms <= now_ms():
            raise bad_request("expires_at_invalid", "the key would already be expired", "expires_at")
        restricted: tuple[str, ...] | None = None
        if channel_ids is not None:
            if not isinstance(channel_ids, list) or not all(isinstance(c, str) for c in channel_ids):
                raise bad_request("channel_ids_invalid", "channel_ids must be an array of channel ids", "channel_ids")
            if not channel_ids:
                raise bad_request("channel_ids_invalid",
                                  "channel_ids must name at least one channel (leave it out for every channel)",
                                  "channel_ids")
            restricted = tuple(dict.fromkeys(channel_ids))
        with self.database.writer.begin() as connection:
            if restricted is not None:
                known = {c.id for c in channel_store.list_channels(connection, workspace_id)}
                for channel_id in restricted:
                    if channel_id not in known:
                        raise bad_request("channel_ids_invalid", f"channel {channel_id} is not in this workspace",
                                          "channel_ids")
            plain, record = key_store.create_key(connection, workspace_id, user, granted, restricted, expires_at_ms)
        view = key_view({"id": record.id, "user_id": user, "scopes": list(granted),
                         "channel_ids": list(restricted) if restricted is not None else None,
                         "expires_at": expires_at_ms, "created_at": now_ms(), "revoked_at": None})
        return plain, view

    def revoke_key(self, workspace_id: str, key_id: str) -> None:
        with self.database.writer.begin() as connection:
            if not key_store.revoke_key(connection, workspace_id, key_id):
                raise not_found("key_not_found", f"no active key {key_id} in this workspace")

    # -- channels ------------------------------------------------------------------------

    def list_channels(self, workspace_id: str, visible_to: ApiKey | None = None) -> list[dict[str, Any]]:
        with self.database.reader.connect() as connection:
            found = channel_store.list_channels(connection, workspace_id)
        if visible_to is not None:
            found = [c for c in found if visible_to.may_use_channel(c.id)]
        return [channel_view(c) for c in found]

    def create_channel(self, workspace_id: str, name: Any, password: Any = None
                       ) -> tuple[dict[str, Any], str | None]:
        """(the channel's view, the generated password if none was given — shown once)."""
        checked_name = channel_name(name)
        generated = new_channel_password() if password is None else None
        password_hash = hash_password(generated or rules.password(password))
        with self.database.writer.begin() as connection:
            channel = channel_store.create_channel(connection, workspace_id, checked_name, password_hash)
        return channel_view(channel), generated

    def _owned(self, connection: sa.Connection, workspace_id: str, channel_id: str) -> channel_store.Channel:
        channel = channel_store.get_channel(connection, channel_id)
        if channel is None or channel.workspace_id != workspace_id:
            raise not_found("channel_not_found", f"channel {channel_id} does not exist")
        return channel

    def rename_channel(self, workspace_id: str, channel_id: str, name: Any) -> dict[str, Any]:
        checked_name = channel_name(name)
        with self.database.writer.begin() as connection:
            self._owned(connection, workspace_id, channel_id)
            channel_store.rename_channel(connection, channel_id, checked_name)
            return channel_view(self._owned(connection, workspace_id, channel_id))

    def rotate_password(self, workspace_id: str, channel_id: str, password: Any = None) -> str | None:
        """Set the given password, or a generated one which is returned (once).

        The caller must also drop cached channel records (ChannelDirectory.invalidate); every
        write re-checks the hash in its transaction, so other processes refuse the old
        password at once too."""
        generated = new_channel_password() if password is None else None
        password_hash = hash_password(generated or rules.password(password))
        with self.database.writer.begin() as connection:
            self._owned(connection, workspace_id, channel_id)
            channel_store.set_password(connection, channel_id, password_hash)
        return generated

    def delete_channel(self, workspace_id: str, channel_id: str) -> None:
        with self.database.writer.begin() as connection:
            channel = self._owned(connection, workspace_id, channel_id)
            if channel.is_default:
                raise conflict("default_channel", "the workspace's default channel cannot be deleted")
            channel_store.delete_channel(connection, channel_id)


def require_unrestricted(key: ApiKey, action: str) -> None:
    """Keys restricted to channels may administer those channels only, not keys or new channels."""
    if key.channel_ids is not None:
        raise DomainError(403, "channel_forbidden", f"a key restricted to channels may not {action}")
