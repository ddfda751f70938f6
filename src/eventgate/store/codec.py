"""JSON columns: encode and decode with msgspec, the same on every backend."""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def dump(value: Any) -> str:
    return _encoder.encode(value).decode()


def load(text: str | bytes | None) -> Any:
    if text is None:
        return None
    return _decoder.decode(text)
