"""The admin HTTP API (scope `admin`): a workspace's API keys and channels.

    GET    /admin/keys                              list keys (never their secrets)
    POST   /admin/keys                              create a key → the key, shown once
    DELETE /admin/keys/{key_id}                     revoke
    GET    /admin/channels                          list channels
    POST   /admin/channels                          create (a password is generated if none is given)
    PATCH  /admin/channels/{channel_id}             rename
    DELETE /admin/channels/{channel_id}             delete (not the default channel)
    POST   /admin/channels/{channel_id}/rotate-password   set a given password or generate one
    GET    /admin/channels/{channel_id}/tokens      list the channel's tokens (never their secrets)
    POST   /admin/channels/{channel_id}/tokens      create a channel token {name} → the token, shown once
    DELETE /admin/channels/{channel_id}/tokens/{token_id}  revoke a channel token

Successes are `{"data": …}` (204 for deletes); errors use the §2 envelope. A key restricted
to channels may list, rename, rotate and delete those channels only; managing keys and
creating channels need an unrestricted admin key. Channel tokens are the credential of the
intake routes only (ntfy, Gotify); a restricted admin key may manage its channels' tokens.
"""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.bodies import decode_struct, is_json_content_type, read_body, read_json_body, sent_fields
from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.key_auth import require_channel_access, require_key
from eventgate.auth.keys import ApiKey
from eventgate.domain.errors import DomainError, bad_request, not_found
from eventgate.domain.times import now_ms, parse_unix_time
from eventgate.ids import TOKEN_PATTERN
from eventgate.service.admin import Administration, require_unrestricted
from eventgate.service.channel_tokens import ChannelTokenAdministration, parse_token_id

UNSET = msgspec.UNSET
MAX_EXPIRES_IN = 100 * 365 * 86_400


class KeyCreateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new API key: its owner, scopes (default: all but admin), channel restriction, expiry."""

    user_id: str | None = UNSET
    scopes: list[str] | None = UNSET
    channel_ids: list[str] | None = UNSET
    expires_in: int | None = UNSET  # seconds from now
    expires_at: int | float | None = UNSET  # Unix seconds


class KeyView(msgspec.Struct):
    id: str
    user_id: str
    scopes: list[str]
    channel_ids: list[str] | None
    expires_at: float | None
    created_at: float
    revoked_at: float | None
    active: bool


class CreatedKeyView(KeyView):
    key: str


class KeyList(msgspec.Struct):
    data: list[KeyView]


class CreatedKey(msgspec.Struct):
    data: CreatedKeyView


class ChannelCreateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new channel; without a password one is generated and returned once."""

    name: str | None = UNSET
    password: str | None = UNSET


class ChannelRenameBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | None = UNSET


class PasswordRotateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The new password (8-128 characters); omit it (or send no body) to have one generated."""

    password: str | None = UNSET


class ChannelView(msgspec.Struct):
    channel_id: str
    workspace_id: str
    name: str
    is_default: bool
    created_at: float


class CreatedChannelView(ChannelView):
    password: str | None = None


class ChannelList(msgspec.Struct):
    data: list[ChannelView]


class ChannelEnvelope(msgspec.Struct):
    data: ChannelView


class CreatedChannel(msgspec.Struct):
    data: CreatedChannelView


class RotatedPasswordView(msgspec.Struct):
    channel_id: str
    password: str | None = None


class RotatedPassword(msgspec.Struct):
    data: RotatedPasswordView


class TokenCreateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new channel token: a name saying who or what uses it (1-128 characters)."""

    name: str | None = UNSET


class TokenView(msgspec.Struct):
    id: int
    channel_id: str
    name: str
    created_at: float
    revoked_at: float | None
    active: bool


class CreatedTokenView(TokenView):
    token: str


class TokenList(msgspec.Struct):
    data: list[TokenView]


class CreatedToken(msgspec.Struct):
    data: CreatedTokenView


def refuse_query_parameters(request: Request) -> None:
    for name in request.query_params:
        raise bad_request("unknown_parameter", f"unknown query parameter {name!r}; this route takes none", name)


def _administration(request: Request) -> Administration:
    return Administration(request.app.state.runtime.database)


async def _admin_key(request: Request) -> ApiKey:
    key = await require_key(request, "admin")
    refuse_query_parameters(request)
    return key


