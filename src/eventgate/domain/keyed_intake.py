"""Keyed events: intake APIs that name an event by their own key, not by eventgate's id.

PagerDuty's `dedup_key` and Alertmanager's alert `fingerprint` name "the incident" in the
sender's words. Within a channel, a key names at most one *ongoing* event:
- a create (PagerDuty trigger, a firing alert) with a key whose event is ongoing updates that
  event; with no ongoing event it creates one that carries the key;
- an update or close with a key acts on the ongoing event, or is 404 `keyed_event_not_found`;
- once the event is closed the key is free again: a re-fire is a new event.

The writer resolves the key inside its transaction, after it holds the workspace's seq, so two
triggers of one key in flight at once cannot open two events (store/write_batch.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from eventgate import ids
from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError, bad_request
from eventgate.domain.intake import ELLIPSIS, fit_attrs, text_changes
from eventgate.domain.lifecycle import LifecycleCommand, OperationKind
from eventgate.domain.times import now_ms

MAX_ACTION_LABEL = 128
MAX_EVENT_KEY = 300  # source prefix + the sender's key (PagerDuty allows 255 characters)
ACKNOWLEDGED = "acknowledged"
KIND_OF_ACTION: dict[str, OperationKind] = {"trigger": "create", "acknowledge": "update", "resolve": "close"}
_json = msgspec.json.Encoder(order="sorted")


@dataclass(slots=True)
class AlertMessage:
    """One alert in eventgate's words, before the field rules: what happened to the thing `key` names."""

    source: str  # the API's name: the key's namespace and the default event_type
    key: str
    action: Literal["trigger", "acknowledge", "resolve"]
    title: str | None = None
    message: str | None = None
    severity: str | None = None
    status: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)
    actions: list[dict[str, str]] = field(default_factory=list)
    started_at: int | None = None  # ms, as the sender says
    ended_at: int | None = None
    event_type: str | None = None
    op_id: str | None = None


def build_alert_command(alert: AlertMessage, *, channel_id: str, default_title: str) -> LifecycleCommand:
    """Validate and normalise the alert into a keyed command; raises DomainError (400) naming the field."""
    event_key = f"{alert.source}:{alert.key}"
    if not alert.key or len(event_key) > MAX_EVENT_KEY:
        raise bad_request("event_key_invalid", f"the alert's key must be 1-{MAX_EVENT_KEY - len(alert.source) - 1} "
                          "characters", "dedup_key")
    kind = KIND_OF_ACTION[alert.action]
    changes: dict[str, Any] = {}
    if alert.action == "acknowledge":
        changes.update(acknowledgement_changes())
    elif alert.title or alert.message or kind == "create":
        title = alert.title.strip() if alert.title is not None else None
        if title is not None and len(title) > rules.MAX_TITLE:  # PagerDuty allows 1,024 characters
            title = title[:rules.MAX_TITLE - 1] + ELLIPSIS
        changes.update(text_changes(title, alert.message, default_title))
    if alert.severity is not None:
        changes["severity"] = rules.severity(alert.severity)
    if alert.status is not None:
        changes["status"] = rules.text(alert.status, "status", rules.MAX_STATUS)
    if alert.images:
        changes["images"] = rules.string_list(alert.images, "images", rules.MAX_IMAGE_URL, urls=True)
    if alert.actions:
        changes["actions"] = alert.actions[:rules.MAX_LIST_ITEMS]
    if alert.metadata:
        changes["metadata"] = rules.metadata(alert.metadata)
    attrs = fit_attrs(alert.attrs) if alert.attrs else None
    event_type = rules.type_code(alert.event_type or alert.source) if kind == "create" else None
    if kind == "create" and alert.started_at is not None:
        changes["started_at"] = alert.started_at
    if kind == "close" and alert.ended_at is not None:
        changes["ended_at"] = alert.ended_at
    # The receive time is left out: a repeated alert is the same request.
    request_hash = hashlib.sha256(_json.encode(
        [alert.source, channel_id, kind, event_key, changes, attrs, event_type])).hexdigest()
    acknowledge = alert.action == "acknowledge"
    return LifecycleCommand(
        kind=kind, channel_id=channel_id,
        op_id=rules.token(alert.op_id, "idempotency_key", 128) if alert.op_id is not None else ids.new_op_id(),
        event_id=None, event_time=now_ms(), changes=changes, attrs_patch=attrs, event_type=event_type,
        request_hash=request_hash, event_key=event_key,
        acknowledge=acknowledge, actor=alert.source if acknowledge else None,
    )


def link_action(label: str | None, url: Any) -> dict[str, str] | None:
    """A sender's link as an event action, or None when it is not an http(s) URL eventgate can show."""
    if not isinstance(url, str) or len(url.strip()) > rules.MAX_IMAGE_URL or not rules.is_http_url(url.strip()):
        return None
    label = (label or "").strip() or "Open"
    return {"label": label[:MAX_ACTION_LABEL], "url": url.strip()}


def acknowledgement_changes() -> dict[str, Any]:
    """What a sender's acknowledgement changes besides acknowledging the event (SPEC §11; the
    command says `acknowledge`, by the sender): its status says so, as PagerDuty shows it."""
    return {"status": ACKNOWLEDGED}


def keyed_event_not_found(key: str) -> DomainError:
    return DomainError(404, "keyed_event_not_found", f"no ongoing event has the key {key!r} in this channel")


def resolve_keyed(command: LifecycleCommand, ongoing_event_id: str | None) -> LifecycleCommand:
    """The command addressed to an event id, given the ongoing event that has its key (or None)."""
    assert command.event_key is not None
    if ongoing_event_id is None:
        if command.kind == "create":
            return command
        raise keyed_event_not_found(command.event_key)
    if command.kind == "create":
        # A trigger while the event is ongoing is an update: the event keeps its start and id.
        changes = {k: v for k, v in command.changes.items() if k not in ("started_at", "ended_at")}
        return dataclasses.replace(command, kind="update", event_id=ongoing_event_id, changes=changes)
    return dataclasses.replace(command, event_id=ongoing_event_id)
