"""The OpenAPI 3.1 document at /openapi.json.

Response schemas are generated from the msgspec types the routes encode. Request bodies are
described field by field (api/catalogue.py) from the same rules the server applies (the
domain's limits), with the required fields of each operation: one msgspec type serves the
three lifecycle operations of a seed, but create, update and close require different fields.
The document is checked against a running server by a schema fuzzer
(tests/test_openapi_conformance.py); the human-readable rendering is api/docs_page.py.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import eventgate

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


class ErrorEnvelope(msgspec.Struct):
    """Every error of the producer, REST, registry, admin and dashboard routes (SPEC §2)."""

    success: bool
    data: None
    error: str
    error_code: str


@dataclass(frozen=True)
class RequestBody:
    """One operation's request body: every field of `struct`, each with its JSON schema.

    Optional fields also take `null`, which the server reads as "absent" (unless `nullable`
    is False: there a null would leave nothing to do). Fields in `omit` are refused by this
    operation (400) and left out of its schema."""

    name: str
    struct: type
    fields: Mapping[str, dict[str, Any]]
    required: tuple[str, ...] = ()
    omit: tuple[str, ...] = ()
    nullable: bool = True
    min_properties: int = 0
    description: str = ""
    example: dict[str, Any] | None = None
    # Also read as application/x-www-form-urlencoded: these fields (a form has no null, and
    # JSON-valued fields travel as JSON text, which a form schema cannot state).
    form_fields: tuple[str, ...] = ()
    form_overrides: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    optional: bool = False  # the body may be left out altogether
    extra: Mapping[str, Any] = field(default_factory=dict)  # more JSON Schema (e.g. "not")

    def form_schema(self) -> dict[str, Any]:
        schema = self.schema(nullable=False, only=self.form_fields)
        schema["properties"].update(copy.deepcopy(dict(self.form_overrides)))
        schema.pop("examples", None)
        return schema

    def schema(self, *, nullable: bool | None = None, only: tuple[str, ...] = ()) -> dict[str, Any]:
        nullable = self.nullable if nullable is None else nullable
        properties: dict[str, Any] = {}
        for name in self.struct.__struct_fields__:
            if name in self.omit or (only and name not in only):
                continue
            schema = copy.deepcopy(self.fields[name])
            if nullable and name not in self.required:
                description = schema.pop("description", None)
                schema = {"anyOf": [schema, {"type": "null"}]}
                if description:
                    schema["description"] = description
            properties[name] = schema
        result: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if self.required:
            result["required"] = list(self.required)
        if self.min_properties:
            result["minProperties"] = self.min_properties
        if self.description:
            result["description"] = self.description
        if self.example is not None:
            result["examples"] = [self.example]
        result.update(copy.deepcopy(dict(self.extra)))
        return result


@dataclass(frozen=True)
class ApiOperation:
    method: str
    path: str
    summary: str
    tag: str
    request: RequestBody | None = None
    response: type | None = None
    # "gateway", "api_key", or a channel token as an intake API sends it (CHANNEL_TOKEN_SCHEMES), or None.
    security: str | None = None
    scope: str | None = None
    errors: tuple[int, ...] = ()
    success_status: int = 200
    parameters: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # The shape of this route's error bodies (the live routes use seed 004's).
    error_type: type = ErrorEnvelope
    # The media type of a success without a msgspec response type ("text/html", …); None: no body.
    media_type: str | None = None
    description: str = ""
    # Path parameters' schemas (default: any non-empty string).
    path_parameters: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    # Pages for people (the one-tap links) answer errors as HTML too.
    html_errors: bool = False


def _collect() -> list[ApiOperation]:
    from eventgate.api import catalogue

    return catalogue.operations()


ERROR_TEXT = {400: "Invalid request: `error_code` names the field and the rule", 401: "Not authenticated",
              403: "Forbidden: the key lacks the scope, or may not use that channel", 404: "Not found",
              405: "Method not allowed (the `Allow` header lists the path's methods)",
              409: "Conflict with the stored state", 413: "The body is too large (32 KiB; PagerDuty's route 512 KiB, Alertmanager's 1 MiB)",
              414: "The request URL (path and query) is longer than 16 KiB",
              415: "Unsupported Content-Type", 426: "Upgrade required: connect with a WebSocket", 410: "Gone: the link has expired",
              429: "Too many failed passwords for this channel and address",
              503: "The store cannot take the request right now: retry after `Retry-After` seconds"}
ERROR_CODES = {400: "status_too_long", 401: "authentication_required", 403: "insufficient_scope",
               404: "event_not_found", 405: "method_not_allowed", 409: "event_closed",
               413: "payload_too_large", 414: "uri_too_long", 415: "missing_json_content_type", 426: "upgrade_required",
               429: "too_many_attempts", 503: "store_unavailable"}
RETRY_AFTER = {"description": "Seconds to wait before trying again", "required": True,
               "schema": {"type": "string", "pattern": "^[0-9]+$"}}
# The channel token (SPEC §9), in each form the intake APIs' clients send it.
CHANNEL_TOKEN_SCHEMES = {"ntfy": ("channelToken", "ntfyAuth"),
                         "gotify": ("gotifyKey", "gotifyToken", "channelToken"),
                         "pagerduty": ("", "routingKey"),  # "": the routing_key in the body
                         "alertmanager": ("channelToken", "tokenQuery")}
WWW_AUTHENTICATE = {"description": "`Bearer`", "required": True, "schema": {"type": "string"}}


# Answered by the HTTP transport before any route (api/http_transport.py): seed 004's envelope.
TRANSPORT_STATUSES = (414,)


def _error_response(op: ApiOperation, status: int) -> dict[str, Any]:
    if op.html_errors and status not in TRANSPORT_STATUSES:
        return {"description": ERROR_TEXT.get(status, "Error"),
                "content": {"text/html; charset=utf-8": {"schema": {"type": "string"}}}}
    error_type = ErrorEnvelope if status in TRANSPORT_STATUSES else op.error_type
    schema_ref = {"$ref": f"#/components/schemas/{error_type.__name__}"}
    content: dict[str, Any] = {"schema": schema_ref}
    if error_type is ErrorEnvelope:
        content["example"] = {"success": False, "data": None, "error": ERROR_TEXT.get(status, "Error"),
                              "error_code": ERROR_CODES.get(status, "invalid")}
    response: dict[str, Any] = {"description": ERROR_TEXT.get(status, "Error"), "content": {JSON: content}}
    if status in (429, 503):
        response["headers"] = {"Retry-After": RETRY_AFTER}
    elif status == 401 and op.security:
        response["headers"] = {"WWW-Authenticate": WWW_AUTHENTICATE}
    return response


def operation_id(op: ApiOperation) -> str:
    path = op.path.strip("/").replace("/", "_").replace("{", "").replace("}", "").replace(".", "_")
    return f"{op.method.lower()}_{path.replace('-', '_') or 'root'}"


def build_document() -> dict[str, Any]:
    operations = _collect()
    types = {t for op in operations for t in (op.response, op.error_type) if t is not None}
    _, components = msgspec.json.schema_components(sorted(types, key=lambda t: t.__name__),
                                                   ref_template="#/components/schemas/{name}")
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "operationId": operation_id(op)}
        description = op.description
        if op.scope:
            description = (description + "\n\n" if description else "") + \
                f"Requires an API key with the `{op.scope}` scope (or `admin`)."
        if description:
            entry["description"] = description
        if op.security == "api_key":
            entry["security"] = [{"bearer": []}, {"apiKey": []}]
        elif op.security == "gateway":
            entry["security"] = [{}, {"gatewayToken": []}]
        elif op.security in CHANNEL_TOKEN_SCHEMES:
            entry["security"] = [{name: []} if name else {} for name in CHANNEL_TOKEN_SCHEMES[op.security]]
        params = [dict(p) for p in op.parameters]
        for name in _path_params(op.path):
            schema = dict(op.path_parameters.get(name, {"type": "string", "minLength": 1}))
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
        if params:
            entry["parameters"] = params
        if op.request is not None:
            components[op.request.name] = op.request.schema()
            ref = {"schema": {"$ref": f"#/components/schemas/{op.request.name}"}}
            content = {JSON: ref}
            if op.request.form_fields:
                components[op.request.name + "Form"] = op.request.form_schema()
                content[FORM] = {"schema": {"$ref": f"#/components/schemas/{op.request.name}Form"}}
            entry["requestBody"] = {"required": not op.request.optional, "content": content}
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": "Success" if op.success_status != 204 else "Done (no body)"}
        if op.response is not None:
            ok["content"] = {JSON: {"schema": {"$ref": f"#/components/schemas/{op.response.__name__}"}}}
        elif op.media_type is not None:
            ok["content"] = {op.media_type: {"schema": {"type": "object" if op.media_type == JSON else "string"}}}
        responses[str(op.success_status)] = ok
        for status in op.errors:
            responses[str(status)] = _error_response(op, status)
        entry["responses"] = responses
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "eventgate", "version": eventgate.__version__,
                 "description": "A self-hosted event gateway: lifecycle events in, live streams out. "
                                "No string anywhere may contain a NUL character (400)."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A workspace API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                           "description": "A workspace API key"},
                "gatewayToken": {"type": "http", "scheme": "bearer",
                                 "description": "The server's gateway token, required only when the server "
                                                "was started with one"},
                "channelToken": {"type": "http", "scheme": "bearer",
                                 "description": "A channel token (ntfy, Gotify, Alertmanager); ntfy and "
                                                "Alertmanager also take Basic auth whose password is the token"},
                "routingKey": {"type": "apiKey", "in": "header", "name": "X-Routing-Key",
                               "description": "PagerDuty: a channel token, when the body has no routing_key"},
                "tokenQuery": {"type": "apiKey", "in": "query", "name": "token",
                               "description": "Alertmanager: a channel token"},
                "ntfyAuth": {"type": "apiKey", "in": "query", "name": "auth",
                             "description": "ntfy: the Authorization header (`Bearer <channel token>`), "
                                            "base64url-encoded"},
                "gotifyKey": {"type": "apiKey", "in": "header", "name": "X-Gotify-Key",
                              "description": "Gotify: a channel token"},
                "gotifyToken": {"type": "apiKey", "in": "query", "name": "token",
                                "description": "Gotify: a channel token"},
            },
        },
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


_document_cache: bytes | None = None
_document_dict: dict[str, Any] | None = None


def document() -> dict[str, Any]:
    global _document_dict
    if _document_dict is None:
        _document_dict = build_document()
    return _document_dict


async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3.1 document."""
    global _document_cache
    if _document_cache is None:
        _document_cache = msgspec.json.encode(document())
    return Response(_document_cache, media_type=JSON)


async def docs_page(request: Request) -> Response:
    """The API reference, rendered on the server from the OpenAPI document."""
    from eventgate.api.docs_page import docs_response

    return docs_response(request, document())


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
]
