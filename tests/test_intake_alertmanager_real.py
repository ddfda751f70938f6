"""The real Alertmanager (Debian's prometheus-alertmanager 0.25) notifying eventgate's
`POST /integrations/alertmanager`: an alert fired through Alertmanager's v2 API becomes an
ongoing event, its repeat notifications add nothing, a changed annotation is an update, and
its resolution closes the event. Each credential form Alertmanager can send is used by a route
of its own: `http_config.authorization` (Bearer), `http_config.basic_auth` (the password is
the token) and `?token=` in the URL.

What Alertmanager 0.25 needed that its documentation does not say (observed against the binary):
- A firing alert's `endsAt` in the webhook is Go's zero time `0001-01-01T00:00:00Z`, even
  though the API stores (and `GET /api/v2/alerts` shows) startsAt + resolve_timeout.
- Times are Go's RFC3339Nano: up to nine fractional digits with trailing zeros dropped, so the
  digit count varies (`…:43.63197327Z`); Python's fromisoformat reads at most six.
- `version` is the string "4"; the body also carries `groupKey` and `truncatedAlerts`, and
  `externalURL` is built from the machine's hostname, not the listen address.
- A repeat comes at the first group_interval tick after repeat_interval has passed: with
  group_interval 1s and repeat_interval 2s, every 3 s. An unchanged repeat must be a no-op.
- A changed annotation alone triggers no notification: the notification log compares alert
  fingerprints and firing/resolved state only, so the change reaches the receiver with the
  next repeat (repeat_interval), not at the next group_interval.
- group_interval and repeat_interval must not be zero; sub-second values (100ms) are accepted.
- A 5xx answer is retried with backoff within one flush. A 4xx ends that flush's attempt
  ("unrecoverable error"), but nothing is written to the notification log, so the same
  notification is sent again at every group_interval tick while the group is unchanged.
- A resolved alert is notified once (then dropped), with the endsAt the API was given.
- Resolving through the API needs the alert's labels and an `endsAt` in the past; without
  `startsAt` the API sets startsAt = endsAt and the merge keeps the earlier of the two, so an
  endsAt before the original start moves the alert's startsAt back (and the resolved
  notification then carries that startsAt).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import httpx
import pytest

from tests.conftest import IN_CI
from tests.intake import IntakeChannel, intake_channel
from tests.live_client import free_port

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
ROUTE = "/integrations/alertmanager"
FORMS = ("bearer", "basic", "query")
T = TypeVar("T")


def alertmanager_binary() -> str:
    if os.access(ALERTMANAGER, os.X_OK):
        return ALERTMANAGER
    message = f"{ALERTMANAGER} is missing (Debian package prometheus-alertmanager)"
    if IN_CI:
        pytest.fail(f"CI=true and {message}: .ci/run installs it")
    pytest.skip(message)


class Alertmanager:
    """An Alertmanager process of its own: no clustering, its data in a temporary directory."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.directory = directory
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "alertmanager.log"
        config_path = directory / "alertmanager.yml"
        config_path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        self.command = [alertmanager_binary(), f"--config.file={config_path}",
                        f"--storage.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                        "--cluster.listen-address=", "--log.level=debug"]
        self.process: subprocess.Popen[bytes] | None = None
        self.api = httpx.Client(base_url=self.base_url, timeout=10)

    def start(self) -> "Alertmanager":
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self._ready(), 20, "Alertmanager ready", self)
        return self

    def _ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, \
            f"Alertmanager exited with {self.process.returncode if self.process else None}:\n{self.log()}"
        try:
            return self.api.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.api.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        reply = self.api.post("/api/v2/alerts", json=alerts)
        assert reply.status_code == 200, reply.text

    def alerts(self) -> list[dict[str, Any]]:
        reply = self.api.get("/api/v2/alerts")
        assert reply.status_code == 200, reply.text
        return reply.json()

    def metric(self, name: str) -> float:
        """The sum of a metric over its label sets."""
        text = self.api.get("/metrics").text
        pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
        values = pattern.findall(text)
        assert values, f"Alertmanager exports no {name}"
        return sum(float(value) for value in values)

    def answered(self) -> float:
        """Webhook requests that got an answer (the latency is observed once Notify returns)."""
        return self.metric("alertmanager_notification_latency_seconds_count")

    def failures(self) -> float:
        return (self.metric("alertmanager_notification_requests_failed_total")
                + self.metric("alertmanager_notifications_failed_total"))


def wait_for(check: Callable[[], T], timeout: float, what: str, manager: Alertmanager | None = None) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}" + (f"\n{manager.log()}" if manager else ""))
        time.sleep(0.1)


def receivers(base_url: str, tokens: dict[str, str]) -> list[dict[str, Any]]:
    url = base_url + ROUTE
    return [
        {"name": "bearer", "webhook_configs": [{"url": url, "send_resolved": True,
                                                "http_config": {"authorization": {"credentials": tokens["bearer"]}}}]},
        {"name": "basic", "webhook_configs": [{"url": url, "send_resolved": True, "http_config": {
            "basic_auth": {"username": "alertmanager", "password": tokens["basic"]}}}]},
        {"name": "query", "webhook_configs": [{"url": f"{url}?token={tokens['query']}", "send_resolved": True}]},
    ]


