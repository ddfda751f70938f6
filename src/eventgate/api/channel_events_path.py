"""Seed 000: POST /v1/channel/{channel_id}/event/{create,update,close} — the channel in the path,
`event_type` required on create, success is exactly {"event_id": …}; errors use the §2 envelope."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.lifecycle_fields import PathFormRequest
from eventgate.api.producer_request import run_producer_request
from eventgate.domain.commands import PATH_FORM
from eventgate.domain.errors import DomainError
from eventgate.domain.lifecycle import OperationKind


def _endpoint(kind: OperationKind):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        try:
            outcome = await run_producer_request(
                request, kind, PathFormRequest, PATH_FORM, path_channel_id=request.path_params["channel_id"]
            )
        except DomainError as error:
            return failure(error)
        return JSONResponse({"event_id": outcome.receipt.event_id})

    endpoint.__name__ = f"{kind}_event_path_form"
    endpoint.__doc__ = f"{kind.capitalize()} an event in the channel named in the path (PushGo's channel routes)."
    return endpoint


routes = [
    Route(f"/v1/channel/{{channel_id}}/event/{kind}", _endpoint(kind), methods=["POST"],
          name=f"channel_event_{kind}")
    for kind in ("create", "update", "close")
]
