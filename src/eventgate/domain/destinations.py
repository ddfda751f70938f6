"""Destinations (SPEC §10): what one is, which operations it wants, and when a failed delivery
is tried again. Pure: no I/O.

A destination is `{id, name, kind: webhook|apprise, url, enabled, filter, secret}` in a
workspace, with an optional escalation schedule (SPEC §11): `repeat_every` (seconds between
reminders) and `escalate_after` (seconds until the event is escalated, once, to the destination
`escalate_to`). Its `filter` has the names and rules of the subscription filters of §6:
`event_types` (codes, SYSTEM codes included), `channel_id`, `tags`, `thing_id` (lists; any one
matches) and `severity` (the lowest severity wanted).
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from eventgate import ids
from eventgate.domain import fields as rules
from eventgate.domain.errors import bad_request

KINDS = ("webhook", "apprise")
MAX_NAME = 128
MAX_URL = 2048
MAX_FILTER_ITEMS = 100
FILTER_FIELDS = ("event_types", "channel_id", "tags", "thing_id", "severity")

# After the first attempt (immediately): 5 s, 30 s, 2 min, 10 min, 30 min, then every hour.
RETRY_DELAYS_S = (5, 30, 120, 600, 1800, 3600)
JITTER = 0.2  # ± this fraction of the delay
MAX_RETRY_AFTER_S = 3600
GIVE_UP_AFTER_MS = 24 * 3600 * 1000  # a destination failing this long is disabled
MIN_SCHEDULE_S = 60  # repeat_every and escalate_after: at least a minute…
MAX_SCHEDULE_S = 7 * 24 * 3600  # …and at most a week, in whole seconds


@dataclass(frozen=True, slots=True)
class DestinationFilter:
    event_types: tuple[str, ...] | None = None
    channel_ids: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    thing_ids: tuple[str, ...] | None = None
    min_severity: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, value in (("event_types", self.event_types), ("channel_id", self.channel_ids),
                            ("tags", self.tags), ("thing_id", self.thing_ids), ("severity", self.min_severity)):
            if value is not None:
                found[name] = list(value) if isinstance(value, tuple) else value
        return found


def parse_filter(value: Any) -> DestinationFilter:
    """A filter object as the API takes it; raises DomainError (400) naming the field."""
    if value is None:
        return DestinationFilter()
    if not isinstance(value, dict):
        raise bad_request("filter_invalid", "filter must be an object", "filter")
    unknown = sorted(set(value) - set(FILTER_FIELDS))
    if unknown:
        raise bad_request("filter_invalid", f"filter: unknown field {unknown[0]!r} (known: {', '.join(FILTER_FIELDS)})",
                          "filter")

    def items(name: str, check: Any) -> tuple[str, ...] | None:
        raw = value.get(name)
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw or len(raw) > MAX_FILTER_ITEMS:
            raise bad_request("filter_invalid", f"filter.{name} must be a list of 1-{MAX_FILTER_ITEMS} strings",
                              "filter")
        return tuple(check(item) for item in raw)

    def channel(item: Any) -> str:
        if not isinstance(item, str) or not ids.is_channel_id(item):
            raise bad_request("filter_invalid", f"filter.channel_id: {item!r} is not a channel id", "filter")
        return item

    def tag(item: Any) -> str:
        if not isinstance(item, str) or not item or len(item) > rules.MAX_TAG:
            raise bad_request("filter_invalid", f"filter.tags: a tag has 1-{rules.MAX_TAG} characters", "filter")
        return item

    severity = value.get("severity")
    if severity is not None and severity not in rules.SEVERITIES:
        raise bad_request("filter_invalid", "filter.severity must be one of critical, high, normal, low", "filter")
    return DestinationFilter(
        event_types=items("event_types", lambda item: rules.type_code(item, "filter")),
        channel_ids=items("channel_id", channel), tags=items("tags", tag),
        thing_ids=items("thing_id", lambda item: rules.token(item, "filter", 64)),
        min_severity=severity,
    )


def name_of(value: Any) -> str:
    return rules.text(value, "name", MAX_NAME)


def kind_of(value: Any) -> str:
    if value not in KINDS:
        raise bad_request("kind_invalid", "kind must be webhook or apprise", "kind")
    return value


def url_of(kind: str, value: Any) -> str:
    """A webhook's http(s) URL, or an Apprise URL (`scheme://…`, Apprise checks the rest)."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_URL:
        raise bad_request("url_invalid", f"url must be 1-{MAX_URL} characters", "url")
    url = value.strip()
    if any(c.isspace() or c < " " or c == "\x7f" for c in url):
        raise bad_request("url_invalid", "url must not contain white space or control characters", "url")
    if kind == "webhook":
        try:
            parts = urlsplit(url)
            scheme, host = parts.scheme, parts.hostname
        except ValueError:  # e.g. an unclosed [ of an IPv6 address
            scheme, host = "", None
        if scheme not in ("http", "https") or not host:
            raise bad_request("url_invalid", "a webhook url must be an http or https URL", "url")
    elif "://" not in url:
        raise bad_request("url_invalid", "an apprise url looks like scheme://… (see Apprise's list of services)",
                          "url")
    return url


