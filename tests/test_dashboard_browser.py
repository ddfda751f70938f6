"""The dashboard in a real headless Chromium, against a real eventgate on a real socket.

Needs Debian's `chromium` (/usr/bin/chromium) and Playwright for Python (never its own
browser download). Without them these tests are skipped, except under CI=true, where they
fail. Screenshots of the main views go to a temporary folder; with
EVENTGATE_UPDATE_SCREENSHOTS=1 they replace the ones in docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import sqlalchemy as sa

from eventgate.store.schema import events
from eventgate.store.stats import HOUR_MS
from tests.conftest import IN_CI, PASSWORD
from tests.helpers import body_form, lifecycle_body

CHROMIUM = os.environ.get("EVENTGATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
WAIT_MS = 20_000  # upper bound for the page to react; a pass never waits this long

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
except ImportError:  # pragma: no cover - reported by the fixture below
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = []
    if sync_playwright is None:
        missing.append("the playwright package (pip install -r requirements.lock)")
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshot_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("EVENTGATE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


def save_screenshot(page: Page, folder: Path, name: str, *, full_page: bool = False) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class Workspace:
    """A fresh workspace: a channel for producers, an admin key for the dashboard."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.id = server.create_workspace()
        self.channel = server.create_channel(workspace_id=self.id, name="home-lab")
        self.key = server.create_key(("admin",), workspace_id=self.id, user="ops")
        self.producer: httpx.Client = server.client()
        self.api: httpx.Client = server.client(headers={"Authorization": f"Bearer {self.key}"})

    def create(self, **fields: Any) -> str:
        reply = self.producer.post("/event/create", json=body_form(self.channel, **fields))
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]["event_id"]

    def update(self, event_id: str, **fields: Any) -> None:
        reply = self.producer.post("/event/update", json=lifecycle_body(self.channel, event_id, **fields))
        assert reply.status_code == 200, reply.text

    def close(self, event_id: str, **fields: Any) -> None:
        fields.setdefault("status", "resolved")
        reply = self.producer.post("/event/close", json=lifecycle_body(self.channel, event_id, **fields))
        assert reply.status_code == 200, reply.text

    def age(self, event_id: str, hours: float) -> None:
        """Test setup: move an event's creation back in time (for the 24-hour chart)."""
        with self.server.database.writer.begin() as connection:
            connection.execute(sa.update(events).where(events.c.workspace_id == self.id, events.c.id == event_id)
                               .values(created_at=events.c.created_at - int(hours * HOUR_MS)))


