"""Live subscriptions: turning a subscribe request into a filter and a resume point, and
narrowing a live subscription (unsubscribe), for the WebSocket and SSE routes alike.

Problems name the offending input by path (`query.event_types[1]`, `body.client_id`), as
the seed-004 error shape wants; several problems are reported together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import anyio

from eventgate.auth.keys import ApiKey
from eventgate.broker.base import BrokerUnavailable
from eventgate.domain.errors import DomainError
from eventgate.domain.fields import MAX_TAG, MAX_TYPE_CODE, SEVERITIES, TOKEN_RE, TYPE_CODE_RE
from eventgate.hub.filters import SubscriptionFilter
from eventgate.ids import is_channel_id
from eventgate.store.database import Database
from eventgate.store.streams import known_type_codes, latest_seqs

MAX_FILTER_ITEMS = 100
MAX_THING_ID = 64


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    path: str


class InvalidInput(DomainError):
    """One or more problems with a request, each naming its input."""

    def __init__(self, problems: list[Problem], status: int = 400) -> None:
        first = problems[0]
        message = first.message if len(problems) == 1 else f"{len(problems)} problems with the request"
        super().__init__(status, first.code, message, field=first.path)
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    filter: SubscriptionFilter
    since: int | None


def _items(values: Sequence[str]) -> list[tuple[int, str]]:
    """Comma lists (the parameter may also repeat): (position as sent, trimmed item), empties dropped."""
    items: list[tuple[int, str]] = []
    index = 0
    for value in values:
        for part in value.split(","):
            if part.strip():
                items.append((index, part.strip()))
            index += 1
    return items


def _parse_since(text: str | None, path: str, problems: list[Problem]) -> int | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        problems.append(Problem("invalid_since", f"{path} must be a seq: a non-negative integer", path))
        return None
    return int(text)


def parse_filters(params: Any, key: ApiKey, last_event_id: str | None, problems: list[Problem]
                  ) -> tuple[list[tuple[int, str]], SubscriptionFilter, int | None, str]:
    """Everything that needs no store: returns (type codes to check, filter without types, since, since path).

    `params` is a multi-dict (Starlette's QueryParams): every parameter may repeat."""

    codes = _items(params.getlist("event_types"))
    for index, code in codes:
        if len(code) > MAX_TYPE_CODE or not TYPE_CODE_RE.match(code):
            problems.append(Problem("invalid_event_type",
                                    f"{code!r} is not an event-type code (A-Z, a-z, 0-9, '_', at most 64)",
                                    f"query.event_types[{index}]"))
    if len(codes) > MAX_FILTER_ITEMS:
        problems.append(Problem("too_many_event_types", f"at most {MAX_FILTER_ITEMS} event types",
                                "query.event_types"))

    channel_ids: frozenset[str] | None = None
    channels = _items(params.getlist("channel_id"))
    if channels:
        for index, channel_id in channels:
            path = f"query.channel_id[{index}]"
            if not is_channel_id(channel_id):
                problems.append(Problem("invalid_channel_id", f"{channel_id!r} is not a channel id", path))
            elif not key.may_use_channel(channel_id):
                problems.append(Problem("channel_forbidden", f"this API key may not use channel {channel_id}",
                                        path))
        channel_ids = frozenset(c for _, c in channels)
    if key.channel_ids is not None:
        # A key restricted to some channels only ever sees those.
        allowed = frozenset(key.channel_ids)
        channel_ids = allowed if channel_ids is None else channel_ids & allowed

    tags: frozenset[str] | None = None
    tag_items = _items(params.getlist("tags"))
    if tag_items:
        for index, tag in tag_items:
            if len(tag) > MAX_TAG:
                problems.append(Problem("invalid_tag", f"a tag has at most {MAX_TAG} characters",
                                        f"query.tags[{index}]"))
        tags = frozenset(t for _, t in tag_items)

    thing_ids: frozenset[str] | None = None
    things = _items(params.getlist("thing_id"))
    if things:
        for index, thing_id in things:
            if len(thing_id) > MAX_THING_ID or not TOKEN_RE.match(thing_id):
                problems.append(Problem("invalid_thing_id", f"{thing_id!r} is not a thing id",
                                        f"query.thing_id[{index}]"))
        thing_ids = frozenset(t for _, t in things)

    min_severity: str | None = None
    severity_values = [v.strip().lower() for v in params.getlist("severity") if v.strip()]
    if severity_values:
        if len(severity_values) > 1 or severity_values[0] not in SEVERITIES:
            problems.append(Problem("invalid_severity", "severity must be one of critical, high, normal, low",
                                    "query.severity"))
        else:
            min_severity = severity_values[0]

    for name in ("channel_id", "tags", "thing_id"):
        if len(_items(params.getlist(name))) > MAX_FILTER_ITEMS:
            problems.append(Problem(f"too_many_{name}", f"at most {MAX_FILTER_ITEMS} items", f"query.{name}"))

    # A browser's EventSource resumes through Last-Event-ID; it wins over the URL's since.
    if last_event_id is not None and last_event_id.strip():
        since_path = "header.last-event-id"
        since = _parse_since(last_event_id, since_path, problems)
    else:
        since_path = "query.since"
        since_values = params.getlist("since")
        since = _parse_since(since_values[-1] if since_values else None, since_path, problems)

    base = SubscriptionFilter(channel_ids=channel_ids, tags=tags, min_severity=min_severity, thing_ids=thing_ids)
    return codes, base, since, since_path


def _check_against_store(database: Database, workspace_id: str, codes: list[str]) -> tuple[dict[str, str], int]:
    with database.reader.connect() as connection:
        known = known_type_codes(connection, workspace_id, codes)
        latest = latest_seqs(connection, [workspace_id]).get(workspace_id, 0)
    return known, latest


async def parse_subscription(database: Database, key: ApiKey, params: Any,
                             last_event_id: str | None = None, *,
                             strict_event_types: bool = False) -> SubscriptionRequest:
    """Validate a subscribe request (SPEC §6). Raises InvalidInput (400/403).

    A well-formed code not registered yet is accepted (it matches once events use it), unless
    the server runs with strict event types: then it is 400 `unknown_event_type`."""
    problems: list[Problem] = []
    codes, base, since, since_path = parse_filters(params, key, last_event_id, problems)
    if problems:
        raise InvalidInput(problems, _status_of(problems))
    known, latest = await anyio.to_thread.run_sync(
        _check_against_store, database, key.workspace_id, [code for _, code in codes])
    event_types = _registered_codes(known, codes, "query", problems, strict=strict_event_types)
    if since is not None and since > latest:
        problems.append(Problem("since_ahead", f"seq {since} is after the workspace's latest seq {latest}",
                                since_path))
    if problems:
        raise InvalidInput(problems)
    subscription_filter = SubscriptionFilter(
        event_types=tuple(event_types) if codes else None, channel_ids=base.channel_ids, tags=base.tags,
        min_severity=base.min_severity, thing_ids=base.thing_ids,
    )
    return SubscriptionRequest(subscription_filter, since)


def _status_of(problems: list[Problem]) -> int:
    return 403 if any(p.code == "channel_forbidden" for p in problems) else 400


# -- unsubscribe ------------------------------------------------------------------------------


def _unsubscribe_codes(value: Any) -> list[tuple[int, str]]:
    if isinstance(value, str):
        return _items([value])
    return [(index, item.strip()) for index, item in enumerate(value)]


async def unsubscribe(database: Database, hub: Any, key: ApiKey, client_id: str, event_types: Any,
                      user_id: str | None, *, strict_event_types: bool = False) -> dict[str, Any]:
    """Remove event types from a live subscription held by this or any other process. As on
    subscribe, a code not registered yet is accepted unless the server runs with strict types."""
    problems: list[Problem] = []
    if not client_id.strip():
        problems.append(Problem("client_id_required", "client_id must name a live subscription", "body.client_id"))
    codes = _unsubscribe_codes(event_types)
    if not codes:
        problems.append(Problem("event_types_required", "event_types must name at least one event type",
                                "body.event_types"))
    for index, code in codes:
        if not code or len(code) > MAX_TYPE_CODE or not TYPE_CODE_RE.match(code):
            problems.append(Problem("invalid_event_type",
                                    f"{code!r} is not an event-type code (A-Z, a-z, 0-9, '_', at most 64)",
                                    f"body.event_types[{index}]"))
    if len(codes) > MAX_FILTER_ITEMS:
        problems.append(Problem("too_many_event_types", f"at most {MAX_FILTER_ITEMS} event types",
                                "body.event_types"))
    if problems:
        raise InvalidInput(problems)
    if user_id is not None and user_id != key.user_id:
        raise InvalidInput([Problem("not_your_client", "you may only unsubscribe your own clients",
                                    "body.user_id")], 403)
    known, _ = await anyio.to_thread.run_sync(_check_against_store, database, key.workspace_id,
                                              [code for _, code in codes])
    registered = _registered_codes(known, codes, "body", problems, strict=strict_event_types)
    if problems:
        raise InvalidInput(problems)
    try:
        reply = await hub.unsubscribe(client_id.strip(), key.workspace_id, key.user_id, registered)
    except BrokerUnavailable as error:
        raise DomainError(503, "broker_unavailable", str(error), field="body.client_id") from None
    result = reply.get("result")
    if result == "forbidden":
        raise InvalidInput([Problem("not_your_client", "that client belongs to another user", "body.client_id")],
                           403)
    if result != "ok":
        raise InvalidInput([Problem("client_not_found", f"no live subscription {client_id!r}",
                                    "body.client_id")], 404)
    return {"client_id": client_id.strip(), "user_id": key.user_id,
            "event_types": reply.get("event_types") or [],
            "excluded_event_types": reply.get("excluded_event_types") or [],
            "everything": bool(reply.get("everything"))}


def _registered_codes(known: dict[str, str], codes: list[tuple[int, str]], where: str,
                      problems: list[Problem], *, strict: bool) -> list[str]:
    """Each requested code once (ignoring case), as the registry spells it when registered and
    as sent when not yet: such a code matches once events start using it. Under strict event
    types an unregistered code is a problem at `<where>.event_types[i]` instead."""
    registered: list[str] = []
    seen: set[str] = set()
    for index, code in codes:
        found = known.get(code.lower())
        if found is None and strict:
            problems.append(Problem("unknown_event_type", f"event type {code!r} is not registered in this workspace",
                                    f"{where}.event_types[{index}]"))
            continue
        spelling = code if found is None else found
        if spelling.lower() not in seen:
            seen.add(spelling.lower())
            registered.append(spelling)
    return registered
