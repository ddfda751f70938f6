"""The request fields the two channel lifecycle seeds share (SPEC §2), as msgspec types.

These types validate requests and also generate the OpenAPI schemas."""

from __future__ import annotations

from typing import Any

import msgspec

UNSET = msgspec.UNSET
Time = int | float | str
Scalar = str | int | float | bool


class LifecycleFields(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    password: str | None = UNSET
    op_id: str | None = UNSET
    thing_id: str | None = UNSET
    event_id: str | None = UNSET
    title: str | None = UNSET
    description: str | None = UNSET
    status: str | None = UNSET
    message: str | None = UNSET
    severity: str | None = UNSET
    event_time: Time | None = UNSET
    started_at: Time | None = UNSET
    ended_at: Time | None = UNSET
    tags: list[Any] | None = UNSET
    images: list[Any] | None = UNSET
    attrs: dict[str, Any] | None = UNSET
    metadata: dict[str, Any] | None = UNSET


class BodyFormRequest(LifecycleFields, forbid_unknown_fields=True, kw_only=True):
    """Seed 001: the channel travels in the body."""

    channel_id: str | None = UNSET


class PathFormRequest(LifecycleFields, forbid_unknown_fields=True, kw_only=True):
    """Seed 000: the channel travels in the path; event_type is required on create."""

    event_type: str | None = UNSET

