"""Keyed events (domain/keyed_intake.py): an intake key names a channel's ongoing event."""

from __future__ import annotations

import pytest

from eventgate.domain.errors import DomainError
from eventgate.domain.keyed_intake import AlertMessage, build_alert_command, resolve_keyed
from tests.intake import intake_channel
from tests.live_client import close


def command(action, **fields):
    alert = AlertMessage(source="pagerduty", key="k", action=action, title="Disk full", **fields)
    return build_alert_command(alert, channel_id="C1", default_title="token")


def test_a_trigger_with_no_ongoing_event_creates_one_that_carries_the_key():
    created = resolve_keyed(command("trigger", started_at=1000), None)
    assert created.kind == "create" and created.event_id is None and created.event_key == "pagerduty:k"
    assert created.changes["started_at"] == 1000


def test_a_trigger_while_the_event_is_ongoing_updates_it_and_keeps_its_start():
    updated = resolve_keyed(command("trigger", started_at=1000), "E1")
    assert updated.kind == "update" and updated.event_id == "E1" and "started_at" not in updated.changes


@pytest.mark.parametrize("action, kind", [("acknowledge", "update"), ("resolve", "close")])
def test_acknowledge_and_resolve_act_on_the_ongoing_event_or_are_404(action, kind):
    resolved = resolve_keyed(command(action), "E1")
    assert resolved.kind == kind and resolved.event_id == "E1"
    with pytest.raises(DomainError) as missing:
        resolve_keyed(command(action), None)
    assert missing.value.status == 404 and missing.value.code == "keyed_event_not_found"


def test_an_acknowledgement_acknowledges_by_the_sender_and_its_status_says_so():
    acknowledgement = command("acknowledge")
    assert acknowledgement.changes == {"status": "acknowledged"}
    assert acknowledgement.acknowledge and acknowledgement.actor == "pagerduty"


def test_the_same_alert_sent_again_is_the_same_request():
    first, again = command("trigger", op_id="op-1"), command("trigger", op_id="op-1")
    assert first.request_hash == again.request_hash
    assert command("trigger", severity="critical").request_hash != first.request_hash


def test_a_key_too_long_is_400():
    with pytest.raises(DomainError) as refused:
        build_alert_command(AlertMessage(source="pagerduty", key="k" * 300, action="trigger"),
                            channel_id="C1", default_title="t")
    assert refused.value.status == 400


def test_an_event_closed_by_its_producer_frees_its_key(server):
    intake = intake_channel(server)
    client = server.client()

    def enqueue(action):
        body = {"routing_key": intake.token, "event_action": action, "dedup_key": "k",
                "payload": {"summary": "Disk full", "source": "nas", "severity": "error"}}
        assert client.post("/v2/enqueue", json=body).status_code == 202

    enqueue("trigger")
    first = intake.only_event()
    close(client, intake.channel_id, first["id"])  # closed by a producer with the channel password
    enqueue("resolve")  # nothing ongoing has the key any more: changes nothing
    assert [e["kind"] for e in intake.timeline(first["id"])] == ["create", "close"]
    enqueue("trigger")
    events = intake.events()
    assert len(events) == 2 and {e["state"] for e in events} == {"ongoing", "closed"}
