"""A destination's filter as the live subscriptions' filter (hub/filters.py): one set of rules
decides what a subscriber and a destination get (SPEC §6)."""

from __future__ import annotations

import functools

from eventgate.domain.destinations import DestinationFilter
from eventgate.hub.filters import SubscriptionFilter


@functools.lru_cache(maxsize=1024)
def subscription_filter(spec: DestinationFilter) -> SubscriptionFilter:
    def frozen(values: tuple[str, ...] | None) -> frozenset[str] | None:
        return frozenset(values) if values is not None else None

    return SubscriptionFilter(event_types=spec.event_types, channel_ids=frozen(spec.channel_ids),
                              tags=frozen(spec.tags), min_severity=spec.min_severity,
                              thing_ids=frozen(spec.thing_ids))
