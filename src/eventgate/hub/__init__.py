"""Live delivery inside one process: subscriptions, per-workspace sequencing, fan-out."""

from eventgate.hub.hub import Hub

__all__ = ["Hub"]