def config(base_url: str, tokens: dict[str, str]) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "bearer", "group_by": ["via"],
            # The smallest cadence that stays readable: a repeat every 3 s (see the docstring).
            "group_wait": "1s", "group_interval": "1s", "repeat_interval": "2s",
            "routes": [{"receiver": form, "matchers": [f'via="{form}"']} for form in ("basic", "query")],
        },
        "receivers": receivers(base_url, tokens),
    }


def fired(form: str, description: str = "/var is 93% full") -> dict[str, Any]:
    """An alert as Prometheus posts it (no startsAt: Alertmanager stamps it, in nanoseconds)."""
    return {"labels": {"alertname": "DiskFull", "via": form, "severity": "critical", "instance": "db1:9100"},
            "annotations": {"summary": f"Disk almost full ({form})", "description": description},
            "generatorURL": f"http://prometheus.local:9090/graph?via={form}"}


def go_time_ms(text: str) -> float:
    """A Go RFC3339Nano time as eventgate's seconds with milliseconds."""
    head, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc)
    return (int(moment.timestamp()) * 1000 + int((fraction + "000")[:3])) / 1000


def iso_ms(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.fixture
def channels(server) -> dict[str, IntakeChannel]:
    return {form: intake_channel(server, token_name=f"alertmanager-{form}") for form in FORMS}


@pytest.fixture
def alertmanager(server, channels, tmp_path) -> Any:
    manager = Alertmanager(tmp_path, config(server.base_url, {form: c.token for form, c in channels.items()}))
    try:
        yield manager.start()
    finally:
        manager.stop()


def test_the_real_alertmanager_fires_repeats_updates_and_resolves_one_event(alertmanager, channels):
    def events(form: str) -> list[dict[str, Any]]:
        return channels[form].events()

    # Firing: each route's notification creates one ongoing event in its token's channel.
    alertmanager.post_alerts([fired(form) for form in FORMS])
    for form in FORMS:
        wait_for(lambda: events(form), 15, f"the {form} event", alertmanager)
    stored = {alert["labels"]["via"]: alert for alert in alertmanager.alerts()}
    assert set(stored) == set(FORMS)
    created = {}
    for form in FORMS:
        [event] = events(form)
        created[form] = event
        assert event["state"] == "ongoing" and event["status"] == "firing", event
        assert event["title"] == f"Disk almost full ({form})" and event["message"] == "/var is 93% full"
        assert event["severity"] == "critical" and event["event_type"] == "alertmanager"
        assert event["attrs"] == {"alertname": "DiskFull", "via": form, "severity": "critical", "instance": "db1:9100"}
        assert event["actions"] == [{"label": "Source", "url": f"http://prometheus.local:9090/graph?via={form}"}]
        assert event["started_at"] == go_time_ms(stored[form]["startsAt"])
    assert alertmanager.failures() == 0, alertmanager.log()

    # Repeats: wait until every route has had at least one more notification answered.
    answered = alertmanager.answered()
    wait_for(lambda: alertmanager.answered() >= answered + len(FORMS) + 1, 15, "repeat notifications", alertmanager)
    for form in FORMS:
        [event] = events(form)
        assert event["seq"] == created[form]["seq"] and event["updated_at"] == created[form]["updated_at"]
        assert len(channels[form].timeline(event["id"])) == 1
    assert alertmanager.failures() == 0, alertmanager.log()

    # A changed annotation (the same alert, as Prometheus re-sends it) is an update of the same event.
    alertmanager.post_alerts([dict(fired(form, "/var is 97% full"), startsAt=stored[form]["startsAt"])
                              for form in FORMS])
    for form in FORMS:
        wait_for(lambda: events(form)[0]["message"] == "/var is 97% full", 15, f"the {form} update", alertmanager)
        [event] = events(form)
        assert event["id"] == created[form]["id"] and event["state"] == "ongoing"
        assert event["started_at"] == created[form]["started_at"]
        assert [op["kind"] for op in channels[form].timeline(event["id"])] == ["create", "update"]

    # Resolved: the same alert with an endsAt in the past closes the event at that time.
    ends_at = iso_ms(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(milliseconds=200))
    alertmanager.post_alerts([dict(fired(form, "/var is 97% full"), startsAt=stored[form]["startsAt"], endsAt=ends_at)
                              for form in FORMS])
    for form in FORMS:
        wait_for(lambda: events(form)[0]["state"] == "closed", 15, f"the {form} resolution", alertmanager)
        [event] = events(form)
        assert event["id"] == created[form]["id"] and event["status"] == "resolved"
        assert event["ended_at"] == go_time_ms(ends_at)
        assert [op["kind"] for op in channels[form].timeline(event["id"])] == ["create", "update", "close"]
    assert alertmanager.failures() == 0, alertmanager.log()
