"""ntfy topics in eventgate: a topic is a channel, named by its id or its name.

Topics that are eventgate's own top-level paths (or ntfy's, which its clients expect to be
pages) are reserved: publishing to them is 400, so `POST /events` and the other routes keep
their meaning. Every top-level path the app routes must be listed here (a test checks it).
"""

from __future__ import annotations

import re

from starlette.convertors import Convertor, register_url_convertor

from eventgate.auth.channel_tokens import ChannelToken

TOPIC_PATTERN = re.compile(r"[-_A-Za-z0-9]{1,64}")

# eventgate's top-level path segments, today's and announced (v2: PagerDuty's /v2/enqueue,
# integrations: /integrations/alertmanager), then ntfy's own pages.
EVENTGATE_PATHS = (
    "act", "admin", "api", "dashboard", "docs", "event", "events", "healthz", "integrations", "message",
    "metrics", "openapi.json", "readyz", "static", "stats", "v1", "v2", "whoami",
)
NTFY_PATHS = ("account", "app", "config.js", "file", "login", "manifest.webmanifest", "settings", "signup", "sw.js")
RESERVED_TOPICS = frozenset(EVENTGATE_PATHS + NTFY_PATHS + ("favicon.ico", "robots.txt"))


# The single-segment paths that are routes of their own (/events, /healthz, …): the topic route
# does not match them at all, so another method on them is 405 with their Allow header, not a
# publish to a reserved topic (a test checks the list against the app's routes).
OWN_ROUTES = ("docs", "events", "healthz", "message", "metrics", "openapi.json", "readyz", "whoami")


class TopicConvertor(Convertor[str]):
    """A path segment that is not one of eventgate's own single-segment routes."""

    regex = "(?!(?:" + "|".join(re.escape(name) for name in OWN_ROUTES) + ")$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ntfy_topic", TopicConvertor())


class TopicsConvertor(TopicConvertor):
    """The first segment of ntfy's longer paths (`/{topics}/json`, `/{topic}/{sequence_id}`): one
    topic or several joined by commas, never one of the reserved names, so that these routes
    never take a path of eventgate's own (`DELETE /admin/…` stays 405, not an ntfy delete)."""

    regex = "(?!(?:" + "|".join(re.escape(name) for name in sorted(RESERVED_TOPICS)) + ")(?:/|$))[^/]+"


class StreamFormatConvertor(TopicConvertor):
    """ntfy's HTTP stream formats."""

    regex = "json|sse|raw"


SUBSCRIBE_SUFFIXES = ("json", "sse", "raw", "ws", "auth")


class SequenceIdConvertor(TopicConvertor):
    """A sequence id in `/{topic}/{sequence_id}`: not one of the subscribe routes' last segments,
    so that `/{topics}/json` and `/{topics}/auth` are never also a DELETE of a notification."""

    regex = "(?!(?:" + "|".join(SUBSCRIBE_SUFFIXES) + ")$)[^/]+"


register_url_convertor("ntfy_topics", TopicsConvertor())
register_url_convertor("ntfy_sequence_id", SequenceIdConvertor())
register_url_convertor("ntfy_form", StreamFormatConvertor())


def is_reserved(topic: str) -> bool:
    return topic.lower() in RESERVED_TOPICS


def is_valid_topic(topic: str) -> bool:
    return TOPIC_PATTERN.fullmatch(topic) is not None


def names_channel_of(topic: str, token: ChannelToken) -> bool:
    """The topic is the token's channel: its id (in any case, as Crockford base32 allows) or its name."""
    return topic.upper() == token.channel_id or topic == token.channel_name
