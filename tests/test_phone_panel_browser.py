"""The channel page's "Get events on your phone" panel in a real headless Chromium: the values
to enter in the ntfy app, a phone token that really authenticates, and a QR code that a reader
decodes to the ntfy:// link (fixtures and helpers: tests/test_dashboard_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import zxingcpp

from tests.test_dashboard_browser import (  # noqa: F401 - fixtures
    WAIT_MS,
    Workspace,
    browser,
    expect,
    open_tokens,
    page,
    screenshot_folder,
    sign_in,
    workspace,
)

QR_PIXELS = 330  # what the shown QR code is redrawn at for the reader (1.5 x its CSS size)


def open_phone_panel(page: Any, workspace: Workspace):  # noqa: ANN201
    tokens = open_tokens(page, workspace.channel, "home-lab")
    phone = tokens.locator("details.phone-panel")
    phone.locator("summary", has_text="Get events on your phone").click()
    expect(phone.get_by_label("Server URL", exact=True)).to_be_visible()
    return tokens, phone


def shown_qr_code(phone: Any) -> list[str]:
    """The QR code as the page shows it, redrawn on a canvas and read by zxing-cpp."""
    image = phone.locator("img.phone-qr")
    expect(image).to_be_visible()
    grey = image.evaluate("""async (img, size) => {
        await img.decode();
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = size;
        const context = canvas.getContext("2d");
        context.fillStyle = "#fff";
        context.fillRect(0, 0, size, size);
        context.drawImage(img, 0, 0, size, size);
        const rgba = context.getImageData(0, 0, size, size).data;
        return Array.from({ length: size * size }, (_, i) => rgba[i * 4]);
    }""", QR_PIXELS)
    pixels = memoryview(bytes(grey)).cast("B", (QR_PIXELS, QR_PIXELS))
    return [found.text for found in zxingcpp.read_barcodes(pixels)]


def panel_screenshot(page: Any, panel: Any, path: Path) -> None:
    """The panel alone, with the page scrolled to the top and the window as tall as the page, so
    that the sticky top bar covers nothing and no part is cut off."""
    page.evaluate("scrollTo(0, 0)")
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": max(height, page.viewport_size["height"])})
    box = panel.bounding_box()
    page.screenshot(path=str(path), clip=box)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_phone_panel_shows_the_setup_and_a_phone_token_that_works(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    tokens, phone = open_phone_panel(page, workspace)
    host = server.base_url.removeprefix("http://")
    link = f"ntfy://{host}/{workspace.channel}?display=home-lab&secure=false"
    expect(phone.get_by_label("Server URL", exact=True)).to_have_value(server.base_url)
    expect(phone.get_by_label("Topic", exact=True)).to_have_value(workspace.channel)
    expect(phone.get_by_role("link", name="Open in the ntfy app")).to_have_attribute("href", link)
    assert shown_qr_code(phone) == [link]
    # The test server listens on 127.0.0.1: the panel says a phone cannot reach it.
    expect(phone.get_by_role("note")).to_contain_text(f"A phone cannot reach {server.base_url}")
    steps = phone.locator(".phone-steps > li")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_contain_text("Install ntfy")
    expect(steps.nth(1)).to_contain_text("Manage users")
    expect(steps.nth(2)).to_contain_text("Use another server")

    phone.get_by_role("button", name="Create a phone token").click()
    value = phone.get_by_label("Token", exact=True)
    expect(value).to_be_focused()
    token = value.input_value()
    assert re.fullmatch(r"[a-z0-9]{32}", token), token
    expect(phone).to_contain_text("shown only now")
    expect(tokens.locator("tbody tr", has_text="phone")).to_have_count(1)

    # As the ntfy app sends it: Basic auth, any user name, the token as the password.
    published = server.client().put(f"/{workspace.channel}", content=b"Door opened", auth=("phone", token))
    assert published.status_code == 200, published.text
    bearer = server.client().put(f"/{workspace.channel}", content=b"Door closed",
                                 headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200, bearer.text

    phone.locator("summary").click()  # closing the panel drops the token from the page
    expect(phone.get_by_label("Token", exact=True)).to_have_count(0)
    assert token not in page.content()


def test_a_token_name_that_is_refused_says_why(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    _, phone = open_phone_panel(page, workspace)
    phone.get_by_label("Name of the phone token").fill("   ")
    phone.get_by_role("button", name="Create a phone token").click()
    expect(phone.get_by_role("alert")).not_to_be_empty()
    expect(phone.get_by_label("Token", exact=True)).to_have_count(0)


@pytest.fixture
def public_workspace(server_factory) -> Workspace:
    """A server whose --public-url is the address phones are given."""
    return Workspace(server_factory(public_url="https://events.example.com"))


def test_the_public_url_is_what_the_phone_is_given(page, public_workspace):
    server = public_workspace.server
    sign_in(page, server, public_workspace.key, "#/admin/channels")
    _, phone = open_phone_panel(page, public_workspace)
    link = f"ntfy://events.example.com/{public_workspace.channel}?display=home-lab"
    expect(phone.get_by_label("Server URL", exact=True)).to_have_value("https://events.example.com")
    expect(phone.get_by_role("link", name="Open in the ntfy app")).to_have_attribute("href", link)
    expect(phone.get_by_role("note")).to_have_count(0)
    assert shown_qr_code(phone) == [link]


def test_the_phone_panel_at_desktop_width(page, public_workspace, screenshot_folder):
    sign_in(page, public_workspace.server, public_workspace.key, "#/admin/channels")
    tokens, phone = open_phone_panel(page, public_workspace)
    phone.get_by_role("button", name="Create a phone token").click()
    expect(phone.get_by_label("Token", exact=True)).to_be_focused()
    panel_screenshot(page, tokens, screenshot_folder / "phone-panel.png")


def test_the_phone_panel_fits_a_phone_screen(browser, public_workspace, screenshot_folder):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    try:
        phone_page = context.new_page()
        sign_in(phone_page, public_workspace.server, public_workspace.key, "#/admin/channels")
        _, phone = open_phone_panel(phone_page, public_workspace)
        phone.get_by_role("button", name="Create a phone token").click()
        expect(phone.get_by_label("Token", exact=True)).to_be_focused()
        assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert shown_qr_code(phone) == [f"ntfy://events.example.com/{public_workspace.channel}?display=home-lab"]
        panel_screenshot(phone_page, phone, screenshot_folder / "phone-panel-phone.png")
    finally:
        context.close()
