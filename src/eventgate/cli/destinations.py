"""`eventgate destination create|list|test|disable|enable|delete|rotate-secret` (SPEC §10).

The same operations as the admin HTTP API (service/destinations.py). A webhook's signing secret
is printed once, by create and rotate-secret. `test` sends a sample from this process, under the
address policy its flags (or EVENTGATE_* variables) give, as `serve` would apply it."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import anyio
import click

from eventgate.cli import database_url_option, emit, find_workspace_or_fail, json_option, main, open_existing
from eventgate.cli import parse_duration
from eventgate.cli import workspace_option


@main.group()
def destination() -> None:
    """Destinations: where committed operations are delivered (webhooks, Apprise)."""


def _service(database_url: str, policy: Any = None, *, public_url: str | None = None, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    from eventgate.delivery.outbound_http import AddressPolicy
    from eventgate.service.destinations import DestinationService

    return DestinationService(open_existing(database_url), policy or AddressPolicy(), public_url=public_url,
                              timeout=timeout)


def _workspace_id(service: Any, name: str) -> str:
    with service.database.reader.connect() as connection:
        return find_workspace_or_fail(connection, name).id


def _run(action: Callable[[], Awaitable[Any]]) -> Any:
    """Run a service call; a refused one (DomainError) is a one-line error, exit status 1."""
    from eventgate.domain.errors import DomainError

    try:
        return anyio.run(action)
    except DomainError as error:
        raise click.ClickException(error.message) from None


def _line(view: dict[str, Any]) -> str:
    state = "enabled " if view["enabled"] else "disabled"
    reason = f"  ({view['disabled_reason']})" if view.get("disabled_reason") else ""
    return f"{view['id']}  {state}  {view['kind']:<7}  {view['name']}  {view['url']}{reason}"


def _seconds(value: str | None, flag: str) -> int | None:
    """A duration flag (15m, 2h, 1d) in seconds."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except click.BadParameter as error:
        raise click.BadParameter(error.message, param_hint=flag) from None


def _show_secret(as_json: bool, view: dict[str, Any], secret: str | None) -> None:
    if secret is None:
        emit(as_json, view, view["id"])
        return
    emit(as_json, {**view, "secret": secret}, f"{view['id']}\n{secret}")
    if not as_json:
        click.echo("(the second line is the webhook signing secret; store it now, it is not shown again)", err=True)


@destination.command("create")
@click.option("--name", required=True, help="A name for people (1-128 characters).")
@click.option("--kind", required=True, type=click.Choice(["webhook", "apprise"]))
@click.option("--url", required=True, help="A webhook's http(s) URL, or an Apprise URL (scheme://…).")
@click.option("--severity", type=click.Choice(["critical", "high", "normal", "low"]), default=None,
              help="Only operations of events of at least this severity.")
@click.option("--event-type", "event_types", multiple=True, help="Only these event-type codes (repeat).")
@click.option("--channel", "channels", multiple=True, help="Only these channel ids (repeat).")
@click.option("--tag", "tags", multiple=True, help="Only events with one of these tags (repeat).")
@click.option("--thing", "things", multiple=True, help="Only events of these thing ids (repeat).")
@click.option("--disabled", is_flag=True, help="Create it disabled (it still keeps its place from now on).")
@click.option("--repeat-every", default=None,
              help="Remind this often while an event it was sent is ongoing and unacknowledged (e.g. 15m).")
@click.option("--escalate-after", default=None,
              help="Escalate an event still ongoing and unacknowledged after this long (e.g. 30m); "
                   "needs --escalate-to.")
@click.option("--escalate-to", default=None, help="The id of the destination to escalate to.")
@workspace_option
@database_url_option
@json_option
def destination_create(name: str, kind: str, url: str, severity: str | None, event_types: tuple[str, ...],
                       channels: tuple[str, ...], tags: tuple[str, ...], things: tuple[str, ...], disabled: bool,
                       repeat_every: str | None, escalate_after: str | None, escalate_to: str | None,
                       workspace: str, database_url: str, as_json: bool) -> None:
    """Create a destination; it is owed the operations committed from now on."""
    from eventgate.service.destinations import public_view

    filter_: dict[str, Any] = {}
    for field, values in (("event_types", event_types), ("channel_id", channels), ("tags", tags),
                          ("thing_id", things)):
        if values:
            filter_[field] = list(values)
    if severity:
        filter_["severity"] = severity
    body: dict[str, Any] = {"name": name, "kind": kind, "url": url, "filter": filter_, "enabled": not disabled}
    for field, value in (("repeat_every", _seconds(repeat_every, "--repeat-every")),
                         ("escalate_after", _seconds(escalate_after, "--escalate-after")),
                         ("escalate_to", escalate_to)):
        if value is not None:
            body[field] = value
    service = _service(database_url)
    workspace_id = _workspace_id(service, workspace)
    created, secret = _run(lambda: service.create(workspace_id, body))
    _show_secret(as_json, public_view(created), secret)


