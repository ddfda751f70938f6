"""The path a producer request takes through seeds 000 and 001 before each renders its reply:
gateway token, JSON body, strict fields, password, then the lifecycle service."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from eventgate.api.bodies import decode_struct, read_json_body, sent_fields
from eventgate.api.gateway_token import check_gateway_token
from eventgate.api.lifecycle_fields import LifecycleFields
from eventgate.domain import fields as rules
from eventgate.domain.commands import Profile, build_lifecycle_command
from eventgate.domain.errors import bad_request
from eventgate.domain.lifecycle import OperationKind
from eventgate.domain.operations import WriteOutcome

MAX_ADDRESS_LENGTH = 64  # password_failures.address


def client_address(request: Request) -> str:
    """Who the wrong-password limiter counts: the client's IPv4 address, or the /64 network of
    its IPv6 one (a single subscriber's, every address of which is theirs to pick).

    The client is the peer of the connection, or, behind a proxy named by --forwarded-allow-ips,
    the one its X-Forwarded-For gives (uvicorn's proxy headers set request.client)."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_ADDRESS_LENGTH]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


async def run_producer_request(
    request: Request, kind: OperationKind, struct_type: type[LifecycleFields], profile: Profile,
    path_channel_id: str | None = None,
) -> WriteOutcome:
    runtime = request.app.state.runtime
    check_gateway_token(request, runtime.settings.gateway_token)
    body = decode_struct(await read_json_body(request), struct_type)
    fields = sent_fields(body)
    channel_id = path_channel_id if path_channel_id is not None else fields.pop("channel_id", None)
    if not channel_id:
        raise bad_request("channel_id_required", "channel_id is required", "channel_id")
    if not isinstance(channel_id, str):
        raise bad_request("channel_id_invalid", "channel_id must be a string", "channel_id")
    if "password" not in fields:
        raise bad_request("password_required", "password is required", "password")
    password = rules.password(fields.pop("password"))
    command = build_lifecycle_command(kind, fields, channel_id=channel_id, profile=profile)
    return await runtime.lifecycle.apply(command, password=password, address=client_address(request))
