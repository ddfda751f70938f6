"""domain/decide.py on its own: `decide(snapshot, command)` with hand-built snapshots and commands.

No database and no server: every rule of a write (lifecycle, idempotency, the event type
registry, the channel checks, an API key's channel restriction) is a pure function of what the
transaction saw, so each is tested here one behaviour at a time."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from eventgate.domain.decide import (
    Change,
    ChannelState,
    CredentialsChanged,
    EventTypeState,
    RecordedRequest,
    Replay,
    Snapshot,
    decide,
    idempotency_scope,
    public_event,
)
from eventgate.domain.errors import DomainError
from eventgate.domain.lifecycle import LifecycleCommand, new_event
from eventgate.domain.operations import Receipt

WORKSPACE = "ws-1"
OTHER_WORKSPACE = "ws-2"
CHANNEL = "01HZZZZZZZZZZZZZZZZZZZCH01"
OTHER_CHANNEL = "01HZZZZZZZZZZZZZZZZZZZCH02"
HASH = "hash-of-the-verified-password"
EVENT_ID = "evt-1"
LAST_SEQ = 41
RECEIVED_AT = 1_713_750_000_123
EVENT_TIME = 1_713_749_999_000


def command(kind: str = "create", **overrides: Any) -> LifecycleCommand:
    """A producer's (seed 000/001) command in CHANNEL; override any field."""
    values: dict[str, Any] = {
        "kind": kind, "channel_id": CHANNEL, "op_id": f"op-{kind}", "event_time": EVENT_TIME,
        "event_id": EVENT_ID, "changes": {"title": "Disk full", "message": "on db-1", "tags": ["ops"]},
        "request_hash": f"request-hash-{kind}",
    }
    if kind != "create":
        values["changes"] = {"message": "still full"}
    values.update(overrides)
    return LifecycleCommand(**values)


def api_key_command(kind: str = "update", **overrides: Any) -> LifecycleCommand:
    """A seed-002 command: addressed by workspace, no channel of its own."""
    return command(kind, channel_id=None, workspace_id=WORKSPACE, **overrides)


def stored_event(**overrides: Any) -> dict[str, Any]:
    """An event in storage form (pk, event_type_id), as the store loads it."""
    event = new_event(command("create", changes={"title": "Disk full", "message": "on db-1", "tags": ["ops"]},
                              attrs_replace={"host": "db-1", "disk": {"used": 97}}),
                      workspace_id=WORKSPACE, event_id=EVENT_ID, received_at=RECEIVED_AT - 60_000)
    event.update(pk=7, event_type_id=None, seq=LAST_SEQ - 3)
    event.update(overrides)
    return event


def snapshot(**overrides: Any) -> Snapshot:
    """What a producer's write sees: its channel, verified with HASH, in WORKSPACE."""
    values: dict[str, Any] = {
        "workspace_id": WORKSPACE, "last_seq": LAST_SEQ, "received_at": RECEIVED_AT,
        "verified_password_hash": HASH, "channel": ChannelState(WORKSPACE, HASH),
    }
    values.update(overrides)
    return Snapshot(**values)


def api_key_snapshot(**overrides: Any) -> Snapshot:
    """What an API-key write sees: no password was verified, so no channel is re-checked."""
    return snapshot(verified_password_hash=None, channel=None, **overrides)


def refused(decision: object, status: int, code: str) -> DomainError:
    assert isinstance(decision, DomainError), decision
    assert (decision.status, decision.code) == (status, code), decision
    return decision


def changed(decision: object) -> Change:
    assert isinstance(decision, Change), decision
    return decision


# -- create ---------------------------------------------------------------------------------------


def test_create_is_a_change_with_seq_last_seq_plus_one_and_the_new_event():
    change = changed(decide(snapshot(), command("create")))
    assert change.created and not change.deleted
    assert change.operation.seq == change.event["seq"] == change.receipt.seq == LAST_SEQ + 1
    event = change.event
    assert (event["id"], event["workspace_id"], event["channel_id"]) == (EVENT_ID, WORKSPACE, CHANNEL)
    assert (event["title"], event["message"], event["tags"]) == ("Disk full", "on db-1", ["ops"])
    assert event["state"] == "ongoing"
    assert event["created_at"] == event["updated_at"] == RECEIVED_AT
    assert event["pk"] is None  # the store assigns it


