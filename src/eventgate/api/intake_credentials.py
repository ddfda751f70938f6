"""The channel token an intake request carries in its Authorization header.

`Bearer <token>`, or Basic auth whose password (else user name) is the token, as ntfy, Apprise,
Alertmanager's and Grafana's webhook senders put it there.
"""

from __future__ import annotations

import base64
import binascii


def authorization_tokens(header: str) -> list[str]:
    """The candidate tokens of an Authorization header value, most likely first."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return [value]
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return [value]  # not Basic credentials: refused as an unknown token
        return [candidate for candidate in (password, user) if candidate]
    return [header] if header else []
