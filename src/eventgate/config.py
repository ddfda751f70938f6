"""Settings: every `eventgate serve` flag, each also read from an EVENTGATE_* variable."""

from __future__ import annotations

from dataclasses import dataclass

from eventgate.store.database import DEFAULT_DATABASE_URL


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str | None = None
    gateway_token: str | None = None
    workers: int = 1
    strict_event_types: bool = False
    idempotency_retention_days: float = 7.0
    # Writes waiting for their commit at once; beyond it a write answers 503 overloaded.
    write_queue_size: int = 10_000
    # Seconds a write waits for its commit before it answers 503 store_unavailable.
    write_timeout: float = 10.0
    # Wrong channel passwords allowed per channel and client address within the window.
    password_attempts: int = 10
    password_attempt_window: float = 60.0
    log_level: str = "info"
    # Heartbeat on live streams, seconds (at most 30 by the contract).
    heartbeat_seconds: float = 15.0
    subscriber_queue_size: int = 1024
