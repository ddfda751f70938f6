"""The board for people on call, in a real headless Chromium: a minimum severity, channel and
type pickers filled from the server, ten and more events on a laptop screen, "remember me on
this device", and acknowledging and closing from the rows.

Fixtures and helpers come from tests/test_dashboard_browser.py (same Chromium, same server).
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from eventgate.store.schema import events
from eventgate.store.stats import HOUR_MS

from tests.test_dashboard_browser import (  # noqa: F401  (fixtures are used by name)
    WAIT_MS,
    Workspace,
    browser,
    page,
    people_key,
    row,
    rows,
    save_screenshot,
    screenshot_folder,
    sign_in,
    workspace,
)

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails
    pass

LAPTOP = {"width": 1400, "height": 900}


# (title, status, message, severity, tags, hours ago, closing message or None), oldest first.
ON_CALL_DAY = [
    ("Nightly backup finished", "done", "412 GB in 38 min", "low", ["backup"], 9, "412 GB in 38 min"),
    ("TLS certificate expires in 7 days", "open", "api.example.com renews on Friday", "normal", ["tls", "web"], 6,
     None),
    ("Garage door open", "open", "Opened by the keypad", "high", ["home"], 4, "Closed after 12 minutes"),
    ("ZFS snapshot pruned", "done", "tank/home, 14 snapshots", "low", ["backup"], 3.2, "tank/home, 14 snapshots"),
    ("VPN tunnel to site B down", "down", "No handshake for 3 min", "high", ["network"], 2.5, "Tunnel back up"),
    ("Printer out of toner", "open", "Office printer, black", "low", ["office"], 2, None),
    ("Failed SSH logins from 203.0.113.7", "blocked", "27 attempts, address banned for 1 h", "high", ["security"],
     1.6, "Ban expired"),
    ("CPU above 90% on build-2", "ongoing", "Load 14.2 for 10 minutes", "normal", ["ci"], 1.1, None),
    ("Mail queue growing", "ongoing", "318 messages deferred", "normal", ["mail"], 0.7, None),
    ("Disk almost full on db-1", "mitigating", "Rotating logs, /var at 97%", "critical", ["db", "disk"], 0.5, None),
    ("API latency above 800 ms", "ongoing", "p95 at 1.2 s for 5 minutes", "high", ["api", "web"], 0.25, None),
    ("UPS on battery", "on battery", "Mains lost in rack B, 42 min left", "critical", ["power"], 0.1, None),
]


def seed_on_call_day(workspace: Workspace) -> list[str]:
    """Twelve events of a day on call, created oldest first so the board lists them newest first."""
    now = int(time.time())
    ids = []
    for title, status, message, severity, tags, hours, closing in ON_CALL_DAY:
        event_id = workspace.create(title=title, status=status, message=message, severity=severity, tags=tags,
                                    event_time=now - int(hours * 3600))
        if closing:
            workspace.close(event_id, message=closing, severity=severity)
        shift = int(hours * HOUR_MS)
        with workspace.server.database.writer.begin() as connection:
            connection.execute(sa.update(events).where(events.c.workspace_id == workspace.id, events.c.id == event_id)
                               .values(created_at=events.c.created_at - shift,
                                       updated_at=events.c.updated_at - shift + (shift // 3 if closing else 0)))
        ids.append(event_id)
    return ids


@pytest.fixture
def laptop(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP, color_scheme="light", locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def rows_in_view(page: Page) -> int:
    """Event rows wholly inside the viewport, as a person sees them without scrolling."""
    return page.evaluate("""() => [...document.querySelectorAll('.event-list > li.event-row')]
        .filter((node) => { const box = node.getBoundingClientRect();
                            return box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0; })
        .length""")


# -- a denser list ----------------------------------------------------------------------------------


def test_the_board_shows_ten_events_and_more_on_a_laptop_screen(laptop, server, workspace, screenshot_folder):
    seed_on_call_day(workspace)
    sign_in(laptop, server, workspace.key)
    expect(rows(laptop)).to_have_count(12)
    expect(laptop.locator(".overview svg.chart .hour")).to_have_count(24)
    assert rows_in_view(laptop) >= 10
    save_screenshot(laptop, screenshot_folder, "board")


# -- severity as a minimum --------------------------------------------------------------------------


def test_the_severity_filter_is_a_minimum_on_the_page_and_live(page, server, workspace):
    critical = workspace.create(title="Critical one", severity="critical")
    high = workspace.create(title="High one", severity="high")
    normal = workspace.create(title="Normal one", severity="normal")
    sign_in(page, server, workspace.key)
    expect(rows(page)).to_have_count(3)
    expect(page.locator("select[name=severity] option[value=high]")).to_have_text("High or above")
    page.select_option("select[name=severity]", "high")
    expect(rows(page)).to_have_count(2)
    expect(row(page, critical)).to_have_count(1)
    expect(row(page, high)).to_have_count(1)
    expect(row(page, normal)).to_have_count(0)
    assert "severity=high" in page.url
    # Live: a new critical event joins, a low one does not, a raised one joins in its place.
    late = workspace.create(title="Late critical", severity="critical")
    quiet = workspace.create(title="Late low", severity="low")
    expect(row(page, late)).to_have_count(1)
    workspace.update(normal, severity="high")
    expect(row(page, normal)).to_have_count(1)
    expect(rows(page)).to_have_count(4)
    expect(row(page, quiet)).to_have_count(0)
    # Lowered below the minimum: it leaves.
    workspace.update(high, severity="low")
    expect(row(page, high)).to_have_count(0)
    page.reload()
    expect(page.locator("select[name=severity]")).to_have_value("high")
    expect(rows(page)).to_have_count(3)


# -- channel and type pickers -----------------------------------------------------------------------


def register_type(workspace: Workspace, code: str, name: str) -> None:
    reply = workspace.api.post("/api/b/v2/events", json={"code": code, "name": name})
    assert reply.status_code in (200, 201), reply.text


def test_an_admin_key_picks_channels_and_types_by_name(page, server, workspace):
    other = server.create_channel(workspace_id=workspace.id, name="office")
    register_type(workspace, "disk_full", "Disk full")
    register_type(workspace, "door_open", "Door open")
    home = typed_event(workspace, workspace.channel, "At home", "door_open")
    office = typed_event(workspace, other, "At the office", "disk_full")
    sign_in(page, server, workspace.key)
    expect(rows(page)).to_have_count(2)
    channel = page.locator("select[name=channel_id]")
    expect(channel.locator("option")).to_have_text(["Any channel", *sorted_names(workspace, ["home-lab", "office"])])
    channel.select_option(label="office")
    expect(rows(page)).to_have_count(1)
    expect(row(page, office)).to_have_count(1)
    assert f"channel_id={other}" in page.url
    channel.select_option("")
    expect(rows(page)).to_have_count(2)
    types = page.locator("select[name=event_type]")
    expect(types.locator("option", has_text="Door open (door_open)")).to_have_count(1)
    types.select_option("door_open")
    expect(rows(page)).to_have_count(1)
    expect(row(page, home)).to_have_count(1)
    page.reload()
    expect(page.locator("select[name=event_type]")).to_have_value("door_open")


def typed_event(workspace: Workspace, channel_id: str, title: str, event_type: str) -> str:
    reply = workspace.api.post("/events", json={"title": title, "subtitle": "happened", "topics": [],
                                                "channel_id": channel_id, "event_type": event_type})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def sorted_names(workspace: Workspace, names: list[str]) -> list[str]:
    """The channels' names in the order GET /admin/channels lists them (with the default channel)."""
    listed = [channel["name"] for channel in workspace.api.get("/admin/channels").json()["data"]]
    assert set(names) <= set(listed)
    return listed


