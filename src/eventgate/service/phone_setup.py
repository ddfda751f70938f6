"""A channel's phone setup: what to enter in the ntfy app to get the channel's events on a phone,
and the QR code of its `ntfy://` link (domain/phone_link.py says what the link holds and why
it holds no secret). The credential, a channel token, is created apart, through the channel
token API, and shown once by whoever created it.
"""

from __future__ import annotations

import io
from typing import Any

import segno

from eventgate.domain.errors import not_found
from eventgate.domain.phone_link import phone_link
from eventgate.store import channels as channel_store
from eventgate.store.database import Database


def qr_svg(text: str) -> str:
    """`text` as a QR code, a standalone SVG document without a fixed size (a viewBox): dark
    modules on white with the standard four-module quiet zone, so that cameras read it on a
    dark page too. Error correction M (15 %) survives a glare on a screen."""
    code = segno.make(text, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", xmldecl=False, omitsize=True, border=4, dark="#000", light="#fff",
              svgclass=None, lineclass=None, encoding="utf-8")
    return out.getvalue().decode("utf-8")


class PhoneSetup:
    def __init__(self, database: Database, public_url: str | None = None) -> None:
        self.database = database
        self.public_url = public_url

    def describe(self, workspace_id: str, channel_id: str, request_base_url: str) -> dict[str, Any]:
        """The server (the public URL if one is set, else the address the request came to), the
        topic (the channel id: it survives a rename and is always a valid ntfy topic), the link
        and its QR code (None under a path prefix), and whether a phone could reach the server."""
        with self.database.reader.connect() as connection:
            channel = channel_store.get_channel(connection, channel_id)
        if channel is None or channel.workspace_id != workspace_id:
            raise not_found("channel_not_found", f"channel {channel_id} does not exist")
        found = phone_link(self.public_url or request_base_url, channel.id, channel.name)
        return {
            "channel_id": channel.id,
            "name": channel.name,
            "server": found.server,
            "topic": found.topic,
            "link": found.link,
            "svg": qr_svg(found.link) if found.link else None,
            "server_is_local": found.local,
        }
