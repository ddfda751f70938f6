"""Seed 001: POST /event/{create,update,close} — the channel in the body, strict fields,
the {success, data, error, error_code} envelope."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.envelope import failure, success
from eventgate.api.lifecycle_fields import BodyFormRequest
from eventgate.api.producer_request import run_producer_request
from eventgate.domain.commands import STRICT_BODY_FORM
from eventgate.domain.errors import DomainError
from eventgate.domain.lifecycle import OperationKind


def _endpoint(kind: OperationKind):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        try:
            outcome = await run_producer_request(request, kind, BodyFormRequest, STRICT_BODY_FORM)
        except DomainError as error:
            return failure(error)
        receipt = outcome.receipt
        return success({"channel_id": receipt.channel_id, "op_id": receipt.op_id, "event_id": receipt.event_id,
                        "thing_id": receipt.thing_id, "accepted": True})

    endpoint.__name__ = f"{kind}_event_body_form"
    endpoint.__doc__ = f"{kind.capitalize()} an event in the channel named in the body (PushGo's gateway routes)."
    return endpoint


routes = [
    Route(f"/event/{kind}", _endpoint(kind), methods=["POST"], name=f"event_{kind}")
    for kind in ("create", "update", "close")
]
