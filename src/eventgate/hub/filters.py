"""Which operations a live subscription wants: the query filters of SPEC §6 as one value.

A filter is immutable and hashable, so that the hub can group subscribers that share one and
evaluate it once per operation, however many subscribers hold it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from eventgate.domain.fields import SEVERITY_RANK
from eventgate.domain.lifecycle import SYSTEM_TYPE_OF_KIND


@dataclass(frozen=True, slots=True)
class SubscriptionFilter:
    """All given conditions must hold (AND); a condition left as None accepts everything.

    `event_types` are codes as the registry spells them; matching ignores case, as codes are
    unique case-insensitively. `excluded_types` is what unsubscribing removes from a
    subscription to everything.
    """

    event_types: tuple[str, ...] | None = None
    excluded_types: tuple[str, ...] = ()
    channel_ids: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    min_severity: str | None = None
    thing_ids: frozenset[str] | None = None

    def matches(self, operation: dict[str, Any]) -> bool:
        """Does this committed operation (a stored-operation dict) pass the filter?"""
        event = operation["event"]
        if self.channel_ids is not None and operation["channel_id"] not in self.channel_ids:
            return False
        if self.min_severity is not None and \
                SEVERITY_RANK.get(event.get("severity") or "normal", 1) < SEVERITY_RANK[self.min_severity]:
            return False
        if self.thing_ids is not None and event.get("thing_id") not in self.thing_ids:
            return False
        if self.tags is not None and self.tags.isdisjoint(event.get("tags") or ()):
            return False
        if self.event_types is None and not self.excluded_types:
            return True
        system_type = SYSTEM_TYPE_OF_KIND[operation["kind"]]
        custom_type = (event.get("event_type") or "").lower()
        included = _keys(self.event_types)
        if included is not None and system_type not in included and custom_type not in included:
            return False
        excluded = _keys(self.excluded_types)
        return not (excluded and (system_type in excluded or custom_type in excluded))

    def without_types(self, codes: list[str]) -> "SubscriptionFilter":
        """The filter after unsubscribing from `codes`: an explicit list shrinks; a subscription
        to everything becomes everything except them."""
        removed = {code.lower() for code in codes}
        if self.event_types is not None:
            return replace(self, event_types=tuple(c for c in self.event_types if c.lower() not in removed))
        excluded = list(self.excluded_types)
        known = {code.lower() for code in excluded}
        for code in codes:
            if code.lower() not in known:
                known.add(code.lower())
                excluded.append(code)
        return replace(self, excluded_types=tuple(excluded))


_key_cache: dict[tuple[str, ...], frozenset[str]] = {}


def _keys(codes: tuple[str, ...] | None) -> frozenset[str] | None:
    """Lower-cased codes, remembered: filters are few and evaluated for every operation."""
    if codes is None:
        return None
    found = _key_cache.get(codes)
    if found is None:
        if len(_key_cache) > 10_000:
            _key_cache.clear()
        found = _key_cache[codes] = frozenset(code.lower() for code in codes)
    return found
