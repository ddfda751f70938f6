"""The bare stack bench/ingest.py compares durable creates with: Starlette + msgspec on uvicorn,
answering seed 001's `POST /event/create` with the same-shaped reply, storing nothing.

The request body is read and checked as eventgate reads it (JSON content type, 32 KiB limit)
and decoded strictly into a msgspec Struct with the same fields as eventgate's BodyFormRequest
(api/lifecycle_fields.py); the reply is the §2 envelope with a generated op_id and event_id,
encoded by msgspec. No password check, no validation rules, no database, no broker.

uvicorn runs it with the options `eventgate serve` uses (cli/__init__.py): uvloop, the
httptools protocol (eventgate's one-write subclass of it when importable), no access log, no
proxy headers; the process's heap is frozen out of GC and the young-generation threshold raised
as in eventgate's app factory. bench/ingest.py starts it with as many processes as the server
under test runs:

    .venv/bin/python bench/bare_app.py --port 8099 --workers 2
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MAX_BODY_BYTES = 32 * 1024
UNSET = msgspec.UNSET
Time = int | float | str


class CreateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The fields of a seed 001 request (eventgate's BodyFormRequest, restated here)."""

    channel_id: str | None = UNSET
    password: str | None = UNSET
    op_id: str | None = UNSET
    thing_id: str | None = UNSET
    event_id: str | None = UNSET
    title: str | None = UNSET
    description: str | None = UNSET
    status: str | None = UNSET
    message: str | None = UNSET
    severity: str | None = UNSET
    event_time: Time | None = UNSET
    started_at: Time | None = UNSET
    ended_at: Time | None = UNSET
    tags: list[Any] | None = UNSET
    images: list[Any] | None = UNSET
    attrs: dict[str, Any] | None = UNSET
    metadata: dict[str, Any] | None = UNSET


_decoder = msgspec.json.Decoder(CreateBody)
_encoder = msgspec.json.Encoder()
_random = random.Random(os.urandom(32))


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def _failure(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "data": None, "error": message, "error_code": code}, status_code=status)


async def create_event(request: Request) -> Response:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        return _failure(415, "missing_json_content_type", "Content-Type must be application/json")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return _failure(413, "payload_too_large", "the request body is too large")
    try:
        fields = _decoder.decode(body)
    except msgspec.MsgspecError as error:
        return _failure(400, "invalid_json", str(error))
    return JSONResponse({"success": True, "data": {
        "channel_id": fields.channel_id, "op_id": f"op-{_random.getrandbits(128):032x}",
        "event_id": f"{_random.getrandbits(128):032x}", "thing_id": None, "accepted": True,
    }, "error": None, "error_code": None})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def build_app() -> Starlette:
    return Starlette(routes=[
        Route("/event/create", create_event, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


def app_factory() -> Starlette:
    app = build_app()
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(20_000, middle, old)
    return app


def http_protocol() -> str:
    try:
        import eventgate.api.http_transport  # noqa: F401
    except ImportError:
        return "httptools"
    return "eventgate.api.http_transport:OneWriteHttpProtocol"


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="the bare Starlette + msgspec stack (see the docstring)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bare_app:app_factory", factory=True, app_dir=str(Path(__file__).resolve().parent),
        host=args.host, port=args.port, workers=args.workers,
        loop="uvloop", http=http_protocol(), log_level="warning", access_log=False, proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    sys.exit(main())
