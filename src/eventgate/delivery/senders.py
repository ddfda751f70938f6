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
from urllib.parse import urlsplit

import anyio

from eventgate.delivery.outbound_http import (
    AddressPolicy,
    DestinationRefused,
    DestinationUnreachable,
    OutboundClient,
    excerpt,
    resolve_checked,
)

APPRISE_THREADS = 4
# Apprise services whose URL names the host Apprise will connect to (JSON/XML/form posts, ntfy,
# Gotify, another Apprise API): their host is checked like a webhook's before each send. Other
# services (Slack, Discord, Telegram, …) reach their vendor's fixed public endpoints.
APPRISE_HOST_SCHEMES = {f"{name}{tls}": 443 if tls else 80
                        for name in ("json", "xml", "form", "ntfy", "gotify", "apprise") for tls in ("", "s")}

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
    def __init__(self, policy: AddressPolicy | None = None, threads: int = APPRISE_THREADS) -> None:
        self.policy = policy or AddressPolicy()
        self.limiter = anyio.CapacityLimiter(threads)

    async def send(self, url: str, title: str, body: str) -> SendResult:
        started = time.monotonic()
        try:
            await self._check_host(url)
        except DestinationRefused as refused:
            return SendResult("refused", _ms(started), error=refused.reason)
        except DestinationUnreachable as unreachable:
            return SendResult("failed", _ms(started), error=unreachable.reason)
        outcome, error = await anyio.to_thread.run_sync(_notify, url, title, body, limiter=self.limiter)
        return SendResult(outcome, _ms(started), error=error)

    async def _check_host(self, url: str) -> None:
        """The address check of webhooks, for the services that connect where the URL says.
        (Apprise connects by itself, so a DNS answer that changes after the check is not caught.)"""
        scheme, _, rest = url.partition("://")
        default_port = APPRISE_HOST_SCHEMES.get(scheme.lower())
        if default_port is None:
            return
        try:
            parts = urlsplit(f"http://{rest}")
            host, port = parts.hostname, parts.port or default_port
        except ValueError:
            raise DestinationRefused("the URL's host cannot be read") from None
        if host:
            await resolve_checked(host, port, self.policy)


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
