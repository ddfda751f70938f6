"""Field rules shared by every route that writes events: lengths, formats, normalisation.

Each checker takes the raw decoded value and returns the normalised one, or raises a
DomainError whose code names the field (e.g. `status_too_long`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from eventgate.domain.errors import bad_request
from eventgate.domain.input_check import refuse_larger_than

SEVERITIES = ("critical", "high", "normal", "low")
SEVERITY_RANK = {"low": 0, "normal": 1, "high": 2, "critical": 3}
TOKEN_RE = re.compile(r"^[A-Za-z0-9_:\-]+\Z")
TYPE_CODE_RE = re.compile(r"^[A-Za-z0-9_]+\Z")

MAX_TITLE = 256
MAX_STATUS = 24
MAX_MESSAGE = 512
MAX_DESCRIPTION = 4096
MAX_LIST_ITEMS = 32
MAX_TAG = 64
MAX_IMAGE_URL = 2048
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_ATTR_KEY = 128
MAX_TYPE_CODE = 64
# An event's attrs (after every merge) and metadata, measured as JSON: patches would otherwise
# accumulate without limit, and every operation and live frame carries the whole event.
MAX_ATTRS_BYTES = 16 * 1024
MAX_METADATA_BYTES = 16 * 1024


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"{field}_invalid", f"{field} must be a string", field)
    return value


def text(value: Any, field: str, max_len: int, *, trim: bool = True) -> str:
    """A non-empty string of at most max_len characters."""
    result = _string(value, field)
    if trim:
        result = result.strip()
    if not result:
        raise bad_request(f"{field}_invalid", f"{field} must not be empty", field)
    if len(result) > max_len:
        raise bad_request(f"{field}_too_long", f"{field} must be at most {max_len} characters", field)
    return result


def token(value: Any, field: str, max_len: int) -> str:
    """An identifier of 1..max_len characters from [A-Za-z0-9_:-]."""
    result = _string(value, field)
    if not result or len(result) > max_len or not TOKEN_RE.match(result):
        raise bad_request(
            f"{field}_invalid", f"{field} must be 1-{max_len} characters of A-Z, a-z, 0-9, '_', ':' or '-'", field
        )
    return result


def password(value: Any) -> str:
    result = _string(value, "password").strip()
    if not 8 <= len(result) <= 128:
        raise bad_request("password_invalid", "password must be 8-128 characters", "password")
    return result


def severity(value: Any) -> str:
    result = _string(value, "severity").strip().lower()
    if result not in SEVERITIES:
        raise bad_request("severity_invalid", "severity must be one of critical, high, normal, low", "severity")
    return result


def severities_at_least(minimum: str) -> tuple[str, ...]:
    """The severities ranked at `minimum` or above (`high` → critical and high), by SEVERITY_RANK."""
    return tuple(name for name in SEVERITIES if SEVERITY_RANK[name] >= SEVERITY_RANK[minimum])


def min_severity(value: Any) -> str:
    """A minimum severity (`low` < `normal` < `high` < `critical`), any case."""
    result = _string(value, "min_severity").strip().lower()
    if result not in SEVERITIES:
        raise bad_request("min_severity_invalid",
                          "min_severity must be one of low, normal, high, critical (low < normal < high < critical)",
                          "min_severity")
    return result


def type_code(value: Any, field: str = "event_type") -> str:
    result = _string(value, field).strip()
    if not result or len(result) > MAX_TYPE_CODE or not TYPE_CODE_RE.match(result):
        raise bad_request(
            f"{field}_invalid", f"{field} must be 1-{MAX_TYPE_CODE} characters of A-Z, a-z, 0-9 or '_'", field
        )
    return result


def string_list(value: Any, field: str, item_max: int, *, urls: bool = False) -> list[str]:
    """Trimmed, de-duplicated (first occurrence wins) list of non-empty strings."""
    if not isinstance(value, list):
        raise bad_request(f"{field}_invalid", f"{field} must be an array of strings", field)
    if len(value) > MAX_LIST_ITEMS:
        raise bad_request(f"{field}_too_many", f"{field} may hold at most {MAX_LIST_ITEMS} items", field)
    seen: dict[str, None] = {}
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, str) or not item.strip():
            raise bad_request(f"{field}_invalid", f"{where} must be a non-empty string", field)
        item = item.strip()
        if len(item) > item_max:
            raise bad_request(f"{field}_too_long", f"{where} must be at most {item_max} characters", field)
        if urls and not is_http_url(item):
            raise bad_request(f"{field}_invalid", f"{where} must be an http or https URL", field)
        seen.setdefault(item, None)
    return list(seen)


def is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def attrs_patch(value: Any) -> dict[str, Any]:
    """A merge patch: scalars, or objects one level deep of scalars; null deletes a key."""
    if not isinstance(value, dict):
        raise bad_request("attrs_invalid", "attrs must be an object", "attrs")
    for key, item in value.items():
        if len(key) > MAX_ATTR_KEY or not key:
            raise bad_request("attrs_invalid", f"attrs keys must be 1-{MAX_ATTR_KEY} characters", "attrs")
        if isinstance(item, list):
            raise bad_request("attrs_arrays_unsupported", f"attrs.{key}: arrays are not supported", "attrs")
        if isinstance(item, dict):
            for inner_key, inner in item.items():
                if isinstance(inner, list):
                    raise bad_request(
                        "attrs_arrays_unsupported", f"attrs.{key}.{inner_key}: arrays are not supported", "attrs"
                    )
                if not _is_scalar(inner):
                    raise bad_request(
                        "attrs_too_deep", f"attrs.{key}.{inner_key}: objects may be nested one level only", "attrs"
                    )
        elif not _is_scalar(item):
            raise bad_request("attrs_invalid", f"attrs.{key} has an unsupported type", "attrs")
    return value


def merge_attrs(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge patch, limited to the two levels attrs allow; the result must stay within
    MAX_ATTRS_BYTES (400 attrs_too_large)."""
    result = dict(current)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            base = result.get(key)
            merged = dict(base) if isinstance(base, dict) else {}
            for inner_key, inner in value.items():
                if inner is None:
                    merged.pop(inner_key, None)
                else:
                    merged[inner_key] = inner
            result[key] = merged
        else:
            result[key] = value
    refuse_larger_than(result, "attrs", MAX_ATTRS_BYTES)
    return result


def metadata(value: Any) -> dict[str, str | int | float | bool]:
    if not isinstance(value, dict):
        raise bad_request("metadata_invalid", "metadata must be an object", "metadata")
    for key, item in value.items():
        if not key or len(key) > MAX_METADATA_KEY:
            raise bad_request("metadata_invalid", f"metadata keys must be 1-{MAX_METADATA_KEY} characters", "metadata")
        if item is None or not isinstance(item, (str, int, float, bool)):
            raise bad_request("metadata_invalid", f"metadata.{key} must be a string, number or boolean", "metadata")
        if isinstance(item, str) and len(item) > MAX_METADATA_VALUE:
            raise bad_request(
                "metadata_invalid", f"metadata.{key} must be at most {MAX_METADATA_VALUE} characters", "metadata"
            )
    refuse_larger_than(value, "metadata", MAX_METADATA_BYTES)  # metadata is replaced whole, never merged
    return value
