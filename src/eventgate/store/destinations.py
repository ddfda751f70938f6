"""Destinations as stored: the record, its cursor and lease, the queue of owed deliveries, the
record of every attempt (SPEC §10; the dispatcher is delivery/dispatcher.py) and the escalation
timers (SPEC §11)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from eventgate import ids
from eventgate.domain.destinations import DestinationFilter, parse_filter
from eventgate.domain.times import now_ms
from eventgate.store import codec
from eventgate.store.schema import delivery_attempts, delivery_queue, destinations, escalation_timers, events, sequences


@dataclass(slots=True)
class Destination:
    id: str
    workspace_id: str
    name: str
    kind: str
    url: str
    enabled: bool
    filter: DestinationFilter
    secret: str | None
    cursor_seq: int
    failing_since: int | None
    disabled_reason: str | None
    created_at: int
    updated_at: int
    lease_owner: str | None = None
    lease_until: int | None = None
    repeat_every_s: int | None = None
    escalate_after_s: int | None = None
    escalate_to: str | None = None

    @property
    def escalates(self) -> bool:
        """Whether events it is sent are reminded or escalated (it arms timers)."""
        return self.repeat_every_s is not None or self.escalate_after_s is not None


@dataclass(slots=True)
class Timer:
    """An escalation timer: remind (`repeat`) or escalate (`escalate`) this event when due."""

    destination_id: str
    event_id: str
    workspace_id: str
    kind: str  # repeat | escalate
    due_at: int
    fired: int = 0


@dataclass(slots=True)
class QueuedDelivery:
    seq: int
    event_id: str
    attempts: int
    next_attempt_at: int  # 0: as soon as it is its event's oldest owed operation


ATTEMPT_COLUMNS = ("destination_id", "seq", "event_id", "webhook_id", "attempt", "outcome", "http_status",
                   "latency_ms", "error", "response_excerpt", "created_at")


@dataclass(slots=True)
class Attempt:
    """One delivery attempt, as recorded."""

    destination_id: str
    seq: int | None
    event_id: str | None
    webhook_id: str
    attempt: int
    outcome: str  # delivered | failed | refused
    http_status: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str | None
    created_at: int
    id: int | None = None

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ATTEMPT_COLUMNS}


@dataclass(slots=True)
class Progress:
    """What one dispatch round changes, written in one transaction."""

    cursor_seq: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    queued: list[QueuedDelivery] = field(default_factory=list)  # inserted or replaced
    dequeued: list[int] = field(default_factory=list)  # seqs delivered (or dropped)
    failing_since: int | None | bool = False  # False: unchanged
    disabled_reason: str | None = None  # set: the destination is disabled with this reason
    timers: list[Timer] = field(default_factory=list)  # armed (an existing one is kept as it is)


def _from_row(row: sa.Row) -> Destination:
    return Destination(
        id=row.id, workspace_id=row.workspace_id, name=row.name, kind=row.kind, url=row.url,
        enabled=bool(row.enabled), filter=parse_filter(codec.load(row.filter)), secret=row.secret,
        cursor_seq=row.cursor_seq, failing_since=row.failing_since, disabled_reason=row.disabled_reason,
        created_at=row.created_at, updated_at=row.updated_at, lease_owner=row.lease_owner,
        lease_until=row.lease_until, repeat_every_s=row.repeat_every_s, escalate_after_s=row.escalate_after_s,
        escalate_to=row.escalate_to,
    )


def create_destination(connection: sa.Connection, workspace_id: str, *, name: str, kind: str, url: str,
                       filter: DestinationFilter, secret: str | None, enabled: bool = True,
                       repeat_every_s: int | None = None, escalate_after_s: int | None = None,
                       escalate_to: str | None = None) -> Destination:
    """A new destination; it is owed the operations committed from now on."""
    now = now_ms()
    last_seq = connection.execute(
        sa.select(sequences.c.last_seq).where(sequences.c.workspace_id == workspace_id)).scalar() or 0
    destination_id = ids.new_channel_id()
    connection.execute(sa.insert(destinations).values(
        id=destination_id, workspace_id=workspace_id, name=name, kind=kind, url=url, enabled=enabled,
        filter=codec.dump(filter.as_dict()), secret=secret, cursor_seq=last_seq, created_at=now, updated_at=now,
        repeat_every_s=repeat_every_s, escalate_after_s=escalate_after_s, escalate_to=escalate_to,
    ))
    found = get_destination(connection, destination_id)
    assert found is not None
    return found


def get_destination(connection: sa.Connection, destination_id: str) -> Destination | None:
    row = connection.execute(sa.select(destinations).where(destinations.c.id == destination_id)).first()
    return _from_row(row) if row is not None else None


def list_destinations(connection: sa.Connection, workspace_id: str | None = None) -> list[Destination]:
    query = sa.select(destinations).order_by(destinations.c.created_at, destinations.c.id)
    if workspace_id is not None:
        query = query.where(destinations.c.workspace_id == workspace_id)
    return [_from_row(row) for row in connection.execute(query)]


def update_destination(connection: sa.Connection, destination_id: str, **changes: Any) -> Destination | None:
    """Change name, url, filter, enabled, secret or the escalation schedule. Enabling clears the reason it was disabled
    and its failure clock."""
    values: dict[str, Any] = {"updated_at": now_ms()}
    for name, value in changes.items():
        values[name] = codec.dump(value.as_dict()) if name == "filter" else value
    if changes.get("enabled") is True:
        values.update(disabled_reason=None, failing_since=None)
    connection.execute(sa.update(destinations).where(destinations.c.id == destination_id).values(**values))
    return get_destination(connection, destination_id)


def delete_destination(connection: sa.Connection, destination_id: str) -> bool:
    connection.execute(sa.delete(escalation_timers).where(escalation_timers.c.destination_id == destination_id))
    connection.execute(sa.delete(delivery_queue).where(delivery_queue.c.destination_id == destination_id))
    connection.execute(sa.delete(delivery_attempts).where(delivery_attempts.c.destination_id == destination_id))
    return connection.execute(sa.delete(destinations).where(destinations.c.id == destination_id)).rowcount > 0


# -- dispatching ------------------------------------------------------------------------------------


def take_lease(connection: sa.Connection, destination_id: str, owner: str, until: int, now: int) -> bool:
    """Become (or stay) the destination's dispatcher until `until`, unless another process holds it."""
    result = connection.execute(
        sa.update(destinations)
        .where(destinations.c.id == destination_id, destinations.c.enabled.is_(True),
               sa.or_(destinations.c.lease_owner.is_(None), destinations.c.lease_owner == owner,
                      destinations.c.lease_until < now))
        .values(lease_owner=owner, lease_until=until))
    return result.rowcount > 0


