"""What both clients are configured with, and the headers each kind of route needs."""

from __future__ import annotations

from typing import Any

import httpx

from eventgate.client.errors import EventgateError, ServerUnavailable, error_from_answer
from eventgate.client.retry_policy import TRANSIENT_STATUSES

DEFAULT_URL = "http://127.0.0.1:8080"
USER_AGENT = "eventgate-client"


class ClientSettings:
    """url: the server; channel + password: where create/update/close write; token: the
    server's gateway token, if it runs with one; key: an API key, for get, timeline and
    subscribe; timeout: seconds per attempt; retries: attempts after the first one."""

    def __init__(self, url: str = DEFAULT_URL, *, channel: str | None = None, password: str | None = None,
                 token: str | None = None, key: str | None = None, timeout: float = 10.0,
                 retries: int = 5) -> None:
        self.url = url.rstrip("/")
        self.channel = channel
        self.password = password
        self.token = token
        self.key = key
        self.timeout = timeout
        self.retries = retries

    def __repr__(self) -> str:  # never the password, the token or the key
        return f"{type(self).__name__}({self.url!r}, channel={self.channel!r})"

    def producer_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def key_headers(self) -> dict[str, str]:
        if not self.key:
            raise EventgateError("an API key (key=…) is needed to read events and subscribe", code="key_required")
        return {"Authorization": f"Bearer {self.key}"}


def is_transient(reply: httpx.Response) -> bool:
    return reply.status_code in TRANSIENT_STATUSES


def answer_of(reply: httpx.Response) -> Any:
    """The JSON answer of a successful reply, or the server's refusal raised."""
    if reply.status_code >= 400:
        raise error_from_answer(reply.status_code, reply.content)
    try:
        return reply.json() if reply.content else {}
    except ValueError:
        raise EventgateError(f"the server answered {reply.status_code} with something that is not JSON",
                             status=reply.status_code, code="invalid_answer") from None


def unavailable(url: str, attempts: int, problem: str) -> ServerUnavailable:
    return ServerUnavailable(f"{url} did not answer after {attempts} attempt{'s' if attempts != 1 else ''}: "
                             f"{problem}", code="server_unavailable")


def problem_of(reply: httpx.Response | None, error: Exception | None) -> str:
    if reply is not None:
        detail = error_from_answer(reply.status_code, reply.content)
        return f"HTTP {reply.status_code}" + (f" {detail.code}" if detail.code else "")
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
