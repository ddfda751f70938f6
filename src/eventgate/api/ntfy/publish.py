"""ntfy publishing (SPEC §9): a message to a topic becomes a one-shot event in the channel the
topic names.

    POST /            a JSON object {topic, message, title, priority, tags, click, icon, actions, attach, …}
    PUT|POST /{topic} the body is the message; the rest in headers or the query, as ntfy reads them

Parameters are read as ntfy reads them: each under every one of its names, as a header or a
query parameter (`X-Title`, `Title`, `ti`, `t`, `?title=`…); in a JSON publish, the JSON's
fields win over headers. The credential is a channel token: `Authorization: Bearer <token>`,
Basic auth whose password is the token (or whose user is, when the password is empty, as
Apprise sends `ntfy://<token>@host/topic`), or `?auth=` (base64 of that header, as ntfy
encodes it). The topic must be the token's channel, by id or name (else 403).

Mapping: priority 5/4/3/2-1 (or max|urgent/high/default/low/min) → critical/high/normal/low;
tags stay tags; an http(s) `click` and `view` actions become the event's actions; icon, click,
attach, filename and markdown are kept in `attrs.ntfy`. Asked-for features eventgate does not
offer (delayed delivery, e-mail, phone calls, file uploads) are 400, never silently dropped;
ntfy's delivery hints (cache, firebase, unifiedpush, poll id) are accepted and ignored.
"""

from __future__ import annotations

import base64
import binascii
import email.header
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.bodies import decode_struct, read_body, sent_fields
from eventgate.api.envelope import JSONResponse
from eventgate.api.intake_credentials import authorization_tokens
from eventgate.api.ntfy.messages import message_body, ntfy_error
from eventgate.api.ntfy.topics import RESERVED_TOPICS, is_reserved, is_valid_topic, names_channel_of
from eventgate.auth.channel_tokens import ChannelToken
from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError, bad_request
from eventgate.domain.intake import OneShotMessage, severity_of_ntfy_priority
from eventgate.service.intake import IntakeService

UNSET = msgspec.UNSET
DEFAULT_MESSAGE = "triggered"  # ntfy's message when none is sent
PRIORITY_WORDS = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5}
MAX_ACTIONS = 3  # ntfy's limit

# Every parameter under each of ntfy's names (headers are case-insensitive; query names lower-case).
PARAMETER_NAMES = {
    "message": ("x-message", "message", "m"),
    "title": ("x-title", "title", "ti", "t"),
    "priority": ("x-priority", "priority", "prio", "p"),
    "tags": ("x-tags", "tags", "tag", "ta"),
    "click": ("x-click", "click"),
    "icon": ("x-icon", "icon"),
    "actions": ("x-actions", "actions", "action"),
    "attach": ("x-attach", "attach", "a"),
    "filename": ("x-filename", "filename", "file", "f"),
    "markdown": ("x-markdown", "markdown", "md"),
    "delay": ("x-delay", "delay", "x-at", "at", "x-in", "in"),
    "email": ("x-email", "x-e-mail", "email", "e-mail", "mail", "e"),
    "call": ("x-call", "call"),
}


class NtfyJsonMessage(msgspec.Struct, kw_only=True):
    """ntfy's JSON publish body; like ntfy, fields it does not know are ignored."""

    topic: str | None = UNSET
    message: str | None = UNSET
    title: str | None = UNSET
    priority: int | float | None = UNSET  # a whole number; JSON Schema's integer includes 5.0
    tags: list[str] | None = UNSET
    click: str | None = UNSET
    icon: str | None = UNSET
    actions: list[dict[str, Any]] | None = UNSET
    attach: str | None = UNSET
    filename: str | None = UNSET
    markdown: bool | None = UNSET
    delay: str | None = UNSET
    email: str | None = UNSET
    call: str | None = UNSET


@dataclass(slots=True)
class Publication:
    """One ntfy publish request, parameters gathered from wherever they came."""

    topic: str
    message: str | None = None
    title: str | None = None
    priority: int | None = None
    tags: list[str] = field(default_factory=list)
    click: str | None = None
    icon: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    attach: str | None = None
    filename: str | None = None
    markdown: bool = False


# -- reading the request -------------------------------------------------------------------------


def _header_text(value: str) -> str:
    """A header value as ntfy reads it: raw UTF-8 bytes, or RFC 2047 (`=?UTF-8?B?…?=`)."""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    if "=?" in value:
        try:
            value = str(email.header.make_header(email.header.decode_header(value)))
        except (ValueError, LookupError, binascii.Error):
            pass
    return value


def parameter(request: Request, name: str) -> str | None:
    for alias in PARAMETER_NAMES[name]:
        if alias in request.headers:
            return _header_text(request.headers[alias])
    for alias in PARAMETER_NAMES[name]:
        if alias in request.query_params:
            return request.query_params[alias]
    return None


