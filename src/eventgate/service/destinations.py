"""Managing destinations (SPEC §10) for the admin API, the CLI and the dashboard.

Every method checks the destination belongs to the caller's workspace (else 404) and validates
its input with domain/destinations.py's rules. A webhook's secret is returned once, when it is
made (create, rotate); listings never carry it.
"""

from __future__ import annotations

from typing import Any

import anyio
import sqlalchemy as sa

from eventgate.delivery.outbound_http import AddressPolicy, OutboundClient
from eventgate.delivery.sample import send_sample
from eventgate.delivery.senders import AppriseSender, SendResult, WebhookSender
from eventgate.domain import destinations as rules
from eventgate.domain.errors import DomainError, bad_request, conflict, not_found
from eventgate.store import destinations as store
from eventgate.store.database import Database
from eventgate.store.destinations import Attempt, Destination

UPDATABLE = ("name", "url", "filter", "enabled", "repeat_every", "escalate_after", "escalate_to")
SCHEDULE = ("repeat_every", "escalate_after", "escalate_to")
MAX_ATTEMPTS_PAGE = 200


def destination_not_found(destination_id: str) -> DomainError:
    return not_found("destination_not_found", f"destination {destination_id} does not exist")


def public_view(destination: Destination) -> dict[str, Any]:
    """A destination as the API shows it: never its secret."""
    return {
        "id": destination.id, "workspace_id": destination.workspace_id, "name": destination.name,
        "kind": destination.kind, "url": destination.url, "enabled": destination.enabled,
        "filter": destination.filter.as_dict(), "has_secret": destination.secret is not None,
        "disabled_reason": destination.disabled_reason,
        "failing_since": destination.failing_since / 1000 if destination.failing_since else None,
        "cursor_seq": destination.cursor_seq,
        "repeat_every": destination.repeat_every_s, "escalate_after": destination.escalate_after_s,
        "escalate_to": destination.escalate_to,
        "created_at": destination.created_at / 1000, "updated_at": destination.updated_at / 1000,
    }


def attempt_view(attempt: Attempt) -> dict[str, Any]:
    return {"id": attempt.id, "seq": attempt.seq, "event_id": attempt.event_id, "webhook_id": attempt.webhook_id,
            "attempt": attempt.attempt, "outcome": attempt.outcome, "http_status": attempt.http_status,
            "latency_ms": attempt.latency_ms, "error": attempt.error, "response_excerpt": attempt.response_excerpt,
            "created_at": attempt.created_at / 1000}


