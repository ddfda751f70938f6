"""ntfy subscribers (SPEC §13): who is reading, which channels their topics name, where their
stream starts, and the stored messages a poll returns.

A reader is an API key (scope `subscribe`; a restricted key sees only its channels) or a
channel token (its own channel only). A topic names a channel of the reader's workspace by its
id (in any case) or its name; a topic that names no channel the reader may see is refused as
ntfy refuses a topic it may not read (403), so that no one learns which channels exist.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import anyio

from eventgate.auth.channel_tokens import ChannelToken, looks_like_channel_token
from eventgate.auth.keys import ApiKey
from eventgate.domain.errors import DomainError, bad_request
from eventgate.store import channel_tokens as token_store
from eventgate.store.channels import channels_named
from eventgate.store.database import Database
from eventgate.store.events import operations_after
from eventgate.store.streams import last_seq_in_channels, latest_seqs, seq_before

POLL_PAGE = 500
# How often a stream opened with a channel token checks that the token is still active.
TOKEN_CHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Since:
    """Where a subscription starts: `none` (live only), `all`, `latest` (the last message), after
    an operation's `seq`, or at a Unix `time` (ms)."""

    kind: str
    value: int = 0


@dataclass(frozen=True, slots=True)
class NtfyReader:
    """Who subscribes: the workspace, a name for them, the channels they may read (None: all)."""

    workspace_id: str
    user: str
    channel_ids: frozenset[str] | None
    secret: str
    key: ApiKey | None = None
    token: ChannelToken | None = None

    def may_read(self, channel_id: str) -> bool:
        return self.channel_ids is None or channel_id in self.channel_ids


def unauthorized(detail: str) -> DomainError:
    return DomainError(401, "token_invalid", f"unauthorized: {detail}")


def forbidden(detail: str) -> DomainError:
    return DomainError(403, "topic_forbidden", f"forbidden: {detail}")


class NtfySubscribers:
    def __init__(self, database: Database, keys: Any, tokens: Any) -> None:
        self.database = database
        self.keys = keys
        self.tokens = tokens

    async def authenticate(self, presented: list[str]) -> NtfyReader:
        """The first active API key or channel token among the secrets presented; 401 otherwise."""
        if not presented:
            raise unauthorized("an API key or channel token is required (Bearer, or as the Basic password)")
        for plain in presented:
            if looks_like_channel_token(plain):
                token = await self.tokens.find(plain)
                if token is not None:
                    return NtfyReader(token.workspace_id, f"token:{token.name}", frozenset((token.channel_id,)),
                                      plain, token=token)
            else:
                key = await self.keys.find(plain)
                if key is not None:
                    channels = None if key.channel_ids is None else frozenset(key.channel_ids)
                    return NtfyReader(key.workspace_id, key.user_id, channels, plain, key=key)
        raise unauthorized("the API key or channel token is unknown, revoked or expired")

    async def channels_of(self, reader: NtfyReader, topics: list[str], scope: str = "subscribe") -> dict[str, str]:
        """channel id → the topic it was named by, for every topic (403 when one names no
        channel the reader may read, or when the reader's key lacks `scope`)."""
        if reader.key is not None and not reader.key.has_scope(scope):
            raise forbidden(f"this API key lacks the {scope!r} scope")

        def read() -> list[Any]:
            with self.database.reader.connect() as connection:
                return channels_named(connection, reader.workspace_id, topics)

        found = await anyio.to_thread.run_sync(read)
        named: dict[str, str] = {}
        for topic in topics:
            matching = [c.id for c in found if (c.id == topic.upper() or c.name == topic) and reader.may_read(c.id)]
            if not matching:
                raise forbidden(f"topic {topic!r} is not a channel this credential may read")
            for channel_id in matching:
                named.setdefault(channel_id, topic)
        return named

    async def start_seq(self, reader: NtfyReader, channel_ids: list[str], since: Since) -> int | None:
        """The seq a stream resumes after; None for live only."""
        if since.kind == "none":
            return None
        if since.kind == "all":
            return 0
        if since.kind == "seq":
            return since.value

        def read() -> int:
            with self.database.reader.connect() as connection:
                if since.kind == "time":
                    return seq_before(connection, reader.workspace_id, since.value)
                return max(0, last_seq_in_channels(connection, reader.workspace_id, channel_ids) - 1)

        return await anyio.to_thread.run_sync(read)

    async def stored(self, reader: NtfyReader, channel_ids: frozenset[str], after: int
                     ) -> AsyncIterator[dict[str, Any]]:
        """For a poll: the stored operations of these channels after `after`, up to the latest
        seq when the poll began, oldest first."""
        def latest() -> int:
            with self.database.reader.connect() as connection:
                return latest_seqs(connection, [reader.workspace_id]).get(reader.workspace_id, 0)

        def page(position: int) -> list[dict[str, Any]]:
            with self.database.reader.connect() as connection:
                return operations_after(connection, reader.workspace_id, position, POLL_PAGE)

        until = await anyio.to_thread.run_sync(latest)
        position = after
        while position < until:
            operations = await anyio.to_thread.run_sync(page, position)
            for operation in operations:
                if operation["seq"] > until:
                    return
                if operation["channel_id"] in channel_ids:
                    yield operation
            if len(operations) < POLL_PAGE:
                return
            position = operations[-1]["seq"]

    @contextlib.asynccontextmanager
    async def token_watch(self, reader: NtfyReader, on_revoked: Callable[[], None]) -> AsyncIterator[None]:
        """While the body runs, call `on_revoked` once the reader's channel token is revoked (or
        its channel deleted), as API-key streams end when their key is revoked."""
        if reader.token is None:
            yield
            return
        token_id = reader.token.id

        def inactive() -> bool:
            with self.database.reader.connect() as connection:
                return bool(token_store.inactive_token_ids(connection, [token_id]))

        async def watch() -> None:
            while True:
                await asyncio.sleep(TOKEN_CHECK_SECONDS)
                try:
                    if await anyio.to_thread.run_sync(inactive):
                        on_revoked()
                        return
                except Exception:  # the store is away: look again next time
                    continue

        task = asyncio.get_running_loop().create_task(watch())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def checked_topics(text: str, is_valid: Callable[[str], bool]) -> list[str]:
    topics = [topic for topic in text.split(",") if topic]
    if not topics or not all(is_valid(topic) for topic in topics):
        raise bad_request("topic_invalid", "invalid topic: use 1-64 characters of A-Z, a-z, 0-9, '-' or '_'",
                          "topic")
    return list(dict.fromkeys(topics))