async def _optional_body(request: Request, struct_type: type) -> dict[str, Any]:
    """A JSON body that may also be left out altogether (then: no fields)."""
    raw = await read_body(request)
    if not raw.strip() and not request.headers.get("content-type"):
        return {}
    if not is_json_content_type(request.headers.get("content-type", "")):
        raise DomainError(415, "missing_json_content_type", "Content-Type must be application/json")
    return sent_fields(decode_struct(raw, struct_type))


async def _body(request: Request, struct_type: type) -> dict[str, Any]:
    return sent_fields(decode_struct(await read_json_body(request), struct_type))


async def list_keys(request: Request) -> Response:
    """The workspace's API keys (scope admin, unrestricted key)."""
    try:
        key = await _admin_key(request)
        require_unrestricted(key, "manage API keys")
        keys = await anyio.to_thread.run_sync(_administration(request).list_keys, key.workspace_id)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": keys})


def _expires_at_ms(fields: dict[str, Any]) -> int | None:
    if "expires_in" in fields and "expires_at" in fields:
        raise bad_request("expires_invalid", "send expires_in or expires_at, not both", "expires_in")
    if "expires_in" in fields:
        seconds = fields["expires_in"]
        if not 1 <= seconds <= MAX_EXPIRES_IN:
            raise bad_request("expires_in_invalid", "expires_in must be a positive number of seconds", "expires_in")
        return now_ms() + seconds * 1000
    if "expires_at" in fields:
        return parse_unix_time(fields["expires_at"], "expires_at")
    return None


async def create_key(request: Request) -> Response:
    """Create an API key (scope admin, unrestricted key) → 201; the key is in the reply, once."""
    try:
        key = await _admin_key(request)
        require_unrestricted(key, "manage API keys")
        fields = await _body(request, KeyCreateBody)
        if "user_id" not in fields:
            raise bad_request("user_id_required", "user_id is required", "user_id")
        plain, view = await anyio.to_thread.run_sync(
            _administration(request).create_key, key.workspace_id, fields["user_id"], fields.get("scopes"),
            fields.get("channel_ids"), _expires_at_ms(fields))
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": {**view, "key": plain}}, status_code=201)


async def revoke_key(request: Request) -> Response:
    """Revoke an API key (scope admin, unrestricted key) → 204; it stops working at once."""
    try:
        key = await _admin_key(request)
        require_unrestricted(key, "manage API keys")
        key_id = _path_token(request, "key_id", "key_not_found", "key")
        await anyio.to_thread.run_sync(_administration(request).revoke_key, key.workspace_id, key_id)
    except DomainError as error:
        return failure(error)
    # Refused here from now on, and its live streams end; other processes follow within a second.
    request.app.state.runtime.keys.revoked(key_id)
    return Response(status_code=204)


async def list_channels(request: Request) -> Response:
    """The workspace's channels this key may use (scope admin)."""
    try:
        key = await _admin_key(request)
        channels = await anyio.to_thread.run_sync(_administration(request).list_channels, key.workspace_id, key)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": channels})


async def create_channel(request: Request) -> Response:
    """Create a channel (scope admin, unrestricted key) → 201; a generated password is shown once."""
    try:
        key = await _admin_key(request)
        require_unrestricted(key, "create channels")
        fields = await _body(request, ChannelCreateBody)
        if "name" not in fields:
            raise bad_request("name_required", "name is required", "name")
        view, generated = await anyio.to_thread.run_sync(
            _administration(request).create_channel, key.workspace_id, fields["name"], fields.get("password"))
    except DomainError as error:
        return failure(error)
    if generated is not None:
        view = {**view, "password": generated}
    return JSONResponse({"data": view}, status_code=201)


def _path_token(request: Request, name: str, code: str, what: str) -> str:
    """An id from the path; one that cannot exist (wrong characters, too long) is simply not found."""
    value = request.path_params[name]
    if len(value) > 64 or not TOKEN_PATTERN.match(value):
        raise not_found(code, f"{what} {value[:64]!r} does not exist")
    return value


async def _channel_key(request: Request) -> tuple[ApiKey, str]:
    key = await _admin_key(request)
    channel_id = _path_token(request, "channel_id", "channel_not_found", "channel")
    require_channel_access(key, channel_id)
    return key, channel_id


