"""Settings: every `eventgate serve` flag, each also read from an EVENTGATE_* variable."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from eventgate.store.database import DEFAULT_DATABASE_URL

MAX_WORKERS = 64


def available_cpus() -> int:
    """The CPUs this process may use: its affinity mask, lowered by a container's CPU quota
    (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`), so that `--cpus=2` on a big host means 2."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def _cgroup_cpu_quota() -> int | None:
    try:
        with open("/sys/fs/cgroup/cpu.max") as file:
            limit, period = file.read().split()[:2]
        if limit != "max":
            return math.ceil(int(limit) / int(period))
        return None
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as quota:
            limit = int(quota.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as period:
            length = int(period.read())
        return math.ceil(limit / length) if limit > 0 and length > 0 else None
    except (OSError, ValueError):
        return None


def default_workers() -> int:
    """`serve`'s process count when none is given: one per available CPU."""
    return min(MAX_WORKERS, available_cpus())


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str | None = None
    gateway_token: str | None = None
    # HTTP worker processes of `eventgate serve`; several share live delivery through a broker
    # (the local one by default).
    workers: int = field(default_factory=default_workers)
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
    # "text" (uvicorn's lines) or "json" (one JSON object per line, for log shippers).
    log_format: str = "text"
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma list of addresses or
    # networks, "*" for any); None: the peer address is the client's.
    forwarded_allow_ips: str | None = None
    # Closed events older than this many days are removed with their operations; None keeps all.
    retention_days: float | None = None
    # Heartbeat on live streams, seconds (at most 30 by the contract).
    heartbeat_seconds: float = 15.0
    subscriber_queue_size: int = 1024
    # Outbound delivery (SPEC §10). Destinations whose address is loopback, private, link-local or
    # a metadata address are refused unless allowed here (a comma list of hosts, addresses, networks).
    allow_private_destinations: bool = False
    destination_allow_list: str | None = None
    # The address people reach the dashboard at; notifications link to the event's page under it.
    public_url: str | None = None
    # Seconds a webhook or Apprise send may take.
    delivery_timeout: float = 10.0
