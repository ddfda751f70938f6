"""The admin HTTP API for destinations (SPEC §10; scope admin, unrestricted key).

    GET    /admin/destinations                                  list (never a secret)
    POST   /admin/destinations                                  create → a webhook's secret, shown once
    GET    /admin/destinations/{id}                             one destination
    PATCH  /admin/destinations/{id}                             change name, url, filter, enabled, escalation
    DELETE /admin/destinations/{id}                             delete (its queue and attempts too)
    POST   /admin/destinations/{id}/enable | /disable           resume or pause delivery (the cursor stays)
    POST   /admin/destinations/{id}/rotate-secret               a new webhook secret, shown once
    GET    /admin/destinations/{id}/deliveries?limit=&before=   attempts, newest first, and next_before
    POST   /admin/destinations/{id}/deliveries/{delivery_id}/resend   deliver that operation again (202)
    POST   /admin/destinations/{id}/test                        send a sample now → the attempt

The rules live in service/destinations.py; this module reads requests and shapes replies as
api/admin.py does: `{"data": …}` (204 for deletes), errors in the §2 envelope.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.admin import _admin_key, _body, _path_token
from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.key_auth import require_key
from eventgate.auth.keys import ApiKey
from eventgate.delivery.outbound_http import AddressPolicy
from eventgate.domain.errors import DomainError, bad_request, not_found
from eventgate.service.admin import require_unrestricted
from eventgate.service.destinations import MAX_ATTEMPTS_PAGE, DestinationService, attempt_view, public_view

UNSET = msgspec.UNSET
DEFAULT_LIMIT = 50
MAX_DELIVERY_ID = 2**63 - 1
FilterValue = str | list[str] | None


class FilterBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which operations a destination wants (§6's subscription filter); every field is optional."""

    event_types: FilterValue = UNSET
    channel_id: FilterValue = UNSET
    tags: FilterValue = UNSET
    thing_id: FilterValue = UNSET
    severity: str | None = UNSET


class DestinationCreateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | None = UNSET
    kind: str | None = UNSET
    url: str | None = UNSET
    filter: FilterBody | None = UNSET
    enabled: bool | None = UNSET
    repeat_every: int | None = UNSET
    escalate_after: int | None = UNSET
    escalate_to: str | None = UNSET


class DestinationUpdateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | None = UNSET
    url: str | None = UNSET
    filter: FilterBody | None = UNSET
    enabled: bool | None = UNSET
    repeat_every: int | None = UNSET
    escalate_after: int | None = UNSET
    escalate_to: str | None = UNSET


class FilterView(msgspec.Struct, omit_defaults=True):
    event_types: list[str] | None = None
    channel_id: list[str] | None = None
    tags: list[str] | None = None
    thing_id: list[str] | None = None
    severity: str | None = None


class DestinationView(msgspec.Struct):
    id: str
    workspace_id: str
    name: str
    kind: str
    url: str
    enabled: bool
    filter: FilterView
    has_secret: bool
    disabled_reason: str | None
    failing_since: float | None
    cursor_seq: int
    repeat_every: int | None
    escalate_after: int | None
    escalate_to: str | None
    created_at: float
    updated_at: float


class DestinationWithSecretView(DestinationView):
    secret: str | None = None


class DestinationList(msgspec.Struct):
    data: list[DestinationView]


class DestinationEnvelope(msgspec.Struct):
    data: DestinationView


class DestinationWithSecret(msgspec.Struct):
    data: DestinationWithSecretView


class AttemptView(msgspec.Struct):
    id: int | None
    seq: int | None
    event_id: str | None
    webhook_id: str
    attempt: int
    outcome: str
    http_status: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str | None
    created_at: float


class AttemptPage(msgspec.Struct):
    data: list[AttemptView]
    next_before: int | None


class AttemptEnvelope(msgspec.Struct):
    data: AttemptView


class ResendView(msgspec.Struct):
    destination_id: str
    seq: int
    event_id: str
    webhook_id: str
    queued: bool


class ResendEnvelope(msgspec.Struct):
    data: ResendView


def _service(request: Request) -> DestinationService:
    """One service per application, built from the server's settings (its AddressPolicy)."""
    state = request.app.state
    service = getattr(state, "destinations", None)
    if service is None:
        runtime = state.runtime
        settings = runtime.settings
        policy = AddressPolicy.from_settings(settings.allow_private_destinations, settings.destination_allow_list)
        service = state.destinations = DestinationService(
            runtime.database, policy, public_url=settings.public_url, timeout=settings.delivery_timeout)
    return service


async def _key(request: Request, *, query: bool = False) -> ApiKey:
    if query:
        key = await require_key(request, "admin")
    else:
        key = await _admin_key(request)
    require_unrestricted(key, "manage destinations")
    return key


def _destination_id(request: Request) -> str:
    return _path_token(request, "destination_id", "destination_not_found", "destination")


