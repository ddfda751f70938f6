"""Reading request bodies: content type, size limit, strict decoding into a msgspec Struct.

Every decoded body passes the one input check (domain/input_check.py) here, so no route can
hand the store or the broker a value they refuse. Decoding errors become DomainErrors with
codes that name the field, so each API module can render them in its own error shape.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from eventgate.domain.errors import DomainError, bad_request
from eventgate.domain.input_check import check_fields

T = TypeVar("T")

MAX_BODY_BYTES = 32 * 1024
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")
_AT_PATH = re.compile(r" - at `\$\.?([A-Za-z0-9_]*)")

_decoders: dict[type, msgspec.json.Decoder] = {}


def is_json_content_type(value: str) -> bool:
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise payload_too_large(max_bytes)
        except ValueError:
            raise bad_request("invalid_content_length", "Content-Length is not a number") from None
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > max_bytes:
            raise payload_too_large(max_bytes)
    return bytes(chunks)


def payload_too_large(max_bytes: int) -> DomainError:
    return DomainError(413, "payload_too_large", f"the request body must be at most {max_bytes} bytes")


async def read_json_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The raw body of a request that must declare a JSON content type (else 415)."""
    if not is_json_content_type(request.headers.get("content-type", "")):
        raise DomainError(415, "missing_json_content_type", "Content-Type must be application/json")
    return await read_body(request, max_bytes)


def decode_struct(body: bytes, struct_type: type[T]) -> T:
    """Strictly decode a JSON object into struct_type; unknown fields, wrong types and values
    the input check refuses are 400s."""
    decoder = _decoders.get(struct_type)
    if decoder is None:
        decoder = _decoders[struct_type] = msgspec.json.Decoder(struct_type)
    if not body.strip():
        raise bad_request("invalid_json", "the request body must be a JSON object")
    try:
        struct = decoder.decode(body)
    except msgspec.ValidationError as error:
        raise validation_error(error) from None
    except msgspec.DecodeError as error:
        raise bad_request("invalid_json", f"the request body is not valid JSON: {error}") from None
    except UnicodeDecodeError:  # msgspec checks UTF-8 only as it builds a string
        raise bad_request("invalid_json", "the request body is not valid UTF-8") from None
    except RecursionError:
        raise bad_request("invalid_json", "the request body is nested too deeply") from None
    return checked(struct)


def convert_struct(fields: dict[str, Any], struct_type: type[T]) -> T:
    """Like decode_struct, for fields read some other way (a form body)."""
    try:
        return checked(msgspec.convert(fields, struct_type))
    except msgspec.ValidationError as error:
        raise validation_error(error) from None


def checked(struct: T) -> T:
    """The struct, once every value in it has passed the input check (nested structs too:
    to_builtins turns them into dicts and leaves out the fields the request did not send)."""
    check_fields(msgspec.to_builtins(struct))
    return struct


def validation_error(error: msgspec.ValidationError) -> DomainError:
    text = str(error)
    at = _AT_PATH.search(text)
    name = at.group(1) if at else ""
    unknown = _UNKNOWN_FIELD.search(text)
    if unknown and not name:
        return bad_request("unknown_field", f"unknown field {unknown.group(1)!r}", unknown.group(1))
    if name:  # within a field, even an unknown key inside it (actions[0]), that field is invalid
        # More than 4,300 digits: msgspec refuses them itself; say so in the input check's words.
        code = "out_of_range" if text.startswith("Integer value out of range") else "invalid"
        detail, _, where = text.partition(" - at ")
        if where != f"`$.{name}`":  # deeper inside the field (`$.actions[0]`): keep the path
            detail = text
        return bad_request(f"{name}_{code}", f"{name}: {detail}", name)
    if text.startswith("Expected `object`"):
        return bad_request("invalid_json", "the request body must be a JSON object")
    return bad_request("invalid_request", text)


def sent_fields(struct: Any) -> dict[str, Any]:
    """Fields present in the request; JSON null counts as absent, msgspec.UNSET marks the rest."""
    return {name: value for name in struct.__struct_fields__
            if (value := getattr(struct, name)) is not msgspec.UNSET and value is not None}
