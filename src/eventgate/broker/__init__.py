"""Brokers carry committed operations and commands between eventgate processes, chosen by URL:
none → in-process only, `local:///run/dir` → Unix sockets between the processes of one machine
(what `serve --workers N` uses by default), `redis://…` → Redis pub/sub, `nats://…` → NATS."""

from __future__ import annotations

from eventgate.broker.base import Broker, BrokerHandler, BrokerUnavailable


def open_broker(url: str | None) -> Broker:
    if not url or url.startswith("memory:"):
        from eventgate.broker.memory import MemoryBroker

        return MemoryBroker()
    scheme = url.split(":", 1)[0].lower()
    if scheme == "local":
        from eventgate.broker.local import LocalBroker

        return LocalBroker(url)
    if scheme in ("redis", "rediss", "unix"):
        from eventgate.broker.redis import RedisBroker

        return RedisBroker(url)
    if scheme in ("nats", "tls"):
        from eventgate.broker.nats import NatsBroker

        return NatsBroker(url)
    raise ValueError(f"unsupported broker URL {url!r}: use local:///run/dir, redis://… or nats://…")


__all__ = ["Broker", "BrokerHandler", "BrokerUnavailable", "open_broker"]
