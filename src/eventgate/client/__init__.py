"""A small Python client for eventgate: write events into a channel, read them with an API
key, and follow the live stream with automatic resume.

    from eventgate.client import Client

    with Client("http://127.0.0.1:8080", channel=CHANNEL, password=PASSWORD) as events:
        event_id = events.create(title="Nightly backup", message="copying /srv")
        events.close(event_id, message="done")

Every create, update and close carries one op_id for all of its attempts: a retry after a
lost answer, a 502/503/504 or a timeout never stores the operation twice. docs/client.md has
the whole story."""

from eventgate.client.async_client import AsyncClient
from eventgate.client.errors import EventgateError, ServerUnavailable, StreamEnded
from eventgate.client.live_stream import Gap
from eventgate.client.producer_requests import Receipt
from eventgate.client.sync_client import Client

__all__ = ["AsyncClient", "Client", "EventgateError", "Gap", "Receipt", "ServerUnavailable", "StreamEnded"]