def parse_priority(value: str | int | float | None) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        number = int(value) if value.is_integer() else 0
    elif isinstance(value, int):
        number = value
    else:
        text = value.strip().lower()
        number = PRIORITY_WORDS.get(text) or (int(text) if text.isascii() and text.isdigit() and len(text) == 1
                                              else 0)
    if not 1 <= number <= 5:
        raise bad_request("priority_invalid", "invalid priority: use 1-5 or min, low, default, high, max, urgent",
                          "priority")
    return number


def parse_tags(value: str) -> list[str]:
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def parse_actions(value: str) -> list[dict[str, Any]]:
    """ntfy's action header: a JSON array, or `view, Label, https://…[, key=value]; http, …`."""
    text = value.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            decoded = msgspec.json.decode(text)
        except (msgspec.DecodeError, RecursionError):
            raise _actions_invalid("the actions JSON is invalid") from None
        if not isinstance(decoded, list) or not all(isinstance(item, dict) for item in decoded):
            raise _actions_invalid("actions must be an array of objects")
        return decoded
    actions = []
    for definition in text.split(";"):
        parts = [part.strip() for part in definition.split(",")]
        if not parts or not parts[0]:
            continue
        action: dict[str, Any] = {}
        positional = ["action", "label", "url"]
        for part in parts:
            key, equals, rest = part.partition("=")
            if equals and key.strip() in ("action", "label", "url", "clear", "method", "body", "intent"):
                action[key.strip()] = rest.strip()
            elif positional:
                action[positional.pop(0)] = part
            elif not equals:
                raise _actions_invalid(f"cannot read the action {definition.strip()!r}")
        actions.append(action)
    return actions


def _actions_invalid(detail: str) -> DomainError:
    return bad_request("actions_invalid", f"invalid actions: {detail}", "actions")


def _merge_parameters(publication: Publication, request: Request) -> None:
    for name in ("message", "title", "click", "icon", "attach", "filename"):
        value = parameter(request, name)
        if value is not None and value != "":
            setattr(publication, name, value)
    publication.priority = parse_priority(parameter(request, "priority"))
    tags = parameter(request, "tags")
    if tags:
        publication.tags = parse_tags(tags)
    actions = parameter(request, "actions")
    if actions:
        publication.actions = parse_actions(actions)
    markdown = parameter(request, "markdown")
    publication.markdown = (markdown or "").strip().lower() in ("1", "yes", "true")
    _refuse_unsupported({name: parameter(request, name) for name in ("delay", "email", "call")})


def _refuse_unsupported(asked: dict[str, Any]) -> None:
    if asked.get("delay"):
        raise bad_request("delay_unsupported", "delayed delivery is not supported by eventgate", "delay")
    if asked.get("email"):
        raise bad_request("email_unsupported", "e-mail notifications are not supported by eventgate", "email")
    if asked.get("call"):
        raise bad_request("call_unsupported", "phone calls are not supported by eventgate", "call")


def _checked_topic(topic: Any) -> str:
    if not isinstance(topic, str) or not is_valid_topic(topic):
        raise bad_request("topic_invalid", "invalid topic: use 1-64 characters of A-Z, a-z, 0-9, '-' or '_'",
                          "topic")
    if is_reserved(topic):
        raise bad_request("topic_reserved",
                          f"topic {topic!r} is reserved: it is one of eventgate's own paths "
                          f"({', '.join(sorted(RESERVED_TOPICS))}); publish to the channel's id or name",
                          "topic")
    return topic


async def read_topic_publication(request: Request) -> Publication:
    """PUT/POST /{topic}: the body is the message."""
    publication = Publication(topic=_checked_topic(request.path_params["topic"]))
    _merge_parameters(publication, request)
    raw = await read_body(request)
    if raw.strip():
        if publication.filename:
            raise bad_request("attachments_unsupported",
                              "file attachments are not supported by eventgate; send attach=<URL> instead", "attach")
        try:
            publication.message = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise bad_request("message_not_utf8", "the message must be UTF-8 text (file uploads are not supported)",
                              "message") from None
    return publication


async def read_json_publication(request: Request) -> Publication:
    """POST /: a JSON object; its fields win over headers and query parameters."""
    body = sent_fields(decode_struct(await read_body(request), NtfyJsonMessage))
    if "topic" not in body:
        raise bad_request("topic_invalid", "invalid request: the JSON body needs a topic", "topic")
    publication = Publication(topic=_checked_topic(body["topic"]))
    _merge_parameters(publication, request)
    _refuse_unsupported(body)
    for name in ("message", "title", "click", "icon", "attach", "filename"):
        if body.get(name):
            setattr(publication, name, body[name])
    if "priority" in body and body["priority"] != 0:  # 0: ntfy's "not set"
        publication.priority = parse_priority(body["priority"])
    if "tags" in body:
        publication.tags = body["tags"]
    if "actions" in body:
        publication.actions = body["actions"]
    if "markdown" in body:
        publication.markdown = body["markdown"]
    return publication


def presented_tokens(request: Request) -> list[str]:
    """The credentials presented, as ntfy clients send them."""
    header = request.headers.get("authorization", "")
    if not header and request.query_params.get("auth"):
        header = _decoded_auth_parameter(request.query_params["auth"])
    return authorization_tokens(header)


