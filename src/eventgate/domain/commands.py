"""Turn a channel lifecycle request (seed 000 or 001, already decoded) into a LifecycleCommand.

Both seeds share every field rule (SPEC §2); they differ only in which fields are
required and what defaults apply (SPEC §3). Those differences are the `Profile`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

from eventgate import ids
from eventgate.domain import fields as rules
from eventgate.domain.errors import bad_request
from eventgate.domain.lifecycle import LifecycleCommand, OperationKind, require_kind_fields
from eventgate.domain.times import now_ms, parse_unix_time


@dataclass(frozen=True, slots=True)
class Profile:
    """What a seed requires per operation kind."""

    name: str
    required: dict[str, tuple[str, ...]]
    client_may_choose_event_id: bool


STRICT_BODY_FORM = Profile(  # seed 001
    name="body",
    required={
        "create": ("title", "status", "message", "severity", "event_time"),
        "update": ("status", "message", "severity", "event_time"),
        "close": ("status", "message", "severity", "event_time"),
    },
    client_may_choose_event_id=False,
)

PATH_FORM = Profile(  # seed 000
    name="path",
    required={"create": ("event_type",), "update": (), "close": ()},
    client_may_choose_event_id=True,
)


def request_hash(kind: str, profile: Profile, channel_id: str, body: dict[str, Any]) -> str:
    """Fingerprint of a request for idempotency: same op_id + same hash = a replay."""
    material = {k: v for k, v in body.items() if k != "password"}
    encoded = msgspec.json.encode([kind, profile.name, channel_id, material], order="sorted")
    return hashlib.sha256(encoded).hexdigest()


def build_lifecycle_command(
    kind: OperationKind, body: dict[str, Any], *, channel_id: str, profile: Profile
) -> LifecycleCommand:
    """Validate every field rule of SPEC §2/§3 and return the command; raises DomainError."""
    if kind == "create":
        if "event_id" in body and not profile.client_may_choose_event_id:
            raise bad_request("event_id_forbidden_on_create", "event_id must be omitted on create", "event_id")
    elif "event_id" not in body or body["event_id"] is None:
        raise bad_request("event_id_required", f"event_id is required on {kind}", "event_id")
    if "started_at" in body and kind != "create":
        raise bad_request("started_at_forbidden", "started_at is allowed only on create", "started_at")
    if "ended_at" in body and kind != "close":
        raise bad_request("ended_at_forbidden", "ended_at is allowed only on close", "ended_at")
    require_kind_fields(kind, body, profile.required[kind])

    changes: dict[str, Any] = {}
    if "title" in body:
        changes["title"] = rules.text(body["title"], "title", rules.MAX_TITLE)
    if "status" in body:
        changes["status"] = rules.text(body["status"], "status", rules.MAX_STATUS)
    if "message" in body:
        changes["message"] = rules.text(body["message"], "message", rules.MAX_MESSAGE, trim=False)
    if "description" in body:
        description = body["description"]
        if not isinstance(description, str):
            raise bad_request("description_invalid", "description must be a string", "description")
        if description.strip():
            if len(description) > rules.MAX_DESCRIPTION:
                raise bad_request(
                    "description_too_long", f"description must be at most {rules.MAX_DESCRIPTION} characters",
                    "description",
                )
            changes["description"] = description
    if "severity" in body:
        changes["severity"] = rules.severity(body["severity"])
    if "thing_id" in body and body["thing_id"] is not None:
        changes["thing_id"] = rules.token(body["thing_id"], "thing_id", 64)
    if "tags" in body:
        changes["tags"] = rules.string_list(body["tags"], "tags", rules.MAX_TAG)
    if "images" in body:
        changes["images"] = rules.string_list(body["images"], "images", rules.MAX_IMAGE_URL, urls=True)
    if "metadata" in body:
        changes["metadata"] = rules.metadata(body["metadata"])
    if "started_at" in body:
        changes["started_at"] = parse_unix_time(body["started_at"], "started_at")
    if "ended_at" in body:
        changes["ended_at"] = parse_unix_time(body["ended_at"], "ended_at")

    event_time = parse_unix_time(body["event_time"], "event_time") if "event_time" in body else now_ms()
    attrs = rules.attrs_patch(body["attrs"]) if "attrs" in body and body["attrs"] is not None else None
    event_type = rules.type_code(body["event_type"]) if body.get("event_type") is not None else None

    event_id: str | None = None
    if body.get("event_id") is not None:
        event_id = rules.token(body["event_id"], "event_id", 64 if kind == "create" else 128)

    op_id = rules.token(body["op_id"], "op_id", 128) if body.get("op_id") is not None else ids.new_op_id()

    return LifecycleCommand(
        kind=kind,
        channel_id=channel_id,
        op_id=op_id,
        event_id=event_id,
        event_time=event_time,
        changes=changes,
        attrs_patch=attrs,
        event_type=event_type,
        request_hash=request_hash(kind, profile, channel_id, body),
        event_id_chosen_by_client=event_id is not None and kind == "create",
    )