@pytest.fixture
def workspace(server) -> Workspace:
    return Workspace(server)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light",
                                  locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("dialog", lambda dialog: dialog.accept())  # the confirm() before rotating or revoking
    yield opened
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def sign_in(page: Page, server: Any, key: str, fragment: str = "") -> None:
    page.goto(server.base_url + "/" + fragment)
    page.fill("#api-key", key)
    page.click("button[type=submit]")
    expect(page.locator("#sign-out")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-live", "live")


def rows(page: Page):  # noqa: ANN201
    return page.locator(".event-list > li.event-row")


def row(page: Page, event_id: str):  # noqa: ANN201
    return page.locator(f'.event-list > li[data-event-id="{event_id}"]')


def seed_demo(workspace: Workspace) -> dict[str, str]:
    """A few realistic events spread over the day, for the board and the screenshots."""
    now = int(time.time())
    ids = {}
    ids["backup"] = workspace.create(title="Nightly backup finished", status="done", message="412 GB in 38 min",
                                     severity="low", tags=["backup"], event_time=now - 3600 * 9)
    workspace.close(ids["backup"], message="412 GB in 38 min", severity="low")
    workspace.age(ids["backup"], 9)
    ids["cert"] = workspace.create(title="TLS certificate expires in 7 days", status="open",
                                   message="api.example.com renews on Friday", severity="normal",
                                   tags=["tls", "web"], event_time=now - 3600 * 6)
    workspace.age(ids["cert"], 6)
    ids["door"] = workspace.create(title="Garage door open", status="open", message="Opened by the keypad",
                                   severity="high", tags=["home"], thing_id="garage-door",
                                   attrs={"sensor": "door-2", "battery": {"level": 81, "unit": "%"}},
                                   event_time=now - 3600 * 2)
    workspace.close(ids["door"], message="Closed after 12 minutes", severity="normal")
    workspace.age(ids["door"], 2)
    ids["disk"] = workspace.create(title="Disk almost full on db-1", status="investigating",
                                   message="/var/lib/postgresql at 91%", severity="high", tags=["db", "disk"],
                                   attrs={"host": "db-1", "usage": {"var": 91, "root": 40}},
                                   metadata={"region": "eu-west", "team": "storage"},
                                   images=["https://grafana.example.com/render/disk.png"], event_time=now - 1800)
    workspace.update(ids["disk"], status="mitigating", message="Rotating logs, /var at 97%", severity="critical",
                     attrs={"usage": {"var": 97}, "ticket": "OPS-1432"})
    ids["latency"] = workspace.create(title="API latency above 800 ms", status="ongoing",
                                      message="p95 at 1.2 s for 5 minutes", severity="high", tags=["api", "web"])
    return ids


# -- signing in -------------------------------------------------------------------------------------


def test_signing_in_shows_the_board_and_keeps_the_key_out_of_the_url(page, server, workspace, screenshot_folder):
    page.goto(server.base_url + "/")
    expect(page.locator("#api-key")).to_be_focused()
    save_screenshot(page, screenshot_folder, "sign-in")
    sign_in(page, server, workspace.key)
    expect(page.locator(".who")).to_contain_text("ops")
    assert workspace.key not in page.url
    assert page.evaluate("sessionStorage.getItem('eventgate.key')") == workspace.key
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""


def test_an_unknown_key_is_refused_with_a_message(page, server):
    page.goto(server.base_url + "/")
    page.fill("#api-key", "egk_this-key-does-not-exist")
    page.keyboard.press("Enter")
    expect(page.locator("#signin-error")).to_have_text("This key is unknown, revoked or expired.")
    assert page.evaluate("sessionStorage.getItem('eventgate.key')") is None


def test_the_key_survives_a_reload_of_the_tab(page, server, workspace):
    sign_in(page, server, workspace.key)
    page.reload()
    expect(page.locator("#sign-out")).to_be_visible()


def test_signing_out_forgets_the_key(page, server, workspace):
    sign_in(page, server, workspace.key)
    page.click("#sign-out")
    expect(page.locator("#api-key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('eventgate.key')") is None
    page.reload()
    expect(page.locator("#api-key")).to_be_visible()


def test_a_revoked_key_signs_the_tab_out_with_a_message(page, server, workspace):
    """The server ends the live stream of a revoked key (close code 4001): the tab signs out and
    says why instead of reconnecting forever."""
    key = server.create_key(("events:read", "subscribe"), workspace_id=workspace.id, user="night-shift")
    sign_in(page, server, key)
    expect(page.locator("html[data-live=live]")).to_have_count(1)
    key_id = server.client(headers={"Authorization": f"Bearer {key}"}).get("/whoami").json()["data"]["id"]
    assert workspace.api.delete(f"/admin/keys/{key_id}").status_code in (200, 204)
    expect(page.locator("#api-key")).to_be_visible()
    expect(page.get_by_text("Your key was revoked. Sign in with another key.")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('eventgate.key')") is None


# -- the live board ---------------------------------------------------------------------------------


def test_an_event_posted_through_the_api_appears_live(page, server, workspace):
    sign_in(page, server, workspace.key)
    expect(page.locator(".list-status")).to_have_text("No events yet. They appear here live.")
    event_id = workspace.create(title="Front door opened", message="by the keypad", severity="critical")
    shown = row(page, event_id)
    expect(shown.locator(".row-title")).to_have_text("Front door opened")
    expect(shown.locator(".severity")).to_have_text("Critical")
    expect(shown.locator(".state")).to_have_text("ongoing")


def test_live_updates_change_the_events_row_in_place(page, server, workspace):
    event_id = workspace.create(title="Replica lag", message="12 s behind", severity="high")
    sign_in(page, server, workspace.key)
    expect(row(page, event_id)).to_have_count(1)
    workspace.update(event_id, message="40 s behind", status="worsening")
    expect(row(page, event_id).locator(".row-message")).to_have_text("40 s behind")
    workspace.close(event_id, message="caught up")
    expect(row(page, event_id).locator(".state")).to_have_text("closed")
    expect(row(page, event_id)).to_have_count(1)
    expect(rows(page)).to_have_count(1)


def test_the_board_lists_events_newest_first(page, server, workspace):
    first = workspace.create(title="First")
    second = workspace.create(title="Second")
    sign_in(page, server, workspace.key)
    expect(rows(page)).to_have_count(2)
    assert rows(page).evaluate_all("nodes => nodes.map(n => n.dataset.eventId)") == [second, first]


def test_scrolling_down_loads_older_pages(page, server, workspace):
    created = [workspace.create(title=f"Event number {n}", severity="low") for n in range(65)]
    sign_in(page, server, workspace.key)
    expect(rows(page)).not_to_have_count(0)
    page.locator(".sentinel").scroll_into_view_if_needed()
    expect(rows(page)).to_have_count(65)
    expect(row(page, created[0])).to_have_count(1)
    expect(page.locator(".list-status")).to_have_text("65 events; that is all.")


def test_a_deleted_event_leaves_the_board_live(page, server, workspace):
    reply = workspace.api.post("/events", json={"title": "Temporary", "subtitle": "to be deleted", "topics": ["t"]})
    event_id = reply.json()["id"]
    sign_in(page, server, workspace.key)
    expect(row(page, event_id)).to_have_count(1)
    assert workspace.api.delete(f"/events/{event_id}").status_code == 204
    expect(row(page, event_id)).to_have_count(0)


def test_reconnecting_resumes_with_since_and_shows_no_event_twice(page, server, workspace):
    sockets: list[Any] = []
    gate = {"open": True}

    def route_socket(socket: Any) -> None:
        sockets.append(socket)
        if gate["open"]:
            socket.connect_to_server()
        else:
            socket.close(code=1011, reason="test: server unreachable")

    page.route_web_socket(re.compile(r".*/api/v1/ws/subscribe.*"), route_socket)
    before = workspace.create(title="Seen before the drop")
    sign_in(page, server, workspace.key)
    expect(row(page, before)).to_have_count(1)
    live = workspace.create(title="Seen live")
    expect(row(page, live)).to_have_count(1)

    gate["open"] = False
    sockets[-1].close(code=1006, reason="test: connection lost")
    expect(page.locator("#banner")).to_contain_text("Reconnecting…")
    expect(page.locator(".live-pill")).to_have_text("Reconnecting…")
    missed = workspace.create(title="Created while disconnected")
    workspace.update(live, message="changed while disconnected")

    gate["open"] = True
    page.click("#banner button")  # "Retry now"
    expect(page.locator("html")).to_have_attribute("data-live", "live")
    expect(page.locator("#banner")).to_be_hidden()
    expect(row(page, missed)).to_have_count(1)
    expect(row(page, live).locator(".row-message")).to_have_text("changed while disconnected")
    assert "since=" in sockets[-1].url
    for event_id in (before, live, missed):
        expect(row(page, event_id)).to_have_count(1)
    expect(rows(page)).to_have_count(3)


# -- filters ----------------------------------------------------------------------------------------


def test_filters_narrow_the_board_and_live_in_the_url(page, server, workspace):
    high = workspace.create(title="High one", severity="high", tags=["db"])
    low = workspace.create(title="Low one", severity="low", tags=["web"])
    sign_in(page, server, workspace.key)
    expect(rows(page)).to_have_count(2)
    page.select_option("select[name=severity]", "high")
    expect(rows(page)).to_have_count(1)
    expect(row(page, high)).to_have_count(1)
    assert "severity=high" in page.url

    page.reload()
    expect(page.locator("select[name=severity]")).to_have_value("high")
    expect(rows(page)).to_have_count(1)
    expect(row(page, low)).to_have_count(0)


def test_a_bookmarked_view_opens_with_its_filters(page, server, workspace):
    workspace.create(title="Disk almost full", tags=["db"])
    workspace.create(title="Printer out of paper", tags=["office"])
    sign_in(page, server, workspace.key, "#/?topic=office&state=ongoing")
    expect(page.locator("input[name=topic]")).to_have_value("office")
    expect(page.locator("select[name=state]")).to_have_value("ongoing")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).locator(".row-title")).to_have_text("Printer out of paper")


def test_text_search_filters_and_live_events_respect_it(page, server, workspace):
    workspace.create(title="Disk almost full on db-1")
    workspace.create(title="Printer jammed")
    sign_in(page, server, workspace.key)
    page.fill("input[name=q]", "disk")
    page.keyboard.press("Enter")
    expect(rows(page)).to_have_count(1)
    assert "q=disk" in page.url
    matching = workspace.create(title="Disk slow on db-2")
    other = workspace.create(title="Coffee machine empty")
    # Live events are held to the server's word search: "disk" is not a word of "Diskette".
    near_miss = workspace.create(title="Diskette drive found")
    expect(row(page, matching)).to_have_count(1)
    expect(rows(page)).to_have_count(2)
    expect(row(page, other)).to_have_count(0)
    expect(row(page, near_miss)).to_have_count(0)


def test_text_search_takes_prefixes_and_short_words(page, server, workspace):
    disk = workspace.create(title="Disk almost full on db-1")
    diskette = workspace.create(title="Diskette drive found")
    printer = workspace.create(title="Printer jammed")
    sign_in(page, server, workspace.key, "#/?q=db")
    expect(rows(page)).to_have_count(1)
    expect(row(page, disk)).to_have_count(1)
    page.fill("input[name=q]", "disk*")
    page.keyboard.press("Enter")
    expect(rows(page)).to_have_count(2)
    expect(row(page, diskette)).to_have_count(1)
    later = workspace.create(title="Diskless node booted")
    expect(row(page, later)).to_have_count(1)
    expect(row(page, printer)).to_have_count(0)
    page.fill("input[name=q]", "di*")
    page.keyboard.press("Enter")
    expect(page.locator("#search-hint")).to_contain_text("e.g. disk*")


def test_closing_an_event_takes_it_off_an_ongoing_view(page, server, workspace):
    event_id = workspace.create(title="Will close")
    sign_in(page, server, workspace.key, "#/?state=ongoing")
    expect(row(page, event_id)).to_have_count(1)
    workspace.close(event_id)
    expect(row(page, event_id)).to_have_count(0)


# -- the event page ---------------------------------------------------------------------------------


# The demo event's image, answered inside the browser (the tests reach no other host).
DISK_CHART_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="120" viewBox="0 0 320 120">'
    '<rect width="320" height="120" fill="#f4f6fa"/>'
    '<polyline fill="none" stroke="#e8710a" stroke-width="3" '
    'points="0,95 40,90 80,86 120,80 160,70 200,52 240,40 280,22 320,14"/>'
    '<text x="10" y="20" font-family="sans-serif" font-size="13" fill="#333">/var usage, 6 h</text></svg>'
)


