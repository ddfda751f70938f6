"""Listing events for API-key callers (`GET /events`): query parameters → a filter, opaque
cursors, and pages read off the event loop.

Decisions (documented in docs/reference.md, Observli's Events API):
- An empty parameter (`?q=`) is the same as an absent one, so that a search form can send
  every field; a parameter given twice, an unknown one, or a malformed value is a 400.
- `since`/`until` compare with the `created` value the API shows (whole Unix seconds), both
  inclusive: `until=1698175847` includes an event whose `created` is 1698175847.
- `q` searches words (runs of letters and digits, any case): every word of `q` must be a
  word of the title or the message; `word*` matches the words it begins (3 characters or
  more before the `*`). At most 256 characters and 16 words; at least one word.
- A key restricted to channels lists only those channels; naming another is 403.
- `min_severity=high` lists high and critical events: the order of SEVERITY_RANK, the one live
  subscriptions and destinations use. It cannot be combined with `severity` (400): one of the
  two would be redundant or the listing empty, and either is more likely a mistake.
- `acknowledged=true` lists events someone acknowledged (SPEC §11), `false` the others; any
  other value is a 400.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Iterable

import anyio
import msgspec

from eventgate.auth.keys import ApiKey
from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError, bad_request
from eventgate.domain.input_check import whole_number
from eventgate.domain.lifecycle import CLOSED, ONGOING
from eventgate.domain.times import parse_unix_time
from eventgate.store.database import Database
from eventgate.store.event_queries import (
    MIN_PREFIX_LENGTH,
    EventListFilter,
    PagePosition,
    is_prefix,
    list_page,
    search_words,
)

LIST_PARAMETERS = ("limit", "active", "cursor", "topic", "severity", "min_severity", "channel_id", "thing_id", "event_type",
                   "since", "until", "q", "acknowledged")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_TEXT_LENGTH = 256
MAX_WORDS = 16
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")

# Cursor payloads: [1, pk] for pk order, [2, created_at_ms, pk] for time order.
_PK_CURSOR = 1
_TIME_CURSOR = 2


@dataclass(frozen=True, slots=True)
class EventListing:
    """A validated `GET /events` request."""

    filter: EventListFilter
    after: PagePosition | None
    limit: int


def encode_cursor(position: PagePosition) -> str:
    payload = ([_TIME_CURSOR, position.created_at, position.pk] if position.created_at is not None
               else [_PK_CURSOR, position.pk])
    return base64.urlsafe_b64encode(msgspec.json.encode(payload)).rstrip(b"=").decode()


def _invalid_cursor(detail: str) -> DomainError:
    return bad_request("invalid_cursor", f"cursor is not valid: {detail}; use the next_cursor of a previous page",
                       "cursor")


def decode_cursor(text: str, *, ordered_by_time: bool) -> PagePosition:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise _invalid_cursor("it was not issued by this server") from None
    if not isinstance(payload, list) or not payload or not all(
        isinstance(part, int) and not isinstance(part, bool) and 0 <= part < 2**63 for part in payload
    ):
        raise _invalid_cursor("it was not issued by this server")
    kind = payload[0]
    if kind == _PK_CURSOR and len(payload) == 2:
        if ordered_by_time:
            raise _invalid_cursor("it belongs to a listing without since/until")
        return PagePosition(pk=payload[1])
    if kind == _TIME_CURSOR and len(payload) == 3:
        if not ordered_by_time:
            raise _invalid_cursor("it belongs to a listing with since/until")
        return PagePosition(pk=payload[2], created_at=payload[1])
    raise _invalid_cursor("it was not issued by this server")


def _single_values(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in items:
        if name not in LIST_PARAMETERS:
            raise bad_request("unknown_parameter",
                              f"unknown query parameter {name!r}; allowed: {', '.join(LIST_PARAMETERS)}", name)
        if name in values:
            raise bad_request(f"{name}_invalid", f"query parameter {name!r} may be given only once", name)
        if "\x00" in value:
            raise bad_request(f"{name}_invalid", f"{name} must not contain NUL characters", name)
        values[name] = value
    return {name: value.strip() for name, value in values.items() if value.strip()}


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    limit = whole_number(text)  # not int(): it takes "²" (a 500 once) and "١٠"
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise bad_request("limit_invalid", f"limit must be a whole number from 1 to {MAX_LIMIT}", "limit")
    return limit


def _state(text: str | None) -> str | None:
    if text is None:
        return None
    lowered = text.lower()
    if lowered in _TRUE:
        return ONGOING
    if lowered in _FALSE:
        return CLOSED
    raise bad_request("active_invalid", "active must be true (ongoing events) or false (closed events)", "active")


def _acknowledged(text: str | None) -> bool | None:
    if text is None:
        return None
    if text in ("true", "false"):
        return text == "true"
    raise bad_request("acknowledged_invalid",
                      "acknowledged must be true (acknowledged events) or false (unacknowledged events)",
                      "acknowledged")


def _created_bounds(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """Bounds in ms on created_at such that the shown `created` (whole seconds) is within [since, until]."""
    since_ms = parse_unix_time(since, "since") if since is not None else None
    until_ms = parse_unix_time(until, "until") if until is not None else None
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise bad_request("since_after_until", "since must not be later than until", "since")
    created_from = -(-since_ms // 1000) * 1000 if since_ms is not None else None
    created_before = (until_ms // 1000 + 1) * 1000 if until_ms is not None else None
    return created_from, created_before


def _words(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    if len(text) > MAX_TEXT_LENGTH:
        raise bad_request("q_too_long", f"q must be at most {MAX_TEXT_LENGTH} characters", "q")
    words = search_words(text)
    if not words:
        raise bad_request("q_invalid", "q must contain a word (letters or digits)", "q")
    if len(words) > MAX_WORDS:
        raise bad_request("q_invalid", f"q may hold at most {MAX_WORDS} words", "q")
    for word in words:
        if is_prefix(word) and len(word) - 1 < MIN_PREFIX_LENGTH:
            raise bad_request("q_invalid", f"a prefix ({word}) needs at least {MIN_PREFIX_LENGTH} letters or "
                              "digits before the *", "q")
    return words


def _channels(channel_id: str | None, key: ApiKey) -> tuple[str, ...] | None:
    if channel_id is None:
        return key.channel_ids
    rules.token(channel_id, "channel_id", 64)
    if not key.may_use_channel(channel_id):
        raise DomainError(403, "channel_forbidden", f"this API key may not use channel {channel_id}")
    return (channel_id,)


def _severities(values: dict[str, str]) -> tuple[str | None, tuple[str, ...] | None]:
    """(severity, severities): one exact severity, or every severity at or above a minimum."""
    if "severity" in values and "min_severity" in values:
        raise bad_request("min_severity_invalid", "give severity (exactly) or min_severity (at least), not both",
                          "min_severity")
    if "min_severity" in values:
        return None, rules.severities_at_least(rules.min_severity(values["min_severity"]))
    return (rules.severity(values["severity"]) if "severity" in values else None), None


def parse_listing(items: Iterable[tuple[str, str]], key: ApiKey) -> EventListing:
    """Validate `GET /events` query parameters for this key; raises DomainError (400/403)."""
    values = _single_values(items)
    created_from, created_before = _created_bounds(values.get("since"), values.get("until"))
    topic = values.get("topic")
    if topic is not None and len(topic) > rules.MAX_TAG:
        raise bad_request("topic_too_long", f"topic must be at most {rules.MAX_TAG} characters", "topic")
    severity, severities = _severities(values)
    query = EventListFilter(
        workspace_id=key.workspace_id,
        state=_state(values.get("active")),
        acknowledged=_acknowledged(values.get("acknowledged")),
        severity=severity,
        severities=severities,
        channel_ids=_channels(values.get("channel_id"), key),
        thing_id=rules.token(values["thing_id"], "thing_id", 64) if "thing_id" in values else None,
        event_type=rules.type_code(values["event_type"]) if "event_type" in values else None,
        tag=topic,
        created_from_ms=created_from,
        created_before_ms=created_before,
        words=_words(values.get("q")),
    )
    after = decode_cursor(values["cursor"], ordered_by_time=query.ordered_by_time) if "cursor" in values else None
    return EventListing(filter=query, after=after, limit=_limit(values.get("limit")))


class EventQueries:
    def __init__(self, database: Database) -> None:
        self.database = database

    def _page(self, listing: EventListing) -> list[dict[str, Any]]:
        with self.database.reader.connect() as connection:
            return list_page(connection, listing.filter, listing.after, listing.limit + 1)

    async def page(self, listing: EventListing) -> tuple[list[dict[str, Any]], str | None]:
        """One page of events (newest first) and the cursor of the next page, if there is one."""
        rows = await anyio.to_thread.run_sync(self._page, listing)
        if len(rows) <= listing.limit:
            return rows, None
        rows = rows[:listing.limit]
        last = rows[-1]
        position = PagePosition(pk=last["pk"],
                                created_at=last["created_at"] if listing.filter.ordered_by_time else None)
        return rows, encode_cursor(position)