def release_lease(connection: sa.Connection, destination_id: str, owner: str) -> None:
    connection.execute(sa.update(destinations)
                       .where(destinations.c.id == destination_id, destinations.c.lease_owner == owner)
                       .values(lease_owner=None, lease_until=None))


def queued_deliveries(connection: sa.Connection, destination_id: str) -> list[QueuedDelivery]:
    rows = connection.execute(sa.select(delivery_queue).where(delivery_queue.c.destination_id == destination_id)
                              .order_by(delivery_queue.c.seq))
    return [QueuedDelivery(row.seq, row.event_id, row.attempts, row.next_attempt_at) for row in rows]


def save_progress(connection: sa.Connection, destination: Destination, owner: str, progress: Progress) -> bool:
    """Write a round's progress, only while this process still holds the lease; False if it does not."""
    values: dict[str, Any] = {}
    if progress.cursor_seq is not None:
        values["cursor_seq"] = progress.cursor_seq
    if progress.failing_since is not False:
        values["failing_since"] = progress.failing_since
    if progress.disabled_reason is not None:
        values.update(enabled=False, disabled_reason=progress.disabled_reason, updated_at=now_ms())
    held = connection.execute(
        sa.update(destinations).where(destinations.c.id == destination.id, destinations.c.lease_owner == owner)
        .values(**(values or {"lease_owner": owner}))).rowcount > 0
    if not held:
        return False
    if progress.dequeued:
        connection.execute(sa.delete(delivery_queue).where(delivery_queue.c.destination_id == destination.id,
                                                           delivery_queue.c.seq.in_(progress.dequeued)))
    if progress.queued:
        seqs = [item.seq for item in progress.queued]
        connection.execute(sa.delete(delivery_queue).where(delivery_queue.c.destination_id == destination.id,
                                                           delivery_queue.c.seq.in_(seqs)))
        connection.execute(sa.insert(delivery_queue), [
            {"destination_id": destination.id, "seq": item.seq, "event_id": item.event_id,
             "attempts": item.attempts, "next_attempt_at": item.next_attempt_at} for item in progress.queued])
    arm_timers(connection, progress.timers)
    record_attempts(connection, progress.attempts)
    return True


def record_attempts(connection: sa.Connection, attempts: list[Attempt]) -> None:
    if attempts:
        connection.execute(sa.insert(delivery_attempts), [attempt.as_row() for attempt in attempts])