def test_opening_an_event_shows_its_fields_and_timeline(page, server, workspace, screenshot_folder):
    ids = seed_demo(workspace)
    page.route("https://grafana.example.com/**",
               lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=DISK_CHART_SVG))
    sign_in(page, server, workspace.key)
    row(page, ids["disk"]).locator(".row-title").click()
    expect(page.locator("h1.event-title")).to_have_text("Disk almost full on db-1")
    assert page.url.endswith(f"#/events/{ids['disk']}")
    operations = page.locator(".timeline > li")
    expect(operations).to_have_count(2)
    expect(operations.nth(0).locator(".op-kind")).to_have_text("Created")
    expect(operations.nth(1).locator(".op-kind")).to_have_text("Updated")
    expect(operations.nth(1)).to_contain_text("Happened at the producer")
    expect(operations.nth(1)).to_contain_text("Received by eventgate")
    change = operations.nth(1).locator("tr", has=page.locator("th", has_text="attrs.usage.var"))
    expect(change.locator("td.before")).to_have_text("91")
    expect(change.locator("td.after")).to_have_text("97")
    expect(page.locator("table.kv th", has_text="ticket").locator("xpath=following-sibling::td")).to_have_text("OPS-1432")
    expect(page.locator("table.kv th", has_text="region").locator("xpath=following-sibling::td")).to_have_text("eu-west")
    expect(page.locator(".images img")).to_have_attribute("src", "https://grafana.example.com/render/disk.png")
    expect(page.locator(".images img")).to_have_js_property("complete", True)
    save_screenshot(page, screenshot_folder, "event", full_page=True)


