"""Authenticating API-key routes: `Authorization: Bearer`, `X-Api-Key`, and (for browsers'
WebSockets) a `token` query parameter; then checking the route's scope."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from eventgate.auth.keys import ApiKey
from eventgate.domain.errors import DomainError


def presented_key(connection: HTTPConnection, *, allow_query_token: bool = False) -> str | None:
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    value = connection.headers.get("x-api-key")
    if value:
        return value.strip()
    if allow_query_token:
        return connection.query_params.get("token") or None
    return None


async def authenticate_key(connection: HTTPConnection, *, allow_query_token: bool = False) -> ApiKey:
    """The caller's key, if one is presented and it exists and is active; else 401."""
    plain = presented_key(connection, allow_query_token=allow_query_token)
    if plain is None:
        raise DomainError(401, "authentication_required", "an API key is required (Authorization: Bearer <key>)",
                          headers={"WWW-Authenticate": "Bearer"})
    key = await connection.app.state.runtime.keys.find(plain)
    if key is None:
        raise DomainError(401, "invalid_api_key", "the API key is unknown, revoked or expired",
                          headers={"WWW-Authenticate": "Bearer"})
    return key


async def require_key(connection: HTTPConnection, scope: str, *, allow_query_token: bool = False) -> ApiKey:
    """The caller's key, if it exists, is active and has `scope`; else 401 or 403."""
    key = await authenticate_key(connection, allow_query_token=allow_query_token)
    if not key.has_scope(scope):
        raise DomainError(403, "insufficient_scope", f"this API key lacks the {scope!r} scope")
    return key


def require_channel_access(key: ApiKey, channel_id: str) -> None:
    if not key.may_use_channel(channel_id):
        raise DomainError(403, "channel_forbidden", f"this API key may not use channel {channel_id}")