def test_create_operation_and_receipt_describe_the_new_event():
    cmd = command("create")
    change = changed(decide(snapshot(), cmd))
    op = change.operation
    assert (op.workspace_id, op.kind, op.op_id, op.event_id, op.channel_id) == (
        WORKSPACE, "create", cmd.op_id, EVENT_ID, CHANNEL)
    assert (op.event_time, op.received_at) == (EVENT_TIME, RECEIVED_AT)
    assert op.event == public_event(change.event)
    assert "pk" not in op.event and "event_type_id" not in op.event
    assert change.receipt == Receipt(channel_id=CHANNEL, op_id=cmd.op_id, event_id=EVENT_ID, thing_id=None,
                                     seq=LAST_SEQ + 1, kind="create")


def test_create_without_an_event_id_gets_a_new_one():
    change = changed(decide(snapshot(), command("create", event_id=None)))
    assert change.event["id"] and change.event["id"] == change.receipt.event_id == change.operation.event_id


def test_a_change_records_the_request_under_its_hash():
    cmd = command("create")
    change = changed(decide(snapshot(), cmd))
    assert change.record == RecordedRequest(cmd.request_hash, change.receipt)


def test_a_command_without_a_request_hash_records_nothing():
    assert changed(decide(snapshot(), command("create", request_hash=""))).record is None


def test_create_of_an_existing_event_is_event_exists_409():
    refused(decide(snapshot(event=stored_event()), command("create")), 409, "event_exists")


def test_create_of_an_event_deleted_earlier_in_the_transaction_is_still_event_exists_409():
    refused(decide(snapshot(event=stored_event(state="deleted")), command("create")), 409, "event_exists")


# -- update, close, delete of an event that is not there ------------------------------------------


@pytest.mark.parametrize("kind", ["update", "close", "delete"])
def test_update_close_or_delete_of_a_missing_event_is_event_not_found_404(kind):
    refused(decide(snapshot(event=None), command(kind)), 404, "event_not_found")


@pytest.mark.parametrize("kind", ["update", "close", "delete"])
def test_update_close_or_delete_of_an_event_deleted_in_this_transaction_is_event_not_found_404(kind):
    refused(decide(snapshot(event=stored_event(state="deleted")), command(kind)), 404, "event_not_found")


@pytest.mark.parametrize("kind", ["update", "close", "delete"])
def test_an_event_of_another_channel_is_event_not_found_404(kind):
    event = stored_event(channel_id=OTHER_CHANNEL)
    refused(decide(snapshot(event=event), command(kind)), 404, "event_not_found")


# -- the lifecycle ----------------------------------------------------------------------------------


def test_update_is_a_change_with_the_fields_applied():
    change = changed(decide(snapshot(event=stored_event()), command("update")))
    assert not change.created and not change.deleted
    assert change.event["message"] == "still full" and change.event["title"] == "Disk full"
    assert change.event["state"] == "ongoing" and change.event["updated_at"] == RECEIVED_AT
    assert change.event["seq"] == change.operation.seq == LAST_SEQ + 1
    assert change.event["pk"] == 7  # the stored row it updates
    assert change.operation.fields == {"message": "still full"}


def test_close_is_a_change_to_state_closed():
    change = changed(decide(snapshot(event=stored_event()), command("close")))
    assert change.event["state"] == "closed" and change.event["ended_at"] == EVENT_TIME


@pytest.mark.parametrize("kind", ["update", "close"])
def test_update_or_close_of_a_closed_event_is_event_closed_409(kind):
    refused(decide(snapshot(event=stored_event(state="closed")), command(kind)), 409, "event_closed")


def test_delete_is_a_change_marked_deleted_with_state_deleted():
    change = changed(decide(snapshot(event=stored_event()), command("delete", changes={})))
    assert change.deleted and not change.created
    assert change.event["state"] == "deleted" and change.event["updated_at"] == RECEIVED_AT
    assert change.operation.kind == "delete" and change.operation.seq == LAST_SEQ + 1
    assert change.operation.event["state"] == "deleted"


def test_delete_of_a_closed_event_is_allowed():
    change = changed(decide(snapshot(event=stored_event(state="closed")), command("delete", changes={})))
    assert change.deleted and change.event["state"] == "deleted"


# -- the channel the caller verified ----------------------------------------------------------------


def test_a_password_hash_differing_from_the_channels_is_credentials_changed_403():
    decision = decide(snapshot(channel=ChannelState(WORKSPACE, "a-newer-hash")), command("create"))
    assert isinstance(decision, CredentialsChanged)
    refused(decision, 403, "password_mismatch")


