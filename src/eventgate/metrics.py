"""Prometheus metrics: what eventgate counts, and the text `/metrics` answers with.

One process (`serve --workers 1`, a server inside the tests): the metrics live in `registry`.

Several worker processes (`serve --workers N`): uvicorn's workers share one socket, so a scrape
reaches any of them. `serve` then gives them a private directory (PROMETHEUS_MULTIPROC_DIR,
cli/workers.py) before they start, every value is kept in a file there, and whichever worker
answers reads every worker's files: one scrape sees the whole server. That mode is chosen by
prometheus_client when it is first imported, so the variable must be set before the worker
imports anything. In it, a gauge says how the workers' values combine (`multiprocess_mode`:
livesum adds the live workers', livemin takes the lowest), and neither Info metrics nor custom
collectors are shared: the one Info eventgate has (`eventgate_node`, which process answered)
is about the answering process only, so it lives in `answering_process` and is added to the
text as it is.

No label carries a raw path, an id or a secret: requests are labelled with their route's
template (`/v1/channel/{channel_id}/event/create`), or `unmatched`.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as _values
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

registry = CollectorRegistry()
# Metrics about the process that answers a scrape, never added up across workers.
answering_process = CollectorRegistry()

# -- HTTP ----------------------------------------------------------------------------------------

http_requests = Counter(
    "eventgate_http_requests", "HTTP requests answered, by method, route template and status class (2xx, 4xx…)",
    ["method", "route", "status"], registry=registry,
)
http_request_seconds = Histogram(
    "eventgate_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response (for a Server-Sent Events stream: the "
    "stream's life), by method and route template",
    ["method", "route"], registry=registry,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# -- the writer (store/group_commit.py) ----------------------------------------------------------

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
write_queue_depth = Gauge(
    "eventgate_write_queue_depth", "Writes waiting for the writer, the batch it is starting included, "
    "when it last started one (0 once idle); summed over the worker processes",
    registry=registry, multiprocess_mode="livesum",
)

# Outbound delivery (SPEC §10), labelled by destination id (a handful per workspace, never a URL).
deliveries = Counter(
    "eventgate_deliveries", "Delivery attempts by destination and outcome (delivered, failed, refused)",
    ["destination", "outcome"], registry=registry,
)
delivery_lag_operations = Gauge(
    "eventgate_delivery_lag_operations", "Operations a destination's dispatcher read in its last round "
    "(the round size when it is behind, 0 when caught up)", ["destination"],
    registry=registry, multiprocess_mode="max",
)
delivery_lag_seconds = Gauge(
    "eventgate_delivery_lag_seconds", "Age of the newest operation a destination's dispatcher read in its "
    "last round, when it read one", ["destination"], registry=registry, multiprocess_mode="max",
)


def multiprocess() -> bool:
    """Whether prometheus_client keeps values in PROMETHEUS_MULTIPROC_DIR (decided at its import)."""
    return bool(getattr(_values.ValueClass, "_multiprocess", False))


_scraped: CollectorRegistry | None = None


def _scraped_registry() -> CollectorRegistry:
    global _scraped
    if not multiprocess():
        return registry
    if _scraped is None:
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker, os.environ[MULTIPROCESS_DIRECTORY_VARIABLE])
        _scraped = every_worker
    return _scraped


def exposition() -> tuple[bytes, str]:
    """The body and content type of a `/metrics` answer: the whole server's metrics (every
    worker's, in multiprocess mode), then the answering process's own."""
    return generate_latest(_scraped_registry()) + generate_latest(answering_process), CONTENT_TYPE_LATEST