def new_webhook_secret() -> str:
    """Standard Webhooks' secret form: `whsec_` and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def retry_delay_ms(attempts: int, retry_after_s: float | None = None, *, rng: random.Random | None = None) -> int:
    """How long to wait before the next attempt, after `attempts` failed ones (1 or more)."""
    base = RETRY_DELAYS_S[min(attempts, len(RETRY_DELAYS_S)) - 1]
    jittered = base * (1 + (rng or random).uniform(-JITTER, JITTER))
    if retry_after_s is not None and retry_after_s > 0:
        jittered = max(jittered, min(retry_after_s, MAX_RETRY_AFTER_S))
    return int(jittered * 1000)


def webhook_id(destination_id: str, seq: int) -> str:
    """The message id of an operation for a destination: the same on every retry."""
    return f"msg_{destination_id}_{seq}"


def schedule_of(name: str, value: Any) -> int | None:
    """`repeat_every` or `escalate_after`: whole seconds from a minute to a week; 0 or null: none."""
    if value is None or (value == 0 and not isinstance(value, bool)):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SCHEDULE_S <= value <= MAX_SCHEDULE_S:
        raise bad_request(f"{name}_invalid", f"{name} must be whole seconds from {MIN_SCHEDULE_S} to "
                                             f"{MAX_SCHEDULE_S} (7 days), or 0 (none)", name)
    return value


def escalate_to_of(value: Any) -> str | None:
    """The id of the destination to escalate to (that it exists in the workspace is the service's check)."""
    if value is None:
        return None
    if not isinstance(value, str) or not ids.is_channel_id(value):
        raise bad_request("escalate_to_invalid", "escalate_to must be the id of another destination", "escalate_to")
    return value


def check_escalation(escalate_after_s: int | None, escalate_to: str | None) -> None:
    """`escalate_to` goes with `escalate_after`: both or neither."""
    if escalate_after_s is not None and escalate_to is None:
        raise bad_request("escalate_to_required", "escalate_after needs escalate_to (the destination to escalate to)",
                          "escalate_to")
    if escalate_after_s is None and escalate_to is not None:
        raise bad_request("escalate_after_required", "escalate_to needs escalate_after (when to escalate)",
                          "escalate_after")


def escalation_webhook_id(target_id: str, event_id: str, kind: str, fired: int) -> str:
    """The message id of a reminder (`repeat`) or an escalation (`escalate`): `msg_<target>_<event>_<kind>_<n>`.
    An event id too long for the 80 characters a recorded webhook id has is replaced by 24 hex
    digits of its SHA-256."""
    message_id = f"msg_{target_id}_{event_id}_{kind}_{fired}"
    if len(message_id) > 80:
        message_id = f"msg_{target_id}_{hashlib.sha256(event_id.encode()).hexdigest()[:24]}_{kind}_{fired}"
    return message_id
