"""One-tap links from notifications (SPEC §11): `GET /act/{token}` shows what the link will do
and a button; only `POST /act/{token}` acts. Link previews, chat unfurlers and mail scanners
fetch links with GET, so a fetch never acknowledges or closes anything.

No sign-in: the token is the authority (domain/action_links.py), for one event and one action,
until it expires. The operation is recorded as done "via link". Pages are plain HTML under the
dashboard's CSP, with no script.
"""

from __future__ import annotations

from html import escape
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.dashboard import page_headers
from eventgate.domain.action_links import LinkGrant, read_token
from eventgate.domain.errors import DomainError
from eventgate.domain.times import now_ms
from eventgate.service.workspace_events import WorkspaceEvents
from eventgate.store.server_secrets import action_link_secret

VERB = {"acknowledge": "Acknowledge", "close": "Close"}
DONE = {"acknowledge": "acknowledged", "close": "closed"}


async def link_secret(request: Request) -> bytes:
    runtime = request.app.state.runtime
    secret = getattr(runtime, "link_secret", None)
    if secret is None:
        def load() -> bytes:
            with runtime.database.reader.connect() as connection:
                return action_link_secret(connection)
        secret = runtime.link_secret = await anyio.to_thread.run_sync(load)
    return secret


def _page(request: Request, title: str, body: str, status: int = 200) -> Response:
    html = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)} · eventgate</title><link rel="stylesheet" href="/static/docs.css">'
            '<link rel="icon" href="/static/favicon.svg"></head><body><main class="action-link">'
            f'<h1>{escape(title)}</h1>{body}</main></body></html>')
    headers = page_headers(request)
    headers["Cache-Control"] = "no-store"
    headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return Response(html, status_code=status, media_type="text/html; charset=utf-8", headers=headers)


def _summary(event: dict[str, Any]) -> str:
    lines = [f'<p><strong>{escape(event["title"])}</strong></p>', f'<p>{escape(event["message"])}</p>',
             f'<p>Severity {escape(event["severity"])}, {escape(event["state"])}'
             f' ({escape(event["status"])})</p>']
    if event.get("acknowledged_by"):
        lines.append(f'<p>Acknowledged by {escape(event["acknowledged_by"])}.</p>')
    return "".join(lines)


async def _grant_and_event(request: Request) -> tuple[LinkGrant, dict[str, Any]]:
    grant = read_token(await link_secret(request), request.path_params["token"], now_ms() / 1000)
    event = await request.app.state.runtime.reader.event(grant.workspace_id, grant.event_id)
    return grant, event


def _refusal(request: Request, error: DomainError) -> Response:
    title = "This link has expired" if error.status == 410 else "This link does not work"
    if error.code == "event_not_found":
        title = "This event no longer exists"
    return _page(request, title, f"<p>{escape(error.message)}</p>", status=error.status)


async def confirm(request: Request) -> Response:
    """What the link does, and the button that does it."""
    try:
        grant, event = await _grant_and_event(request)
    except DomainError as error:
        return _refusal(request, error)
    verb = VERB[grant.action]
    if event["state"] != "ongoing":
        return _page(request, "This event is already closed", _summary(event))
    form = (f'<form method="post" action="/act/{escape(request.path_params["token"])}">'
            f'<button type="submit">{verb}</button></form>')
    return _page(request, f"{verb} this event?", _summary(event) + form)


async def act(request: Request) -> Response:
    """Do what the link says, as "via link"."""
    try:
        grant, _ = await _grant_and_event(request)
        runtime = request.app.state.runtime
        event = await WorkspaceEvents(runtime.database, runtime.writer, runtime.reader).act_by_link(
            grant.workspace_id, grant.event_id, grant.action)
    except DomainError as error:
        if error.code == "event_closed":
            return _page(request, "This event is already closed", f"<p>{escape(error.message)}</p>", 409)
        return _refusal(request, error)
    return _page(request, f"Event {DONE[grant.action]}", _summary(event))


routes = [
    Route("/act/{token}", confirm, methods=["GET"], name="action_link_page"),
    Route("/act/{token}", act, methods=["POST"], name="action_link_act"),
]