@pytest.mark.parametrize("kind", ["create", "update"])
def test_a_missing_channel_is_channel_not_found_404(kind):
    refused(decide(snapshot(channel=None, event=stored_event()), command(kind)), 404, "channel_not_found")


@pytest.mark.parametrize("kind", ["create", "update"])
def test_a_channel_of_another_workspace_is_channel_not_found_404(kind):
    other = ChannelState(OTHER_WORKSPACE, HASH)
    refused(decide(snapshot(channel=other, event=stored_event()), command(kind)), 404, "channel_not_found")


def test_the_channel_is_checked_before_idempotency():
    recorded = RecordedRequest("request-hash-create", Receipt(CHANNEL, "op-create", EVENT_ID, None, 3, "create"))
    decision = decide(snapshot(channel=ChannelState(WORKSPACE, "a-newer-hash"), recorded=recorded),
                      command("create"))
    refused(decision, 403, "password_mismatch")


def test_an_api_key_write_checks_no_channel_password():
    change = changed(decide(api_key_snapshot(event=stored_event()), api_key_command("update")))
    assert change.event["channel_id"] == CHANNEL


# -- idempotency --------------------------------------------------------------------------------------


def _receipt(kind: str = "create") -> Receipt:
    return Receipt(channel_id=CHANNEL, op_id=f"op-{kind}", event_id=EVENT_ID, thing_id="db-1", seq=12, kind=kind)


def test_a_recorded_request_with_the_same_hash_is_a_replay_of_the_recorded_receipt():
    receipt = _receipt()
    decision = decide(snapshot(recorded=RecordedRequest("request-hash-create", receipt)), command("create"))
    assert decision == Replay(receipt)


def test_a_replay_does_not_look_at_the_event_as_it_stands_now():
    """A close retried after it succeeded is the first answer again, not 409 event_closed."""
    receipt = _receipt("close")
    decision = decide(snapshot(event=stored_event(state="closed"),
                               recorded=RecordedRequest("request-hash-close", receipt)), command("close"))
    assert decision == Replay(receipt)


def test_a_replayed_delete_is_a_replay_although_the_event_is_gone():
    receipt = _receipt("delete")
    decision = decide(api_key_snapshot(event=None, recorded=RecordedRequest("request-hash-delete", receipt)),
                      api_key_command("delete", changes={}))
    assert decision == Replay(receipt)


def test_a_recorded_request_with_a_different_hash_is_idempotency_conflict_409():
    recorded = RecordedRequest("hash-of-another-body", _receipt())
    refused(decide(snapshot(recorded=recorded), command("create")), 409, "idempotency_conflict")


def test_idempotency_is_scoped_to_the_workspace_for_api_keys_and_to_the_channel_for_producers():
    assert idempotency_scope(api_key_command("update")) == WORKSPACE
    assert idempotency_scope(command("create")) == CHANNEL


# -- the event type registry -------------------------------------------------------------------------


def test_an_unknown_type_is_registered_by_the_change():
    change = changed(decide(snapshot(event_type=None), command("create", event_type="disk_full")))
    assert change.register_type == "disk_full"
    assert change.event["event_type"] == "disk_full"
    assert change.event["event_type_id"] is None  # the store fills it in once registered


def test_an_unknown_type_in_strict_mode_is_unknown_event_type_400():
    error = refused(decide(snapshot(event_type=None, strict_event_types=True),
                           command("create", event_type="disk_full")), 400, "unknown_event_type")
    assert error.field == "event_type"


def test_a_registered_type_is_used_and_not_registered_again():
    found = EventTypeState(code="disk_full", active=True, system=False, id=9)
    change = changed(decide(snapshot(event_type=found, strict_event_types=True),
                            command("create", event_type="disk_full")))
    assert change.register_type is None and change.event["event_type_id"] == 9


def test_a_system_type_is_event_type_reserved_400():
    system = EventTypeState(code="event_created", active=True, system=True, id=1)
    refused(decide(snapshot(event_type=system), command("create", event_type="event_created")),
            400, "event_type_reserved")


def test_an_inactive_type_is_event_type_inactive_409():
    inactive = EventTypeState(code="disk_full", active=False, system=False, id=9)
    refused(decide(snapshot(event_type=inactive), command("create", event_type="disk_full")),
            409, "event_type_inactive")


