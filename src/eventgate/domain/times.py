"""Event times on the wire are Unix seconds (or milliseconds when >= 10^12); we keep milliseconds."""

from __future__ import annotations

import math
import time

from eventgate.domain.errors import DomainError, bad_request
from eventgate.domain.input_check import is_decimal

MILLISECONDS_THRESHOLD = 10**12
# Anything past year 9999 is a typo, not a time.
MAX_SECONDS = 253402300799
MAX_MILLISECONDS = MAX_SECONDS * 1000 + 999


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_unix_time(value: object, field: str) -> int:
    """Accept a number or numeric string of Unix seconds (or ms) and return milliseconds.

    A string must be ASCII digits with an optional fraction ("1713750000", "1713750000.5"):
    float() alone would also take "١٧١٣٧٥٠٠٠٠", "1_713_750_000", "1e9" and "inf"."""
    if isinstance(value, bool) or value is None:
        raise bad_request(f"{field}_invalid", f"{field} must be a Unix time in seconds", field)
    if isinstance(value, str):
        text = value.strip()
        if not is_decimal(text):
            raise bad_request(f"{field}_invalid", f"{field} must be a Unix time in seconds", field)
        number = float(text)
    elif isinstance(value, int):
        if value > MAX_MILLISECONDS:  # before float(), which overflows past 10**308
            raise _too_far(field)
        number = float(value)
    elif isinstance(value, float):
        number = value
    else:
        raise bad_request(f"{field}_invalid", f"{field} must be a Unix time in seconds", field)
    if not math.isfinite(number) or number < 0:
        raise bad_request(f"{field}_invalid", f"{field} must be a non-negative Unix time", field)
    if number >= MILLISECONDS_THRESHOLD:
        number = number / 1000.0
    if number > MAX_SECONDS:
        raise _too_far(field)
    return int(round(number * 1000))


def _too_far(field: str) -> DomainError:
    return bad_request(f"{field}_invalid", f"{field} is too far in the future", field)


def ms_to_seconds(ms: int | None) -> int | float | None:
    """Whole seconds as an int, otherwise a float with millisecond precision."""
    if ms is None:
        return None
    if ms % 1000 == 0:
        return ms // 1000
    return ms / 1000.0
