"""Webhook destinations (SPEC §10): committed operations reach a real receiver on loopback,
signed as Standard Webhooks say, in order per event, retried on the schedule, with every
attempt recorded."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook

from eventgate.domain.destinations import parse_filter
from eventgate.store.destinations import create_destination, get_destination, queued_deliveries
from tests.live_client import close, create, update
from tests.webhook_receiver import attempts, start_receiver




@pytest.fixture
def workspace_channel(server):
    workspace_id = server.create_workspace()
    return workspace_id, server.create_channel(workspace_id=workspace_id)


def add_destination(server, workspace_id, url, **filter_fields):
    with server.database.writer.begin() as connection:
        return create_destination(connection, workspace_id, name="receiver", kind="webhook", url=url,
                                  filter=parse_filter(filter_fields or None), secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")




def test_operations_arrive_signed_as_standard_webhooks_say(server, receiver, workspace_channel):
    workspace_id, channel = workspace_channel
    destination = add_destination(server, workspace_id, receiver.url + "/hooks/eventgate")
    client = server.client()
    event_id = create(client, channel, title="Disk full", severity="high")
    update(client, channel, event_id, message="still full")
    close(client, channel, event_id)
    requests = receiver.wait_for(3)
    verifier = Webhook(destination.secret)
    bodies = [verifier.verify(r.body, {k: v for k, v in r.headers.items()}) for r in requests]
    assert [body["type"] for body in bodies] == ["event.created", "event.updated", "event.closed"]
    assert all(r.path == receiver.prefix + "/hooks/eventgate" for r in requests)
    assert [body["data"]["event"]["id"] for body in bodies] == [event_id] * 3
    seqs = [body["data"]["seq"] for body in bodies]
    assert seqs == sorted(seqs) and [body["data"]["op"]["seq"] for body in bodies] == seqs
    assert bodies[2]["data"]["event"]["state"] == "closed" and bodies[0]["timestamp"].endswith("Z")
    assert requests[0].headers["webhook-id"] == f"msg_{destination.id}_{seqs[0]}"
    recorded = attempts(server, destination.id, at_least=3)
    assert [a.outcome for a in recorded] == ["delivered"] * 3 and [a.seq for a in recorded] == seqs
    assert all(a.http_status == 200 and a.response_excerpt == '{"ok": true}' for a in recorded)


def test_a_tampered_body_fails_verification(server, receiver, workspace_channel):
    workspace_id, channel = workspace_channel
    destination = add_destination(server, workspace_id, receiver.url)
    create(server.client(), channel)
    [request] = receiver.wait_for(1)
    with pytest.raises(Exception):
        Webhook(destination.secret).verify(request.body.replace(b"event", b"evenT"), request.headers)


def test_the_filter_decides_what_is_sent(server, receiver, workspace_channel):
    workspace_id, channel = workspace_channel
    add_destination(server, workspace_id, receiver.url, severity="high")
    client = server.client()
    create(client, channel, title="quiet", severity="low")
    loud = create(client, channel, title="loud", severity="critical")
    [request] = receiver.wait_for(1)
    time.sleep(1.0)
    assert len(receiver.requests()) == 1 and request.json()["data"]["event"]["id"] == loud


def test_a_failed_delivery_is_retried_with_the_same_webhook_id_and_others_go_on(server, receiver,
                                                                                   workspace_channel):
    workspace_id, channel = workspace_channel
    failed_once: set[str] = set()

    def answer(request):
        event = request.json()["data"]["event"]
        if event["title"] == "flaky" and request.json()["type"] == "event.created" \
                and request.headers["webhook-id"] not in failed_once:
            failed_once.add(request.headers["webhook-id"])
            return 500
        return 200

    receiver.answer = answer
    destination = add_destination(server, workspace_id, receiver.url)
    client = server.client()
    flaky = create(client, channel, title="flaky")
    update(client, channel, flaky, message="second operation of the flaky event")
    steady = create(client, channel, title="steady")
    # The steady event goes through while the flaky one waits for its retry (5 s ± 20 %).
    first_round = receiver.wait_for(2, timeout=10)
    assert sorted(r.json()["data"]["event"]["title"] for r in first_round) == ["flaky", "steady"]
    attempts(server, destination.id, at_least=2)
    with server.database.reader.connect() as connection:
        queue = queued_deliveries(connection, destination.id)
    assert [(q.event_id, q.attempts) for q in queue] == [(flaky, 1), (flaky, 0)]
    requests = receiver.wait_for(4, timeout=20)
    flaky_requests = [r for r in requests if r.json()["data"]["event"]["id"] == flaky]
    assert [r.json()["type"] for r in flaky_requests] == ["event.created", "event.created", "event.updated"]
    assert flaky_requests[0].headers["webhook-id"] == flaky_requests[1].headers["webhook-id"]
    assert 3.5 <= flaky_requests[1].at - flaky_requests[0].at <= 8
    assert steady in {r.json()["data"]["event"]["id"] for r in requests}
    recorded = [a for a in attempts(server, destination.id, at_least=4) if a.event_id == flaky]
    assert [(a.outcome, a.attempt, a.http_status) for a in recorded] == [
        ("failed", 1, 500), ("delivered", 2, 200), ("delivered", 1, 200)]


def test_retry_after_is_honoured(server, receiver, workspace_channel):
    workspace_id, channel = workspace_channel
    calls = []

    def answer(request):
        calls.append(request)
        return (503, {"Retry-After": "8"}) if len(calls) == 1 else 200

    receiver.answer = answer
    add_destination(server, workspace_id, receiver.url)
    create(server.client(), channel)
    first, second = receiver.wait_for(2, timeout=20)
    assert second.at - first.at >= 7.9


def test_410_disables_the_destination_and_says_why(server, receiver, workspace_channel):
    workspace_id, channel = workspace_channel
    receiver.answer = lambda request: 410
    destination = add_destination(server, workspace_id, receiver.url)
    client = server.client()
    create(client, channel)
    receiver.wait_for(1)
    deadline = time.monotonic() + 10
    while True:
        with server.database.reader.connect() as connection:
            found = get_destination(connection, destination.id)
        if not found.enabled or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not found.enabled and "410" in found.disabled_reason
    create(client, channel)
    time.sleep(1.5)
    assert len(receiver.requests()) == 1


def test_a_private_address_is_refused_without_the_allow_list(tmp_path, receiver):
    """SSRF: `localhost` resolves to 127.0.0.1; without --allow-private-destinations or an
    allow-list naming it, nothing is sent and the attempt says why."""
    from eventgate.config import Settings
    from tests.conftest import start_server

    guarded = start_server(Settings(database_url=f"sqlite:///{tmp_path}/guarded.db", destination_allow_list=""))
    try:
        workspace_id = guarded.create_workspace()
        channel = guarded.create_channel(workspace_id=workspace_id)
        local_name = receiver.url.replace("127.0.0.1", "localhost")
        destination = add_destination(guarded, workspace_id, local_name)
        create(guarded.client(), channel)
        [attempt] = attempts(guarded, destination.id, at_least=1)
        assert attempt.outcome == "refused" and "127.0.0.1" in attempt.error
        # An Apprise service that posts where its URL says is checked the same way.
        with guarded.database.writer.begin() as connection:
            apprise = create_destination(connection, workspace_id, name="apprise json", kind="apprise",
                                         url=local_name.replace("http://", "json://"), filter=parse_filter(None),
                                         secret=None)
        create(guarded.client(), channel)
        [apprise_attempt] = attempts(guarded, apprise.id, at_least=1)
        assert apprise_attempt.outcome == "refused" and "127.0.0.1" in apprise_attempt.error
        assert receiver.requests() == []
    finally:
        guarded.stop()


def test_deliveries_and_lag_are_in_the_metrics(server, receiver, workspace_channel):
    workspace_id, channel = workspace_channel
    destination = add_destination(server, workspace_id, receiver.url)
    create(server.client(), channel)
    receiver.wait_for(1)
    attempts(server, destination.id, at_least=1)
    text = server.client().get("/metrics").text
    assert f'eventgate_deliveries_total{{destination="{destination.id}",outcome="delivered"}} 1.0' in text
    assert f'eventgate_delivery_lag_seconds{{destination="{destination.id}"}}' in text
    assert f'eventgate_delivery_lag_operations{{destination="{destination.id}"}}' in text


def test_a_hanging_destination_delays_no_other(server, workspace_channel):
    workspace_id, channel = workspace_channel
    stuck, quick = start_receiver(lambda request: "hang"), start_receiver()
    try:
        held = add_destination(server, workspace_id, stuck.url)
        going = add_destination(server, workspace_id, quick.url)
        client = server.client()
        create(client, channel)
        stuck.wait_for(1)  # the stuck receiver holds its first request from here on
        for _ in range(2):
            create(client, channel)
        quick.wait_for(3)
        delivered = attempts(server, going.id, at_least=3)
        # The stuck destination's first attempt ends only at the delivery timeout (10 s): every
        # delivery to the quick one was recorded before it, not after.
        ended = attempts(server, held.id, at_least=0, timeout=0)
        assert [a.outcome for a in delivered] == ["delivered"] * 3
        assert all(a.created_at < first.created_at for a in delivered for first in ended[:1])
    finally:
        stuck.stop()
        quick.stop()


def test_a_round_longer_than_a_lease_scan_is_not_sent_again(server, receiver, workspace_channel):
    # The lease scan (every second) reads the destination again while a round waits for a slow
    # receiver; the round's progress must not be set back by what the scan read before it was saved.
    workspace_id, channel = workspace_channel
    receiver.answer = lambda request: time.sleep(1.6) or 200
    destination = add_destination(server, workspace_id, receiver.url)
    event_id = create(server.client(), channel, title="slow receiver")
    [request] = receiver.wait_for(1)
    time.sleep(3.5)
    assert [r.json()["data"]["event"]["id"] for r in receiver.requests()] == [event_id]
    assert [a.outcome for a in attempts(server, destination.id, at_least=1)] == ["delivered"]
