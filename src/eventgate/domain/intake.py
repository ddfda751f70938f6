"""One-shot messages from the intake APIs (ntfy, Gotify; SPEC §9) → a LifecycleCommand.

A one-shot message is one `create` operation whose event is closed at once (`started_at =
ended_at = event_time`, `state = closed`): one seq, one idempotency record, one live frame,
so a subscriber or a phone hears of it once. It goes through the same write path as every
other write (group commit, decide, registry rules).

The foreign APIs are more generous than eventgate's field rules in two places, decided here:
- a message longer than 512 characters keeps its first 511 characters and `…` as the message
  and the whole text as the description (at most 4096 characters, else 400 `message_too_long`);
- extra structured data (Gotify `extras`, ntfy's icon or attachment) goes to `attrs`, where
  values nested deeper than attrs allow are flattened (`a.b` keys) and arrays become JSON text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec

from eventgate import ids
from eventgate.domain import fields as rules
from eventgate.domain.errors import bad_request
from eventgate.domain.input_check import refuse_larger_than
from eventgate.domain.lifecycle import LifecycleCommand
from eventgate.domain.times import now_ms

ELLIPSIS = "…"
_json = msgspec.json.Encoder(order="sorted")


def severity_of_ntfy_priority(priority: int) -> str:
    """ntfy priority 5/4/3/2-1 → critical/high/normal/low."""
    if priority >= 5:
        return "critical"
    if priority == 4:
        return "high"
    if priority == 3:
        return "normal"
    return "low"


def severity_of_gotify_priority(priority: int) -> str:
    """Gotify priority ≥ 8 / 5-7 / 3-4 / 0-2 → critical/high/normal/low."""
    if priority >= 8:
        return "critical"
    if priority >= 5:
        return "high"
    if priority >= 3:
        return "normal"
    return "low"


@dataclass(slots=True)
class OneShotMessage:
    """What an intake request says, in eventgate's words, before the field rules."""

    source: str  # the API's name: the default event_type ("ntfy", "gotify")
    title: str | None
    message: str | None
    severity: str
    tags: list[Any] = field(default_factory=list)
    actions: list[dict[str, str]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    event_type: str | None = None


def build_one_shot_command(message: OneShotMessage, *, channel_id: str, default_title: str,
                           op_id: str | None = None) -> LifecycleCommand:
    """Validate and normalise the message; raises DomainError (400) naming the field."""
    changes = text_changes(message.title, message.message, default_title)
    changes["severity"] = rules.severity(message.severity)
    if message.tags:
        changes["tags"] = rules.string_list(message.tags, "tags", rules.MAX_TAG)
    if message.actions:
        changes["actions"] = message.actions
    attrs = fit_attrs(message.attrs) if message.attrs else None
    event_type = rules.type_code(message.event_type if message.event_type else message.source)
    # The time is left out: a request repeated with the same Idempotency-Key is the same request.
    request_hash = hashlib.sha256(_json.encode([message.source, channel_id, changes, attrs, event_type])).hexdigest()
    event_time = now_ms()
    changes["started_at"] = changes["ended_at"] = event_time
    return LifecycleCommand(
        kind="create", channel_id=channel_id,
        op_id=rules.token(op_id, "idempotency_key", 128) if op_id is not None else ids.new_op_id(),
        event_id=None, event_time=event_time, changes=changes, attrs_patch=attrs, event_type=event_type,
        request_hash=request_hash,
        one_shot=True,
    )


def text_changes(title: str | None, message: str | None, default_title: str) -> dict[str, Any]:
    """title, message (and description when the message is long) under eventgate's field rules."""
    if title is not None and len(title) > rules.MAX_TITLE:  # as sent: the limit the API documents
        raise bad_request("title_too_long", f"title must be at most {rules.MAX_TITLE} characters", "title")
    title = (title or "").strip() or default_title
    title = rules.text(title, "title", rules.MAX_TITLE)
    changes: dict[str, Any] = {"title": title}
    text = message if message is not None and message.strip() else title
    if len(text) > rules.MAX_DESCRIPTION:
        raise bad_request("message_too_long", f"message must be at most {rules.MAX_DESCRIPTION} characters",
                          "message")
    if len(text) > rules.MAX_MESSAGE:
        changes["description"] = text
        text = text[:rules.MAX_MESSAGE - 1] + ELLIPSIS
    changes["message"] = text
    return changes


def fit_attrs(value: dict[str, Any]) -> dict[str, Any]:
    """Foreign structured data as attrs: top-level keys kept, objects one level deep whose deeper
    values are flattened to `a.b` keys, arrays as JSON text; within the attrs size cap."""
    result: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            flat: dict[str, Any] = {}
            _flatten(item, "", flat)
            result[key] = flat
        else:
            result[key] = _scalar(item)
    rules.attrs_patch(result)  # the key rules of attrs
    refuse_larger_than(result, "attrs", rules.MAX_ATTRS_BYTES)
    return result


def _flatten(value: dict[str, Any], prefix: str, into: dict[str, Any]) -> None:
    # A loop, not recursion: a deeply nested value must be a 400 at worst, never a RecursionError.
    pending = [(prefix, value)]
    while pending:
        path, current = pending.pop()
        for key, item in current.items():
            name = f"{path}{key}"
            if isinstance(item, dict) and item:
                pending.append((name + ".", item))
            else:
                into[name] = _scalar(item)


def _scalar(item: Any) -> Any:
    if item is None or isinstance(item, (str, int, float, bool)):
        return item
    try:
        return _json.encode(item).decode()
    except RecursionError:
        raise bad_request("attrs_invalid", "attrs: a value is nested too deeply", "attrs") from None
