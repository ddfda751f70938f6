"""Ending the live streams of deleted channels.

A stream limited to channels (its `channel_id` filter, or its key's restriction) of which none
exists any more can never receive anything new: it is ended (WebSocket 4004, SSE `event:
close`) rather than left idle forever. A stream that also names a channel still there goes on.

A delete through this process's admin API ends its streams here at once (`deleted`); every
SWEEP_SECONDS each process also asks the store which of the channels its open streams name are
gone, so a delete made through another worker, machine or `eventgate channel delete` ends
their streams within about a second too.
"""

from __future__ import annotations

import logging
from typing import Protocol

import anyio

from eventgate.store.channels import existing_channel_ids
from eventgate.service.periodic import Periodic
from eventgate.store.database import Database

log = logging.getLogger("eventgate.channels")

SWEEP_SECONDS = 1.0


class ChannelStreams(Protocol):
    """The live streams of this process, as far as their channels go (the hub)."""

    def channels_in_use(self) -> set[str]: ...

    def end_streams_of_channels(self, deleted: set[str]) -> int: ...


class DeletedChannelSweep:
    def __init__(self, database: Database, *, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.database = database
        self._streams: ChannelStreams | None = None
        self._periodic = Periodic(self.sweep, sweep_seconds, log, "checking the channels of live streams failed")

    def deleted(self, channel_id: str) -> None:
        """This process deleted the channel: end its streams now, not at the next sweep."""
        self._end({channel_id})

    def _end(self, deleted: set[str]) -> None:
        if self._streams is not None:
            ended = self._streams.end_streams_of_channels(deleted)
            if ended:
                log.info("ended %d live stream(s) of %d deleted channel(s)", ended, len(deleted))

    def start(self, streams: ChannelStreams | None) -> None:
        self._streams = streams
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()


    async def sweep(self) -> None:
        """End the streams of every channel named here that no longer exists."""
        if self._streams is None:
            return
        named = self._streams.channels_in_use()
        if not named:
            return
        existing = await anyio.to_thread.run_sync(self._existing, named)
        gone = named - existing
        if gone:
            self._end(gone)

    def _existing(self, channel_ids: set[str]) -> set[str]:
        with self.database.reader.connect() as connection:
            return existing_channel_ids(connection, channel_ids)
