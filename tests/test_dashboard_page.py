"""The dashboard as HTTP serves it: the page at /, its files under /static/, GET /whoami.

What the page does in a browser is tested in test_dashboard_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventgate.api.dashboard import STATIC_DIRECTORY
from tests.helpers import create_event, error_code, lifecycle_body

SCRIPTS = sorted(STATIC_DIRECTORY.glob("*.js"))


def referenced_assets() -> set[str]:
    """Every file index.html links and every module the scripts import, as /static/ names."""
    names = set(re.findall(r'(?:src|href)="static/([^"]+)"', (STATIC_DIRECTORY / "index.html").read_text()))
    for script in SCRIPTS:
        names.update(re.findall(r'from "\./([^"]+)"', script.read_text()))
    return names


def test_root_serves_the_dashboard_page(client):
    reply = client.get("/")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="static/app.js">' in reply.text


def test_dashboard_page_allows_only_its_own_scripts(client):
    policy = client.get("/").headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'none'"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives["frame-ancestors"] == ["'none'"]


def test_dashboard_page_allows_the_live_websocket_of_its_own_host(server, client):
    policy = client.get("/").headers["content-security-policy"]
    host = server.base_url.removeprefix("http://")
    assert f"ws://{host}" in policy and f"wss://{host}" in policy


def test_a_strange_host_header_stays_out_of_the_policy(client):
    policy = client.get("/", headers={"Host": "evil.example; script-src *"}).headers["content-security-policy"]
    assert "evil" not in policy and "script-src *" not in policy


def test_dashboard_page_sends_no_referrer(client):
    assert client.get("/").headers["referrer-policy"] == "no-referrer"


def test_every_file_the_page_uses_is_served_with_its_media_type(client):
    expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    names = referenced_assets()
    assert {"app.js", "dashboard.css", "dom.js", "live.js", "board.js"} <= names
    for name in names:
        reply = client.get(f"/static/{name}")
        assert reply.status_code == 200, name
        assert reply.headers["content-type"].startswith(expected[Path(name).suffix]), name
        assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name", ["missing.js", "index.html", "..%2Fapi%2Fdashboard.py", "..%2F..%2Fpyproject.toml",
                                  "APP.JS", ".hidden.js"])
def test_names_outside_the_dashboard_files_are_404(client, name):
    reply = client.get(f"/static/{name}")
    assert reply.status_code == 404


def test_an_unchanged_file_is_revalidated_with_304(client):
    first = client.get("/static/app.js")
    again = client.get("/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_dashboard_scripts_never_parse_data_as_markup():
    forbidden = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                           r"DOMParser|createContextualFragment|srcdoc")
    offenders = [f"{script.name}: {match.group(0)}" for script in SCRIPTS
                 for match in forbidden.finditer(script.read_text())]
    assert offenders == []


def test_dashboard_files_are_package_data():
    """Every dashboard file, in any folder, is package data (tests/test_wheel.py checks a built wheel)."""
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert '"static/**/*"' in pyproject


# -- /whoami --------------------------------------------------------------------------------------


def test_whoami_without_a_key_is_401(client):
    reply = client.get("/whoami")
    assert reply.status_code == 401
    assert error_code(reply) == "authentication_required"


def test_whoami_with_a_revoked_or_unknown_key_is_401(client):
    reply = client.get("/whoami", headers={"X-Api-Key": "egk_unknown"})
    assert reply.status_code == 401
    assert error_code(reply) == "invalid_api_key"


def test_whoami_describes_the_presented_key(server, client):
    workspace_id = server.create_workspace("whoami-space")
    channel = server.create_channel(workspace_id=workspace_id)
    key = server.create_key(("events:read", "subscribe"), workspace_id=workspace_id, user="carol",
                            channels=(channel,))
    data = client.get("/whoami", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert data["user_id"] == "carol"
    assert data["workspace_id"] == workspace_id and data["workspace_name"] == "whoami-space"
    assert data["scopes"] == ["events:read", "subscribe"]
    assert data["effective_scopes"] == ["events:read", "subscribe"]
    assert data["channel_ids"] == [channel]
    assert data["expires_at"] is None
    assert data["id"].startswith("key_")


def test_whoami_lists_every_scope_an_admin_key_has(server, client):
    key = server.create_key(("admin",))
    data = client.get("/whoami", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert data["scopes"] == ["admin"]
    assert set(data["effective_scopes"]) == {"events:write", "events:read", "types:write", "types:read",
                                             "subscribe", "admin"}


def test_whoami_never_returns_the_key_itself(server, client):
    key = server.create_key(("events:read",))
    assert key not in client.get("/whoami", headers={"Authorization": f"Bearer {key}"}).text


# -- /dashboard/events/{id}/timeline ----------------------------------------------------------------


def changes_of(client, key: str, event_id: str) -> list[list[dict]]:
    reply = client.get(f"/dashboard/events/{event_id}/timeline", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200, reply.text
    return [operation["changes"] for operation in reply.json()["data"]]


def by_field(changes: list[dict]) -> dict[str, tuple]:
    return {c["field"]: (c["change"], c["before"], c["after"]) for c in changes}


def test_dashboard_timeline_shows_what_each_operation_changed(server, client, channel):
    key = server.create_key(("events:read",))
    event_id = create_event(client, channel, severity="high", status="investigating",
                            attrs={"host": "db-1", "usage": {"var": 91, "root": 40}})
    client.post("/event/update", json=lifecycle_body(channel, event_id, severity="high", status="mitigating",
                                                     attrs={"usage": {"var": 97}, "ticket": "OPS-1", "host": None}))
    created, updated = changes_of(client, key, event_id)
    assert by_field(created)["title"] == ("added", None, "Database lag")
    assert by_field(created)["attrs.usage"] == ("added", None, {"var": 91, "root": 40})
    assert by_field(updated) == {
        "status": ("changed", "investigating", "mitigating"),
        "message": ("changed", "Replica delay > 30s", "still lagging"),
        "severity": ("unchanged", "high", "high"),
        "attrs.host": ("removed", "db-1", None),
        "attrs.usage.var": ("changed", 91, 97),
        "attrs.ticket": ("added", None, "OPS-1"),
    }


def test_dashboard_timeline_shows_keys_a_context_replacement_removed(server, client):
    key = server.create_key(("events:read", "events:write"))
    headers = {"Authorization": f"Bearer {key}"}
    created = client.post("/events", headers=headers, json={
        "title": "User event", "subtitle": "first", "topics": ["users"], "context": {"x": 1, "y": {"z": 2}}})
    event_id = created.json()["id"]
    client.put(f"/events/{event_id}", headers=headers, json={"context": {"x": 2}})
    _, replaced = changes_of(client, key, event_id)
    assert by_field(replaced) == {"attrs.x": ("changed", 1, 2), "attrs.y": ("removed", {"z": 2}, None)}


def test_dashboard_timeline_of_a_close_shows_the_state_and_end(server, client, channel):
    key = server.create_key(("events:read",))
    event_id = create_event(client, channel)
    client.post("/event/close", json=lifecycle_body(channel, event_id, status="resolved", event_time=1795000000))
    closed = by_field(changes_of(client, key, event_id)[-1])
    assert closed["state"] == ("changed", "ongoing", "closed")
    assert closed["ended_at"] == ("added", None, 1795000000)


def test_dashboard_timeline_of_an_unknown_event_is_404(server, client):
    key = server.create_key(("events:read",))
    reply = client.get("/dashboard/events/no-such-event/timeline", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 404
    assert error_code(reply) == "event_not_found"


def test_dashboard_timeline_needs_events_read(server, client, channel):
    event_id = create_event(client, channel)
    key = server.create_key(("subscribe",))
    reply = client.get(f"/dashboard/events/{event_id}/timeline", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 403


def test_dashboard_timeline_respects_the_keys_channels(server, client, channel):
    event_id = create_event(client, channel)
    other = server.create_channel()
    key = server.create_key(("events:read",), channels=(other,))
    reply = client.get(f"/dashboard/events/{event_id}/timeline", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 403
    assert error_code(reply) == "channel_forbidden"


def test_dashboard_timeline_says_who_acknowledged_noted_and_closed(server, client):
    key = server.create_key(("events:read", "events:write"), user="alice")
    headers = {"Authorization": f"Bearer {key}"}
    event_id = client.post("/events", headers=headers, json={
        "title": "Disk full", "subtitle": "on nas", "topics": ["storage"]}).json()["id"]
    acknowledged = client.post(f"/events/{event_id}/acknowledge", headers=headers).json()["data"]
    client.post(f"/events/{event_id}/notes", headers=headers, json={"text": "swapping the disk"})
    client.post(f"/events/{event_id}/close", headers=headers)
    reply = client.get(f"/dashboard/events/{event_id}/timeline", headers=headers)
    assert reply.status_code == 200, reply.text
    _, ack, note, close = reply.json()["data"]
    assert ack["fields"] == {"acknowledged": True, "by": "alice"}
    assert by_field(ack["changes"]) == {
        "acknowledged_at": ("added", None, acknowledged["acknowledged_at"]),
        "acknowledged_by": ("added", None, "alice"),
    }
    assert note["fields"] == {"note": "swapping the disk", "by": "alice"} and note["changes"] == []
    assert close["kind"] == "close" and close["fields"]["by"] == "alice"
    assert by_field(close["changes"])["status"] == ("changed", "ongoing", "resolved")
