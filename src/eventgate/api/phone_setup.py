"""A channel's phone setup for the dashboard (scope `admin`):

    GET /admin/channels/{channel_id}/phone   server URL, topic, ntfy:// link and its QR code (SVG)

Nothing in the reply is a secret, so it can be a GET: the phone's credential is a channel token,
created with POST /admin/channels/{channel_id}/tokens and shown once by that reply only.
"""

from __future__ import annotations

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.key_auth import require_channel_access, require_key
from eventgate.domain.errors import DomainError, bad_request, not_found
from eventgate.ids import TOKEN_PATTERN
from eventgate.service.phone_setup import PhoneSetup


class PhoneSetupView(msgspec.Struct):
    channel_id: str
    name: str
    server: str
    topic: str
    link: str | None
    svg: str | None
    server_is_local: bool


class PhoneSetupEnvelope(msgspec.Struct):
    data: PhoneSetupView


async def phone_setup(request: Request) -> Response:
    """What to enter in the ntfy app to follow this channel (scope admin)."""
    try:
        key = await require_key(request, "admin")
        for name in request.query_params:
            raise bad_request("unknown_parameter", f"unknown query parameter {name!r}; this route takes none", name)
        channel_id = request.path_params["channel_id"]
        if len(channel_id) > 64 or not TOKEN_PATTERN.match(channel_id):
            raise not_found("channel_not_found", f"channel {channel_id[:64]!r} does not exist")
        require_channel_access(key, channel_id)
        runtime = request.app.state.runtime
        setup = PhoneSetup(runtime.database, runtime.settings.public_url)
        view = await anyio.to_thread.run_sync(setup.describe, key.workspace_id, channel_id, str(request.base_url))
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": view})


routes = [
    Route("/admin/channels/{channel_id}/phone", phone_setup, methods=["GET"], name="admin_channel_phone_setup"),
]
