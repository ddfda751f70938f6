"""Seed 002 bodies (`POST /events`, `PUT /events/{id}`, `DELETE /events/{id}`) → LifecycleCommand.

The seed's names are views of canonical fields (SPEC §1): `subtitle` is the message,
`topics` are the tags, `context` is attrs — replaced whole, never merged.
"""

from __future__ import annotations

from typing import Any

from eventgate import ids
from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError, bad_request
from eventgate.domain.input_check import refuse_larger_than
from eventgate.domain.lifecycle import LifecycleCommand
from eventgate.domain.times import now_ms

CREATE_FIELDS = ("title", "subtitle", "topics", "context", "actions", "channel_id", "severity", "event_type")
CREATE_REQUIRED = ("title", "subtitle", "topics")
UPDATE_FIELDS = ("title", "subtitle", "topics", "context", "actions", "severity")
MAX_ACTIONS = 32
MAX_ACTION_LABEL = 128


def actions(value: Any) -> list[dict[str, str]]:
    """A list of {"label", "url"} objects: label 1-128 characters, url http(s) of at most 2048."""
    if not isinstance(value, list):
        raise bad_request("actions_invalid", "actions must be an array of {label, url} objects", "actions")
    if len(value) > MAX_ACTIONS:
        raise bad_request("actions_too_many", f"actions may hold at most {MAX_ACTIONS} items", "actions")
    result = []
    for index, item in enumerate(value):
        where = f"actions[{index}]"
        if not isinstance(item, dict) or set(item) != {"label", "url"}:
            raise bad_request("actions_invalid", f"{where} must be an object with exactly label and url", "actions")
        label, url = item["label"], item["url"]
        if not isinstance(label, str) or not label.strip() or len(label.strip()) > MAX_ACTION_LABEL:
            raise bad_request("actions_invalid", f"{where}.label must be 1-{MAX_ACTION_LABEL} characters", "actions")
        if (not isinstance(url, str) or len(url.strip()) > rules.MAX_IMAGE_URL
                or not rules.is_http_url(url.strip())):
            raise bad_request("actions_invalid", f"{where}.url must be an http or https URL", "actions")
        result.append({"label": label.strip(), "url": url.strip()})
    return result


def context(value: Any) -> dict[str, Any]:
    """The whole new attrs: attrs' rules (scalars, objects one level deep, no arrays, the size cap);
    null values are dropped."""
    try:
        checked = rules.attrs_patch(value)
    except DomainError as error:
        raise DomainError(400, error.code.replace("attrs", "context"), error.message.replace("attrs", "context"),
                          field="context") from None
    replaced: dict[str, Any] = {}
    for key, item in checked.items():
        if isinstance(item, dict):
            replaced[key] = {k: v for k, v in item.items() if v is not None}
        elif item is not None:
            replaced[key] = item
    refuse_larger_than(replaced, "context", rules.MAX_ATTRS_BYTES)
    return replaced


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "title" in body:
        changes["title"] = rules.text(body["title"], "title", rules.MAX_TITLE)
    if "subtitle" in body:
        changes["message"] = rules.text(body["subtitle"], "subtitle", rules.MAX_MESSAGE, trim=False)
    if "topics" in body:
        changes["tags"] = rules.string_list(body["topics"], "topics", rules.MAX_TAG)
    if "actions" in body:
        changes["actions"] = actions(body["actions"])
    if "severity" in body:
        changes["severity"] = rules.severity(body["severity"])
    return changes


def _refuse_unknown(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for name in body:
        if name not in allowed:
            raise bad_request("unknown_field", f"unknown field {name!r}", name)


def build_create_command(body: dict[str, Any], *, workspace_id: str, channel_id: str) -> LifecycleCommand:
    """A create in `channel_id` (already resolved: the named channel or the workspace's default)."""
    _refuse_unknown(body, CREATE_FIELDS)
    for name in CREATE_REQUIRED:
        if name not in body:
            raise bad_request(f"{name}_required", f"{name} is required", name)
    return LifecycleCommand(
        kind="create", channel_id=channel_id, op_id=ids.new_op_id(), event_id=None, event_time=now_ms(),
        changes=_changes(body),
        attrs_replace=context(body["context"]) if "context" in body else None,
        event_type=rules.type_code(body["event_type"]) if "event_type" in body else None,
        workspace_id=workspace_id,
    )


def build_update_command(body: dict[str, Any], *, workspace_id: str, event_id: str) -> LifecycleCommand:
    """An update of fields given; absent ones keep their value, `context` replaces attrs."""
    _refuse_unknown(body, UPDATE_FIELDS)
    if not body:
        raise bad_request("no_changes", f"send at least one of {', '.join(UPDATE_FIELDS)}")
    return LifecycleCommand(
        kind="update", channel_id=None, op_id=ids.new_op_id(), event_id=event_id,  # type: ignore[arg-type]
        event_time=now_ms(), changes=_changes(body),
        attrs_replace=context(body["context"]) if "context" in body else None,
        workspace_id=workspace_id,
    )


def build_delete_command(*, workspace_id: str, event_id: str) -> LifecycleCommand:
    return LifecycleCommand(
        kind="delete", channel_id=None, op_id=ids.new_op_id(), event_id=event_id,  # type: ignore[arg-type]
        event_time=now_ms(), workspace_id=workspace_id,
    )


def resolve_channel_name(body: dict[str, Any]) -> str | None:
    """The channel_id a create names (None = the workspace's default channel)."""
    value = body.pop("channel_id", None)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise bad_request("channel_id_invalid", "channel_id must be a channel id string", "channel_id")
    return value.strip()
