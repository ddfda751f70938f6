"""The response envelope of SPEC §2: {success, data, error, error_code}. Also used for errors
by the REST resource and the registry, whose seeds leave the error shape open."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from eventgate.domain.errors import DomainError

_encoder = msgspec.json.Encoder()


class JSONResponse(Response):
    """JSON encoded by msgspec (several times faster than the standard library)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def success(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data, "error": None, "error_code": None}, status_code=status)


def failure(error: DomainError) -> JSONResponse:
    return JSONResponse(
        {"success": False, "data": None, "error": error.message, "error_code": error.code},
        status_code=error.status, headers=error.headers,
    )


def internal_error() -> JSONResponse:
    return failure(DomainError(500, "internal_error", "an unexpected error occurred; it has been logged"))
