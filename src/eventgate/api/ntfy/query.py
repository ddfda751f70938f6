"""What an ntfy subscriber asks for in its query: where to start (`since`), whether to poll,
and ntfy's message filters (`id`, `title`, `message`, `priority`, `tags`), each under every
name ntfy reads it by (a header `X-Since`, or `since`/`si` in the query, …)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from eventgate.api.ntfy.messages import seq_of_message_id
from eventgate.domain.errors import bad_request
from eventgate.service.ntfy_subscribers import Since

PRIORITY_WORDS = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5}
DURATION = re.compile(r"(\d+)\s*(d|days?|h|hours?|m|mins?|minutes?|s|secs?|seconds?)")
SECONDS_OF_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}

PARAMETER_NAMES = {
    "since": ("x-since", "since", "si"),
    "poll": ("x-poll", "poll", "po"),
    "id": ("x-id", "id"),
    "message": ("x-message", "message", "m"),
    "title": ("x-title", "title", "t"),
    "tags": ("x-tags", "tags", "tag", "ta"),
    "priority": ("x-priority", "priority", "prio", "p"),
}


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """ntfy's filters; like ntfy's, they apply to `message` events only."""

    id: str | None = None
    message: str | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()

    def passes(self, body: dict[str, Any]) -> bool:
        if body["event"] != "message":
            return True
        if self.id and body["id"] != self.id:
            return False
        if self.message and body.get("message") != self.message:
            return False
        if self.title and body.get("title") != self.title:
            return False
        if self.priorities and body.get("priority", 3) not in self.priorities:
            return False
        return not self.tags or set(self.tags) <= set(body.get("tags") or ())


@dataclass(frozen=True, slots=True)
class SubscribeQuery:
    since: Since
    poll: bool
    filter: MessageFilter


def parameter(connection: HTTPConnection, name: str) -> str | None:
    for alias in PARAMETER_NAMES[name]:
        if alias in connection.headers:
            return connection.headers[alias]
    for alias in PARAMETER_NAMES[name]:
        if alias in connection.query_params:
            return connection.query_params[alias]
    return None


def parse_since(text: str | None, *, poll: bool, now: float | None = None) -> Since:
    """ntfy's `since`: empty (all when polling, else none), `all`, `none`, `latest`, a message
    id, a Unix time in seconds, or a duration back from now (`10m`, `2h`, `1d`, `30s`)."""
    text = (text or "").strip()
    if not text:
        return Since("all") if poll else Since("none")
    if text in ("all", "none", "latest"):
        return Since(text)
    seq = seq_of_message_id(text)
    if seq is not None:
        return Since("seq", seq)
    if text.isascii() and text.isdigit() and len(text) <= 12:
        return Since("time", int(text) * 1000)
    match = DURATION.fullmatch(text)
    if match is not None:
        seconds = int(match.group(1)) * SECONDS_OF_UNIT[match.group(2)[0]]
        return Since("time", int(((now if now is not None else time.time()) - seconds) * 1000))
    raise bad_request("since_invalid", "invalid since parameter: use all, none, latest, a message id, "
                      "a Unix time or a duration such as 10m", "since")


def parse_priorities(text: str | None) -> tuple[int, ...]:
    priorities = []
    for part in (text or "").split(","):
        word = part.strip().lower()
        if not word:
            continue
        number = PRIORITY_WORDS.get(word) or (int(word) if word in ("1", "2", "3", "4", "5") else 0)
        if not number:
            raise bad_request("priority_invalid", "invalid priority: use 1-5 or min, low, default, high, max, urgent",
                              "priority")
        priorities.append(number)
    return tuple(priorities)


def parse_query(connection: HTTPConnection) -> SubscribeQuery:
    """Raises DomainError (400, with ntfy's codes) for a since or priority it cannot read."""
    poll = (parameter(connection, "poll") or "").strip().lower() in ("1", "yes", "true")
    since = parse_since(parameter(connection, "since"), poll=poll)
    tags = tuple(tag.strip() for tag in (parameter(connection, "tags") or "").split(",") if tag.strip())
    message_filter = MessageFilter(id=parameter(connection, "id") or None,
                                   message=parameter(connection, "message") or None,
                                   title=parameter(connection, "title") or None, tags=tags,
                                   priorities=parse_priorities(parameter(connection, "priority")))
    return SubscribeQuery(since, poll, message_filter)


