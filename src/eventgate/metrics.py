"""Prometheus metrics, one registry per process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

registry = CollectorRegistry()

operations_committed = Counter(
    "eventgate_operations_committed", "Event operations committed, by kind", ["kind"], registry=registry
)
write_batch_size = Histogram(
    "eventgate_write_batch_size", "Requests per group-commit transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=registry,
)
write_batch_seconds = Histogram(
    "eventgate_write_batch_seconds", "Duration of a group-commit transaction, commit included",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0), registry=registry,
)
write_refusals = Counter(
    "eventgate_write_refusals", "Writes answered without being committed, by reason "
    "(overloaded, deadline, store_unavailable, store_rejected)", ["reason"], registry=registry,
)
