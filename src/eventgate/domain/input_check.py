"""The shape every value a request brings must have before it goes any further, whatever the
route: the database drivers and the broker's msgpack encoder must accept it unchanged.

- No NUL characters in a string or an object key: PostgreSQL text cannot hold them (the driver
  raises), and SQLite stored such a title cut at the NUL while the timeline kept it whole.
- Integers within signed 64 bits: msgpack stops at 2**64 - 1 and -2**63, PostgreSQL's bigint
  at 2**63 - 1; JSON itself has no limit, so msgspec hands us any size.
- Numbers finite: JSON has no NaN or Infinity (msgspec refuses them), but other intake formats
  may bring them, and our replies could not carry them.
- Digits read from text are ASCII: int() and float() also take "²", "١٠" and "1_000".
- A value that is stored as JSON stays within a byte budget (`refuse_larger_than`).

A refusal names the top-level field that holds the value (`attrs_out_of_range` for a number deep
inside attrs), so each API reports it in its own error shape.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import msgspec

from eventgate.domain.errors import bad_request

INT64_MIN = -2**63
INT64_MAX = 2**63 - 1
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_json = msgspec.json.Encoder()


def check_fields(fields: Mapping[str, Any]) -> None:
    """Check every field of a decoded request (JSON builtins: dict, list, str, int, float, bool, None)."""
    for name, value in fields.items():
        check_value(value, name)


def check_value(value: Any, field: str) -> None:
    # A loop, not recursion: a deeply nested value must be a 400, not a RecursionError.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise bad_request(f"{field}_invalid", f"{field} must not contain NUL characters", field)
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise bad_request(f"{field}_out_of_range",
                                  f"{field}: integers must be from -2^63 to 2^63-1", field)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise bad_request(f"{field}_invalid", f"{field}: numbers must be finite", field)
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        else:  # a decoder gave us something JSON cannot hold: a bug, not a bad request
            raise TypeError(f"{field}: cannot check a value of type {type(item).__name__}")


def is_decimal(text: str) -> bool:
    """ASCII digits with an optional fraction: what a number sent as text may look like."""
    return _DECIMAL.fullmatch(text) is not None


def whole_number(text: str) -> int | None:
    """The value of 1-18 ASCII digits (so it fits in 64 bits), else None.

    The length cap also keeps int() from its 4,300-digit ValueError."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def refuse_larger_than(value: Any, field: str, max_bytes: int) -> None:
    """The value, encoded as JSON, must take at most max_bytes (400 `<field>_too_large`)."""
    if len(_json.encode(value)) > max_bytes:
        raise bad_request(f"{field}_too_large", f"{field} must take at most {max_bytes // 1024} KiB as JSON",
                          field)