def test_a_key_restricted_to_one_channel_picks_from_its_own_channels(page, server, workspace):
    workspace.create(title="Mine")
    key = server.create_key(("events:read", "subscribe"), workspace_id=workspace.id, user="night",
                            channels=(workspace.channel,))
    sign_in(page, server, key)
    expect(rows(page)).to_have_count(1)
    channel = page.locator("select[name=channel_id]")
    expect(channel.locator("option")).to_have_count(2)
    channel.select_option(workspace.channel)
    expect(rows(page)).to_have_count(1)


def test_a_key_that_cannot_list_channels_or_types_keeps_text_fields(page, server, workspace):
    event_id = workspace.create(title="Typed by hand")
    key = server.create_key(("events:read", "subscribe"), workspace_id=workspace.id, user="reader")
    sign_in(page, server, key)
    expect(row(page, event_id)).to_have_count(1)
    expect(page.locator("input[name=channel_id]")).to_be_visible()
    expect(page.locator("input[name=event_type]")).to_be_visible()
    expect(page.locator(f'#channel-options option[value="{workspace.channel}"]')).to_have_count(1)
    page.fill("input[name=channel_id]", workspace.channel)
    page.press("input[name=channel_id]", "Enter")
    expect(rows(page)).to_have_count(1)
    assert f"channel_id={workspace.channel}" in page.url


# -- remember me on this device ---------------------------------------------------------------------


def sign_in_form(page: Page, server: Any, key: str, *, remember: bool) -> None:
    page.goto(server.base_url + "/")
    page.fill("#api-key", key)
    if remember:
        page.check("#remember-key")
    page.click("button[type=submit]")
    expect(page.locator("#sign-out")).to_be_visible()


