"""Liveness, readiness, metrics and the OpenAPI document."""

import re

from eventgate.api.catalogue import operations


def test_healthz_is_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_database_reachable(client):
    reply = client.get("/readyz")
    assert reply.status_code == 200
    assert reply.json()["checks"]["database"] is True


def test_metrics_are_prometheus_text(client):
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert "eventgate_write_batch_size" in reply.text


def test_openapi_document_lists_every_route(server, client):
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    for route in server.app.routes:
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method == "HEAD":
                continue
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # /{topic:ntfy_topic}: the document's /{topic}
            assert (method, path) in documented, f"{method} {route.path} is missing from the catalogue"
    assert len(documented) == len(operations())


def test_openapi_schema_comes_from_the_validating_types(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    body_form = schemas["BodyFormCreateRequest"]
    assert "channel_id" in body_form["properties"]
    assert body_form.get("additionalProperties") is False
    # Each lifecycle operation requires what the server requires.
    assert "title" in body_form["required"] and "event_id" not in body_form["properties"]
    assert "event_id" in schemas["BodyFormUpdateRequest"]["required"]


def test_docs_page_is_served(client):
    reply = client.get("/docs")
    assert reply.status_code == 200
    assert "openapi.json" in reply.text


def test_unknown_route_is_json_404(client):
    reply = client.get("/no/such/route")
    assert reply.status_code == 404
    assert reply.json()["error_code"] == "not_found"


def test_openapi_names_each_routes_own_error_shape(client):
    paths = client.get("/openapi.json").json()["paths"]
    live = paths["/api/v1/ws/unsubscribe"]["post"]["responses"]["404"]["content"]["application/json"]["schema"]
    producer = paths["/event/create"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert live["$ref"].endswith("/LiveError")
    assert producer["$ref"].endswith("/ErrorEnvelope")
