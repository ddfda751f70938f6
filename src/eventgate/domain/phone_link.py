"""What the ntfy phone app needs to follow a channel: the server address, the topic, and the
`ntfy://` link that subscribes the Android app when it is scanned or tapped.

The link has the one form the ntfy Android app parses (its deep links, docs.ntfy.sh "Subscribe
from your phone"): `ntfy://<host>[:<port>]/<topic>`, with exactly one path segment, so a server
under a path prefix cannot be said in it (the app would refuse the link). `secure=false` says
the server is reached over http (the app assumes https), `display=` names the subscription in
the app's list.

The link carries no credential: the app takes none from a link, and a secret in a QR code
outlives the screen that showed it. The app sends what it has stored for the server (Settings,
Manage users: a user name and a password, sent as Basic auth), and eventgate takes a channel
token as that password.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class PhoneLink:
    server: str  # what the app's "server URL" field takes: scheme, host, port, no trailing slash
    topic: str
    link: str | None  # None where the server has a path prefix
    local: bool  # a loopback or unspecified address, which a phone cannot reach


def phone_link(server_url: str, topic: str, display_name: str | None = None) -> PhoneLink:
    """The server, topic and deep link for `topic` on the eventgate at `server_url` (http or https)."""
    parts = urlsplit(server_url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http or https URL: {server_url!r}")
    host = parts.hostname
    address = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != DEFAULT_PORTS[scheme]:
        address = f"{address}:{parts.port}"
    prefix = parts.path.rstrip("/")
    server = f"{scheme}://{address}{prefix}"
    link = None
    if not prefix:
        query = []
        if display_name:
            query.append("display=" + quote(display_name, safe=""))
        if scheme == "http":
            query.append("secure=false")
        link = f"ntfy://{address}/{quote(topic, safe='')}" + ("?" + "&".join(query) if query else "")
    return PhoneLink(server=server, topic=topic, link=link, local=_is_local(host))


def _is_local(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified
