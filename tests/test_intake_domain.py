"""domain/intake.py on its own: a one-shot message becomes one create whose event is closed at
once, with SPEC §9's severity mappings and the field rules of every write."""

from __future__ import annotations

import pytest

from eventgate.domain.decide import Change, Snapshot, decide
from eventgate.domain.errors import DomainError
from eventgate.domain.intake import (
    OneShotMessage,
    build_one_shot_command,
    fit_attrs,
    severity_of_gotify_priority,
    severity_of_ntfy_priority,
)

CHANNEL = "01HZZZZZZZZZZZZZZZZZZZCH01"


def message(**overrides) -> OneShotMessage:
    values = {"source": "ntfy", "title": "Disk", "message": "Disk full", "severity": "high"}
    values.update(overrides)
    return OneShotMessage(**values)


def build(**overrides):
    return build_one_shot_command(message(**overrides), channel_id=CHANNEL, default_title="nas-script")


@pytest.mark.parametrize("priority, severity", [(5, "critical"), (4, "high"), (3, "normal"), (2, "low"), (1, "low")])
def test_ntfy_priority_to_severity(priority, severity):
    assert severity_of_ntfy_priority(priority) == severity


@pytest.mark.parametrize("priority, severity", [
    (10, "critical"), (8, "critical"), (7, "high"), (5, "high"), (4, "normal"), (3, "normal"), (2, "low"),
    (0, "low"), (-1, "low"),
])
def test_gotify_priority_to_severity(priority, severity):
    assert severity_of_gotify_priority(priority) == severity


def test_a_one_shot_message_is_one_create_whose_event_is_closed_at_once():
    command = build()
    decision = decide(Snapshot(workspace_id="ws", last_seq=6, received_at=command.event_time + 5,
                               verified_password_hash=None), command)
    assert isinstance(decision, Change) and decision.created
    event = decision.event
    assert event["state"] == "closed" and event["status"] == "closed"
    assert event["started_at"] == event["ended_at"] == command.event_time
    assert event["event_type"] == "ntfy" and event["seq"] == 7
    assert decision.operation.kind == "create" and decision.operation.event["state"] == "closed"


def test_the_same_message_has_the_same_fingerprint_at_another_time():
    assert build().request_hash == build().request_hash
    assert build().request_hash != build(message="other").request_hash


def test_no_title_is_the_default_title_and_no_message_is_the_title():
    command = build(title="  ", message=None)
    assert command.changes["title"] == "nas-script" and command.changes["message"] == "nas-script"


def test_a_long_message_keeps_the_whole_text_in_the_description():
    command = build(message="y" * 600)
    assert command.changes["description"] == "y" * 600
    assert command.changes["message"] == "y" * 511 + "…"


def test_a_message_over_the_description_limit_is_400():
    with pytest.raises(DomainError) as refused:
        build(message="y" * 4097)
    assert refused.value.code == "message_too_long"


def test_the_request_may_name_the_event_type():
    assert build(event_type="door_open").event_type == "door_open"
    with pytest.raises(DomainError):
        build(event_type="no spaces")


def test_an_idempotency_key_is_the_op_id():
    command = build_one_shot_command(message(), channel_id=CHANNEL, default_title="x", op_id="job-1")
    assert command.op_id == "job-1"
    with pytest.raises(DomainError):
        build_one_shot_command(message(), channel_id=CHANNEL, default_title="x", op_id="a b")


def test_foreign_structured_data_is_fitted_into_attrs():
    fitted = fit_attrs({"client::notification": {"click": {"url": "https://x"}, "n": 1}, "list": [1, 2],
                        "plain": "v"})
    assert fitted == {"client::notification": {"click.url": "https://x", "n": 1}, "list": "[1,2]", "plain": "v"}


def test_deeply_nested_foreign_data_is_flattened_without_recursion():
    nested: dict = {}
    current = nested
    for _ in range(3000):
        current["k"] = {}
        current = current["k"]
    current["leaf"] = 1
    fitted = fit_attrs({"deep": nested})
    [(key, value)] = fitted["deep"].items()
    assert key == "k." * 3000 + "leaf" and value == 1