@destination.command("list")
@workspace_option
@database_url_option
@json_option
def destination_list(workspace: str, database_url: str, as_json: bool) -> None:
    """List the workspace's destinations (never their secrets)."""
    from eventgate.service.destinations import public_view

    service = _service(database_url)
    workspace_id = _workspace_id(service, workspace)
    found = [public_view(d) for d in _run(lambda: service.list(workspace_id))]
    emit(as_json, {"destinations": found}, "\n".join(_line(d) for d in found) if found else "(no destinations)")


@destination.command("test")
@click.argument("destination_id")
@click.option("--allow-private-destinations", is_flag=True, envvar="EVENTGATE_ALLOW_PRIVATE_DESTINATIONS",
              help="Allow loopback, private and link-local addresses (as serve's flag).")
@click.option("--destination-allow-list", envvar="EVENTGATE_DESTINATION_ALLOW_LIST", default=None,
              help="Comma-separated IPs, CIDR networks and host names that may be reached (as serve's flag).")
@click.option("--public-url", envvar="EVENTGATE_PUBLIC_URL", default=None,
              help="The dashboard's address, for links in Apprise notifications.")
@click.option("--timeout", type=click.FloatRange(0.1, 300), default=10.0, show_default=True,
              help="Seconds to wait for the receiver.")
@workspace_option
@database_url_option
@json_option
def destination_test(destination_id: str, allow_private_destinations: bool, destination_allow_list: str | None,
                     public_url: str | None, timeout: float, workspace: str, database_url: str,
                     as_json: bool) -> None:
    """Send a sample message to a destination now; exit status 0 only if it was delivered."""
    from eventgate.delivery.outbound_http import AddressPolicy
    from eventgate.service.destinations import attempt_view

    try:
        policy = AddressPolicy.from_settings(allow_private_destinations, destination_allow_list)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--destination-allow-list") from None
    service = _service(database_url, policy, public_url=public_url, timeout=timeout)
    workspace_id = _workspace_id(service, workspace)
    attempt, _ = _run(lambda: service.test(workspace_id, destination_id))
    view = attempt_view(attempt)
    lines = [f"outcome      {view['outcome']}",
             f"http status  {view['http_status'] if view['http_status'] is not None else '-'}",
             f"latency      {view['latency_ms']} ms",
             f"error        {view['error'] or '-'}",
             f"response     {view['response_excerpt'] or '-'}"]
    emit(as_json, view, "\n".join(lines))
    if view["outcome"] != "delivered":
        raise SystemExit(1)


def _set_enabled(destination_id: str, enabled: bool, workspace: str, database_url: str, as_json: bool) -> None:
    from eventgate.service.destinations import public_view

    service = _service(database_url)
    workspace_id = _workspace_id(service, workspace)
    updated = public_view(_run(lambda: service.set_enabled(workspace_id, destination_id, enabled)))
    emit(as_json, updated, f"{'enabled' if enabled else 'disabled'} {destination_id}")


@destination.command("disable")
@click.argument("destination_id")
@workspace_option
@database_url_option
@json_option
def destination_disable(destination_id: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Pause delivery; the destination keeps its place in the operation log."""
    _set_enabled(destination_id, False, workspace, database_url, as_json)


@destination.command("enable")
@click.argument("destination_id")
@workspace_option
@database_url_option
@json_option
def destination_enable(destination_id: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Resume delivery where it stopped (operations committed meanwhile are delivered)."""
    _set_enabled(destination_id, True, workspace, database_url, as_json)


@destination.command("delete")
@click.argument("destination_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@workspace_option
@database_url_option
@json_option
def destination_delete(destination_id: str, yes: bool, workspace: str, database_url: str, as_json: bool) -> None:
    """Delete a destination with its queue and recorded attempts."""
    if not yes:
        click.confirm(f"Delete destination {destination_id}? Nothing more will be delivered to it", abort=True)
    service = _service(database_url)
    workspace_id = _workspace_id(service, workspace)
    _run(lambda: service.delete(workspace_id, destination_id))
    emit(as_json, {"id": destination_id, "deleted": True}, f"deleted {destination_id}")


@destination.command("rotate-secret")
@click.argument("destination_id")
@workspace_option
@database_url_option
@json_option
def destination_rotate_secret(destination_id: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Give a webhook a new signing secret and print it (once); the next deliveries use it."""
    from eventgate.service.destinations import public_view

    service = _service(database_url)
    workspace_id = _workspace_id(service, workspace)
    updated, secret = _run(lambda: service.rotate_secret(workspace_id, destination_id))
    _show_secret(as_json, public_view(updated), secret)