async def rename_channel(request: Request) -> Response:
    """Rename a channel (scope admin) → the channel."""
    try:
        key, channel_id = await _channel_key(request)
        fields = await _body(request, ChannelRenameBody)
        if "name" not in fields:
            raise bad_request("name_required", "name is required", "name")
        view = await anyio.to_thread.run_sync(_administration(request).rename_channel, key.workspace_id,
                                              channel_id, fields["name"])
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": view})


async def delete_channel(request: Request) -> Response:
    """Delete a channel (scope admin) → 204. Its events stay, its tokens go, its live streams end;
    the default channel cannot be deleted."""
    try:
        key, channel_id = await _channel_key(request)
        await anyio.to_thread.run_sync(_administration(request).delete_channel, key.workspace_id, channel_id)
    except DomainError as error:
        return failure(error)
    request.app.state.runtime.directory.invalidate(channel_id)
    request.app.state.runtime.channel_tokens.forget_channel(channel_id)
    request.app.state.runtime.deleted_channels.deleted(channel_id)
    return Response(status_code=204)


async def rotate_password(request: Request) -> Response:
    """Set a channel's password (scope admin): the given one, or a generated one returned once.
    Cached verifications of the old password stop working at once."""
    try:
        key, channel_id = await _channel_key(request)
        fields = await _optional_body(request, PasswordRotateBody)
        generated = await anyio.to_thread.run_sync(_administration(request).rotate_password, key.workspace_id,
                                                   channel_id, fields.get("password"))
    except DomainError as error:
        return failure(error)
    request.app.state.runtime.directory.invalidate(channel_id)
    data: dict[str, Any] = {"channel_id": channel_id}
    if generated is not None:
        data["password"] = generated
    return JSONResponse({"data": data})


def _tokens(request: Request) -> ChannelTokenAdministration:
    return ChannelTokenAdministration(request.app.state.runtime.database)


async def list_channel_tokens(request: Request) -> Response:
    """A channel's tokens, revoked ones included (scope admin); never the tokens themselves."""
    try:
        key, channel_id = await _channel_key(request)
        tokens = await anyio.to_thread.run_sync(_tokens(request).list, key.workspace_id, channel_id)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": tokens})


async def create_channel_token(request: Request) -> Response:
    """Create a channel token (scope admin) → 201; the token is in the reply, once."""
    try:
        key, channel_id = await _channel_key(request)
        fields = await _body(request, TokenCreateBody)
        if "name" not in fields:
            raise bad_request("name_required", "name is required", "name")
        plain, view = await anyio.to_thread.run_sync(_tokens(request).create, key.workspace_id, channel_id,
                                                     fields["name"])
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": {**view, "token": plain}}, status_code=201)


async def revoke_channel_token(request: Request) -> Response:
    """Revoke a channel token (scope admin) → 204; this process refuses it at once, others within a second."""
    try:
        key, channel_id = await _channel_key(request)
        token_id = parse_token_id(request.path_params["token_id"])
        await anyio.to_thread.run_sync(_tokens(request).revoke, key.workspace_id, token_id, channel_id)
    except DomainError as error:
        return failure(error)
    request.app.state.runtime.channel_tokens.forget(token_id)
    return Response(status_code=204)


routes = [
    Route("/admin/keys", list_keys, methods=["GET"], name="admin_list_keys"),
    Route("/admin/keys", create_key, methods=["POST"], name="admin_create_key"),
    Route("/admin/keys/{key_id}", revoke_key, methods=["DELETE"], name="admin_revoke_key"),
    Route("/admin/channels", list_channels, methods=["GET"], name="admin_list_channels"),
    Route("/admin/channels", create_channel, methods=["POST"], name="admin_create_channel"),
    Route("/admin/channels/{channel_id}", rename_channel, methods=["PATCH"], name="admin_rename_channel"),
    Route("/admin/channels/{channel_id}", delete_channel, methods=["DELETE"], name="admin_delete_channel"),
    Route("/admin/channels/{channel_id}/rotate-password", rotate_password, methods=["POST"],
          name="admin_rotate_channel_password"),
    Route("/admin/channels/{channel_id}/tokens", list_channel_tokens, methods=["GET"],
          name="admin_list_channel_tokens"),
    Route("/admin/channels/{channel_id}/tokens", create_channel_token, methods=["POST"],
          name="admin_create_channel_token"),
    Route("/admin/channels/{channel_id}/tokens/{token_id}", revoke_channel_token, methods=["DELETE"],
          name="admin_revoke_channel_token"),
]