def test_without_remember_me_a_new_tab_asks_for_the_key_again(page, server, workspace):
    page.goto(server.base_url + "/")
    expect(page.locator("#remember-key")).not_to_be_checked()
    sign_in_form(page, server, workspace.key, remember=False)
    assert page.evaluate("localStorage.length") == 0
    second = page.context.new_page()
    second.goto(server.base_url + "/")
    expect(second.locator("#api-key")).to_be_visible()
    expect(second.locator("#sign-out")).to_have_count(0)


def test_remember_me_opens_new_tabs_signed_in_until_sign_out(page, server, workspace, screenshot_folder):
    page.goto(server.base_url + "/")
    page.check("#remember-key")
    save_screenshot(page, screenshot_folder, "sign-in-remember")
    sign_in_form(page, server, workspace.key, remember=True)
    assert page.evaluate("localStorage.getItem('eventgate.key')") == workspace.key
    assert page.evaluate("sessionStorage.getItem('eventgate.key')") is None
    second = page.context.new_page()
    second.goto(server.base_url + "/")
    expect(second.locator("#sign-out")).to_be_visible()
    second.click("#sign-out")
    expect(second.locator("#api-key")).to_be_visible()
    assert second.evaluate("localStorage.getItem('eventgate.key')") is None
    third = page.context.new_page()
    third.goto(server.base_url + "/")
    expect(third.locator("#api-key")).to_be_visible()


# -- acknowledge and close from the board -----------------------------------------------------------


def test_acknowledge_and_close_from_a_row_update_it_in_place(page, server, workspace, screenshot_folder):
    event_id = workspace.create(title="Disk full on nas", severity="high")
    done = workspace.create(title="Already over")
    workspace.close(done)
    sign_in(page, server, people_key(workspace, "alice"))
    target = row(page, event_id)
    expect(target.locator("button[data-action=acknowledge]")).to_be_visible()
    expect(row(page, done).locator(".row-act")).to_have_count(0)
    save_screenshot(page, screenshot_folder, "board-actions")
    target.locator("button[data-action=acknowledge]").click()
    expect(target.locator(".ack-badge")).to_have_text("acknowledged")
    expect(target.locator("button[data-action=acknowledge]")).to_have_count(0)
    assert workspace.api.get(f"/events/{event_id}").json()["data"]["acknowledged_by"] == "alice"
    target.locator("button[data-action=close]").click()
    expect(target).to_have_attribute("data-state", "closed")
    expect(target.locator(".row-act")).to_have_count(0)
    expect(rows(page)).to_have_count(2)
    assert workspace.api.get(f"/events/{event_id}").json()["data"]["state"] == "closed"


def test_an_acknowledgement_made_elsewhere_updates_the_rows_actions_live(page, server, workspace):
    event_id = workspace.create(title="Someone else takes it")
    sign_in(page, server, people_key(workspace, "alice"))
    expect(row(page, event_id).locator("button[data-action=acknowledge]")).to_be_visible()
    assert workspace.api.post(f"/events/{event_id}/acknowledge").status_code == 200
    expect(row(page, event_id).locator(".ack-badge")).to_have_text("acknowledged")
    expect(row(page, event_id).locator("button[data-action=acknowledge]")).to_have_count(0)
    expect(row(page, event_id).locator("button[data-action=close]")).to_be_visible()


def test_closing_from_an_ongoing_view_takes_the_row_off(page, server, workspace):
    event_id = workspace.create(title="Goes away")
    stays = workspace.create(title="Stays")
    sign_in(page, server, people_key(workspace), "#/?state=ongoing")
    expect(rows(page)).to_have_count(2)
    row(page, event_id).locator("button[data-action=close]").click()
    expect(row(page, event_id)).to_have_count(0)
    expect(row(page, stays)).to_have_count(1)


def test_a_key_without_events_write_sees_no_row_actions(page, server, workspace):
    event_id = workspace.create(title="Look, don't touch")
    reader = server.create_key(("events:read", "subscribe"), workspace_id=workspace.id)
    sign_in(page, server, reader)
    expect(row(page, event_id)).to_have_count(1)
    expect(page.locator(".event-list button")).to_have_count(0)


def test_a_refused_row_action_says_why(page, server, workspace):
    event_id = workspace.create(title="Closed behind the board's back")
    sign_in(page, server, people_key(workspace))
    expect(row(page, event_id).locator("button[data-action=close]")).to_be_visible()
    # The server refuses (as it would for an event closed a moment earlier): its words are shown.
    page.route("**/events/*/close", lambda route: route.fulfill(
        status=409, content_type="application/json",
        body='{"error": "the event is already closed", "error_code": "event_closed"}'))
    row(page, event_id).locator("button[data-action=close]").click()
    expect(page.locator(".board .action-message")).to_contain_text("the event is already closed")
    expect(row(page, event_id).locator("button[data-action=close]")).to_be_enabled()
