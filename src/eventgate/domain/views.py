"""How events and operations look on the wire: canonical fields in Unix seconds, plus the
seed-002 names (`subtitle`, `context`, `topics`, `created`) that are views of the same values."""

from __future__ import annotations

from typing import Any

from eventgate.domain.lifecycle import STORAGE_ONLY_KEYS, SYSTEM_TYPE_OF_KIND
from eventgate.domain.times import ms_to_seconds

TIME_FIELDS = ("started_at", "ended_at", "created_at", "updated_at", "acknowledged_at")


def canonical_event(event: dict[str, Any]) -> dict[str, Any]:
    """The canonical event (SPEC §1) with times in seconds."""
    view = {k: v for k, v in event.items() if k not in STORAGE_ONLY_KEYS}
    for name in TIME_FIELDS:
        view[name] = ms_to_seconds(view.get(name))
    view.setdefault("acknowledged_by", None)  # events stored before acknowledgements existed
    return view


def resource_event(event: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """Seed 002's event object: its own names first, then every canonical field."""
    canonical = canonical_event(event)
    view = {
        "id": canonical["id"],
        "workspace_id": canonical["workspace_id"],
        "title": canonical["title"],
        "subtitle": canonical["message"],
        "context": canonical["attrs"],
        "actions": canonical["actions"],
        "topics": canonical["tags"],
        "created": ms_to_seconds(event["created_at"] - event["created_at"] % 1000),
        "timestamp": now_ms // 1000,
    }
    for key, value in canonical.items():
        view.setdefault(key, value)
    return view


def operation_view(operation: dict[str, Any]) -> dict[str, Any]:
    """One entry of a timeline / the `op` of a live frame: its ids, kind, times and the fields it carried."""
    fields = dict(operation["fields"])
    for name in ("started_at", "ended_at"):
        if name in fields:
            fields[name] = ms_to_seconds(fields[name])
    return {
        "seq": operation["seq"],
        "op_id": operation["op_id"],
        "kind": operation["kind"],
        "event_type": SYSTEM_TYPE_OF_KIND[operation["kind"]],
        "event_id": operation["event_id"],
        "channel_id": operation["channel_id"],
        "event_time": ms_to_seconds(operation["event_time"]),
        "received_at": ms_to_seconds(operation["received_at"]),
        "fields": fields,
    }
