"""`eventgate destination …` (SPEC §10): the admin API's operations from the command line, on
the test server's database; `test` sends from the CLI process under its own address policy."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from standardwebhooks.webhooks import Webhook

from eventgate.cli import main
from tests.live_client import create

LOOPBACK = {"EVENTGATE_DESTINATION_ALLOW_LIST": "127.0.0.1"}




@pytest.fixture
def cli(server, workspace):
    """eventgate destination … on the server's database, in `workspace`."""
    def run(*args: str, env: dict[str, str] | None = None, code: int = 0):
        result = CliRunner().invoke(main, ["destination", *args, "--workspace", workspace,
                                           "--database-url", server.settings.database_url],
                                    env={"EVENTGATE_ALLOW_PRIVATE_DESTINATIONS": None,
                                         "EVENTGATE_DESTINATION_ALLOW_LIST": None, **(env or {})})
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result
    return run


def created(cli, *args: str) -> dict:
    return json.loads(cli("create", "--json", *args).stdout)


def test_create_prints_the_secret_once_and_list_never_shows_it(cli):
    result = cli("create", "--name", "ops", "--kind", "webhook", "--url", "https://hooks.example.com/x",
                 "--severity", "high", "--tag", "home", "--tag", "garage", "--event-type", "door_open")
    destination_id, secret = result.stdout.split()
    assert secret.startswith("whsec_") and "not shown again" in result.stderr
    listed = json.loads(cli("list", "--json").stdout)["destinations"]
    assert [d["id"] for d in listed] == [destination_id] and secret not in json.dumps(listed)
    assert listed[0]["filter"] == {"event_types": ["door_open"], "tags": ["home", "garage"], "severity": "high"}
    text = cli("list").stdout
    assert destination_id in text and "enabled" in text and secret not in text


def test_apprise_has_no_secret_and_refusals_are_one_line(cli):
    apprise = created(cli, "--name", "phone", "--kind", "apprise", "--url", "ntfys://ntfy.sh/x", "--disabled")
    assert "secret" not in apprise and apprise["enabled"] is False
    refused = cli("rotate-secret", apprise["id"], code=1)
    assert refused.stderr.strip().count("\n") == 0 and "secret" in refused.stderr
    bad = cli("create", "--name", "x", "--kind", "webhook", "--url", "ftp://x.example", code=1)
    assert "http or https" in bad.stderr and bad.stdout == ""
    assert "does not exist" in cli("disable", "06J0FZG1Y8XGG14VTQ4Y3G10MR", code=1).stderr


def test_create_with_an_escalation_schedule(cli):
    pager = created(cli, "--name", "pager", "--kind", "apprise", "--url", "ntfys://ntfy.sh/pager", "--disabled")
    made = created(cli, "--name", "ops", "--kind", "webhook", "--url", "https://hooks.example.com/x", "--disabled",
                   "--repeat-every", "15m", "--escalate-after", "30m", "--escalate-to", pager["id"])
    assert (made["repeat_every"], made["escalate_after"], made["escalate_to"]) == (900, 1800, pager["id"])
    assert "--repeat-every" in cli("create", "--name", "x", "--kind", "webhook", "--url", "https://h.example/x",
                                   "--repeat-every", "soon", code=2).stderr
    short = cli("create", "--name", "x", "--kind", "webhook", "--url", "https://h.example/x",
                "--repeat-every", "30s", code=1)
    assert "repeat_every" in short.stderr
    alone = cli("create", "--name", "x", "--kind", "webhook", "--url", "https://h.example/x",
                "--escalate-after", "1h", code=1)
    assert "escalate_to" in alone.stderr


def test_disable_enable_delete(cli, server):
    made = created(cli, "--name", "ops", "--kind", "webhook", "--url", "https://hooks.example.com/x")
    assert json.loads(cli("disable", made["id"], "--json").stdout)["enabled"] is False
    assert cli("enable", made["id"]).stdout.strip() == f"enabled {made['id']}"
    assert cli("delete", made["id"], "--yes").stdout.strip() == f"deleted {made['id']}"
    assert json.loads(cli("list", "--json").stdout)["destinations"] == []
    cli("delete", made["id"], "--yes", code=1)


def test_another_workspaces_destination_is_not_found(cli, server):
    made = created(cli, "--name", "ops", "--kind", "webhook", "--url", "https://hooks.example.com/x")
    other = CliRunner().invoke(main, ["destination", "delete", made["id"], "--yes", "--database-url",
                                      server.settings.database_url])  # the default workspace
    assert other.exit_code == 1 and "does not exist" in other.stderr


def test_test_reports_a_delivery_to_the_receiver(cli, receiver):
    made = created(cli, "--name", "rx", "--kind", "webhook", "--url", receiver.url + "/hook")
    result = cli("test", made["id"], env=LOOPBACK)
    assert "delivered" in result.stdout and "200" in result.stdout and '{"ok": true}' in result.stdout
    [request] = receiver.wait_for(1)
    assert Webhook(made["secret"]).verify(request.body, request.headers)["data"]["event"]["event_type"] \
        == "eventgate_test"
    as_json = json.loads(cli("test", made["id"], "--allow-private-destinations", "--json").stdout)
    assert as_json["outcome"] == "delivered" and as_json["http_status"] == 200


def test_test_refused_by_the_policy_or_failing_exits_1(cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    made = created(cli, "--name", "closed", "--kind", "webhook", "--url", f"http://127.0.0.1:{port}/")
    refused = cli("test", made["id"], code=1)
    assert "refused" in refused.stdout and "loopback" in refused.stdout
    failed = cli("test", made["id"], "--destination-allow-list", "127.0.0.1", code=1)
    assert "failed" in failed.stdout and "could not connect" in failed.stdout
    assert "is not an IP address" in cli("test", made["id"], "--destination-allow-list", "a b", code=2).stderr


def test_rotate_secret_prints_a_new_one_that_signs_the_next_deliveries(cli, server, workspace, receiver):
    made = created(cli, "--name", "rx", "--kind", "webhook", "--url", receiver.url)
    rotated = cli("rotate-secret", made["id"])
    destination_id, secret = rotated.stdout.split()
    assert destination_id == made["id"] and secret.startswith("whsec_") and secret != made["secret"]
    time.sleep(1.5)  # the server's dispatcher takes up the new secret within its scan
    create(server.client(), server.create_channel(workspace_id=workspace))
    [request] = receiver.wait_for(1)
    Webhook(secret).verify(request.body, request.headers)
    with pytest.raises(Exception):
        Webhook(made["secret"]).verify(request.body, request.headers)


def test_the_command_runs_as_a_program(server, workspace):
    result = subprocess.run([sys.executable, "-m", "eventgate", "destination", "list", "--json", "--workspace",
                             workspace, "--database-url", server.settings.database_url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and json.loads(result.stdout) == {"destinations": []}, result.stderr
