"""People act on events (SPEC §11): acknowledge, close (resolve) and add a note.

Each is an operation on the event's timeline like a producer's, carrying who did it (`by`, an
API key's user_id, or "via link" for a one-tap link) so that timelines, streams and
destinations tell who acted:

- acknowledge: an `update` whose fields are `{"acknowledged": true, "by": …}`; the event gets
  `acknowledged_at` and `acknowledged_by` (the first acknowledgement is kept). Producers'
  later updates keep it, unless they raise the severity (domain/lifecycle.py).
- close: a `close` with status `resolved` and `by`.
- note: an `update` whose fields are `{"note": text, "by": …}`; the event itself is unchanged
  but for `updated_at`.
"""

from __future__ import annotations

from typing import Any

from eventgate import ids
from eventgate.domain import fields as rules
from eventgate.domain.errors import bad_request
from eventgate.domain.lifecycle import LifecycleCommand
from eventgate.domain.times import now_ms

MAX_NOTE = 4096
RESOLVED = "resolved"


def _command(kind: str, event_id: str, workspace_id: str, actor: str, **extra: Any) -> LifecycleCommand:
    return LifecycleCommand(kind=kind, channel_id=None, op_id=ids.new_op_id(), event_id=event_id,  # type: ignore[arg-type]
                            event_time=now_ms(), workspace_id=workspace_id, actor=actor, **extra)


def acknowledge_command(event_id: str, *, workspace_id: str, actor: str) -> LifecycleCommand:
    return _command("update", event_id, workspace_id, actor, acknowledge=True)


def close_command(event_id: str, *, workspace_id: str, actor: str) -> LifecycleCommand:
    return _command("close", event_id, workspace_id, actor, changes={"status": RESOLVED})


def note_command(event_id: str, text: Any, *, workspace_id: str, actor: str) -> LifecycleCommand:
    if not isinstance(text, str) or not text.strip():
        raise bad_request("text_required", "text is required: the note", "text")
    if len(text) > MAX_NOTE:
        raise bad_request("text_too_long", f"text must be at most {MAX_NOTE} characters", "text")
    return _command("update", event_id, workspace_id, actor, note=rules.text(text, "text", MAX_NOTE, trim=False))