class DestinationService:
    def __init__(self, database: Database, policy: AddressPolicy, *, public_url: str | None = None,
                 timeout: float = 10.0, verify: Any = True) -> None:
        self.database = database
        self.policy = policy
        self.public_url = public_url
        self.timeout = timeout
        self.verify = verify

    async def _write(self, work: Any) -> Any:
        def run() -> Any:
            with self.database.writer.begin() as connection:
                return work(connection)
        return await anyio.to_thread.run_sync(run)

    async def _read(self, work: Any) -> Any:
        def run() -> Any:
            with self.database.reader.connect() as connection:
                return work(connection)
        return await anyio.to_thread.run_sync(run)

    def _owned(self, connection: sa.Connection, workspace_id: str, destination_id: str) -> Destination:
        found = store.get_destination(connection, destination_id)
        if found is None or found.workspace_id != workspace_id:
            raise destination_not_found(destination_id)
        return found

    def _schedule(self, connection: sa.Connection, workspace_id: str, destination_id: str | None,
                  body: dict[str, Any], current: Destination | None = None) -> dict[str, Any]:
        """The escalation fields of a body (on top of the current ones for an update), checked:
        escalate_to is another destination of the workspace, and goes with escalate_after. A
        schedule of 0 removes it (null, as everywhere in the API, means "not sent"); escalate_after
        0 also forgets escalate_to."""
        repeat_every = rules.schedule_of("repeat_every", body["repeat_every"]) if "repeat_every" in body \
            else (current.repeat_every_s if current else None)
        escalate_after = rules.schedule_of("escalate_after", body["escalate_after"]) if "escalate_after" in body \
            else (current.escalate_after_s if current else None)
        escalate_to = rules.escalate_to_of(body["escalate_to"]) if "escalate_to" in body \
            else (current.escalate_to if current and escalate_after is not None else None)
        rules.check_escalation(escalate_after, escalate_to)
        if escalate_to is not None and "escalate_to" in body:
            target = store.get_destination(connection, escalate_to)
            if target is None or target.workspace_id != workspace_id or escalate_to == destination_id:
                raise bad_request("escalate_to_invalid",
                                  f"escalate_to: {escalate_to} is not another destination of this workspace",
                                  "escalate_to")
        return {"repeat_every_s": repeat_every, "escalate_after_s": escalate_after, "escalate_to": escalate_to}

    async def create(self, workspace_id: str, body: dict[str, Any]) -> tuple[Destination, str | None]:
        """A new destination, owed the operations committed from now on; (it, its webhook secret)."""
        kind = rules.kind_of(body.get("kind"))
        name = rules.name_of(body.get("name"))
        url = rules.url_of(kind, body.get("url"))
        filter_ = rules.parse_filter(body.get("filter"))
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise bad_request("enabled_invalid", "enabled must be true or false", "enabled")
        secret = rules.new_webhook_secret() if kind == "webhook" else None

        def work(connection: sa.Connection) -> Destination:
            schedule = self._schedule(connection, workspace_id, None, body)
            return store.create_destination(connection, workspace_id, name=name, kind=kind, url=url, filter=filter_,
                                            secret=secret, enabled=enabled, **schedule)
        created = await self._write(work)
        return created, secret

    async def list(self, workspace_id: str) -> list[Destination]:
        return await self._read(lambda c: store.list_destinations(c, workspace_id))

    async def get(self, workspace_id: str, destination_id: str) -> Destination:
        return await self._read(lambda c: self._owned(c, workspace_id, destination_id))

    async def update(self, workspace_id: str, destination_id: str, body: dict[str, Any]) -> Destination:
        unknown = sorted(set(body) - set(UPDATABLE))
        if unknown:
            raise bad_request("field_not_updatable", f"{unknown[0]} cannot be changed (only {', '.join(UPDATABLE)})",
                              unknown[0])

        def work(connection: sa.Connection) -> Destination:
            current = self._owned(connection, workspace_id, destination_id)
            changes: dict[str, Any] = {}
            if "name" in body:
                changes["name"] = rules.name_of(body["name"])
            if "url" in body:
                changes["url"] = rules.url_of(current.kind, body["url"])
            if "filter" in body:
                changes["filter"] = rules.parse_filter(body["filter"])
            if "enabled" in body:
                if not isinstance(body["enabled"], bool):
                    raise bad_request("enabled_invalid", "enabled must be true or false", "enabled")
                changes["enabled"] = body["enabled"]
            if any(name in body for name in SCHEDULE):
                changes.update(self._schedule(connection, workspace_id, destination_id, body, current))
            updated = store.update_destination(connection, destination_id, **changes)
            assert updated is not None
            return updated
        return await self._write(work)

    async def set_enabled(self, workspace_id: str, destination_id: str, enabled: bool) -> Destination:
        return await self.update(workspace_id, destination_id, {"enabled": enabled})

    async def rotate_secret(self, workspace_id: str, destination_id: str) -> tuple[Destination, str]:
        secret = rules.new_webhook_secret()

        def work(connection: sa.Connection) -> Destination:
            current = self._owned(connection, workspace_id, destination_id)
            if current.kind != "webhook":
                raise conflict("not_a_webhook", "only webhook destinations have a secret")
            updated = store.update_destination(connection, destination_id, secret=secret)
            assert updated is not None
            return updated
        return await self._write(work), secret

    async def delete(self, workspace_id: str, destination_id: str) -> None:
        def work(connection: sa.Connection) -> None:
            self._owned(connection, workspace_id, destination_id)
            store.delete_destination(connection, destination_id)
        await self._write(work)

    async def deliveries(self, workspace_id: str, destination_id: str, *, limit: int = 50,
                         before_id: int | None = None) -> list[Attempt]:
        if not 1 <= limit <= MAX_ATTEMPTS_PAGE:
            raise bad_request("limit_invalid", f"limit must be 1-{MAX_ATTEMPTS_PAGE}", "limit")

        def work(connection: sa.Connection) -> list[Attempt]:
            self._owned(connection, workspace_id, destination_id)
            return store.list_attempts(connection, destination_id, limit=limit, before_id=before_id)
        return await self._read(work)

    async def resend(self, workspace_id: str, destination_id: str, attempt_id: int) -> Attempt:
        """Deliver the operation of an earlier attempt again (queued, due now)."""
        def work(connection: sa.Connection) -> Attempt:
            self._owned(connection, workspace_id, destination_id)
            attempt = store.get_attempt(connection, attempt_id)
            if attempt is None or attempt.destination_id != destination_id:
                raise not_found("delivery_not_found", f"delivery {attempt_id} does not exist")
            if attempt.seq is None or attempt.event_id is None:
                raise conflict("test_delivery", "a test message, reminder or escalation cannot be sent again")
            store.queue_again(connection, destination_id, attempt.seq, attempt.event_id)
            return attempt
        return await self._write(work)

    async def test(self, workspace_id: str, destination_id: str) -> tuple[Attempt, SendResult]:
        """Send a sample message now and record the attempt."""
        destination = await self.get(workspace_id, destination_id)
        client = OutboundClient(self.policy, timeout=self.timeout, verify=self.verify)
        try:
            attempt, result = await send_sample(destination, WebhookSender(client), AppriseSender(self.policy),
                                                self.public_url)
        finally:
            await client.aclose()
        await self._write(lambda c: store.record_attempts(c, [attempt]))
        return attempt, result
