"""The Administration page's channel, event-type and destination actions in a real headless
Chromium against a real eventgate: rename and delete a channel, set a chosen password, delete
an event type, and a destination's escalation schedule (create, edit, list)."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.helpers import body_form
from tests.test_dashboard_browser import (  # noqa: F401  (fixtures)
    Workspace,
    browser,
    expect,
    page,
    screenshot_folder,
    sign_in,
    workspace,
)


def channel_row(page, channel_id: str):  # noqa: ANN201
    return page.locator(f'tr[data-channel-id="{channel_id}"]')


# -- channels ------------------------------------------------------------------------------------


def test_renaming_a_channel_from_the_page(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    channel_row(page, workspace.channel).get_by_role("button", name="Rename home-lab").click()
    form = page.get_by_role("form", name="Rename channel home-lab")
    form.get_by_label("New name").fill("garage")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#channels-status")).to_have_text("Channel “home-lab” is now “garage”.")
    expect(channel_row(page, workspace.channel)).to_contain_text("garage")
    names = [c["name"] for c in workspace.api.get("/admin/channels").json()["data"]]
    assert "garage" in names and "home-lab" not in names


def test_a_refused_rename_shows_why_and_cancel_puts_the_row_back(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    channel_row(page, workspace.channel).get_by_role("button", name="Rename home-lab").click()
    form = page.get_by_role("form", name="Rename channel home-lab")
    form.get_by_label("New name").fill("x" * 128)
    # One character over the limit, past the input's own maxlength: the server's message shows.
    form.get_by_label("New name").evaluate("(input) => { input.removeAttribute('maxlength'); input.value += 'y'; }")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_role("alert")).to_contain_text("name")
    form.get_by_role("button", name="Cancel").click()
    expect(channel_row(page, workspace.channel)).to_contain_text("home-lab")


def test_deleting_a_channel_from_the_page_asks_first_and_keeps_its_events(page, server, workspace):
    event_id = workspace.create(title="Before the channel went")
    questions: list[str] = []
    page.on("dialog", lambda dialog: questions.append(dialog.message))
    sign_in(page, server, workspace.key, "#/admin/channels")
    channel_row(page, workspace.channel).get_by_role("button", name="Delete home-lab").click()
    expect(page.locator("#channels-status")).to_have_text("Channel “home-lab” deleted; its events stay.")
    expect(channel_row(page, workspace.channel)).to_have_count(0)
    assert any("Delete channel “home-lab”?" in q and "events" in q for q in questions), questions
    assert workspace.producer.post("/event/create", json=body_form(workspace.channel)).status_code == 404
    assert workspace.api.get(f"/events/{event_id}").status_code == 200


def test_a_channel_is_not_deleted_when_the_question_is_declined(browser, server, workspace):
    context = browser.new_context()
    declining = context.new_page()
    declining.on("dialog", lambda dialog: dialog.dismiss())
    try:
        sign_in(declining, server, workspace.key, "#/admin/channels")
        channel_row(declining, workspace.channel).get_by_role("button", name="Delete home-lab").click()
        expect(declining.locator("#channels-status")).to_have_text("")
        expect(channel_row(declining, workspace.channel)).to_have_count(1)
    finally:
        context.close()
    assert workspace.producer.post("/event/create", json=body_form(workspace.channel)).status_code == 200


def test_the_default_channel_offers_rename_but_not_delete(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    default = page.locator("tr[data-channel-id]", has_text="default").first
    expect(default.get_by_role("button", name="Rename default")).to_be_visible()
    expect(default.get_by_role("button", name="Delete default")).to_have_count(0)


def test_setting_a_chosen_password_from_the_page(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    channel_row(page, workspace.channel).get_by_role("button", name="Set the password of home-lab").click()
    form = page.get_by_role("form", name="Set the password of home-lab")
    form.get_by_label("New password").fill("a-password-we-chose")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#channels-status")).to_have_text("The password of “home-lab” was changed.")
    expect(page.locator("dialog.secret-dialog")).to_have_count(0)
    assert "a-password-we-chose" not in page.content()
    old = workspace.producer.post("/event/create", json=body_form(workspace.channel, password=PASSWORD))
    assert old.status_code == 403
    new = workspace.producer.post("/event/create", json=body_form(workspace.channel, password="a-password-we-chose"))
    assert new.status_code == 200, new.text


def test_a_too_short_chosen_password_is_refused_by_the_form(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/channels")
    channel_row(page, workspace.channel).get_by_role("button", name="Set the password of home-lab").click()
    form = page.get_by_role("form", name="Set the password of home-lab")
    field = form.get_by_label("New password")
    field.fill("short")
    form.get_by_role("button", name="Save").click()
    assert field.evaluate("(input) => input.validity.tooShort") is True
    # And when the browser's check is bypassed, the server's rule (the same as at creation) answers.
    field.evaluate("(input) => input.removeAttribute('minlength')")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_role("alert")).to_contain_text("8")
    assert workspace.producer.post("/event/create", json=body_form(workspace.channel)).status_code == 200


# -- event types ---------------------------------------------------------------------------------


def test_an_unused_event_type_is_deleted_from_the_page(page, server, workspace):
    created = workspace.api.post("/api/b/v2/events", json={"name": "Door opened", "code": "door_open"})
    assert created.status_code == 201, created.text
    sign_in(page, server, workspace.key, "#/admin/types")
    page.locator('tr[data-code="door_open"]').get_by_role("button", name="Delete door_open").click()
    expect(page.locator("#types-status")).to_have_text("Event type door_open deleted.")
    expect(page.locator('tr[data-code="door_open"]')).to_have_count(0)
    assert workspace.api.get(f"/api/b/v2/events/{created.json()['id']}").status_code == 404


def test_an_event_type_in_use_is_kept_and_the_page_says_why(page, server, workspace):
    reply = workspace.producer.post(f"/v1/channel/{workspace.channel}/event/create",
                                    json={"password": PASSWORD, "event_type": "door_open"})
    assert reply.status_code == 200, reply.text
    sign_in(page, server, workspace.key, "#/admin/types")
    type_row = page.locator('tr[data-code="door_open"]')
    type_row.get_by_role("button", name="Delete door_open").click()
    expect(page.locator("#types-status")).to_contain_text("Not deleted: event type door_open is carried by 1")
    expect(page.locator("#types-status")).to_contain_text("deactivate it instead")
    expect(type_row).to_have_count(1)


def test_system_types_offer_no_delete(page, server, workspace):
    sign_in(page, server, workspace.key, "#/admin/types")
    system_row = page.locator('tr[data-code="event_created"]')
    expect(system_row).to_contain_text("read-only")
    expect(system_row.get_by_role("button")).to_have_count(0)


# -- destinations: escalation --------------------------------------------------------------------


def create_destination(workspace: Workspace, name: str, url: str, **fields) -> dict:  # noqa: ANN003
    reply = workspace.api.post("/admin/destinations", json={"name": name, "kind": "webhook", "url": url,
                                                            "enabled": False, **fields})
    assert reply.status_code == 201, reply.text
    return reply.json()["data"]


def destination_named(workspace: Workspace, name: str) -> dict:
    return next(d for d in workspace.api.get("/admin/destinations").json()["data"] if d["name"] == name)


def test_a_destination_created_with_reminders_and_escalation(page, server, workspace, receiver):
    pager = create_destination(workspace, "pager", receiver.url + "/pager")
    sign_in(page, server, workspace.key, "#/admin/destinations")
    expect(page.locator(f'tr[data-destination-id="{pager["id"]}"]')).to_contain_text("none")
    page.fill("input[name=destination_name]", "ops")
    page.fill("input[name=url]", receiver.url + "/ops")
    page.get_by_label("Remind every").fill("15m")
    page.get_by_label("Escalate after").fill("1h30m")
    page.get_by_label("Escalate to").select_option(label="pager")
    page.click("text=Create destination")
    page.locator("dialog.secret-dialog").get_by_role("button", name="Done").click()
    ops = destination_named(workspace, "ops")
    assert (ops["repeat_every"], ops["escalate_after"], ops["escalate_to"]) == (900, 5400, pager["id"])
    expect(page.locator(f'tr[data-destination-id="{ops["id"]}"] .destination-escalation')).to_have_text(
        "remind every 15m · escalate after 1h30m to pager")


def test_editing_a_destination_changes_its_schedule_and_keeps_its_url(page, server, workspace, receiver):
    pager = create_destination(workspace, "pager", receiver.url + "/pager")
    ops = create_destination(workspace, "ops", receiver.url + "/ops", repeat_every=900, escalate_after=1800,
                             escalate_to=pager["id"], filter={"severity": "high", "tags": ["home"]})
    sign_in(page, server, workspace.key, "#/admin/destinations")
    page.get_by_role("button", name="Edit: ops").click()
    form = page.locator("form.destination-form")
    expect(form.locator("h2")).to_have_text("Edit destination “ops”")
    expect(page.get_by_label("Remind every")).to_have_value("15m")
    expect(page.get_by_label("Escalate after")).to_have_value("30m")
    expect(page.get_by_label("Escalate to")).to_have_value(pager["id"])
    expect(page.locator("select[name=severity]")).to_have_value("high")
    expect(page.locator("input[name=tags]")).to_have_value("home")
    # A destination cannot escalate to itself: it is not among the choices.
    expect(page.get_by_label("Escalate to").locator(f'option[value="{ops["id"]}"]')).to_have_count(0)
    page.get_by_label("Remind every").fill("1h")
    page.get_by_label("Escalate after").fill("")
    page.get_by_label("Escalate to").select_option("")
    form.get_by_role("button", name="Save changes").click()
    expect(page.locator("#destinations-status")).to_have_text("Destination “ops” saved.")
    expect(form.locator("h2")).to_have_text("New destination")
    changed = destination_named(workspace, "ops")
    assert (changed["repeat_every"], changed["escalate_after"], changed["escalate_to"]) == (3600, None, None)
    assert changed["url"] == receiver.url + "/ops" and changed["filter"] == {"severity": "high", "tags": ["home"]}
    expect(page.locator(f'tr[data-destination-id="{ops["id"]}"] .destination-escalation')).to_have_text(
        "remind every 1h")


def test_a_bad_duration_is_explained_and_nothing_is_created(page, server, workspace, receiver):
    sign_in(page, server, workspace.key, "#/admin/destinations")
    page.fill("input[name=destination_name]", "ops")
    page.fill("input[name=url]", receiver.url + "/ops")
    page.get_by_label("Remind every").fill("15 minutes")
    page.click("text=Create destination")
    alert = page.locator("form.destination-form [role=alert]")
    expect(alert).to_have_text("Remind every: write a duration such as 15m, 1h or 1h30m.")
    page.get_by_label("Remind every").fill("30s")
    page.click("text=Create destination")
    expect(alert).to_contain_text("from 60")  # the server's rule: a minute to a week
    assert workspace.api.get("/admin/destinations").json()["data"] == []


def test_a_filter_naming_a_deleted_channel_says_so(page, server, workspace, receiver):
    doomed = server.create_channel(workspace_id=workspace.id, name="old-shed")
    create_destination(workspace, "ops", receiver.url + "/ops", filter={"channel_id": [doomed]})
    assert workspace.api.delete(f"/admin/channels/{doomed}").status_code == 204
    sign_in(page, server, workspace.key, "#/admin/destinations")
    expect(page.locator("tr[data-destination-id]")).to_contain_text(f"channels {doomed} (deleted)")
