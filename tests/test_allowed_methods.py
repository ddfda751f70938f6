"""OPTIONS and unsupported methods (api/allowed_methods.py): the `Allow` header lists every
method of the path — the same set the OpenAPI document gives it — not only the first route's."""

from __future__ import annotations

import pytest

from tests.helpers import error_code


def _allow(reply) -> set[str]:  # type: ignore[no-untyped-def]
    return {method.strip() for method in reply.headers["allow"].split(",")}


@pytest.mark.parametrize("path, methods", [
    ("/events", {"GET", "POST"}),
    ("/events/some-id", {"GET", "PUT", "DELETE"}),
    ("/api/b/v2/events", {"GET", "POST"}),
    ("/api/b/v2/events/5", {"GET", "PUT", "DELETE"}),
    ("/admin/channels/abc", {"PATCH", "DELETE"}),
    ("/event/create", {"POST"}),
    ("/v1/channel/abc/event/close", {"POST"}),
])
def test_options_is_204_with_every_method_of_the_path(client, path, methods):
    reply = client.options(path)
    assert reply.status_code == 204, reply.text
    assert reply.content == b""
    assert _allow(reply) - {"HEAD", "OPTIONS"} == methods
    assert "OPTIONS" in _allow(reply)


def test_options_allow_matches_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        if path == "/{topics}/ws":
            continue  # ntfy's WebSocket: a route for the upgrade only, with no plain HTTP side to ask
        concrete = path.replace("{id}", "5")
        for operation in operations.values():  # a parameter that takes only some words takes the first
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("schema", {}).get("enum"):
                    concrete = concrete.replace("{" + parameter["name"] + "}", str(parameter["schema"]["enum"][0]))
        concrete = concrete.replace("{", "x").replace("}", "")
        reply = client.options(concrete)
        assert reply.status_code == 204, path
        assert _allow(reply) - {"HEAD", "OPTIONS"} == {method.upper() for method in operations}, path


def test_an_unsupported_method_is_405_with_the_full_allow(client):
    reply = client.patch("/events")
    assert reply.status_code == 405
    assert error_code(reply) == "method_not_allowed"
    assert _allow(reply) - {"HEAD", "OPTIONS"} == {"GET", "POST"}


def test_an_unsupported_method_is_refused_before_authentication(client):
    reply = client.delete("/api/b/v2/events")  # no API key either
    assert reply.status_code == 405
    assert "POST" in _allow(reply)


def test_options_on_an_unknown_path_is_404(client):
    reply = client.options("/no/such/route")
    assert reply.status_code == 404
    assert error_code(reply) == "not_found"


def test_supported_methods_are_untouched(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.head("/healthz").status_code == 200
