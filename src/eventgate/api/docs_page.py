"""`GET /docs`: the API reference, rendered on the server from the OpenAPI document.

Plain HTML (no script, no CDN: eventgate runs offline), served under the dashboard's
Content-Security-Policy with its stylesheet from /static/docs.css. Every operation shows its
authentication, parameters, request fields (type, required or optional, nullable, enum,
limits, pattern, default, example) and each response with its fields and headers.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from eventgate.api.dashboard import page_headers

MAX_DEPTH = 4

_CONSTRAINTS = (
    ("minLength", "min length {}"), ("maxLength", "max length {}"), ("minimum", "≥ {}"), ("maximum", "≤ {}"),
    ("minItems", "at least {} items"), ("maxItems", "at most {} items"), ("minProperties", "at least {} fields"),
    ("maxProperties", "at most {} fields"), ("pattern", "pattern {}"), ("default", "default {}"),
)


class _Schemas:
    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            return self.components.get(name, {}), name
        return schema, None

    def type_text(self, schema: dict[str, Any]) -> str:
        schema, name = self.resolve(schema)
        if "anyOf" in schema or "oneOf" in schema:
            options = schema.get("anyOf") or schema.get("oneOf") or []
            kinds = [self.type_text(option) for option in options if option.get("type") != "null"]
            text = " or ".join(dict.fromkeys(kinds)) or "null"
            return text + (", nullable" if len(kinds) < len(options) else "")
        kind = schema.get("type")
        if isinstance(kind, list):
            return " or ".join(kind)
        if kind == "array":
            return f"array of {self.type_text(schema.get('items', {}))}"
        if "const" in schema:
            return json.dumps(schema["const"])
        return name or kind or "any"

    def constraints(self, schema: dict[str, Any]) -> list[str]:
        schema, _ = self.resolve(schema)
        found = []
        for option in [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]:
            if "enum" in option:
                found.append("one of " + ", ".join(json.dumps(value) for value in option["enum"]))
            for key, template in _CONSTRAINTS:
                if key in option:
                    value = option[key]
                    found.append(template.format(value if key != "default" else json.dumps(value)))
            if option.get("type") == "array":
                found.extend(f"items: {c}" for c in self.constraints(option.get("items", {})))
        return list(dict.fromkeys(found))

    def example(self, schema: dict[str, Any]) -> Any:
        schema, _ = self.resolve(schema)
        for key in ("examples", "example"):
            if key in schema:
                return schema[key][0] if key == "examples" and schema[key] else schema[key]
        for option in schema.get("anyOf", []):
            found = self.example(option)
            if found is not None:
                return found
        return None

    def fields(self, schema: dict[str, Any], prefix: str = "", depth: int = 0) -> list[dict[str, Any]]:
        """One row per field of an object schema, nested objects and arrays of objects flattened
        with dotted names (`actions[].label`)."""
        schema, _ = self.resolve(schema)
        for option in schema.get("anyOf", []):
            if self.resolve(option)[0].get("type") == "object":
                schema = self.resolve(option)[0]
        if schema.get("type") == "array":
            return self.fields(schema.get("items", {}), prefix + "[]", depth)
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        rows = []
        for name, field in properties.items():
            full = f"{prefix}.{name}" if prefix else name
            resolved, _ = self.resolve(field)
            rows.append({"name": full, "required": name in required, "type": self.type_text(field),
                         "constraints": self.constraints(field), "description": resolved.get("description", ""),
                         "example": self.example(field)})
            if depth < MAX_DEPTH:
                rows.extend(self._nested(field, full, depth + 1))
        return rows

    def _nested(self, field: dict[str, Any], name: str, depth: int) -> list[dict[str, Any]]:
        resolved, _ = self.resolve(field)
        for option in [resolved, *resolved.get("anyOf", [])]:
            option, _ = self.resolve(option)
            target = option.get("items", {}) if option.get("type") == "array" else option
            target, _ = self.resolve(target)
            if target.get("properties"):
                suffix = "[]" if option.get("type") == "array" else ""
                return self.fields(target, name + suffix, depth)
        return []


def _field_table(rows: list[dict[str, Any]], caption: str) -> str:
    if not rows:
        return ""
    out = [f'<table class="fields"><caption>{escape(caption)}</caption>'
           "<thead><tr><th>Field</th><th>Type</th><th></th><th>Rules</th><th>Description</th></tr></thead><tbody>"]
    for row in rows:
        marker = ('<span class="required">required</span>' if row["required"]
                  else '<span class="optional">optional</span>')
        rules = "".join(f"<li><code>{escape(str(rule))}</code></li>" for rule in row["constraints"])
        example = ("" if row["example"] is None else
                   f'<div class="example">Example: <code>{escape(json.dumps(row["example"]))}</code></div>')
        out.append(f'<tr><td><code>{escape(row["name"])}</code></td><td>{escape(row["type"])}</td>'
                   f'<td>{marker}</td><td><ul>{rules}</ul></td>'
                   f'<td>{escape(row["description"])}{example}</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _parameters(schemas: _Schemas, parameters: list[dict[str, Any]]) -> str:
    rows = [{"name": f'{p["name"]} ({p["in"]})', "required": bool(p.get("required")),
             "type": schemas.type_text(p.get("schema", {})), "constraints": schemas.constraints(p.get("schema", {})),
             "description": p.get("description", ""), "example": schemas.example(p.get("schema", {}))}
            for p in parameters]
    return _field_table(rows, "Parameters")


def _request_body(schemas: _Schemas, body: dict[str, Any]) -> str:
    content = body.get("content", {})
    if not content:
        return ""
    media_types = ", ".join(f"<code>{escape(m)}</code>" for m in content)
    schema = next(iter(content.values())).get("schema", {})
    resolved, name = schemas.resolve(schema)
    out = [f'<h4>Request body{" (" + escape(name) + ")" if name else ""}</h4>',
           f'<p>{"Required" if body.get("required") else "Optional"}; {media_types}. '
           f'{escape(resolved.get("description", ""))}</p>']
    if resolved.get("additionalProperties") is False:
        out.append("<p>Other fields are refused (400 <code>unknown_field</code>).</p>")
    if resolved.get("minProperties"):
        out.append(f"<p>At least {resolved['minProperties']} field(s).</p>")
    out.append(_field_table(schemas.fields(resolved), "Request fields"))
    example = schemas.example(resolved)
    if example is not None:
        out.append(f'<pre class="example">{escape(json.dumps(example, indent=2))}</pre>')
    return "".join(out)


def _responses(schemas: _Schemas, responses: dict[str, Any]) -> str:
    out = ["<h4>Responses</h4>"]
    for status, response in responses.items():
        out.append(f'<details class="response"><summary><span class="status s{escape(status[0])}">'
                   f'{escape(status)}</span> {escape(response.get("description", ""))}</summary>')
        for name, header in response.get("headers", {}).items():
            out.append(f'<p>Header <code>{escape(name)}</code>: {escape(header.get("description", ""))}</p>')
        for media, content in response.get("content", {}).items():
            schema = content.get("schema", {})
            resolved, name = schemas.resolve(schema)
            out.append(f"<p><code>{escape(media)}</code>{' — ' + escape(name) if name else ''}</p>")
            out.append(_field_table(schemas.fields(resolved), "Response fields"))
            if "example" in content:
                out.append(f'<pre class="example">{escape(json.dumps(content["example"], indent=2))}</pre>')
        out.append("</details>")
    return "".join(out)


def _security(document: dict[str, Any], operation: dict[str, Any]) -> str:
    security = operation.get("security")
    if not security:
        return "<p class=\"auth\">No authentication.</p>"
    schemes = document.get("components", {}).get("securitySchemes", {})
    names = [name for requirement in security for name in requirement]
    if not names:
        return ""
    optional = any(not requirement for requirement in security)
    described = "; or ".join(
        f"<code>{escape(_scheme_text(schemes.get(name, {})))}</code> "
        f"({escape(schemes.get(name, {}).get('description', ''))})" for name in names)
    return f'<p class="auth">{"Optional: " if optional else "Authentication: "}{described}</p>'


def _scheme_text(scheme: dict[str, Any]) -> str:
    if scheme.get("type") == "http":
        return "Authorization: Bearer …"
    if scheme.get("type") == "apiKey":
        return f"{scheme.get('name', '')}: …"
    return scheme.get("type", "")


def render(document: dict[str, Any]) -> str:
    schemas = _Schemas(document)
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            by_tag.setdefault((operation.get("tags") or ["Other"])[0], []).append((method, path, operation))
    info = document.get("info", {})
    out = ['<!doctype html><html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f'<title>{escape(info.get("title", ""))} API reference</title>',
           '<link rel="stylesheet" href="/static/docs.css"><link rel="icon" href="/static/favicon.svg"></head><body>',
           f'<header><h1>{escape(info.get("title", ""))} API reference</h1>',
           f'<p>Version {escape(str(info.get("version", "")))}. {escape(info.get("description", ""))}</p>',
           '<p>The machine-readable document: <a href="/openapi.json"><code>/openapi.json</code></a> '
           "(OpenAPI 3.1).</p></header><nav><ul>"]
    for tag, operations in by_tag.items():
        out.append(f'<li>{escape(tag)}<ul>')
        for method, path, operation in operations:
            out.append(f'<li><a href="#{escape(operation.get("operationId", ""))}"><span class="method">'
                       f'{escape(method.upper())}</span> {escape(path)}</a></li>')
        out.append("</ul></li>")
    out.append("</ul></nav><main>")
    for tag, operations in by_tag.items():
        out.append(f"<h2>{escape(tag)}</h2>")
        for method, path, operation in operations:
            out.append(f'<section class="operation" id="{escape(operation.get("operationId", ""))}">'
                       f'<h3><span class="method m-{escape(method)}">{escape(method.upper())}</span> '
                       f'<code>{escape(path)}</code></h3><p class="summary">{escape(operation.get("summary", ""))}</p>')
            for paragraph in operation.get("description", "").split("\n\n"):
                if paragraph:
                    out.append(f"<p>{escape(paragraph)}</p>")
            out.append(_security(document, operation))
            out.append(_parameters(schemas, operation.get("parameters", [])))
            if "requestBody" in operation:
                out.append(_request_body(schemas, operation["requestBody"]))
            out.append(_responses(schemas, operation.get("responses", {})))
            out.append("</section>")
    out.append("</main></body></html>")
    return "".join(out)


_rendered: bytes | None = None


def docs_response(request: Request, document: dict[str, Any]) -> Response:
    global _rendered
    if _rendered is None:
        _rendered = render(document).encode()
    return Response(_rendered, media_type="text/html; charset=utf-8", headers=page_headers(request))