def test_the_registered_code_case_replaces_the_commands_on_create():
    found = EventTypeState(code="disk_full", active=True, system=False, id=9)
    change = changed(decide(snapshot(event_type=found), command("create", event_type="Disk_Full")))
    assert change.event["event_type"] == "disk_full"
    assert change.operation.event["event_type"] == "disk_full"
    assert change.operation.fields["event_type"] == "disk_full"
    assert change.event["event_type_id"] == 9 and change.register_type is None


def test_the_registered_code_case_replaces_the_commands_on_update():
    found = EventTypeState(code="disk_full", active=True, system=False, id=9)
    change = changed(decide(snapshot(event=stored_event(), event_type=found),
                            command("update", event_type="DISK_FULL")))
    assert change.event["event_type"] == "disk_full" and change.event["event_type_id"] == 9


def test_an_update_to_an_unknown_type_registers_it_and_clears_the_old_type_id():
    change = changed(decide(snapshot(event=stored_event(event_type="old", event_type_id=3)),
                            command("update", event_type="new_type")))
    assert change.register_type == "new_type"
    assert change.event["event_type"] == "new_type" and change.event["event_type_id"] is None


# -- an API key's channel restriction ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["update", "delete"])
def test_allowed_channels_excluding_the_events_channel_is_channel_forbidden_403(kind):
    cmd = api_key_command(kind, allowed_channel_ids=frozenset({OTHER_CHANNEL}))
    refused(decide(api_key_snapshot(event=stored_event()), cmd), 403, "channel_forbidden")


@pytest.mark.parametrize("kind", ["update", "delete"])
def test_allowed_channels_including_the_events_channel_may_change_it(kind):
    cmd = api_key_command(kind, allowed_channel_ids=frozenset({OTHER_CHANNEL, CHANNEL}))
    changed(decide(api_key_snapshot(event=stored_event()), cmd))


def test_a_restricted_key_still_gets_event_not_found_for_a_missing_event():
    cmd = api_key_command("update", allowed_channel_ids=frozenset({OTHER_CHANNEL}))
    refused(decide(api_key_snapshot(event=None), cmd), 404, "event_not_found")


@pytest.mark.parametrize("kind", ["update", "delete"])
def test_a_replay_for_a_key_not_allowed_the_recorded_channel_is_channel_forbidden_403(kind):
    """Another key of the workspace made this request; replaying it must not answer with (or
    acknowledge a change to) an event of a channel this key may not use."""
    recorded = RecordedRequest(f"request-hash-{kind}", _receipt(kind))
    cmd = api_key_command(kind, allowed_channel_ids=frozenset({OTHER_CHANNEL}))
    refused(decide(api_key_snapshot(event=stored_event(), recorded=recorded), cmd), 403, "channel_forbidden")


def test_a_replay_for_a_key_allowed_the_recorded_channel_is_a_replay():
    receipt = _receipt("update")
    cmd = api_key_command("update", allowed_channel_ids=frozenset({CHANNEL}))
    decision = decide(api_key_snapshot(event=stored_event(), recorded=RecordedRequest("request-hash-update", receipt)),
                      cmd)
    assert decision == Replay(receipt)


# -- purity ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["update", "close", "delete"])
def test_decide_does_not_mutate_the_snapshots_event(kind):
    event = stored_event(tags=["ops", "db"], metadata={"rack": "r1"})
    before = copy.deepcopy(event)
    snap = snapshot(event=event)
    cmd = command(kind, changes={"message": "m", "tags": ["x"]} if kind != "delete" else {},
                  attrs_patch={"disk": {"used": 99}, "host": None} if kind != "delete" else None)
    change = changed(decide(snap, cmd))
    assert event == before
    assert snap.event is event
    assert change.event is not event


def test_decide_does_not_mutate_the_command():
    cmd = command("update", event_type="Disk_Full", attrs_patch={"disk": {"used": 99}},
                  allowed_channel_ids=None)
    before = dataclasses.asdict(cmd)
    found = EventTypeState(code="disk_full", active=True, system=False, id=9)
    changed(decide(snapshot(event=stored_event(), event_type=found), cmd))
    assert dataclasses.asdict(cmd) == before
    assert cmd.event_type == "Disk_Full"


def test_decide_returns_refusals_rather_than_raising_them():
    decision = decide(snapshot(event=None), command("update"))
    assert isinstance(decision, DomainError)
