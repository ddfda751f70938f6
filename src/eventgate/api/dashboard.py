"""The web dashboard: the page at `/`, its files under `/static/`, `GET /whoami` (who a key
belongs to and what it may do) and `GET /dashboard/events/{id}/timeline` (an event's
timeline with what each operation changed).

The page is plain ES modules and CSS from `eventgate/static/` (no build step). It is served
with a Content-Security-Policy that allows only its own scripts and styles: even a bug that
put event text into markup could not run a script.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import msgspec
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.key_auth import authenticate_key, require_channel_access, require_key
from eventgate.auth.keys import SCOPES, ApiKey
from eventgate.domain.errors import DomainError
from eventgate.domain.times import ms_to_seconds
from eventgate.domain.views import operation_view
from eventgate.store.schema import workspaces

STATIC_DIRECTORY = Path(__file__).resolve().parent.parent / "static"

# Images in events are producers' http(s) URLs, so img-src is open to those schemes;
# everything else is this origin only. connect-src names ws(s) explicitly for older browsers.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' http: https: data:; "
    "connect-src 'self' {ws_origin}; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # The page's address never travels to the image hosts it loads from.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


# The page's own files: one flat folder, names that cannot climb out of it, and explicit media
# types (a module script is refused by browsers unless it is served as JavaScript).
ASSET_NAME = re.compile(r"[a-z0-9_-]{1,64}\.(js|css|svg)")
MEDIA_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "svg": "image/svg+xml"}


async def dashboard_asset(request: Request) -> Response:
    """One of the dashboard's scripts, styles or icons; revalidated on every load (ETag) so an
    upgrade shows at once."""
    name = request.path_params["asset"]
    match = ASSET_NAME.fullmatch(name)
    path = STATIC_DIRECTORY / name
    if match is None or not path.is_file():
        return failure(DomainError(404, "not_found", "Not Found"))
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, stat_result=stat, media_type=MEDIA_TYPES[match.group(1)], headers=headers)


_page_cache: bytes | None = None


def _page() -> bytes:
    global _page_cache
    if _page_cache is None:
        _page_cache = (STATIC_DIRECTORY / "index.html").read_bytes()
    return _page_cache


def page_headers(request: Request) -> dict[str, str]:
    """The headers of an HTML page of eventgate (the dashboard, the API reference at /docs)."""
    host = request.headers.get("host", "")
    # Both schemes: behind a TLS proxy the page is https (so wss) while this process sees http.
    ws_origin = f"ws://{host} wss://{host}" if host and _plain_host(host) else ""
    headers = dict(PAGE_HEADERS)
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(ws_origin=ws_origin)
    return headers


async def dashboard_page(request: Request) -> Response:
    """The dashboard (a single page; its views live in the URL's fragment)."""
    return Response(_page(), media_type="text/html; charset=utf-8", headers=page_headers(request))


def _plain_host(host: str) -> bool:
    # The Host header goes into a response header: accept only what a host[:port] can hold.
    return all(ch.isalnum() or ch in ".-:[]" for ch in host) and len(host) <= 255


class KeyIdentity(msgspec.Struct):
    id: str
    user_id: str
    workspace_id: str
    workspace_name: str | None
    scopes: list[str]
    effective_scopes: list[str]
    channel_ids: list[str] | None
    expires_at: int | float | None


class WhoAmI(msgspec.Struct):
    data: KeyIdentity


def _workspace_name(request: Request, workspace_id: str) -> str | None:
    with request.app.state.runtime.database.reader.connect() as connection:
        return connection.execute(
            sa.select(workspaces.c.name).where(workspaces.c.id == workspace_id)
        ).scalar_one_or_none()


def identity_view(key: ApiKey, workspace_name: str | None) -> KeyIdentity:
    effective = [s for s in SCOPES if key.has_scope(s)]
    return KeyIdentity(
        id=key.id, user_id=key.user_id, workspace_id=key.workspace_id, workspace_name=workspace_name,
        scopes=list(key.scopes), effective_scopes=effective,
        channel_ids=list(key.channel_ids) if key.channel_ids is not None else None,
        expires_at=ms_to_seconds(key.expires_at),
    )


async def whoami(request: Request) -> Response:
    """The presented key's owner, workspace, scopes, channels and expiry (any valid key)."""
    try:
        key = await authenticate_key(request)
        name = await anyio.to_thread.run_sync(_workspace_name, request, key.workspace_id)
    except DomainError as error:
        return failure(error)
    return JSONResponse(WhoAmI(identity_view(key, name)))


# -- the event page's timeline ---------------------------------------------------------------------

# Fields whose changes the event page lists; `updated_at` and `seq` change every time and say nothing.
# Who acted (an acknowledgement's, a note's or a close's `by`, `acknowledged`, `note`) is not a field
# of the event: each entry carries it in `fields`, as the operation recorded it.
CHANGE_FIELDS = ("title", "message", "description", "status", "state", "severity", "event_type", "thing_id",
                 "tags", "images", "actions", "started_at", "ended_at", "acknowledged_at", "acknowledged_by")
MAPPED_FIELDS = ("attrs", "metadata")
TIME_FIELDS = ("started_at", "ended_at", "acknowledged_at")
_ABSENT = object()


def _wire(name: str, value: Any) -> Any:
    if value is _ABSENT:
        return None
    return ms_to_seconds(value) if name.split(".")[0] in TIME_FIELDS and isinstance(value, int) else value


def _change(name: str, before: Any, after: Any) -> dict[str, Any]:
    if before is _ABSENT or before is None or before == [] or before == "":
        kind = "added"
    elif after is _ABSENT or after is None or after == [] or after == "":
        kind = "removed"
    else:
        kind = "changed"
    return {"field": name, "change": kind, "before": _wire(name, before), "after": _wire(name, after)}


def _mapped_changes(name: str, before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """attrs and metadata key by key (and attrs' one-level objects by their keys)."""
    changes = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(_mapped_changes(f"{name}.{key}", old, new))
        else:
            changes.append(_change(f"{name}.{key}", old, new))
    return changes


def event_changes(before: dict[str, Any] | None, after: dict[str, Any], carried: dict[str, Any]) -> list[dict[str, Any]]:
    """What one operation changed, from the event before it and after it (both as stored).

    Comparing the stored states is exact whatever the operation did: a seed-000/001 attrs merge
    patch and a seed-002 `context` replacement both show every key added, changed or removed.
    Fields the operation carried without changing them are listed as "unchanged"."""
    first = before is None
    before = before or {}
    changes: list[dict[str, Any]] = []
    for name in CHANGE_FIELDS:
        old, new = before.get(name, _ABSENT), after.get(name, _ABSENT)
        if old != new and not (old in (_ABSENT, None) and new in (_ABSENT, None, [], "")):
            changes.append(_change(name, old, new))
        elif name in carried and not first and new is not _ABSENT:
            changes.append({"field": name, "change": "unchanged", "before": _wire(name, old), "after": _wire(name, new)})
    for name in MAPPED_FIELDS:
        changes.extend(_mapped_changes(name, before.get(name) or {}, after.get(name) or {}))
    return changes


def timeline_with_changes(operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = []
    previous: dict[str, Any] | None = None
    for operation in operations:
        entry = operation_view(operation)
        entry["changes"] = event_changes(previous, operation["event"], operation["fields"])
        entries.append(entry)
        previous = operation["event"]
    return entries


async def dashboard_timeline(request: Request) -> Response:
    """An event's operations, oldest first, each with what it changed (scope events:read).

    The public timeline (`GET /events/{id}/timeline`) shows the fields each operation carried;
    this one adds `changes`: [{field, change: added|changed|removed|unchanged, before, after}]."""
    try:
        key = await require_key(request, "events:read")
        reader = request.app.state.runtime.reader
        event = await reader.event(key.workspace_id, request.path_params["event_id"])
        require_channel_access(key, event["channel_id"])
        operations = await reader.timeline(event)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": timeline_with_changes(operations)})


routes = [
    Route("/", dashboard_page, methods=["GET"], name="dashboard"),
    Route("/whoami", whoami, methods=["GET"], name="whoami"),
    Route("/dashboard/events/{event_id}/timeline", dashboard_timeline, methods=["GET"], name="dashboard_timeline"),
    Route("/static/{asset}", dashboard_asset, methods=["GET"], name="dashboard_asset"),
]