def test_the_event_page_follows_live_operations(page, server, workspace):
    event_id = workspace.create(title="Backup running")
    sign_in(page, server, workspace.key, f"#/events/{event_id}")
    expect(page.locator(".timeline > li")).to_have_count(1)
    workspace.close(event_id, message="Backup done")
    expect(page.locator(".timeline > li")).to_have_count(2)
    expect(page.locator(".event-header .state")).to_have_text("closed")


def test_actions_are_links_and_only_http_links(page, server, workspace):
    reply = workspace.api.post("/events", json={
        "title": "Deploy waiting", "subtitle": "approve it", "topics": ["deploy"],
        "actions": [{"label": "Approve", "url": "https://ci.example.com/approve/42"}],
    })
    assert reply.status_code in (200, 201), reply.text
    sign_in(page, server, workspace.key, f"#/events/{reply.json()['id']}")
    link = page.locator(".actions a")
    expect(link).to_have_text("Approve")
    expect(link).to_have_attribute("href", "https://ci.example.com/approve/42")
    expect(link).to_have_attribute("rel", "noopener noreferrer")


# -- people act on events (SPEC §11) ----------------------------------------------------------------


def people_key(workspace: Workspace, user: str = "alice") -> str:
    return workspace.server.create_key(("events:read", "events:write", "subscribe"), workspace_id=workspace.id,
                                       user=user)


def test_acknowledge_from_the_event_page_says_who_and_when(page, server, workspace, screenshot_folder):
    event_id = workspace.create(title="Disk full on nas", severity="high")
    sign_in(page, server, people_key(workspace), f"#/events/{event_id}")
    expect(page.locator(".acknowledged-line")).to_have_count(0)
    page.click(".people-actions button[data-action=acknowledge]")
    expect(page.locator(".acknowledged-line")).to_contain_text("Acknowledged by alice at")
    expect(page.locator(".people-actions button[data-action=acknowledge]")).to_be_disabled()
    operations = page.locator(".timeline > li")
    expect(operations).to_have_count(2)
    expect(operations.nth(1).locator(".op-who")).to_have_text("acknowledged by alice")
    assert workspace.api.get(f"/events/{event_id}").json()["data"]["acknowledged_by"] == "alice"
    # who did what is above the fold, before the event's fields
    assert page.locator(".timeline").bounding_box()["y"] < page.viewport_size["height"] - 100
    save_screenshot(page, screenshot_folder, "event-acknowledged")


def test_a_note_from_the_event_page_is_on_the_timeline(page, server, workspace):
    event_id = workspace.create(title="Printer jammed")
    sign_in(page, server, people_key(workspace), f"#/events/{event_id}")
    page.fill(".note-form textarea", "Cleared the paper <b>tray</b>\nsecond line")
    page.click(".note-form button[type=submit]")
    operations = page.locator(".timeline > li")
    expect(operations).to_have_count(2)
    expect(operations.nth(1).locator(".op-who")).to_have_text("note by alice: Cleared the paper <b>tray</b>\nsecond line")
    expect(page.locator(".note-form textarea")).to_have_value("")
    expect(page.locator(".action-message")).to_have_text("Note added.")
    assert page.locator(".op-who b").count() == 0


def test_close_from_the_event_page_resolves_it_and_hides_the_actions(page, server, workspace):
    event_id = workspace.create(title="Backup late")
    sign_in(page, server, people_key(workspace, "bob"), f"#/events/{event_id}")
    expect(page.locator(".people-actions")).to_be_visible()
    page.click(".people-actions button[data-action=close]")
    expect(page.locator(".event-header .state")).to_have_text("closed")
    expect(page.locator(".people-actions")).to_be_hidden()
    expect(page.locator(".timeline > li").nth(1).locator(".op-who")).to_have_text("closed by bob")
    assert workspace.api.get(f"/events/{event_id}").json()["data"]["status"] == "resolved"


def test_the_unacknowledged_filter_narrows_the_board_and_follows_acknowledgements(page, server, workspace):
    seen = workspace.create(title="Someone is on it")
    assert workspace.api.post(f"/events/{seen}/acknowledge").status_code == 200
    waiting = workspace.create(title="Nobody looked yet")
    later = workspace.create(title="Also waiting")
    sign_in(page, server, workspace.key)
    expect(rows(page)).to_have_count(3)
    expect(row(page, seen).locator(".ack-badge")).to_have_text("acknowledged")
    expect(row(page, waiting).locator(".ack-badge")).to_have_count(0)
    page.select_option("select[name=acknowledged]", "false")
    expect(rows(page)).to_have_count(2)
    expect(row(page, seen)).to_have_count(0)
    assert "acknowledged=false" in page.url
    # Acknowledged elsewhere: it leaves the unacknowledged view live.
    assert workspace.api.post(f"/events/{later}/acknowledge").status_code == 200
    expect(row(page, later)).to_have_count(0)
    expect(rows(page)).to_have_count(1)
    page.reload()
    expect(page.locator("select[name=acknowledged]")).to_have_value("false")
    expect(rows(page)).to_have_count(1)
    expect(row(page, waiting)).to_have_count(1)


def test_a_key_without_events_write_sees_no_actions(page, server, workspace):
    event_id = workspace.create(title="Read only")
    reader = server.create_key(("events:read", "subscribe"), workspace_id=workspace.id)
    sign_in(page, server, reader, f"#/events/{event_id}")
    expect(page.locator("h1.event-title")).to_have_text("Read only")
    expect(page.locator(".people-actions")).to_have_count(0)


def test_a_refused_action_shows_the_servers_message_and_keeps_the_page(page, server, workspace):
    event_id = workspace.create(title="Refused")
    sign_in(page, server, people_key(workspace), f"#/events/{event_id}")
    page.route("**/acknowledge", lambda route: route.fulfill(
        status=403, content_type="application/json",
        body='{"error": "this API key lacks the events:write scope", "error_code": "scope_missing"}'))
    page.click(".people-actions button[data-action=acknowledge]")
    expect(page.locator(".action-message")).to_have_text("Not allowed: this API key lacks the events:write scope")
    expect(page.locator("h1.event-title")).to_have_text("Refused")
    expect(page.locator(".people-actions button[data-action=acknowledge]")).to_be_enabled()