def _fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The body as the service takes it: the filter as a dict of the fields sent."""
    if "filter" in fields:
        fields["filter"] = {name: value for name in FilterBody.__struct_fields__
                            if (value := getattr(fields["filter"], name)) is not UNSET and value is not None}
    return fields


def _with_secret(destination: Any, secret: str | None) -> dict[str, Any]:
    view = public_view(destination)
    return {**view, "secret": secret} if secret is not None else view


async def list_destinations(request: Request) -> Response:
    try:
        key = await _key(request)
        found = await _service(request).list(key.workspace_id)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": [public_view(d) for d in found]})


async def create_destination(request: Request) -> Response:
    """Create a destination → 201; a webhook's signing secret is in this reply only."""
    try:
        key = await _key(request)
        fields = _fields(await _body(request, DestinationCreateBody))
        for name in ("name", "kind", "url"):
            if name not in fields:
                raise bad_request(f"{name}_required", f"{name} is required", name)
        created, secret = await _service(request).create(key.workspace_id, fields)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": _with_secret(created, secret)}, status_code=201)


async def get_destination(request: Request) -> Response:
    try:
        key = await _key(request)
        found = await _service(request).get(key.workspace_id, _destination_id(request))
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": public_view(found)})


async def update_destination(request: Request) -> Response:
    try:
        key = await _key(request)
        destination_id = _destination_id(request)
        fields = _fields(await _body(request, DestinationUpdateBody))
        updated = await _service(request).update(key.workspace_id, destination_id, fields)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": public_view(updated)})


async def delete_destination(request: Request) -> Response:
    try:
        key = await _key(request)
        await _service(request).delete(key.workspace_id, _destination_id(request))
    except DomainError as error:
        return failure(error)
    return Response(status_code=204)


async def _set_enabled(request: Request, enabled: bool) -> Response:
    try:
        key = await _key(request)
        updated = await _service(request).set_enabled(key.workspace_id, _destination_id(request), enabled)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": public_view(updated)})


async def enable_destination(request: Request) -> Response:
    """Resume delivery from where it stopped: operations committed meanwhile are delivered."""
    return await _set_enabled(request, True)


async def disable_destination(request: Request) -> Response:
    return await _set_enabled(request, False)


async def rotate_secret(request: Request) -> Response:
    """A new signing secret for a webhook, shown once; the next deliveries are signed with it."""
    try:
        key = await _key(request)
        updated, secret = await _service(request).rotate_secret(key.workspace_id, _destination_id(request))
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": _with_secret(updated, secret)})


def _query_int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(f"{name}_invalid", f"{name} must be an integer from {low} to {high}", name)
    return int(raw)


async def list_deliveries(request: Request) -> Response:
    """Delivery attempts, newest first; `next_before` is the `before` of the next page (null: no more)."""
    try:
        key = await _key(request, query=True)
        for name in request.query_params:
            if name not in ("limit", "before"):
                raise bad_request("unknown_parameter", f"unknown query parameter {name!r}", name)
        destination_id = _destination_id(request)
        limit = _query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_ATTEMPTS_PAGE)
        before = _query_int(request, "before", None, 1, MAX_DELIVERY_ID)
        found = await _service(request).deliveries(key.workspace_id, destination_id, limit=limit or DEFAULT_LIMIT,
                                                   before_id=before)
    except DomainError as error:
        return failure(error)
    next_before = found[-1].id if found and len(found) == limit else None
    return JSONResponse({"data": [attempt_view(a) for a in found], "next_before": next_before})


async def resend_delivery(request: Request) -> Response:
    """Deliver an earlier attempt's operation again, with the same webhook-id → 202 (queued, due now)."""
    try:
        key = await _key(request)
        destination_id = _destination_id(request)
        raw = request.path_params["delivery_id"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_DELIVERY_ID:
            raise not_found("delivery_not_found", f"delivery {raw[:64]!r} does not exist")
        attempt = await _service(request).resend(key.workspace_id, destination_id, int(raw))
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": {"destination_id": destination_id, "seq": attempt.seq,
                                  "event_id": attempt.event_id, "webhook_id": attempt.webhook_id,
                                  "queued": True}}, status_code=202)


async def send_test(request: Request) -> Response:
    """Send a sample message now (the server's address policy applies) → the recorded attempt."""
    try:
        key = await _key(request)
        attempt, _ = await _service(request).test(key.workspace_id, _destination_id(request))
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": attempt_view(attempt)})


one = "/admin/destinations/{destination_id}"
routes = [
    Route("/admin/destinations", list_destinations, methods=["GET"], name="admin_list_destinations"),
    Route("/admin/destinations", create_destination, methods=["POST"], name="admin_create_destination"),
    Route(one, get_destination, methods=["GET"], name="admin_get_destination"),
    Route(one, update_destination, methods=["PATCH"], name="admin_update_destination"),
    Route(one, delete_destination, methods=["DELETE"], name="admin_delete_destination"),
    Route(one + "/enable", enable_destination, methods=["POST"], name="admin_enable_destination"),
    Route(one + "/disable", disable_destination, methods=["POST"], name="admin_disable_destination"),
    Route(one + "/rotate-secret", rotate_secret, methods=["POST"], name="admin_rotate_destination_secret"),
    Route(one + "/deliveries", list_deliveries, methods=["GET"], name="admin_list_destination_deliveries"),
    Route(one + "/deliveries/{delivery_id}/resend", resend_delivery, methods=["POST"],
          name="admin_resend_destination_delivery"),
    Route(one + "/test", send_test, methods=["POST"], name="admin_test_destination"),
]
