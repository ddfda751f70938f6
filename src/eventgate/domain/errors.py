"""The one error type the domain and service raise; each API module maps it to its seed's shape."""

from __future__ import annotations


class DomainError(Exception):
    """A refused request: an HTTP status, a stable machine code and a human sentence."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"DomainError({self.status}, {self.code!r}, {self.message!r})"


def bad_request(code: str, message: str, field: str | None = None) -> DomainError:
    return DomainError(400, code, message, field=field)


def not_found(code: str, message: str) -> DomainError:
    return DomainError(404, code, message)


def conflict(code: str, message: str) -> DomainError:
    return DomainError(409, code, message)