def test_the_event_page_names_the_channel_for_an_admin_key(page, server, workspace):
    event_id = workspace.create(title="Named channel")
    sign_in(page, server, workspace.key, f"#/events/{event_id}")
    cell = page.locator("table.kv th", has_text="Channel").locator("xpath=following-sibling::td")
    expect(cell).to_contain_text("home-lab")
    expect(cell).to_contain_text(workspace.channel)


# -- no user text is ever markup ----------------------------------------------------------------------

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def test_a_hostile_title_is_rendered_as_text(page, server, workspace):
    event_id = workspace.create(
        title=HOSTILE, message='<b onmouseover="window.__pwned=3">bold?</b>', status="<i>x</i>",
        tags=["<svg onload=window.__pwned=4>"],
        attrs={"<img src=x onerror=window.__pwned=5>": "<script>window.__pwned=6</script>",
               "nested": {"</td><td>": "<a href='javascript:window.__pwned=7'>click</a>"}},
        metadata={"<b>": "<iframe src=javascript:window.__pwned=8>"},
        images=['https://example.com/a.png"><img/src=x/onerror="window.__pwned=9">'],
    )
    sign_in(page, server, workspace.key)
    title = row(page, event_id).locator(".row-title")
    expect(title).to_have_text(HOSTILE)
    expect(row(page, event_id).locator(".tag-chip")).to_have_text("<svg onload=window.__pwned=4>")
    title.click()
    expect(page.locator("h1.event-title")).to_have_text(HOSTILE)
    expect(page.locator("table.kv th", has_text="<img src=x onerror=window.__pwned=5>")).to_have_count(1)
    expect(page.locator(".event-page")).to_contain_text("<a href='javascript:window.__pwned=7'>click</a>")
    assert page.evaluate("window.__pwned") is None
    assert page.locator('img[src="x"], script:not([src]), iframe, svg[onload], b[onmouseover]').count() == 0
    assert page.locator('a[href^="javascript:"]').count() == 0
    for image in page.locator(".images img").all():
        assert image.get_attribute("src").startswith("https://example.com/")


def test_a_hostile_event_arriving_live_is_rendered_as_text(page, server, workspace):
    sign_in(page, server, workspace.key)
    event_id = workspace.create(title=HOSTILE, message=HOSTILE)
    expect(row(page, event_id).locator(".row-title")).to_have_text(HOSTILE)
    expect(row(page, event_id).locator(".row-message")).to_have_text(HOSTILE)
    assert page.evaluate("window.__pwned") is None
    assert page.locator('img[src="x"]').count() == 0


# -- counts and chart -------------------------------------------------------------------------------


def test_the_overview_shows_ongoing_counts_and_the_24_hour_chart(page, server, workspace, screenshot_folder):
    seed_demo(workspace)
    sign_in(page, server, workspace.key)
    overview = page.locator(".overview")
    expect(overview).to_have_attribute("data-ongoing", "3")
    expect(overview.locator(".counter").first).to_contain_text("3ongoing now")
    expect(overview.locator("svg.chart .hour")).to_have_count(24)
    expect(overview.locator("svg.chart rect.bar")).not_to_have_count(0)
    expect(rows(page)).to_have_count(5)
    save_screenshot(page, screenshot_folder, "overview")


def test_the_overview_follows_live_events(page, server, workspace):
    sign_in(page, server, workspace.key)
    expect(page.locator(".overview")).to_have_attribute("data-ongoing", "0")
    workspace.create(title="Counts me")
    expect(page.locator(".overview")).to_have_attribute("data-ongoing", "1")


# -- administration ---------------------------------------------------------------------------------


