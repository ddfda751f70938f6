"""ntfy's API, so that anything that notifies an ntfy server notifies eventgate by changing its
URL and token, and anything that subscribes to one reads eventgate's channels. Publishing
(`publish.py`); subscribing (`subscribe.py`: streams, polls, the access check; `query.py`: since
and filters; `mapping.py`: an operation as an ntfy message); clear and delete (`clear.py`);
health and account (`account.py`); topics and the reserved names (`topics.py`); the message ids
and error bodies ntfy clients read (`messages.py`)."""

from eventgate.api.ntfy import account, clear, publish, subscribe

# The publish route `/{topic}` last: it takes any single segment no route before it claims.
routes = [*account.routes, *subscribe.routes, *clear.routes, *publish.routes]

__all__ = ["routes"]
