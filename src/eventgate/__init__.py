"""eventgate: a self-hosted event gateway."""

__version__ = "0.1.0"