def _decoded_auth_parameter(value: str) -> str:
    """ntfy's ?auth=: the Authorization header, base64 (URL-safe, padding optional)."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value


# -- mapping and answering -----------------------------------------------------------------------


def one_shot(publication: Publication, request: Request) -> OneShotMessage:
    priority = publication.priority or 3
    actions = _event_actions(publication)
    ntfy_attrs = {name: value for name, value in (
        ("click", publication.click), ("icon", publication.icon), ("attach", publication.attach),
        ("filename", publication.filename), ("markdown", publication.markdown or None),
    ) if value is not None}
    for name in ("icon", "attach"):
        url = ntfy_attrs.get(name)
        if url is not None and (len(url) > rules.MAX_IMAGE_URL or not rules.is_http_url(url)):
            raise bad_request(f"{name}_invalid", f"invalid {name}: it must be an http or https URL", name)
    return OneShotMessage(
        source="ntfy", title=publication.title,
        message=publication.message if publication.message else DEFAULT_MESSAGE,
        severity=severity_of_ntfy_priority(priority), tags=list(publication.tags), actions=actions,
        attrs={"ntfy": ntfy_attrs} if ntfy_attrs else {},
        event_type=request.headers.get("x-event-type") or request.query_params.get("event_type") or None,
    )


# ntfy's action fields and their JSON types; anything else in an action is refused.
ACTION_FIELDS: dict[str, type | tuple[type, ...]] = {
    "action": str, "label": str, "url": str, "clear": (bool, str), "method": str, "body": str, "intent": str,
    "value": str, "headers": dict, "extras": dict,
}


def _check_action_fields(action: dict[str, Any]) -> None:
    for name, value in action.items():
        expected = ACTION_FIELDS.get(name)
        if expected is None:
            raise _actions_invalid(f"unknown action field {name!r}")
        if value is None:
            continue
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in (
                expected if isinstance(expected, tuple) else (expected,))):
            raise _actions_invalid(f"the action field {name!r} has the wrong type")
        if isinstance(value, dict) and not all(isinstance(item, str) for item in value.values()):
            raise _actions_invalid(f"the action field {name!r} must map names to strings")


def _event_actions(publication: Publication) -> list[dict[str, str]]:
    """The click URL and ntfy's `view` actions, where they are http(s) links, as the event's actions."""
    if len(publication.actions) > MAX_ACTIONS:
        raise _actions_invalid(f"at most {MAX_ACTIONS} actions are allowed")
    links: list[dict[str, str]] = []
    click = (publication.click or "").strip()
    if click and len(click) <= rules.MAX_IMAGE_URL and rules.is_http_url(click):
        links.append({"label": "Open", "url": click})
    for action in publication.actions:
        _check_action_fields(action)
        kind = str(action.get("action", "")).strip().lower()
        if kind not in ("view", "http", "broadcast", "copy"):
            raise _actions_invalid(f"unknown action type {kind!r}")
        label = action.get("label")
        if not isinstance(label, str) or not label.strip():
            raise _actions_invalid("every action needs a label")
        url = action.get("url")
        if kind == "view" and isinstance(url, str) and rules.is_http_url(url.strip()) and len(url) <= 2048:
            links.append({"label": label.strip()[:128], "url": url.strip()})
    return links


async def publish(request: Request, read: Any) -> Response:
    runtime = request.app.state.runtime
    service = IntakeService(runtime.writer, runtime.channel_tokens, runtime.reader)
    try:
        if "topic" in request.path_params:
            _checked_topic(request.path_params["topic"])  # a reserved path is refused before anything else
        token = await service.authenticate(presented_tokens(request))
        publication = await read(request)
        _require_topic_of(token, publication.topic)
        outcome, event = await service.publish(token, one_shot(publication, request),
                                               idempotency_key=request.headers.get("idempotency-key"))
    except DomainError as error:
        return ntfy_error(error)
    return JSONResponse(message_body(
        outcome.receipt.seq or event["seq"], event["created_at"], publication.topic,
        publication.message if publication.message else DEFAULT_MESSAGE,
        title=publication.title, priority=publication.priority, tags=event["tags"], click=publication.click,
        icon=publication.icon,
    ))


def _require_topic_of(token: ChannelToken, topic: str) -> None:
    if not names_channel_of(topic, token):
        raise DomainError(403, "topic_forbidden", f"forbidden: this token may not publish to topic {topic!r}")


async def publish_json(request: Request) -> Response:
    """Publish a message given as a JSON object (the topic inside it)."""
    return await publish(request, read_json_publication)


async def publish_to_topic(request: Request) -> Response:
    """Publish to the topic in the path; the body is the message."""
    return await publish(request, read_topic_publication)


routes = [
    Route("/", publish_json, methods=["POST"], name="ntfy_publish_json"),
    # Last of all routes: a single path segment that no other route claims is a topic
    # (topics.TopicConvertor leaves eventgate's own single-segment routes alone).
    Route("/{topic:ntfy_topic}", publish_to_topic, methods=["PUT", "POST"], name="ntfy_publish"),
]
