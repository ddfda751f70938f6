"""Malformed requests: content type, size, JSON, wrong methods. 4xx with a code, never a 500."""

from __future__ import annotations

import json

import pytest

from tests.helpers import body_form, error_code

ROUTES = ["/event/create", "/event/update", "/event/close"]


@pytest.mark.parametrize("route", ROUTES)
def test_missing_json_content_type_is_415(client, channel, route):
    reply = client.post(route, content=json.dumps(body_form(channel)), headers={"Content-Type": "text/plain"})
    assert reply.status_code == 415
    assert error_code(reply) == "missing_json_content_type"


def test_json_content_type_with_charset_is_accepted(client, channel):
    reply = client.post("/event/create", content=json.dumps(body_form(channel)),
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert reply.status_code == 200


def test_path_form_requires_json_content_type(client, channel):
    reply = client.post(f"/v1/channel/{channel}/event/create", content=b'{"password":"x"}',
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 415


def test_body_over_32_kib_is_413(client, channel):
    reply = client.post("/event/create", json=body_form(channel, description="d" * 40_000))
    assert reply.status_code == 413
    assert error_code(reply) == "payload_too_large"


def test_chunked_body_over_32_kib_is_413(client, channel):
    payload = json.dumps(body_form(channel, description="d" * 40_000)).encode()

    def chunks():
        for start in range(0, len(payload), 4096):
            yield payload[start:start + 4096]

    reply = client.post("/event/create", content=chunks(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 413


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"[1,2]", b"null", b"42", b'"text"', b"\xff\xfe"])
def test_malformed_json_is_400(client, raw):
    reply = client.post("/event/create", content=raw, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert error_code(reply) == "invalid_json"


@pytest.mark.parametrize("field,value", [
    ("channel_id", 123), ("password", ["x"]), ("tags", {"a": 1}), ("attrs", "x"), ("metadata", [1]),
    ("event_time", {"t": 1}), ("op_id", 5), ("thing_id", 7.5),
])
def test_wrong_json_types_are_400(client, channel, field, value):
    reply = client.post("/event/create", json=body_form(channel, **{field: value}))
    assert reply.status_code == 400
    assert error_code(reply).startswith(field)


def test_huge_numbers_are_400(client, channel):
    reply = client.post("/event/create", content=json.dumps(body_form(channel)).replace(
        '"event_time": ', '"event_time": 1e400, "x": ').encode(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 400


def test_get_on_a_post_route_is_405(client):
    reply = client.get("/event/create")
    assert reply.status_code == 405
    assert error_code(reply) == "method_not_allowed"


def test_deeply_nested_json_is_400_not_500(client, channel):
    nested = "[" * 5000 + "]" * 5000
    raw = json.dumps(body_form(channel))[:-1] + f', "attrs": {{"a": {nested}}}}}'
    reply = client.post("/event/create", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert 400 <= reply.status_code < 500
