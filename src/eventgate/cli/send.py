"""`eventgate send create|update|close`: write an event from a shell script.

Exit codes a script can test: 0 the server acknowledged it, 2 the server refused it (or the
command line is wrong), 3 the server could not be reached after the retries. The event id is
printed on stdout; `--json` prints the acknowledgement as one JSON object."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from eventgate.cli import main

REFUSED = 2
UNREACHABLE = 3


def _attr(pairs: tuple[str, ...]) -> dict[str, Any] | None:
    """`k=v` pairs → attrs. A JSON number, true, false or null is taken as such (null removes
    the key); anything else is text."""
    if not pairs:
        return None
    attrs: dict[str, Any] = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name.strip():
            raise click.BadParameter(f"{pair!r}: use key=value", param_hint="--attr")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        attrs[name.strip()] = value if value is None or isinstance(value, (bool, int, float)) else text
    return attrs


def _options(function):  # type: ignore[no-untyped-def]
    for option in reversed([
        click.option("--url", envvar="EVENTGATE_URL", default="http://127.0.0.1:8080", show_default=True,
                     help="The eventgate server (EVENTGATE_URL)."),
        click.option("--channel", envvar="EVENTGATE_CHANNEL", required=True, help="Channel id (EVENTGATE_CHANNEL)."),
        click.option("--password", envvar="EVENTGATE_PASSWORD", required=True,
                     help="The channel's password (EVENTGATE_PASSWORD; prefer the variable to the flag)."),
        click.option("--gateway-token", envvar="EVENTGATE_GATEWAY_TOKEN", default=None,
                     help="The server's gateway token, when it runs with one (EVENTGATE_GATEWAY_TOKEN)."),
        click.option("--title", default=None),
        click.option("--message", default=None),
        click.option("--description", default=None),
        click.option("--status", default=None, help="Free text, at most 24 characters."),
        click.option("--severity", type=click.Choice(["critical", "high", "normal", "low"], case_sensitive=False),
                     default=None),
        click.option("--event-type", default=None, help="A CUSTOM event-type code (registered on first use)."),
        click.option("--thing-id", default=None),
        click.option("--tag", "tags", multiple=True, help="Repeatable; replaces the event's tags."),
        click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE",
                     help="Repeatable; merged into the event's attrs (KEY=null removes KEY)."),
        click.option("--op-id", default=None, help="Idempotency key (generated when absent)."),
        click.option("--event-time", type=click.IntRange(min=0), default=None,
                     help="When it happened: Unix seconds (or milliseconds).  [default: now]"),
        click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
                     help="Seconds per attempt."),
        click.option("--retries", default=5, show_default=True, type=click.IntRange(min=0),
                     help="Attempts after the first when the server is unreachable or answers 502/503/504."),
        click.option("--json", "as_json", is_flag=True, help="Print the acknowledgement as one JSON object."),
    ]):
        function = option(function)
    return function


def _send(kind: str, event_id: str | None, *, url: str, channel: str, password: str, gateway_token: str | None,
          tags: tuple[str, ...], attrs: tuple[str, ...], timeout: float, retries: int, as_json: bool,
          **fields: Any) -> None:
    from eventgate.client import Client, EventgateError, ServerUnavailable

    fields = {name: value for name, value in fields.items() if value is not None}
    if tags:
        fields["tags"] = list(tags)
    if attrs:
        fields["attrs"] = _attr(attrs)
    if "severity" in fields:
        fields["severity"] = fields["severity"].lower()
    try:
        with Client(url, channel=channel, password=password, token=gateway_token, timeout=timeout,
                    retries=retries) as client:
            receipt = client.send(kind, event_id, **fields)
    except ServerUnavailable as error:
        click.echo(f"eventgate send: {error}", err=True)
        sys.exit(UNREACHABLE)
    except EventgateError as error:
        click.echo(f"eventgate send: {error}", err=True)
        sys.exit(REFUSED)
    if as_json:
        click.echo(json.dumps({"event_id": receipt.event_id, "op_id": receipt.op_id, "channel_id": receipt.channel_id,
                               "kind": kind, "answer": receipt.answer}))
    else:
        click.echo(receipt.event_id)


@main.group()
def send() -> None:
    """Create, update or close an event in a channel (retried safely with one op_id)."""


@send.command("create")
@_options
def send_create(**options: Any) -> None:
    """Open an event; prints its id. Needs --title, or --event-type."""
    _send("create", None, **options)


@send.command("update")
@click.argument("event_id")
@_options
def send_update(event_id: str, **options: Any) -> None:
    """Change an ongoing event; fields left out keep their value."""
    _send("update", event_id, **options)


@send.command("close")
@click.argument("event_id")
@_options
def send_close(event_id: str, **options: Any) -> None:
    """Close an event (status `closed` unless --status says otherwise)."""
    _send("close", event_id, **options)
