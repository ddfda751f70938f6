"""/docs: the API reference rendered on the server from /openapi.json — every operation with
its parameters, request fields (required or optional, enums, limits, examples) and responses —
under the dashboard's Content-Security-Policy, with no script and nothing from elsewhere."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest


class DocsPage(HTMLParser):
    """The page's operation sections: for each, its text and its field rows (name, required)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, Any]] = {}
        self.tags: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._section: dict[str, Any] | None = None
        self._depth = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        for name in ("src", "href"):
            if attributes.get(name):
                self.links.append((tag, attributes[name] or ""))
        if tag == "section" and "operation" in (attributes.get("class") or ""):
            self._section = {"text": [], "rows": []}
            self.sections[attributes.get("id") or ""] = self._section
        if self._section is None:
            return
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._section is not None:
            self._section["rows"].append(self._row)
            self._row = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._section is not None:
            self._section["text"].append(data)
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def document(server) -> dict[str, Any]:
    with server.client() as client:
        return client.get("/openapi.json").json()


@pytest.fixture(scope="module")
def page(server) -> DocsPage:
    with server.client() as client:
        reply = client.get("/docs")
    assert reply.status_code == 200
    parsed = DocsPage()
    parsed.feed(reply.text)
    return parsed


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def _operations(document: dict[str, Any]):  # type: ignore[no-untyped-def]
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def request_rows(page: DocsPage, operation_id: str) -> dict[str, list[str]]:
    """The field rows of an operation's section, first occurrence of each name (the request's
    fields come before the responses')."""
    rows: dict[str, list[str]] = {}
    for row in page.sections[operation_id]["rows"]:
        if len(row) == 5:
            rows.setdefault(row[0], row)
    return rows


def test_docs_is_html_under_the_dashboards_content_security_policy(client):
    docs = client.get("/docs")
    dashboard = client.get("/")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert docs.headers["content-security-policy"] == dashboard.headers["content-security-policy"]
    for header in ("x-content-type-options", "referrer-policy", "x-frame-options"):
        assert docs.headers[header] == dashboard.headers[header]


def test_docs_needs_no_script_and_nothing_from_elsewhere(page, client):
    assert "script" not in page.tags
    for tag, link in page.links:
        assert link.startswith("/") or link.startswith("#"), (tag, link)
    stylesheet = client.get("/static/docs.css")
    assert stylesheet.status_code == 200
    assert stylesheet.headers["content-type"].startswith("text/css")


def test_every_operation_has_its_own_section(page, document):
    for method, path, operation in _operations(document):
        section = page.sections.get(operation["operationId"])
        assert section is not None, f"{method.upper()} {path} is not on /docs"
        text = "".join(section["text"])
        assert path in text and method.upper() in text and operation["summary"] in text


def test_every_request_field_is_listed_with_its_required_marker(page, document):
    checked = 0
    for method, path, operation in _operations(document):
        if "requestBody" not in operation:
            continue
        schema = _resolve(document, operation["requestBody"]["content"]["application/json"]["schema"])
        rows = request_rows(page, operation["operationId"])
        for name in schema["properties"]:
            assert name in rows, f"{method.upper()} {path}: field {name} is not on /docs"
            marker = "required" if name in schema.get("required", ()) else "optional"
            assert rows[name][2] == marker, f"{method.upper()} {path}: {name} should be {marker}"
            checked += 1
    assert checked > 100


def test_required_fields_differ_by_operation_as_the_server_requires(page, document):
    def marker(operation_id: str, field: str) -> str:
        return request_rows(page, operation_id)[field][2]

    assert marker("post_event_create", "title") == "required"
    assert marker("post_event_update", "title") == "optional"
    assert marker("post_event_update", "event_id") == "required"
    assert marker("post_v1_channel_channel_id_event_create", "event_type") == "required"
    assert marker("post_v1_channel_channel_id_event_create", "status") == "optional"
    assert marker("post_events", "topics") == "required"
    assert "ended_at" not in {row[0] for row in page.sections["post_event_create"]["rows"]}


def test_enums_limits_and_examples_are_shown(page):
    text = "".join(page.sections["post_event_create"]["text"])
    assert 'one of "critical", "high", "normal", "low"' in text
    assert "max length 24" in text  # status
    assert 'Example: "investigating"' in text
    path_form = "".join(page.sections["post_v1_channel_channel_id_event_create"]["text"])
    assert "pattern ^[A-Za-z0-9_]{1,64}$" in path_form  # event_type
    registry = "".join(page.sections["get_api_b_v2_events_id"]["text"])
    assert "≥ 1" in registry  # the id in the path


def test_responses_and_error_bodies_are_documented(page):
    text = "".join(page.sections["post_event_create"]["text"])
    for status in ("200", "400", "401", "403", "404", "409", "413", "415", "429"):
        assert status in text
    assert "error_code" in text and "Retry-After" in text


def test_docs_is_not_a_raw_json_dump(page):
    text = "".join("".join(section["text"]) for section in page.sections.values())
    assert '"responses"' not in text and '"requestBody"' not in text