def list_attempts(connection: sa.Connection, destination_id: str, *, limit: int = 50,
                  before_id: int | None = None) -> list[Attempt]:
    query = (sa.select(delivery_attempts).where(delivery_attempts.c.destination_id == destination_id)
             .order_by(delivery_attempts.c.id.desc()).limit(limit))
    if before_id is not None:
        query = query.where(delivery_attempts.c.id < before_id)
    return [_attempt(row) for row in connection.execute(query)]


def get_attempt(connection: sa.Connection, attempt_id: int) -> Attempt | None:
    row = connection.execute(sa.select(delivery_attempts).where(delivery_attempts.c.id == attempt_id)).first()
    return _attempt(row) if row is not None else None


def _attempt(row: sa.Row) -> Attempt:
    return Attempt(**{name: getattr(row, name) for name in ATTEMPT_COLUMNS}, id=row.id)


def queue_again(connection: sa.Connection, destination_id: str, seq: int, event_id: str) -> None:
    """Deliver this operation again (a resend by hand): queued, due now."""
    connection.execute(sa.delete(delivery_queue).where(delivery_queue.c.destination_id == destination_id,
                                                       delivery_queue.c.seq == seq))
    connection.execute(sa.insert(delivery_queue).values(destination_id=destination_id, seq=seq, event_id=event_id,
                                                        attempts=0, next_attempt_at=0))


# -- escalation timers (SPEC §11) -------------------------------------------------------------------


def arm_timers(connection: sa.Connection, timers: list[Timer]) -> None:
    """Insert timers; one that exists already (a round sent again) stays as it is."""
    if not timers:
        return
    insert = sqlite.insert if connection.dialect.name == "sqlite" else postgresql.insert
    connection.execute(insert(escalation_timers).on_conflict_do_nothing(), [
        {"destination_id": t.destination_id, "event_id": t.event_id, "workspace_id": t.workspace_id,
         "kind": t.kind, "due_at": t.due_at, "fired": t.fired} for t in timers])


def due_timers(connection: sa.Connection, destination_ids: list[str], now: int, limit: int = 500) -> list[Timer]:
    if not destination_ids:
        return []
    rows = connection.execute(
        sa.select(escalation_timers)
        .where(escalation_timers.c.due_at <= now, escalation_timers.c.destination_id.in_(destination_ids))
        .order_by(escalation_timers.c.due_at).limit(limit))
    return [_timer(row) for row in rows]


def list_timers(connection: sa.Connection, destination_id: str) -> list[Timer]:
    rows = connection.execute(sa.select(escalation_timers).where(escalation_timers.c.destination_id == destination_id)
                              .order_by(escalation_timers.c.event_id, escalation_timers.c.kind))
    return [_timer(row) for row in rows]


def _timer(row: sa.Row) -> Timer:
    return Timer(row.destination_id, row.event_id, row.workspace_id, row.kind, row.due_at, row.fired)


def _timer_key(timer: Timer) -> Any:
    return sa.and_(escalation_timers.c.destination_id == timer.destination_id,
                   escalation_timers.c.event_id == timer.event_id, escalation_timers.c.kind == timer.kind)


def event_needs_attention(connection: sa.Connection, workspace_id: str, event_id: str) -> bool:
    """Whether the event is still there, ongoing and unacknowledged."""
    row = connection.execute(sa.select(events.c.state, events.c.acknowledged_at)
                             .where(events.c.workspace_id == workspace_id, events.c.id == event_id)).first()
    return row is not None and row.state == "ongoing" and row.acknowledged_at is None


def claim_timer(connection: sa.Connection, timer: Timer, repeat_every_s: int | None, now: int) -> int | None:
    """Claim a due timer that was read with `due_at` = `timer.due_at` → its firing number, or
    None when another process claimed it first. A compare-and-set on `due_at`: of several
    processes that read the same row, one changes it. A repeat moves on to its first due time
    after `now` (after a long stop, one reminder, not one per missed interval); an escalation is
    removed: it fires once."""
    seen = escalation_timers.c.due_at == timer.due_at
    if timer.kind == "repeat" and repeat_every_s is not None:
        step = repeat_every_s * 1000
        next_due = timer.due_at + step * ((now - timer.due_at) // step + 1)
        claimed = connection.execute(
            sa.update(escalation_timers).where(_timer_key(timer), seen)
            .values(due_at=next_due, fired=escalation_timers.c.fired + 1)).rowcount == 1
    else:
        claimed = connection.execute(sa.delete(escalation_timers).where(_timer_key(timer), seen)).rowcount == 1
    return timer.fired + 1 if claimed else None


def stop_timer(connection: sa.Connection, timer: Timer) -> None:
    connection.execute(sa.delete(escalation_timers).where(_timer_key(timer)))
