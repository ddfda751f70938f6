"""Channel passwords, the attempt limit, and the gateway token (SPEC §2)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import PASSWORD
from tests.helpers import body_form, error_code


def test_wrong_password_is_403(client, channel):
    reply = client.post("/event/create", json=body_form(channel, password="wrong-password"))
    assert reply.status_code == 403
    assert error_code(reply) == "password_mismatch"


@pytest.mark.parametrize("password", ["short", "p" * 129, "       x      "])
def test_password_outside_8_to_128_chars_is_400(client, channel, password):
    reply = client.post("/event/create", json=body_form(channel, password=password))
    assert reply.status_code == 400
    assert error_code(reply) == "password_invalid"


def test_password_is_trimmed(client, channel):
    assert client.post("/event/create", json=body_form(channel, password=f"  {PASSWORD}  ")).status_code == 200


def test_missing_password_is_400(client, channel):
    reply = client.post("/event/create", json=body_form(channel, password=...))
    assert error_code(reply) == "password_required"


def test_missing_channel_id_is_400(client, channel):
    body = body_form(channel)
    del body["channel_id"]
    reply = client.post("/event/create", json=body)
    assert error_code(reply) == "channel_id_required"


def test_repeated_wrong_passwords_are_429_with_retry_after(server_factory):
    limited = server_factory(password_attempts=3, password_attempt_window=60)
    client = limited.client()
    channel = limited.create_channel()
    for _ in range(3):
        assert client.post("/event/create", json=body_form(channel, password="wrong-password")).status_code == 403
    reply = client.post("/event/create", json=body_form(channel, password="wrong-password"))
    assert reply.status_code == 429
    assert error_code(reply) == "too_many_attempts"
    assert 1 <= int(reply.headers["Retry-After"]) <= 60
    # Even the right password waits out the lock: otherwise the limit would not stop guessing.
    assert client.post("/event/create", json=body_form(channel)).status_code == 429


def test_attempt_limit_is_per_channel(server_factory):
    limited = server_factory(password_attempts=2, password_attempt_window=60)
    client = limited.client()
    locked, other = limited.create_channel(), limited.create_channel()
    for _ in range(3):
        client.post("/event/create", json=body_form(locked, password="wrong-password"))
    assert client.post("/event/create", json=body_form(other)).status_code == 200


def test_attempt_window_expires(server_factory):
    limited = server_factory(password_attempts=1, password_attempt_window=1)
    client = limited.client()
    channel = limited.create_channel()
    client.post("/event/create", json=body_form(channel, password="wrong-password"))
    assert client.post("/event/create", json=body_form(channel)).status_code == 429
    time.sleep(1.1)
    assert client.post("/event/create", json=body_form(channel)).status_code == 200


def test_changed_password_stops_cached_verification_at_once(server, client, channel):
    from eventgate.auth.passwords import hash_password
    from eventgate.store.channels import set_password

    assert client.post("/event/create", json=body_form(channel)).status_code == 200  # now cached
    with server.database.writer.begin() as connection:  # as another process would: the cache is not told
        set_password(connection, channel, hash_password("a-brand-new-password"))
    reply = client.post("/event/create", json=body_form(channel))
    assert reply.status_code == 403
    assert error_code(reply) == "password_mismatch"
    assert client.post("/event/create", json=body_form(channel, password="a-brand-new-password")).status_code == 200


def test_verification_cache_never_holds_the_plain_password(server, client, channel):
    client.post("/event/create", json=body_form(channel))
    cache = server.runtime.authenticator.cache
    assert cache._entries, "a successful verification should be cached"
    for key in cache._entries:
        assert PASSWORD.encode() not in key


# -- gateway token -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(server_factory):
    return server_factory(gateway_token="gw-secret-token")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "gw-secret-token"}])
def test_gateway_token_required_when_configured(guarded, headers):
    client = guarded.client()
    channel = guarded.create_channel()
    reply = client.post("/event/create", json=body_form(channel), headers=headers)
    assert reply.status_code == 401
    assert error_code(reply) == "authentication_failed"
    path_reply = client.post(f"/v1/channel/{channel}/event/create",
                             json={"password": PASSWORD, "event_type": "x"}, headers=headers)
    assert path_reply.status_code == 401


def test_gateway_token_accepted(guarded):
    client = guarded.client()
    channel = guarded.create_channel()
    reply = client.post("/event/create", json=body_form(channel), headers={"Authorization": "Bearer gw-secret-token"})
    assert reply.status_code == 200


def test_authorization_header_ignored_without_gateway_token(client, channel):
    reply = client.post("/event/create", json=body_form(channel), headers={"Authorization": "Bearer anything"})
    assert reply.status_code == 200
