"""Listing events: one page of a workspace's events, newest first, filtered, by keyset.

Every page is one SELECT, so it sees one snapshot: an event deleted before the statement
ran is not on the page, and no page mixes two states of the table.

Order and keyset. Without a time filter the order is `pk` descending (pk grows with every
insert and never changes), and the position after a page is its last pk: the next page is
`pk < last`, an index seek, however deep. With `since`/`until` the order is
(`created_at`, `pk`) descending instead, so that the (workspace_id, created_at) index both
bounds and orders the rows: a time window far in the past is then as cheap as the newest
one. Both keys are immutable, so paging while the table is written to never shows an event
twice and never skips one that existed when paging began.

Which index answers each filter (single filters; combinations let the planner choose):
state / severity (a minimum severity is an IN list on the same index) / channel_id / thing_id / event_type → (workspace_id, <column>, pk);
topic → event_tags (workspace_id, tag, event_pk), ordered by event_pk; acknowledged → no
index of its own (the pk order with the other filters' indexes; usually combined with state); since/until →
(workspace_id, created_at); q → on SQLite the FTS5 word index `events_fts`, walked in rowid
(= pk) order so that a page stops after `limit` matches; on PostgreSQL the GIN index on the
generated tsvector `events.search_words` (migration 0002), or, for frequent words, the pk
index with the tsvector as a cheap filter — the planner's choice, from the word statistics.

Words: runs of letters and digits, case ignored. Every word of `q` must be a word of the
title or the message; a word written with a trailing `*` matches the words it begins
("certif*" finds "certificate"). Whole words are the default because they are cheap for
every word however frequent; a prefix makes FTS5 (and the GIN index) gather every match of
every word it begins before the first row comes out, which costs ~15 ms for a prefix found
in 10 % of a million events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from eventgate.store.events import row_to_event
from eventgate.store.schema import event_tags, event_types, events, events_search_words, events_text

# Letters and digits, as FTS5's unicode61 and PostgreSQL's [:alnum:] see them; a `*` right after
# a word makes it a prefix.
WORD = re.compile(r"([^\W_]+)(\*?)")
MIN_PREFIX_LENGTH = 3


def search_words(text: str) -> tuple[str, ...]:
    """The words of a search text, lower-cased, in order; a prefix keeps its trailing `*`."""
    return tuple(word.lower() + star for word, star in WORD.findall(text))


def is_prefix(word: str) -> bool:
    return word.endswith("*")


@dataclass(frozen=True, slots=True)
class EventListFilter:
    """What a listing asks for; None means "any"."""

    workspace_id: str
    state: str | None = None
    acknowledged: bool | None = None  # someone acknowledged it (acknowledged_at is set), or not
    severity: str | None = None
    severities: tuple[str, ...] | None = None  # any of these (a minimum severity, spelled out)
    channel_ids: tuple[str, ...] | None = None
    thing_id: str | None = None
    event_type: str | None = None
    tag: str | None = None
    created_from_ms: int | None = None  # inclusive
    created_before_ms: int | None = None  # exclusive
    words: tuple[str, ...] | None = None  # from search_words(); at least one

    @property
    def ordered_by_time(self) -> bool:
        return self.created_from_ms is not None or self.created_before_ms is not None


@dataclass(frozen=True, slots=True)
class PagePosition:
    """The last event of a page. `created_at` is set when the listing is ordered by time."""

    pk: int
    created_at: int | None = None


def fts5_query(words: tuple[str, ...]) -> str:
    """`"disk" AND "certif"*`: words are letters and digits only, so quoting them is enough."""
    return " AND ".join(f'"{word[:-1]}"*' if is_prefix(word) else f'"{word}"' for word in words)


def tsquery(words: tuple[str, ...]) -> str:
    """`disk & certif:*` for to_tsquery('simple', …)."""
    return " & ".join(f"{word[:-1]}:*" if is_prefix(word) else word for word in words)


def page_statement(dialect: str, query: EventListFilter, after: PagePosition | None, limit: int) -> sa.Select:
    """The SELECT for one page (limit rows). `dialect` is "sqlite" or "postgresql"."""
    workspace_id = query.workspace_id
    source: sa.FromClause = events
    conditions: list[sa.ColumnElement[bool]] = [events.c.workspace_id == workspace_id]
    order_pk: sa.ColumnElement[Any] = events.c.pk

    if query.words:
        if dialect == "sqlite":
            source = events_text.join(events, events.c.pk == events_text.c.rowid)
            conditions.append(sa.literal_column("events_fts").op("MATCH")(fts5_query(query.words)))
            order_pk = events_text.c.rowid
        else:
            conditions.append(events_search_words.op("@@")(
                sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), tsquery(query.words))))
    if query.tag is not None:
        source = source.join(event_tags, sa.and_(
            event_tags.c.event_pk == events.c.pk,
            event_tags.c.workspace_id == workspace_id,
            event_tags.c.tag == query.tag,
        ))
        if order_pk is events.c.pk:
            order_pk = event_tags.c.event_pk
    if query.state is not None:
        conditions.append(events.c.state == query.state)
    if query.severity is not None:
        conditions.append(events.c.severity == query.severity)
    if query.severities is not None:
        conditions.append(events.c.severity.in_(query.severities))
    if query.acknowledged is not None:
        conditions.append(events.c.acknowledged_at.is_not(None) if query.acknowledged
                          else events.c.acknowledged_at.is_(None))
    if query.channel_ids is not None:
        if len(query.channel_ids) == 1:
            conditions.append(events.c.channel_id == query.channel_ids[0])
        else:
            conditions.append(events.c.channel_id.in_(query.channel_ids))
    if query.thing_id is not None:
        conditions.append(events.c.thing_id == query.thing_id)
    if query.event_type is not None:
        # Resolved inside the statement (an uncorrelated subquery, evaluated once): an unknown
        # code simply matches nothing, and renaming a code cannot race the listing.
        type_id = (sa.select(event_types.c.id)
                   .where(event_types.c.workspace_id == workspace_id,
                          event_types.c.code_key == query.event_type.lower())
                   .scalar_subquery())
        conditions.append(events.c.event_type_id == type_id)
    if query.created_from_ms is not None:
        conditions.append(events.c.created_at >= query.created_from_ms)
    if query.created_before_ms is not None:
        conditions.append(events.c.created_at < query.created_before_ms)

    if query.ordered_by_time:
        order_by = (events.c.created_at.desc(), events.c.pk.desc())
        if after is not None and after.created_at is not None:
            conditions.append(events.c.created_at <= after.created_at)
            conditions.append(sa.or_(events.c.created_at < after.created_at, events.c.pk < after.pk))
    else:
        order_by = (order_pk.desc(),)
        if after is not None:
            conditions.append(order_pk < after.pk)

    source = source.outerjoin(event_types, event_types.c.id == events.c.event_type_id)
    return (
        sa.select(events, event_types.c.code.label("event_type"))
        .select_from(source)
        .where(*conditions)
        .order_by(*order_by)
        .limit(limit)
    )


def list_page(connection: sa.Connection, query: EventListFilter, after: PagePosition | None,
              limit: int) -> list[dict[str, Any]]:
    """Up to `limit` events after `after`, newest first, as canonical event dicts (with pk)."""
    statement = page_statement(connection.dialect.name, query, after, limit)
    return [row_to_event(row) for row in connection.execute(statement)]
