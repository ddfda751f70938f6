"""One-tap links in notifications (SPEC §11): acknowledge or close an event without signing in.

A link token is `payload.signature`, both base64url: the payload names the workspace, the
event, the action and the expiry; the signature is HMAC-SHA256 of it with the server's link
secret (stored once in the database, so that every process and machine agrees). A token is
good for that one event and that one action until it expires, and is unguessable without the
secret. Nothing is written per link: a notification costs no store write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import msgspec

from eventgate.domain.errors import DomainError

ACTIONS = ("acknowledge", "close")
LINK_LIFETIME_S = 7 * 86_400
MAX_TOKEN = 1024


@dataclass(frozen=True, slots=True)
class LinkGrant:
    workspace_id: str
    event_id: str
    action: str
    expires_at: int  # Unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: bytes, grant: LinkGrant) -> str:
    payload = msgspec.json.encode([grant.workspace_id, grant.event_id, grant.action, grant.expires_at])
    signature = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def link_not_found() -> DomainError:
    return DomainError(404, "link_invalid", "this link is not valid")


def read_token(secret: bytes, token: str, now_s: float) -> LinkGrant:
    """The grant a token carries; 404 when it is not one of ours, 410 when it has expired."""
    if len(token) > MAX_TOKEN or token.count(".") != 1:
        raise link_not_found()
    encoded_payload, encoded_signature = token.split(".")
    try:
        payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
    except (ValueError, TypeError):
        raise link_not_found() from None
    if not hmac.compare_digest(signature, hmac.new(secret, payload, hashlib.sha256).digest()):
        raise link_not_found()
    workspace_id, event_id, action, expires_at = msgspec.json.decode(payload)
    if now_s > expires_at:
        raise DomainError(410, "link_expired", "this link has expired; act from the dashboard instead")
    return LinkGrant(workspace_id, event_id, action, expires_at)


def links_for(secret: bytes, public_url: str, workspace_id: str, event_id: str, now_s: float) -> dict[str, str]:
    """The acknowledge and close links of an event, under the server's public URL."""
    expires_at = int(now_s) + LINK_LIFETIME_S
    base = public_url.rstrip("/")
    return {action: f"{base}/act/{make_token(secret, LinkGrant(workspace_id, event_id, action, expires_at))}"
            for action in ACTIONS}


def event_links(secret: bytes | None, public_url: str | None, event: dict, now_s: float) -> dict[str, str] | None:
    """An ongoing event's one-tap links; None without a link secret or a public URL, or once it
    is closed (nothing left to act on)."""
    if secret is None or not public_url or event.get("state") != "ongoing":
        return None
    return links_for(secret, public_url, event["workspace_id"], event["id"], now_s)
