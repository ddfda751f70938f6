"""`/metrics` (SPEC §7): requests by route template and status class, live subscribers by
transport, the broker's connection, and one scrape for the whole server whichever worker of a
`serve --workers 2` answers it.

Real `eventgate serve` processes on real sockets: one process (`--workers 1`, metrics in
memory), two workers (metrics shared through files), and each broker under test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PASSWORD, broker_urls
from tests.live_client import (
    EVENTGATE,
    SSE_PATH,
    ServeProcess,
    create,
    prepare_database,
    sse_events,
    subscribe,
    welcome,
)
from tests.processes import alive, client_on, node_ids, pid_of_node, wait_for_workers

pytestmark = pytest.mark.skipif(not Path(EVENTGATE).exists(), reason="the eventgate command is not installed")

CREATE_ROUTE = "/v1/channel/{channel_id}/event/create"
EVENT_ROUTE = "/events/{event_id}"
WAIT = 60.0  # how long a condition may take to come true before the test fails


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of one /metrics answer, by name and labels (parsed as Prometheus does)."""
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(reply.text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: dict, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (sample, labels) in samples if sample == name]


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"still not true after {WAIT:.0f} s: {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def sse_subscription(client: httpx.Client, key: str) -> Iterator[dict[str, Any]]:
    """An SSE subscription on this client's connection, and its welcome message."""
    with client.stream("GET", SSE_PATH, headers={"Authorization": f"Bearer {key}"}) as reply:
        assert reply.status_code == 200
        lines = reply.iter_lines()  # held: closing it would close the stream
        hello = sse_events(lines, 1)[0]["data"]
        assert hello["type"] == "welcome"
        yield hello


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A migrated SQLite database: (its URL, a channel, a subscribe key)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('metrics')}/eventgate.db"
    return (url, *prepare_database(url))