def test_rotating_a_channel_password_shows_it_once_and_it_works(page, server, workspace, screenshot_folder):
    sign_in(page, server, workspace.key)
    page.click("#nav-admin")
    channel_row = page.locator(f'tr[data-channel-id="{workspace.channel}"]')
    channel_row.get_by_role("button", name="Rotate the password of home-lab").click()
    dialog = page.locator("dialog.secret-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("shown only now")
    new_password = dialog.locator(".secret-value").input_value()
    assert len(new_password) >= 8
    save_screenshot(page, screenshot_folder, "admin-rotate-password")

    old = workspace.producer.post("/event/create", json=body_form(workspace.channel, password=PASSWORD))
    assert old.status_code == 403
    new = workspace.producer.post("/event/create", json=body_form(workspace.channel, password=new_password))
    assert new.status_code == 200, new.text

    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_have_count(0)
    assert new_password not in page.content()


def test_creating_a_channel_with_a_generated_password(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    page.fill("input[name=name]", "garage")
    page.click("text=Create channel")
    dialog = page.locator("dialog.secret-dialog")
    expect(dialog).to_be_visible()
    password = dialog.locator(".secret-value").input_value()
    channel_id = dialog.locator("code").inner_text()
    dialog.get_by_role("button", name="Done").click()
    expect(page.locator(f'tr[data-channel-id="{channel_id}"]')).to_contain_text("garage")
    created = workspace.producer.post("/event/create", json=body_form(channel_id, password=password))
    assert created.status_code == 200, created.text


def test_creating_a_key_shows_it_once_and_revoking_it_stops_it(page, server, workspace, screenshot_folder):
    sign_in(page, server, workspace.key, "#/admin/keys")
    page.fill("input[name=user_id]", "grafana")
    for scope in ("events:write", "types:read", "types:write", "subscribe"):
        page.locator(f'input[name=scope][value="{scope}"]').uncheck()
    page.select_option("select[name=expires]", label="30 days")
    page.click("text=Create key")
    dialog = page.locator("dialog.secret-dialog")
    expect(dialog).to_be_visible()
    new_key = dialog.locator(".secret-value").input_value()
    save_screenshot(page, screenshot_folder, "admin-new-key")
    dialog.get_by_role("button", name="Done").click()

    reader = server.client(headers={"Authorization": f"Bearer {new_key}"})
    identity = reader.get("/whoami").json()["data"]
    assert identity["user_id"] == "grafana" and identity["scopes"] == ["events:read"]
    assert identity["expires_at"] is not None
    key_row = page.locator(f'tr[data-key-id="{identity["id"]}"]')
    key_row.get_by_role("button", name=f"Revoke key {identity['id']}").click()
    expect(key_row).to_contain_text("revoked")
    assert reader.get("/whoami").status_code == 401


def open_tokens(page: Page, channel_id: str, name: str):  # noqa: ANN201
    """Open a channel's tokens on the Channels tab; returns the panel."""
    toggle = page.locator(f'tr[data-channel-id="{channel_id}"]').get_by_role("button", name=f"Tokens of {name}")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    panel = page.locator(f"#{toggle.get_attribute('aria-controls')}")
    expect(panel).to_be_visible()
    return panel


def create_token_in_the_ui(page: Page, panel: Any, name: str) -> tuple[str, Any]:
    panel.get_by_label("Token name").fill(name)
    panel.get_by_role("button", name="Create token").click()
    dialog = page.locator("dialog.secret-dialog")
    expect(dialog).to_be_visible()
    value = dialog.get_by_label("Channel token", exact=True)
    expect(value).to_be_focused()
    token = value.input_value()
    assert re.fullmatch(r"[a-z0-9]{32}", token), token
    return token, dialog


def ntfy_publish(server: Any, channel_id: str, token: str, message: str) -> httpx.Response:
    return server.client().put(f"/{channel_id}", content=message.encode(), headers={"Authorization": f"Bearer {token}"})


def test_a_channel_token_is_shown_once_publishes_live_and_stops_when_revoked(page, server, workspace,
                                                                              screenshot_folder):
    sign_in(page, server, workspace.key, "#/admin/channels")
    panel = open_tokens(page, workspace.channel, "home-lab")
    expect(panel).to_contain_text("No tokens yet.")
    token, dialog = create_token_in_the_ui(page, panel, "backup script")
    expect(dialog).to_contain_text("shown only now")
    lines = dialog.locator(".usage-line pre").all_inner_texts()
    assert lines == [
        f'curl -d "Backup done" -H "Authorization: Bearer {token}" {server.base_url}/{workspace.channel}',
        f'curl "{server.base_url}/message?token={token}" -F "title=Backup" -F "message=done" -F "priority=5"',
        f"ntfy://{server.base_url.removeprefix('http://')}/{workspace.channel}?token={token}",
        f"gotify://{server.base_url.removeprefix('http://')}/{token}",
    ]
    expect(dialog.get_by_role("button", name="Copy the line for ntfy, with curl")).to_be_visible()
    save_screenshot(page, screenshot_folder, "admin-channel-token")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(panel.get_by_role("button", name="Create token")).to_be_focused()
    token_row = panel.locator("tbody tr", has_text="backup script")
    expect(token_row).to_have_count(1)
    token_id = token_row.get_attribute("data-token-id")
    assert token not in page.content()

    page.click("#nav-board")
    expect(rows(page)).to_have_count(0)
    published = ntfy_publish(server, workspace.channel, token, "Backup done")
    assert published.status_code == 200, published.text
    shown = rows(page).filter(has_text="Backup done")
    expect(shown).to_have_count(1)
    expect(shown.locator(".row-title")).to_have_text("backup script")  # no title: the token's name, as ntfy

    page.click("#nav-admin")
    panel = open_tokens(page, workspace.channel, "home-lab")
    panel.get_by_role("button", name=f"Revoke token {token_id} (backup script)").click()
    expect(panel.locator(f'tr[data-token-id="{token_id}"]')).to_contain_text("revoked")
    expect(panel.get_by_role("status")).to_have_text("Token “backup script” revoked.")
    expect(panel.get_by_role("heading", name="Tokens of home-lab")).to_be_focused()
    refused = ntfy_publish(server, workspace.channel, token, "Backup done")
    assert refused.status_code == 401, refused.text


def test_a_channel_token_works_with_the_gotify_line_from_the_dialog(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    token, dialog = create_token_in_the_ui(page, open_tokens(page, workspace.channel, "home-lab"), "uptime")
    gotify = dialog.locator(".usage-line pre").nth(1).inner_text()
    url = re.search(r'curl "([^"]+)"', gotify).group(1)
    reply = server.client().post(url, files={"title": (None, "Backup"), "message": (None, "done"),
                                             "priority": (None, "5")})
    assert reply.status_code == 200, reply.text
    assert reply.json()["title"] == "Backup"


def test_a_hostile_token_name_is_rendered_as_text(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    panel = open_tokens(page, workspace.channel, "home-lab")
    _, dialog = create_token_in_the_ui(page, panel, HOSTILE)
    expect(dialog.locator("strong").first).to_have_text(HOSTILE)
    dialog.get_by_role("button", name="Done").click()
    expect(panel.locator("tbody td").first).to_have_text(HOSTILE)
    assert page.evaluate("window.__pwned") is None
    assert page.locator('img[src="x"], script:not([src])').count() == 0


def test_channel_tokens_fit_a_phone_screen(browser, server, workspace, screenshot_folder):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    try:
        phone = context.new_page()
        sign_in(phone, server, workspace.key, "#/admin/channels")
        panel = open_tokens(phone, workspace.channel, "home-lab")
        _, dialog = create_token_in_the_ui(phone, panel, "phone")
        assert dialog.evaluate("node => node.scrollWidth <= node.clientWidth")
        save_screenshot(phone, screenshot_folder, "admin-channel-token-phone")
        dialog.get_by_role("button", name="Done").click()
        expect(panel.locator("tbody tr")).to_have_count(1)
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()


def test_event_types_can_be_created_renamed_and_deactivated(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/types")
    page.fill("input[name=name]", "Door opened")
    page.fill("input[name=code]", "door_open")
    page.click("text=Create type")
    type_row = page.locator('tr[data-code="door_open"]')
    expect(type_row).to_contain_text("Door opened")
    type_row.get_by_role("button", name="Rename door_open").click()
    page.locator("tr .inline-form input[aria-label=Name]").fill("Door left open")
    page.locator("tr .inline-form").get_by_role("button", name="Save").click()
    expect(type_row).to_contain_text("Door left open")
    type_row.get_by_role("button", name="Deactivate door_open").click()
    expect(type_row).to_contain_text("inactive")
    refused = workspace.producer.post(f"/v1/channel/{workspace.channel}/event/create",
                                      json={"password": PASSWORD, "event_type": "door_open"})
    assert refused.status_code == 409
    type_row.get_by_role("button", name="Activate door_open").click()
    expect(type_row.locator(".badge")).to_have_text("active")


def test_a_key_without_admin_scope_sees_no_administration(page, server, workspace):
    reader_key = server.create_key(("events:read", "subscribe"), workspace_id=workspace.id)
    sign_in(page, server, reader_key)
    expect(page.locator("#nav-admin")).to_have_count(0)
    page.goto(server.base_url + "/#/admin")
    expect(page.locator("main")).to_contain_text("This key lacks the admin scope.")


# -- destinations ------------------------------------------------------------------------------------




def wait_for_destination(workspace: Workspace, destination_id: str, ready: Any, timeout: float = 20) -> dict:
    """Poll the admin API until `ready(destination)` (the dispatcher works in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        found = workspace.api.get(f"/admin/destinations/{destination_id}").json()["data"]
        if ready(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_for_attempt(workspace: Workspace, destination_id: str, event_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        attempts = workspace.api.get(f"/admin/destinations/{destination_id}/deliveries").json()["data"]
        found = [a for a in attempts if a["event_id"] == event_id]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no attempt for {event_id}: {attempts}"
        time.sleep(0.05)


def test_a_webhook_destination_created_tested_followed_and_disabled_from_the_page(page, server, workspace, receiver,
                                                                                  screenshot_folder):
    sign_in(page, server, workspace.key, "#/admin/destinations")
    expect(page.locator("#admin-destinations")).to_contain_text("No destinations yet.")
    page.fill("input[name=destination_name]", "receiver")
    page.select_option("select[name=kind]", "webhook")
    page.fill("input[name=url]", receiver.url + "/hook")
    page.locator('#admin-destinations input[name=channel][value="%s"]' % workspace.channel).check()
    page.click("text=Create destination")
    dialog = page.locator("dialog.secret-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("shown only now")
    secret = dialog.get_by_label("Signing secret", exact=True).input_value()
    assert secret.startswith("whsec_"), secret
    expect(dialog.get_by_role("button", name="Copy the secret")).to_be_visible()
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_have_count(0)
    assert secret not in page.content()

    listed = workspace.api.get("/admin/destinations").json()["data"]
    assert [(d["name"], d["filter"]) for d in listed] == [("receiver", {"channel_id": [workspace.channel]})]
    destination_id = listed[0]["id"]
    destination_row = page.locator(f'tr[data-destination-id="{destination_id}"]')
    expect(destination_row).to_contain_text("enabled")
    expect(destination_row).to_contain_text("channels home-lab")
    expect(destination_row.locator(".destination-url")).to_have_text(receiver.url + "/hook")

    destination_row.get_by_role("button", name="Send test: receiver").click()
    expect(page.locator("#destinations-status")).to_contain_text("Test to “receiver”: delivered · HTTP 200 · ")
    assert receiver.wait_for(1)[0].path == receiver.prefix + "/hook"

    event_id = workspace.create(title="Delivered to the receiver")
    attempt = wait_for_attempt(workspace, destination_id, event_id)
    assert attempt["outcome"] == "delivered"
    destination_row.get_by_role("button", name="Deliveries to receiver").click()
    panel = page.locator(f"#deliveries-{destination_id}")
    expect(panel).to_be_visible()
    delivered = panel.locator(f'tr[data-delivery-id="{attempt["id"]}"]')
    expect(delivered).to_contain_text("delivered")
    expect(delivered).to_contain_text("200")
    expect(delivered.locator("a")).to_have_attribute("href", f"#/events/{event_id}")
    expect(panel.locator("tbody tr", has_text="test")).to_have_count(1)
    save_screenshot(page, screenshot_folder, "admin-destinations")

    sent = len(receiver.requests())
    delivered.get_by_role("button", name=f"Send seq {attempt['seq']} again").click()
    expect(panel.get_by_role("status")).to_have_text(f"Seq {attempt['seq']} is queued to be sent again.")
    again = receiver.wait_for(sent + 1)[-1]
    assert again.headers["webhook-id"] == attempt["webhook_id"]

    destination_row.get_by_role("button", name="Disable: receiver").click()
    expect(destination_row).to_contain_text("disabled")
    expect(destination_row.get_by_role("button", name="Enable: receiver")).to_be_visible()
    assert workspace.api.get(f"/admin/destinations/{destination_id}").json()["data"]["enabled"] is False

    destination_row.get_by_role("button", name="Delete: receiver").click()
    expect(page.locator("#admin-destinations")).to_contain_text("No destinations yet.")


def test_deliveries_page_back_with_older(page, server, workspace, receiver):
    created = workspace.api.post("/admin/destinations", json={"name": "pager", "kind": "webhook",
                                                              "url": receiver.url + "/hook"})
    assert created.status_code == 201, created.text
    destination_id = created.json()["data"]["id"]
    for _ in range(22):
        assert workspace.api.post(f"/admin/destinations/{destination_id}/test").status_code == 200
    sign_in(page, server, workspace.key, "#/admin/destinations")
    page.get_by_role("button", name="Deliveries to pager").click()
    panel = page.locator(f"#deliveries-{destination_id}")
    expect(panel.locator("tbody tr")).to_have_count(20)
    panel.get_by_role("button", name="Older").click()
    expect(panel.locator("tbody tr")).to_have_count(22)
    expect(panel.get_by_role("button", name="Older")).to_be_hidden()


def test_an_apprise_url_is_shown_masked_and_without_a_secret(page, server, workspace):
    token = "tk_9f8e7d6c5b4a39281706"
    created = workspace.api.post("/admin/destinations", json={
        "name": "phone", "kind": "apprise", "url": f"ntfys://ntfy.example.com/{token}", "enabled": False,
        "filter": {"severity": "high", "tags": ["home"]}})
    assert created.status_code == 201, created.text
    sign_in(page, server, workspace.key, "#/admin/destinations")
    phone = page.locator(f'tr[data-destination-id="{created.json()["data"]["id"]}"]')
    expect(phone).to_contain_text("High and above · tags home")
    expect(phone.locator(".destination-url")).to_have_text("ntfys://ntf••••706")
    expect(phone.get_by_role("button", name="Rotate secret: phone")).to_have_count(0)
    assert token not in page.content()


def test_the_board_warns_when_a_destination_was_disabled_after_a_410(page, server, workspace, receiver):
    receiver.answer = lambda request: 410
    created = workspace.api.post("/admin/destinations", json={"name": "old-hook", "kind": "webhook",
                                                              "url": receiver.url + "/gone"})
    assert created.status_code == 201, created.text
    destination_id = created.json()["data"]["id"]
    workspace.create(title="Nobody is listening")
    disabled = wait_for_destination(workspace, destination_id, lambda d: not d["enabled"])
    assert disabled["disabled_reason"], disabled

    sign_in(page, server, workspace.key)
    warning = page.locator(".delivery-warning")
    expect(warning).to_contain_text(f"Delivery to old-hook was disabled: {disabled['disabled_reason']}")
    warning.get_by_role("link", name="Destinations").click()
    expect(page.locator(f'tr[data-destination-id="{destination_id}"]')).to_contain_text(disabled["disabled_reason"])

    # A key that may not manage destinations (restricted to a channel: 403) sees no warning.
    restricted = server.create_key(("admin", "events:read", "subscribe"), workspace_id=workspace.id,
                                   channels=(workspace.channel,))
    assert server.client(headers={"Authorization": f"Bearer {restricted}"}).get(
        "/admin/destinations").status_code == 403
    page.click("#sign-out")
    sign_in(page, server, restricted)
    expect(rows(page)).to_have_count(1)
    expect(page.locator(".delivery-warning")).to_have_count(0)


def test_the_board_warns_while_a_destination_is_failing(page, server, workspace, receiver):
    receiver.answer = lambda request: 500
    created = workspace.api.post("/admin/destinations", json={"name": "flaky", "kind": "webhook",
                                                              "url": receiver.url + "/hook"})
    assert created.status_code == 201, created.text
    destination_id = created.json()["data"]["id"]
    workspace.create(title="Retried later")
    failing = wait_for_destination(workspace, destination_id, lambda d: d["failing_since"] is not None)
    assert failing["failing_since"] and failing["enabled"]
    sign_in(page, server, workspace.key)
    expect(page.locator(".delivery-warning")).to_contain_text("Delivery to flaky is failing since ")


# -- keyboard, small screens, dark mode ---------------------------------------------------------------


def test_the_board_works_from_the_keyboard(page, server, workspace):
    event_id = workspace.create(title="Reachable by keyboard")
    page.goto(server.base_url + "/")
    page.keyboard.type(workspace.key)
    page.keyboard.press("Enter")
    expect(row(page, event_id)).to_have_count(1)
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("j")
    expect(row(page, event_id).locator(".row-title")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("h1.event-title")).to_have_text("Reachable by keyboard")
    page.go_back()
    page.keyboard.press("/")
    expect(page.locator("input[name=q]")).to_be_focused()


def test_the_board_fits_a_phone_screen(browser, server, workspace, screenshot_folder):
    seed_demo(workspace)
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    try:
        phone = context.new_page()
        sign_in(phone, server, workspace.key)
        expect(rows(phone)).to_have_count(5)
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        save_screenshot(phone, screenshot_folder, "board-phone")
    finally:
        context.close()


def test_dark_mode_follows_the_system_setting(browser, server, workspace, screenshot_folder):
    ids = seed_demo(workspace)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="dark", locale="en-GB",
                                  timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    try:
        dark = context.new_page()
        sign_in(dark, server, workspace.key)
        expect(rows(dark)).to_have_count(5)
        background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
        text = dark.evaluate("getComputedStyle(document.body).color")
        assert luminance(background) < 0.1 < 0.6 < luminance(text)
        save_screenshot(dark, screenshot_folder, "board-dark")
        assert ids
    finally:
        context.close()


def luminance(css_color: str) -> float:
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", css_color)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
