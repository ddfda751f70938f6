"""When a request is worth sending again, and how long to wait first.

A producer request carries one op_id for all of its attempts, so sending it again after a
lost answer never stores it twice: the server answers a replay with its first answer."""

from __future__ import annotations

import random

# A reverse proxy without its upstream (502), an overloaded or store-less server (503), a
# proxy that gave up waiting (504): another attempt may well succeed.
TRANSIENT_STATUSES = frozenset({502, 503, 504})
LONGEST_RETRY_AFTER = 30.0


def retry_after_seconds(header: str | None) -> float | None:
    """A Retry-After header given in seconds (dates are ignored), capped."""
    try:
        return min(max(float(header or ""), 0.0), LONGEST_RETRY_AFTER)
    except ValueError:
        return None


class Backoff:
    """Exponential backoff with jitter: `retries` waits at most, then None."""

    def __init__(self, retries: int | None, first: float = 0.25, longest: float = 8.0) -> None:
        self.retries = retries  # None: without end
        self.first = first
        self.longest = longest
        self.waited = 0

    def next_wait(self, retry_after: float | None = None) -> float | None:
        if self.retries is not None and self.waited >= self.retries:
            return None
        ceiling = min(self.first * (2 ** min(self.waited, 16)), self.longest)
        self.waited += 1
        wait = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(wait, retry_after or 0.0)

    def reset(self) -> None:
        self.waited = 0
