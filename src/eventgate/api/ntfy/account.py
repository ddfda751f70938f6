"""What ntfy clients ask a server besides topics (SPEC §13), answered truthfully:

    GET  /v1/health          {"healthy": true}
    GET  /v1/account         the credential's account: its user name (an API key's user_id, a
                             channel token's "token:<name>"), or ntfy's anonymous account ("*")
                             when none is sent; no quotas (eventgate keeps none: the numbers are 0)
    POST /v1/account/token   the token to use from now on: the secret that was presented (eventgate
                             makes no new credentials here; keys are made with `eventgate key create`)
    GET  /v1/config, /v1/version, /v1/stats, /v1/tiers   ntfy's 404: eventgate has none of these

Home Assistant's ntfy integration calls /v1/account (and, with a user name and password,
/v1/account/token) when a server is added; docs/phones.md lists every call of the stock clients.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.envelope import JSONResponse
from eventgate.api.ntfy.messages import ntfy_error
from eventgate.api.ntfy.publish import presented_tokens
from eventgate.api.ntfy.subscribe import subscribers_of
from eventgate.domain.errors import DomainError

NO_QUOTAS = {name: 0 for name in (
    "messages", "messages_remaining", "emails", "emails_remaining", "calls", "calls_remaining", "reservations",
    "reservations_remaining", "attachment_total_size", "attachment_total_size_remaining")}


async def health(request: Request) -> Response:
    """ntfy's health check: the process is up."""
    return JSONResponse({"healthy": True})


async def account(request: Request) -> Response:
    """The account of the credential sent (ntfy's anonymous account when none is)."""
    presented = presented_tokens(request)
    if not presented:
        return JSONResponse({"username": "*", "role": "anonymous", "stats": NO_QUOTAS})
    try:
        reader = await subscribers_of(request).authenticate(presented)
    except DomainError as error:
        return ntfy_error(error)
    return JSONResponse({"username": reader.user, "role": "user", "stats": NO_QUOTAS})


async def account_token(request: Request) -> Response:
    """The token to use from now on: the API key or channel token presented."""
    try:
        reader = await subscribers_of(request).authenticate(presented_tokens(request))
    except DomainError as error:
        return ntfy_error(error)
    expires = reader.key.expires_at // 1000 if reader.key is not None and reader.key.expires_at else 0
    return JSONResponse({"token": reader.secret, "label": "eventgate", "expires": expires})


async def not_offered(request: Request) -> Response:
    """ntfy's 404 for what eventgate does not have."""
    return ntfy_error(DomainError(404, "not_found", "page not found"))


routes = [
    Route("/v1/health", health, methods=["GET"], name="ntfy_health"),
    Route("/v1/account", account, methods=["GET"], name="ntfy_account"),
    Route("/v1/account/token", account_token, methods=["POST"], name="ntfy_account_token"),
    *(Route(path, not_offered, methods=["GET"], name=f"ntfy_{path.rsplit('/', 1)[1]}")
      for path in ("/v1/config", "/v1/version", "/v1/stats", "/v1/tiers")),
]
