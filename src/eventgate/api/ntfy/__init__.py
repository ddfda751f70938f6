"""ntfy's API, so that anything that notifies an ntfy server notifies eventgate by changing its
URL and token. Today: publishing (`publish.py`); topics and the reserved names (`topics.py`);
the message and error bodies ntfy clients read (`messages.py`)."""

from eventgate.api.ntfy.publish import routes

__all__ = ["routes"]
