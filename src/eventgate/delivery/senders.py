"""Sending one message to one destination, and what came back.

Webhooks go through delivery/outbound_http.py (the address checks, no redirects, the timeout).
Apprise's senders are blocking: they run in a small pool of threads of their own, so a slow
service never holds the event loop, live delivery or other destinations. Nothing here logs a
destination's URL: it may carry a token.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import anyio

from eventgate.delivery.outbound_http import DestinationRefused, DestinationUnreachable, OutboundClient, excerpt

APPRISE_THREADS = 4

# Apprise logs what it sends to, and a URL may carry a token: only its failures' absence of
# detail reaches eventgate's log.
logging.getLogger("apprise").setLevel(logging.CRITICAL)


@dataclass(slots=True)
class SendResult:
    outcome: str  # delivered | failed (retry) | refused (the policy said no; retried later as well)
    latency_ms: int
    http_status: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after_s: float | None = None
    gone: bool = False  # 410: the receiver says the destination no longer exists


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class WebhookSender:
    def __init__(self, client: OutboundClient) -> None:
        self.client = client

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        started = time.monotonic()
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except DestinationRefused as refused:
            return SendResult("refused", _ms(started), error=refused.reason)
        except DestinationUnreachable as unreachable:
            return SendResult("failed", _ms(started), error=unreachable.reason)
        status = response.status_code
        if 200 <= status < 300:
            return SendResult("delivered", _ms(started), http_status=status, excerpt=excerpt(response))
        return SendResult("failed", _ms(started), http_status=status, error=f"HTTP {status}", excerpt=excerpt(response),
                          retry_after_s=retry_after_seconds(response.headers.get("retry-after")), gone=status == 410)


class AppriseSender:
    def __init__(self, threads: int = APPRISE_THREADS) -> None:
        self.limiter = anyio.CapacityLimiter(threads)

    async def send(self, url: str, title: str, body: str) -> SendResult:
        started = time.monotonic()
        outcome, error = await anyio.to_thread.run_sync(_notify, url, title, body, limiter=self.limiter)
        return SendResult(outcome, _ms(started), error=error)


def _notify(url: str, title: str, body: str) -> tuple[str, str | None]:
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "refused", "Apprise does not recognise this URL"
    if notifier.notify(title=title, body=body):
        return "delivered", None
    return "failed", "the service did not accept the notification (Apprise reported a failure)"


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