@pytest.fixture(scope="module")
def one_process(database, tmp_path_factory) -> Iterator[ServeProcess]:
    server = ServeProcess(database[0], workers=1, log_path=tmp_path_factory.mktemp("one") / "serve.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def two_workers(database, tmp_path_factory) -> Iterator[ServeProcess]:
    server = ServeProcess(database[0], workers=2, log_path=tmp_path_factory.mktemp("two") / "serve.log").start()
    wait_for_workers(server.process.pid, 2)
    yield server
    server.stop()


# -- one process ---------------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_and_status_class(one_process, database):
    _, channel, key = database
    with httpx.Client(base_url=one_process.base_url, timeout=30) as client:
        before = scrape(client)
        for password in (PASSWORD, PASSWORD, PASSWORD, "a-wrong-password"):
            reply = client.post(f"/v1/channel/{channel}/event/create",
                                json={"password": password, "event_type": "door_open"})
            if password == PASSWORD:
                assert reply.status_code == 200, reply.text
                event_id = reply.json()["event_id"]
        assert reply.status_code == 403, reply.text
        assert client.get(f"/events/{event_id}", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert client.get("/events/no-such-event", headers={"Authorization": f"Bearer {key}"}).status_code == 404
        assert client.get(f"/no/such/path/{event_id}").status_code == 404
        after = scrape(client)

    def counted(method: str, route: str, status: str) -> float:
        return (value(after, "eventgate_http_requests_total", method=method, route=route, status=status)
                - value(before, "eventgate_http_requests_total", method=method, route=route, status=status))

    assert counted("POST", CREATE_ROUTE, "2xx") == 3
    assert counted("POST", CREATE_ROUTE, "4xx") == 1
    assert counted("GET", EVENT_ROUTE, "2xx") == 1
    assert counted("GET", EVENT_ROUTE, "4xx") == 1
    assert counted("GET", "unmatched", "4xx") == 1
    # The latency histogram, by the same templates: every request in its count and +Inf bucket.
    timed = {"method": "POST", "route": CREATE_ROUTE}
    count = value(after, "eventgate_http_request_duration_seconds_count", **timed) - \
        value(before, "eventgate_http_request_duration_seconds_count", **timed)
    assert count == 4
    assert value(after, "eventgate_http_request_duration_seconds_bucket", le="+Inf", **timed) == \
        value(after, "eventgate_http_request_duration_seconds_count", **timed)
    assert value(after, "eventgate_http_request_duration_seconds_sum", **timed) > 0
    # No label holds a raw path, an id or a secret.
    routes = {labels["route"] for labels in labelled(after, "eventgate_http_requests_total")}
    assert {CREATE_ROUTE, EVENT_ROUTE, "unmatched", "/metrics", "/readyz"} >= routes, routes
    text = httpx.get(one_process.base_url + "/metrics").text
    for secret in (channel, event_id, key, PASSWORD, "no-such-event", "/no/such/path"):
        assert secret not in text


def test_live_subscribers_are_counted_by_transport_until_they_disconnect(one_process, database):
    _, _, key = database
    with httpx.Client(base_url=one_process.base_url, timeout=30) as client:
        def subscribers(transport: str) -> float:
            return value(scrape(client), "eventgate_live_subscribers", transport=transport)

        assert subscribers("ws") == 0 and subscribers("sse") == 0
        with subscribe(one_process.base_url, key) as ws:
            welcome(ws)
            assert subscribers("ws") == 1
            assert subscribers("sse") == 0
            with httpx.Client(base_url=one_process.base_url, timeout=30) as streaming, \
                    sse_subscription(streaming, key):
                assert subscribers("sse") == 1
                assert subscribers("ws") == 1
            wait_until(lambda: subscribers("sse") == 0, "the SSE subscriber is no longer counted")
            assert subscribers("ws") == 1
        wait_until(lambda: subscribers("ws") == 0, "the WebSocket subscriber is no longer counted")


def test_the_in_process_broker_is_connected_while_ready(one_process):
    with httpx.Client(base_url=one_process.base_url, timeout=30) as client:
        assert client.get("/readyz").json()["checks"]["broker"] is True
        assert value(scrape(client), "eventgate_broker_connected") == 1


def test_the_writer_gauges_and_histograms_are_shown(one_process, database):
    with httpx.Client(base_url=one_process.base_url, timeout=30) as client:
        create(client, database[1])
        samples = scrape(client)
    assert ("eventgate_write_queue_depth", frozenset()) in samples
    assert value(samples, "eventgate_write_batch_size_count") >= 1
    assert value(samples, "eventgate_write_batch_seconds_count") >= 1
    assert value(samples, "eventgate_operations_committed_total", kind="create") >= 1


# -- each broker under test ----------------------------------------------------------------------


@pytest.mark.parametrize("broker_url", broker_urls() or [pytest.param(None, marks=pytest.mark.skip(
    reason="EVENTGATE_TEST_BROKER_URL is not set"))])
def test_a_real_broker_is_connected_while_ready(broker_url, database, tmp_path):
    with ServeProcess(database[0], broker_url, workers=1, log_path=tmp_path / "serve.log") as server, \
            httpx.Client(base_url=server.base_url, timeout=30) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, "the server is ready")
        assert client.get("/readyz").json()["checks"]["broker"] is True
        assert value(scrape(client), "eventgate_broker_connected") == 1


# -- two workers ---------------------------------------------------------------------------------


def test_one_scrape_counts_the_requests_of_both_workers(two_workers):
    nodes = node_ids(two_workers.base_url, 2)
    with httpx.Client(base_url=two_workers.base_url, timeout=30) as client:
        before = value(scrape(client), "eventgate_http_requests_total", method="GET", route="/healthz", status="2xx")
    for node in nodes:
        with client_on(two_workers.base_url, node) as client:
            for _ in range(10):
                assert client.get("/healthz").status_code == 200
    for node in nodes:  # whichever worker answers the scrape
        with client_on(two_workers.base_url, node) as client:
            samples = scrape(client)
        counted = value(samples, "eventgate_http_requests_total", method="GET", route="/healthz", status="2xx")
        assert counted - before >= 20, f"worker {node} sees {counted - before} of the 20 requests"


def test_the_local_broker_is_connected_on_every_worker_while_ready(two_workers):
    for node in node_ids(two_workers.base_url, 2):
        with client_on(two_workers.base_url, node) as client:
            assert client.get("/readyz").json()["checks"]["broker"] is True
            assert value(scrape(client), "eventgate_broker_connected") == 1


def test_a_subscriber_held_by_one_worker_is_counted_by_the_other(two_workers, database):
    key = database[2]
    first, second = node_ids(two_workers.base_url, 2)

    def subscribers_seen_by(node: str) -> float:
        with client_on(two_workers.base_url, node) as client:
            return value(scrape(client), "eventgate_live_subscribers", transport="ws")

    for _ in range(200):
        with subscribe(two_workers.base_url, key) as ws:
            if not welcome(ws)["client_id"].startswith(first):
                continue
            assert subscribers_seen_by(second) == 1
            assert subscribers_seen_by(first) == 1
        break
    else:
        raise AssertionError(f"no subscription reached worker {first}")
    wait_until(lambda: subscribers_seen_by(second) == 0, "the closed subscription is no longer counted")


def test_a_killed_worker_no_longer_counts_its_subscribers(two_workers, database):
    key = database[2]
    first, second = node_ids(two_workers.base_url, 2)
    victim = pid_of_node(two_workers.base_url, first)
    for _ in range(200):
        with subscribe(two_workers.base_url, key) as ws:
            if not welcome(ws)["client_id"].startswith(first):
                continue
            with client_on(two_workers.base_url, second) as client:
                assert value(scrape(client), "eventgate_live_subscribers", transport="ws") == 1
            os.kill(victim, signal.SIGKILL)
            wait_until(lambda: not alive(victim), "the worker is dead")
            break
    else:
        raise AssertionError(f"no subscription reached worker {first}")
    wait_for_workers(two_workers.process.pid, 2, other_than={victim})

    def subscribers() -> float:
        with httpx.Client(base_url=two_workers.base_url, timeout=30) as client:
            return value(scrape(client), "eventgate_live_subscribers", transport="ws")

    wait_until(lambda: subscribers() == 0, "the killed worker's subscriber is no longer counted")
