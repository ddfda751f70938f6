"""`eventgate watch`: a terminal tail of live events over the WebSocket route.

It keeps the seq it has seen (events, and heartbeats, which vouch for everything before
them) and reconnects by itself with `since`, so a network blip, a slow-consumer cut-off or a
server restart shows everything missed and nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from eventgate.api.live_closing import KEY_ENDED_CODE, SLOW_CONSUMER_CODE
from eventgate.client.live_stream import websocket_base

import click

from eventgate.cli import main

# Refusals that retrying cannot fix: bad key, bad filter, wrong URL.
FINAL_STATUSES = (400, 401, 403, 404, 426)


def websocket_url(base_url: str, params: dict[str, Any]) -> str:
    base = websocket_base(base_url)
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{base}/api/v1/ws/subscribe" + (f"?{query}" if query else "")


def describe(frame: dict[str, Any]) -> str:
    """One readable line per event frame."""
    event = frame.get("event") or {}
    op = frame.get("op") or {}
    when = op.get("received_at") or event.get("updated_at")
    stamp = datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M:%S") if isinstance(when, (int, float)) else "-"
    parts = [f"#{frame.get('seq')}", stamp, f"{frame.get('event_type', ''):<13}",
             f"{event.get('severity', ''):<8}", str(event.get("title", ""))]
    message = event.get("message")
    if message and message != event.get("title"):
        parts.append(f"— {message}")
    if event.get("event_type"):
        parts.append(f"[{event['event_type']}]")
    if event.get("status"):
        parts.append(f"status={event['status']}")
    if event.get("thing_id"):
        parts.append(f"thing={event['thing_id']}")
    parts.append(f"id={event.get('id')}")
    return "  ".join(parts)


class Watcher:
    def __init__(self, url: str, key: str, filters: dict[str, Any], since: int | None, as_json: bool,
                 max_events: int | None) -> None:
        self.url = url
        self.key = key
        self.filters = filters
        self.position = since  # everything up to here has been shown (or did not match)
        self.as_json = as_json
        self.max_events = max_events
        self.shown = 0

    def _status(self, text: str) -> None:
        click.echo(f"eventgate watch: {text}", err=True)

    def _show(self, frame: dict[str, Any], raw: str) -> None:
        click.echo(raw if self.as_json else describe(frame))
        sys.stdout.flush()

    async def run(self) -> int:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

        delay = 0.5
        while True:
            params = dict(self.filters, since=self.position)
            url = websocket_url(self.url, params)
            connected_at = time.monotonic()
            try:
                async with connect(url, additional_headers={"Authorization": f"Bearer {self.key}"},
                                   open_timeout=15, max_size=None, ping_interval=20, ping_timeout=20) as ws:
                    async for message in ws:
                        if self._handle(message if isinstance(message, str) else message.decode()):
                            return 0
            except InvalidStatus as refused:
                status = refused.response.status_code
                detail = _refusal_message(refused.response.body)
                if status in FINAL_STATUSES:
                    self._status(f"refused ({status}): {detail}")
                    return 2
                self._status(f"refused ({status}): {detail}; retrying")
            except ConnectionClosed as closed:
                received = closed.rcvd
                if received is not None and received.code == KEY_ENDED_CODE:  # revoked or expired: retrying cannot help
                    self._status(f"the server ended the stream: {received.reason or 'api key revoked'}")
                    return 2
                if received is not None and received.code == SLOW_CONSUMER_CODE:
                    self._status(f"fell behind ({received.reason}); resuming after seq {self.position}")
                else:
                    self._status(f"connection closed; resuming after seq {self.position}")
            except (OSError, TimeoutError, WebSocketException) as error:
                self._status(f"cannot connect ({error}); retrying")
            if time.monotonic() - connected_at > 10:
                delay = 0.5  # it was up for a while: this is a new outage
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _handle(self, raw: str) -> bool:
        """Show one frame; True once --max-events have been shown."""
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "welcome":
            if self.position is None:
                self.position = int(frame.get("seq") or 0)
            if not self.as_json:
                self._status(f"connected as {frame.get('user_id')} (client {frame.get('client_id')}, "
                             f"latest seq {frame.get('seq')})")
        elif kind == "event":
            seq = int(frame["seq"])
            if self.position is not None and seq <= self.position:
                return False  # already shown before a reconnection
            self._show(frame, raw)
            self.position = seq
            self.shown += 1
            if self.max_events is not None and self.shown >= self.max_events:
                return True
        elif kind == "heartbeat" and isinstance(frame.get("seq"), int):
            self.position = max(self.position or 0, frame["seq"])
        return False


def _refusal_message(body: bytes | None) -> str:
    try:
        return str(json.loads(body or b"{}").get("message") or "")
    except ValueError:
        return (body or b"").decode(errors="replace")[:200]


@main.command()
@click.option("--url", envvar="EVENTGATE_URL", default="http://127.0.0.1:8080", show_default=True,
              help="The eventgate server (EVENTGATE_URL).")
@click.option("--key", envvar="EVENTGATE_KEY", required=True,
              help="An API key with the subscribe scope (EVENTGATE_KEY).")
@click.option("--event-types", default=None, help="Comma list of SYSTEM or CUSTOM event-type codes.")
@click.option("--channel", "channels", multiple=True, help="Only this channel (repeatable).")
@click.option("--tags", default=None, help="Comma list: events carrying any of these tags.")
@click.option("--severity", type=click.Choice(["low", "normal", "high", "critical"]), default=None,
              help="Minimum severity.")
@click.option("--thing-id", default=None, help="Only events of this thing.")
@click.option("--since", type=click.IntRange(min=0), default=None,
              help="Start with every stored event after this seq.")
@click.option("--json", "as_json", is_flag=True, help="Print each event frame as one JSON object a line.")
@click.option("--max-events", type=click.IntRange(min=1), default=None, help="Exit after this many events.")
def watch(url: str, key: str, event_types: str | None, channels: tuple[str, ...], tags: str | None,
          severity: str | None, thing_id: str | None, since: int | None, as_json: bool,
          max_events: int | None) -> None:
    """Tail live events; reconnects and resumes by itself, showing nothing twice."""
    filters = {"event_types": event_types, "channel_id": ",".join(channels) or None, "tags": tags,
               "severity": severity, "thing_id": thing_id}
    watcher = Watcher(url, key, filters, since, as_json, max_events)
    try:
        code = asyncio.run(watcher.run())
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)
