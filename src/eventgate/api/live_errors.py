"""The seed-004 error shape, shared by the live routes (WebSocket, SSE, unsubscribe):
`{"code": <http status>, "message": "…", "stack": [{"code", "description", "error", "path"}]}`."""

from __future__ import annotations

import msgspec

from eventgate.api.envelope import JSONResponse
from eventgate.domain.errors import DomainError
from eventgate.service.subscriptions import InvalidInput


class LiveErrorItem(msgspec.Struct):
    code: int
    description: str
    error: str
    path: str


class LiveError(msgspec.Struct):
    """Every error of /api/v1/ws/* and /api/v1/sse/*."""

    code: int
    message: str
    stack: list[LiveErrorItem]


def _default_path(error: DomainError) -> str:
    if error.status in (401, 403) and error.field is None:
        return "header.authorization"
    return ""


def live_error_body(error: DomainError, field_prefix: str = "") -> LiveError:
    if isinstance(error, InvalidInput):
        items = [LiveErrorItem(error.status, p.message, p.code, p.path) for p in error.problems]
    else:
        if error.field is None:
            path = _default_path(error)
        elif "." in error.field:
            path = error.field
        else:
            path = field_prefix + error.field
        items = [LiveErrorItem(error.status, error.message, error.code, path)]
    return LiveError(error.status, error.message, items)


def live_error(error: DomainError, field_prefix: str = "") -> JSONResponse:
    """The error as a response; bare field names get `field_prefix` (e.g. "body.")."""
    return JSONResponse(live_error_body(error, field_prefix), status_code=error.status, headers=error.headers)
