"""The optional gateway token that guards the producer routes (seeds 000 and 001)."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from eventgate.domain.errors import DomainError


def check_gateway_token(request: Request, token: str | None) -> None:
    if not token:
        return  # without a configured token the header is ignored
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise DomainError(401, "authentication_failed", "a valid gateway token is required",
                          headers={"WWW-Authenticate": "Bearer"})
