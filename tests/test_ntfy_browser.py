"""ntfy's `/sse` in a real headless Chromium: a page's EventSource (which cannot send headers)
subscribes with `?auth=` and receives an event's operations as ntfy messages.

Needs Debian's chromium and Playwright, as tests/test_dashboard_browser.py (skipped without
them, except under CI=true)."""

from __future__ import annotations

import json
from typing import Any

from tests.intake import intake_channel
from tests.live_client import close, create
from tests.ntfy_client import auth_parameter, basic
from tests.test_dashboard_browser import WAIT_MS, browser  # noqa: F401  (fixture)

LISTEN = """([path]) => {
    window.ntfy = {messages: [], named: []};
    const source = new EventSource(path);
    source.onmessage = (message) => window.ntfy.messages.push(JSON.parse(message.data));
    for (const name of ["open", "keepalive", "message_clear", "message_delete"]) {
        source.addEventListener(name, (event) => { if (event.data) window.ntfy.named.push(name); });
    }
}"""


def test_an_eventsource_receives_an_events_messages(server: Any, browser: Any) -> None:  # noqa: F811
    home = intake_channel(server)
    key = server.create_key(workspace_id=home.workspace_id)
    page = browser.new_page()
    try:
        page.goto(server.base_url + "/")
        page.evaluate(LISTEN, [f"/{home.channel_id}/sse?auth={auth_parameter(basic(key))}"])
        page.wait_for_function("() => window.ntfy.named.includes('open')", timeout=WAIT_MS)
        producer = server.client()
        event_id = create(producer, home.channel_id, title="Garage", message="door open", severity="high")
        close(producer, home.channel_id, event_id, message="door closed", severity="low")
        page.wait_for_function("() => window.ntfy.messages.length >= 2", timeout=WAIT_MS)
        messages = page.evaluate("() => window.ntfy.messages")
    finally:
        page.close()
    assert [m["sequence_id"] for m in messages] == [event_id, event_id]
    assert [(m["title"], m["message"], m["priority"]) for m in messages] == [
        ("Garage", "door open", 4), ("Closed: Garage", "door closed", 2)], json.dumps(messages)
