"""Event times on the wire are Unix seconds (or milliseconds when >= 10^12); we keep milliseconds."""

from __future__ import annotations

import time

from eventgate.domain.errors import bad_request

MILLISECONDS_THRESHOLD = 10**12
# Anything past year 9999 is a typo, not a time.
MAX_SECONDS = 253402300799


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_unix_time(value: object, field: str) -> int:
    """Accept a number or numeric string of Unix seconds (or ms) and return milliseconds."""
    if isinstance(value, bool) or value is None:
        raise bad_request(f"{field}_invalid", f"{field} must be a Unix time in seconds", field)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise bad_request(f"{field}_invalid", f"{field} must be a Unix time in seconds", field) from None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        raise bad_request(f"{field}_invalid", f"{field} must be a Unix time in seconds", field)
    if number != number or number < 0:  # NaN or negative
        raise bad_request(f"{field}_invalid", f"{field} must be a non-negative Unix time", field)
    if number >= MILLISECONDS_THRESHOLD:
        number = number / 1000.0
    if number > MAX_SECONDS:
        raise bad_request(f"{field}_invalid", f"{field} is too far in the future", field)
    return int(round(number * 1000))


def ms_to_seconds(ms: int | None) -> int | float | None:
    """Whole seconds as an int, otherwise a float with millisecond precision."""
    if ms is None:
        return None
    if ms % 1000 == 0:
        return ms // 1000
    return ms / 1000.0
