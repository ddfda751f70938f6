"""The OpenAPI 3.1 document, generated from the same msgspec types that validate requests,
and a small self-contained docs page that renders it (no CDN: eventgate runs offline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

import eventgate


class ErrorEnvelope(msgspec.Struct):
    """Every error of the producer, REST and registry routes."""

    success: bool
    data: None
    error: str
    error_code: str


@dataclass(frozen=True)
class ApiOperation:
    method: str
    path: str
    summary: str
    tag: str
    request: type | None = None
    response: type | None = None
    security: str | None = None  # "gateway", "api_key" or None
    scope: str | None = None
    errors: tuple[int, ...] = ()
    success_status: int = 200
    parameters: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # The shape of this route's error bodies (the live routes use seed 004's).
    error_type: type = ErrorEnvelope


def _collect() -> list[ApiOperation]:
    from eventgate.api import catalogue

    return catalogue.operations()


def build_document() -> dict[str, Any]:
    operations = _collect()
    types = {t for op in operations for t in (op.request, op.response, op.error_type) if t is not None}
    _, components = msgspec.json.schema_components(sorted(types, key=lambda t: t.__name__),
                                                   ref_template="#/components/schemas/{name}")
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {"summary": op.summary, "tags": [op.tag],
                                 "operationId": f"{op.method}_{op.path}".strip("/").replace("/", "_")
                                 .replace("{", "").replace("}", "")}
        if op.scope:
            entry["description"] = f"Requires an API key with the `{op.scope}` scope."
        if op.security == "api_key":
            entry["security"] = [{"bearer": []}, {"apiKey": []}]
        elif op.security == "gateway":
            entry["security"] = [{}, {"bearer": []}]
        params = [dict(p) for p in op.parameters]
        for name in _path_params(op.path):
            params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
        if params:
            entry["parameters"] = params
        if op.request is not None:
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{op.request.__name__}"}}}}
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": "Success"}
        if op.response is not None:
            ok["content"] = {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{op.response.__name__}"}}}
        responses[str(op.success_status)] = ok
        for status in op.errors:
            responses[str(status)] = {"description": _STATUS_TEXT.get(status, "Error"), "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{op.error_type.__name__}"}}}}
        entry["responses"] = responses
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "eventgate", "version": eventgate.__version__,
                 "description": "A self-hosted event gateway: lifecycle events in, live streams out."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


_STATUS_TEXT = {400: "Invalid request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
                409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
                429: "Too many attempts"}

_document_cache: bytes | None = None


async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3.1 document."""
    global _document_cache
    if _document_cache is None:
        _document_cache = msgspec.json.encode(build_document())
    return Response(_document_cache, media_type="application/json")


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>eventgate API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1b1b1b;background:#fff}
@media (prefers-color-scheme: dark){body{color:#e6e6e6;background:#141414}code,pre{background:#222!important}}
h2{margin-top:2rem;border-bottom:1px solid #8884}code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:4px}
pre{padding:.6rem;overflow:auto}.m{display:inline-block;min-width:4.5rem;font-weight:700}
details{margin:.4rem 0}summary{cursor:pointer}
</style></head><body>
<h1>eventgate API</h1>
<p>The machine-readable document is at <a href="openapi.json"><code>/openapi.json</code></a>.</p>
<div id="ops">Loading…</div>
<script>
fetch('openapi.json').then(r => r.json()).then(doc => {
  const root = document.getElementById('ops'); root.textContent = '';
  const byTag = {};
  for (const [path, methods] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(methods))
      (byTag[op.tags[0]] ||= []).push([method, path, op]);
  for (const [tag, ops] of Object.entries(byTag)) {
    const h = document.createElement('h2'); h.textContent = tag; root.appendChild(h);
    for (const [method, path, op] of ops) {
      const d = document.createElement('details'); const s = document.createElement('summary');
      const m = document.createElement('span'); m.className = 'm'; m.textContent = method.toUpperCase();
      const c = document.createElement('code'); c.textContent = path;
      s.append(m, c, ' — ' + op.summary); d.appendChild(s);
      if (op.description) { const p = document.createElement('p'); p.textContent = op.description; d.appendChild(p); }
      const pre = document.createElement('pre'); pre.textContent = JSON.stringify(op, null, 2); d.appendChild(pre);
      root.appendChild(d);
    }
  }
});
</script></body></html>"""


async def docs_page(request: Request) -> Response:
    """A human-readable rendering of the OpenAPI document."""
    return HTMLResponse(DOCS_PAGE)


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
]
