"""The running server's parts, built once at start and shared by every route.

Data flows one way: api → service → store (group commit, deciding with domain) → on_commit → subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Callable

import anyio

from eventgate.auth.passwords import AttemptLimiter, VerificationPool
from eventgate.broker import Broker, open_broker
from eventgate.config import Settings
from eventgate.delivery.dispatcher import DispatchSettings, Dispatcher
from eventgate.delivery.outbound_http import AddressPolicy
from eventgate.hub import Hub
from eventgate.ingest_load import IngestLoad
from eventgate.service.channel_access import ChannelAuthenticator, ChannelDirectory, SharedAttempts
from eventgate.service.channel_streams import DeletedChannelSweep
from eventgate.service.channel_tokens import ChannelTokenDirectory
from eventgate.service.event_reads import EventReader
from eventgate.service.keys import KeyDirectory
from eventgate.service.lifecycle import LifecycleService
from eventgate.store.database import Database, migrate, open_database
from eventgate.domain.operations import CommittedOperation
from eventgate.store.group_commit import GroupCommit, GroupCommitSettings
from eventgate.store.maintenance import Maintenance
from eventgate.store.password_failures import PasswordFailures

log = logging.getLogger("eventgate")


@dataclass
class Runtime:
    settings: Settings
    database: Database
    writer: GroupCommit
    maintenance: Maintenance
    directory: ChannelDirectory
    authenticator: ChannelAuthenticator
    lifecycle: LifecycleService
    keys: KeyDirectory
    reader: EventReader
    channel_tokens: ChannelTokenDirectory
    deleted_channels: DeletedChannelSweep
    ingest_load: IngestLoad = field(default_factory=IngestLoad)
    commit_listeners: list[Callable[[list[CommittedOperation]], None]] = field(default_factory=list)
    # Live delivery: the broker carries committed operations between processes, the hub fans
    # them out to this process's subscribers.
    broker: Broker | None = None
    hub: Hub | None = None
    # Outbound delivery to destinations (SPEC §10).
    dispatcher: Dispatcher | None = None
    # Signs notifications' one-tap links (store/server_secrets.py); read at first use.
    link_secret: bytes | None = None

    @classmethod
    def build(cls, settings: Settings) -> "Runtime":
        database = open_database(settings.database_url)
        writer = GroupCommit(database, GroupCommitSettings(
            strict_event_types=settings.strict_event_types,
            queue_size=settings.write_queue_size,
            write_timeout=settings.write_timeout,
        ))
        maintenance = Maintenance(
            database, idempotency_retention_ms=int(settings.idempotency_retention_days * 86_400_000),
            event_retention_ms=(None if settings.retention_days is None
                                else int(settings.retention_days * 86_400_000)))
        directory = ChannelDirectory(database)
        limiter = AttemptLimiter(settings.password_attempts, settings.password_attempt_window)
        authenticator = ChannelAuthenticator(
            directory, limiter, SharedAttempts(PasswordFailures(database), limiter.window_ms, limiter.max_failures),
            VerificationPool(),
        )
        runtime = cls(
            settings=settings, database=database, writer=writer, maintenance=maintenance, directory=directory,
            authenticator=authenticator, lifecycle=LifecycleService(writer, authenticator),
            keys=KeyDirectory(database), reader=EventReader(database),
            channel_tokens=ChannelTokenDirectory(database), deleted_channels=DeletedChannelSweep(database),
        )
        writer.on_commit = runtime._committed
        runtime.broker = open_broker(settings.broker_url)
        runtime.hub = Hub(database, runtime.broker, queue_size=settings.subscriber_queue_size,
                          heartbeat_seconds=settings.heartbeat_seconds)
        runtime.commit_listeners.append(runtime.hub.operations_committed)
        runtime.dispatcher = Dispatcher(database, DispatchSettings(
            policy=AddressPolicy.from_settings(settings.allow_private_destinations, settings.destination_allow_list),
            public_url=settings.public_url, timeout=settings.delivery_timeout,
            ingest_busy=runtime.ingest_load.busy))
        runtime.commit_listeners.append(runtime.dispatcher.operations_committed)
        runtime.hub.received_listeners.append(runtime.dispatcher.operations_received)
        return runtime

    def _committed(self, operations: list[CommittedOperation]) -> None:
        for listener in self.commit_listeners:
            listener(operations)

    async def start(self) -> None:
        await anyio.to_thread.run_sync(migrate, self.database)
        self.writer.start(asyncio.get_running_loop())
        self.maintenance.start()
        if self.hub is not None:
            await self.hub.start()
        self.keys.start(self.hub)
        self.deleted_channels.start(self.hub)
        if self.dispatcher is not None:
            await self.dispatcher.start()
        settings = self.settings
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        # On uvicorn's logger: `serve` shows it at --log-level (info by default) beside uvicorn's
        # own start lines, while eventgate's loggers only reach the log from WARNING up
        # (log_redaction.logging_config).
        logging.getLogger("uvicorn.error").info(
            "eventgate ready: dashboard http://%s:%d/, database %s, broker %s, workers %d, "
            "strict event types %s (pid %d)", host, settings.port, _redact(settings.database_url),
            _redact(settings.broker_url) if settings.broker_url else "memory", settings.workers,
            "on" if settings.strict_event_types else "off", os.getpid())

    async def stop(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        await self.keys.stop()
        await self.deleted_channels.stop()
        if self.hub is not None:
            await self.hub.stop()
        await anyio.to_thread.run_sync(self.writer.stop)
        await anyio.to_thread.run_sync(self.maintenance.stop)
        await anyio.to_thread.run_sync(self.authenticator.close)
        self.database.dispose()


def _redact(url: str) -> str:
    """The URL as the operator wrote it, its password as ***."""
    from eventgate.store.database import redact_url

    return redact_url(url)
