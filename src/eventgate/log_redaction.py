"""No secret reaches a log line: the logging filter `eventgate serve` puts on every handler.

What would otherwise be logged (uvicorn 0.54, websockets 17):

- at INFO, uvicorn's WebSocket protocol logs each handshake's path with its query string,
  `"WebSocket /api/v1/ws/subscribe?token=egk_…" [accepted]` (the dashboard's subscription);
- at DEBUG, the websockets library (which uvicorn hands the `uvicorn.error` logger) logs the
  handshake request line and every request header, `< authorization: Bearer …`,
  `< x-api-key: …`, `< cookie: …`;
- an access log, a library's own logger (websockets, httpx) or a traceback's message may
  carry the same things.

The filter renders each record's message (`record.getMessage()`, so %-style args are redacted
after formatting) and replaces, with `***`: the values of secret-looking query or key=value
parameters (token, key, api_key, password, secret, auth …), the values of the Authorization,
Proxy-Authorization, X-Api-Key, Cookie and Set-Cookie headers, bearer credentials, and any API
key (`egk_…`) wherever it appears. Tracebacks and stack info are redacted the same way.

Two formats (`serve --log-format`): `text`, uvicorn's own lines, and `json`, one JSON object
per line for log shippers (JsonFormatter), on every handler alike, the filter still first.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from datetime import datetime, timezone
from typing import Any

from eventgate.auth.keys import KEY_PREFIX

MASK = "***"

# Names whose values are secrets: a query parameter, a key=value pair or a "name": "value" pair.
_SECRET_NAME = (r"[\w.-]*(?:token|key|password|passwd|pwd|secret|auth|authorization|credentials?|cookie|session)"
                r"[\w.-]*")
_HEADER_NAME = r"(?:proxy-authorization|authorization|x-api-key|x-auth-token|cookie|set-cookie)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A header line, as the websockets library logs it ("< authorization: Bearer …"), to its end.
    (re.compile(rf"(?im)^([<>]?[ \t]*{_HEADER_NAME}[ \t]*:[ \t]*)[^\r\n]*"), rf"\g<1>{MASK}"),
    # A header in a repr: ('authorization', 'Bearer …') or (b'cookie', b'…').
    (re.compile(rf"""(?i)(b?(['"]){_HEADER_NAME}\2\s*,\s*b?(['"]))(?:(?!\3).)*"""), rf"\g<1>{MASK}"),
    # A header in a dict repr or JSON: 'authorization': 'Bearer …'.
    (re.compile(rf"""(?i)(b?(['"]){_HEADER_NAME}\2\s*:\s*b?(['"]))(?:(?!\3).)*"""), rf"\g<1>{MASK}"),
    # A header written as "Authorization: Bearer …" inside a line (not at its start).
    (re.compile(rf"(?i)(\b{_HEADER_NAME}[ \t]*:[ \t]*)(?![ \t]*['\"])[^\r\n,;'\"]*"), rf"\g<1>{MASK}"),
    # Bearer / Basic credentials anywhere.
    (re.compile(r"\b((?:[Bb]earer|BEARER|Basic)[ \t]+)(?!\*\*\*)[A-Za-z0-9._~+/=-]{4,}"), rf"\g<1>{MASK}"),
    # A query parameter or key=value pair: ?token=…, &api_key=…, password=….
    (re.compile(rf"(?i)((?<![\w.-]){_SECRET_NAME}=)[^&\s\"'#,;)\]}}]*"), rf"\g<1>{MASK}"),
    # A quoted name and value (JSON, dict repr): "password": "…", 'token': '…'.
    (re.compile(rf"""(?i)((['"]){_SECRET_NAME}\2\s*:\s*(['"]))(?:(?!\3).)*"""), rf"\g<1>{MASK}"),
    # An API key anywhere (keys.new_key: the prefix and token_urlsafe).
    (re.compile(rf"{re.escape(KEY_PREFIX)}[A-Za-z0-9_-]+"), MASK),
)


def redact(text: str) -> str:
    """`text` with every secret replaced by `***`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactingFilter(logging.Filter):
    """Redacts a record's message, args, traceback and stack info; never drops a record.

    When redacting each string argument (and the format string) gives the redacted message, the
    record keeps its args (uvicorn's AccessFormatter unpacks them); otherwise its msg becomes
    the redacted rendered message and its args are dropped."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: render what there is, redacted
            message = f"{record.msg!s} {record.args!r}"
            record.msg, record.args = redact(message), None
        else:
            redacted = redact(message)
            if redacted != message:
                self._replace_message(record, redacted)
        color_message = record.__dict__.get("color_message")  # uvicorn's coloured twin of msg
        if isinstance(color_message, str):
            try:
                rendered = color_message % record.args if record.args else color_message
            except Exception:
                rendered = None
            if rendered is None or redact(rendered) != rendered:
                del record.__dict__["color_message"]  # the plain message is logged instead
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True

    @staticmethod
    def _replace_message(record: logging.LogRecord, redacted: str) -> None:
        args = record.args
        if isinstance(args, tuple):
            new_args: Any = tuple(_redact_value(arg) for arg in args)
        elif isinstance(args, dict):
            new_args = {name: _redact_value(value) for name, value in args.items()}
        else:
            new_args = args
        new_msg = _redact_value(record.msg)
        try:
            kept = new_msg % new_args if new_args else new_msg
        except Exception:
            kept = None
        if isinstance(new_msg, str) and kept == redacted:
            record.msg, record.args = new_msg, new_args
        else:
            record.msg, record.args = redacted, None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, pid, and the
    traceback (`exception`) or stack (`stack`) when the record has one. uvicorn's access
    records also give their parts (client, method, path, status)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        _log_stray_output()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            entry["client"], entry["method"], entry["path"], _, entry["status"] = args
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def _log_stray_output() -> None:
    """Warnings and a thread's uncaught exception are written to stderr as they are, past every
    handler: in a JSON log, send them through logging (the filter, the formatter) instead."""
    logging.captureWarnings(True)
    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = _log_thread_exception


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("eventgate").error("uncaught exception in thread %s", name,
                                         exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def logging_config(log_level: str, log_format: str = "text") -> dict[str, Any]:
    """uvicorn's default logging configuration with the redacting filter on every handler, and
    the root logger (websockets, httpx, eventgate's own loggers) on the same filtered handler
    at WARNING or `log_level` if higher (as Python's last-resort handler logged it). With
    `log_format` json, every handler writes JsonFormatter's lines."""
    from uvicorn.config import LOG_LEVELS, LOGGING_CONFIG

    if log_format not in ("text", "json"):
        raise ValueError(f"unknown log format {log_format!r}: text or json")
    config = copy.deepcopy(LOGGING_CONFIG)
    if log_format == "json":
        config["formatters"] = {name: {"()": f"{__name__}.JsonFormatter"} for name in config["formatters"]}
    config.setdefault("filters", {})["redact_secrets"] = {"()": f"{__name__}.RedactingFilter"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact_secrets"]
    level = max(logging.WARNING, LOG_LEVELS[log_level.lower()])
    config["root"] = {"handlers": ["default"], "level": logging.getLevelName(level)}
    return config
