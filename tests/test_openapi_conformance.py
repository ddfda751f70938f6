"""The OpenAPI document is true: a schema fuzzer (schemathesis) sends thousands of generated
requests, valid and invalid, to a real `eventgate serve` and checks every response against
/openapi.json. Zero findings: no 5xx, only documented statuses, content types, headers and
bodies, schema-valid requests accepted, and unsupported methods answered 405 with `Allow`.

Runs on SQLite and, when EVENTGATE_TEST_DATABASE_URL is set, on PostgreSQL. Deterministic: a
fixed seed, derandomized generation, a bounded number of cases per operation.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from eventgate.api.intake_catalogue import INTAKE_TAG
from tests.conftest import TEST_DATABASE_URL, fresh_postgres_url
from tests.processes import stop, wait_until_serving

# The whole document in one run per database: about 100 s on SQLite since the destination routes.
pytestmark = pytest.mark.timeout(300)

PRODUCER_PASSWORD = "fuzz-password-1"
CHANNEL_NAME = "fuzz"
MAX_EXAMPLES = 30
SEED = 20261129
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "positive_data_acceptance",
          "unsupported_method", "allow_header_conformance", "negative_data_rejection"]

# schemathesis's defaults, for the operations that add a status.
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
NEGATIVE_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]

# Schema-valid requests these operations refuse for reasons of state no schema can express,
# each as its seed says: a code already taken and the SYSTEM types (400, seed 003), channel ids
# of another workspace (400), a cursor this server did not issue (400). Every other check still
# applies to them.
STATE_DEPENDENT = [
    {"include-path-regex": "^/api/b/v2/events"},
    {"include-path-regex": "^/admin/"},
    {"include-path": "/events", "include-method": "GET"},
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EVENTGATE_")}


def _eventgate(*args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "eventgate", *args], env=_environment(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout) if "--json" in args else {}


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]


def _sqlite_url(directory: Path) -> Iterator[str]:
    yield f"sqlite:///{directory}/eventgate.db"


class FuzzedServer:
    def __init__(self, base_url: str, admin_key: str, channel_id: str, producers_key: str,
                 channel_token: str) -> None:
        self.base_url = base_url
        self.admin_key = admin_key
        self.channel_id = channel_id
        self.producers_key = producers_key  # reads the producers' workspace
        self.channel_token = channel_token  # publishes to the producers' channel (ntfy, Gotify)


@pytest.fixture(scope="module", params=_backends())
def fuzzed_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzedServer]:
    """`eventgate serve` on its own fresh database (the fuzzer fills it with junk), with an admin
    key of the default workspace and, for the producer routes, a channel of another workspace:
    the admin routes (which the fuzzer also drives) can neither see nor rotate it."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    urls = fresh_postgres_url() if request.param == "postgresql" else _sqlite_url(tmp_path)
    database_url = next(urls)
    try:
        url = ("--database-url", database_url)
        _eventgate("migrate", *url)
        _eventgate("workspace", "create", "--name", "producers", *url)
        channel = _eventgate("channel", "create", "--name", CHANNEL_NAME, "--password", PRODUCER_PASSWORD,
                             "--workspace", "producers", "--json", *url)
        key = _eventgate("key", "create", "--user", "fuzzer", "--scope", "admin", "--json", *url)
        token = _eventgate("channel", "token", "create", channel["channel_id"], "--name", "fuzzer",
                           "--workspace", "producers", "--json", *url)
        reader = _eventgate("key", "create", "--user", "reader", "--scope", "events:read", "--workspace",
                            "producers", "--json", *url)
        port = _free_port()
        log_path = tmp_path / "serve.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "eventgate", "serve", "--port", str(port), "--workers", "1",
                 "--log-level", "warning", *url], env=_environment(), stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(process, base_url, log_path)
            yield FuzzedServer(base_url, key["key"], channel["channel_id"], reader["key"], token["token"])
        finally:
            stop(process)
        assert "Traceback" not in log_path.read_text(errors="replace"), log_path.read_text(errors="replace")
    finally:
        urls.close()


def fuzzer_config(server: FuzzedServer) -> SchemathesisConfig:
    ntfy_auth = base64.urlsafe_b64encode(f"Bearer {server.channel_token}".encode()).decode().rstrip("=")
    return SchemathesisConfig.from_dict({
        "seed": SEED,
        "request-timeout": 20,
        "workers": 1,
        "continue-on-failure": True,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "allow-x00": False,
                       "codec": "utf-8", "database": "none"},
        # The fuzzer must not learn ids from responses: it would revoke its own key.
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True, "extra-data-sources": {"responses": False}},
                   "stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        # The intake routes' credential, the channel token, in each of its forms.
        "auth": {"openapi": {"channelToken": {"bearer": server.channel_token},
                             "ntfyAuth": {"api_key": ntfy_auth},
                             "gotifyKey": {"api_key": server.channel_token},
                             "gotifyToken": {"api_key": server.channel_token},
                             "routingKey": {"api_key": server.channel_token},
                             "tokenQuery": {"api_key": server.channel_token}}},
        "dictionaries": {"channel": {"values": [server.channel_id]},
                         "topic": {"values": [server.channel_id, server.channel_id.lower(), CHANNEL_NAME]},
                         "password": {"values": [PRODUCER_PASSWORD]},
                         "token": {"values": [server.channel_token]}},
        "operations": [
            # The admin key everywhere but on the intake routes, which take the channel token (auth above).
            {"exclude-tag": INTAKE_TAG, "headers": {"Authorization": f"Bearer {server.admin_key}"}},
            # The producer routes reach a real channel with its password most of the time.
            {"include-path-regex": "^/event/", "parameters": {
                "body.channel_id": {"dictionary": "channel", "probability": 0.8},
                "body.password": {"dictionary": "password", "probability": 0.8}}},
            {"include-path-regex": "^/v1/channel/", "parameters": {
                "path.channel_id": {"dictionary": "channel", "probability": 0.8},
                "body.password": {"dictionary": "password", "probability": 0.8}}},
            # ntfy: the topic is the token's channel most of the time (any other is 403).
            {"include-path": "/{topic}", "parameters": {"path.topic": {"dictionary": "topic", "probability": 0.8}}},
            # ntfy's parameters travel in the query: their limits add up to more than the URL cap
            # (16 KiB, documented 414), which no parameter's schema can state.
            {"include-path-regex": "^/(\\{topic\\})?$", "checks": {
                "positive_data_acceptance": {"expected-statuses": [*POSITIVE_STATUSES, "414"]},
                "negative_data_rejection": {"expected-statuses": [*NEGATIVE_STATUSES, "414"]}}},
            {"include-path": "/", "parameters": {"body.topic": {"dictionary": "topic", "probability": 0.8}}},
            # PagerDuty: the routing key in the body is the token most of the time. What a valid event
            # needs depends on its event_action (a trigger's payload, an acknowledge's dedup_key), and
            # an unknown routing key is PagerDuty's 400: both are schema-valid refusals.
            {"include-path": "/v2/enqueue",
             "parameters": {"body.routing_key": {"dictionary": "token", "probability": 0.8}},
             "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE_STATUSES, "400"]}}},
            # Alertmanager: a notification with some invalid alerts is taken (200, those alerts refused)
            # so that Alertmanager does not drop the valid ones; no schema can say "some items may fail".
            # Each alert must also fit an event (attrs and metadata sizes, a real date in startsAt):
            # a notification whose every alert is refused is 400.
            {"include-path": "/integrations/alertmanager", "checks": {
                "negative_data_rejection": {"enabled": False},
                "positive_data_acceptance": {"expected-statuses": [*POSITIVE_STATUSES, "400"]}}},
            *({**selection, "checks": {"positive_data_acceptance": {"enabled": False}}}
              for selection in STATE_DEPENDENT),
        ],
    })


def run_fuzzer(server: FuzzedServer) -> tuple[int, list[str], float]:
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", config=fuzzer_config(server))
    # Streams never end: the WebSocket and SSE subscriptions have tests of their own.
    schema = schema.exclude(path_regex=r"/(ws|sse)/subscribe$|^/\{topics\}/(\{form\}|ws)$")
    cases = 0
    findings: list[str] = []
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)):
            cases += len(event.recorder.cases)
            for check_list in event.recorder.checks.values():
                for check in check_list:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        findings.append(f"{failure.operation} [{check.name}] {failure.title}: {failure.message}\n"
                                        f"    {check.failure_info.code_sample}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            findings.append(f"error: {getattr(event, 'label', '')} {getattr(event, 'value', '') or event.exception}")
    return cases, sorted(set(findings)), time.monotonic() - started


def test_the_openapi_document_matches_the_server(fuzzed_server: FuzzedServer, capsys: pytest.CaptureFixture) -> None:
    cases, findings, seconds = run_fuzzer(fuzzed_server)
    with capsys.disabled():
        print(f"\nschemathesis: {cases} cases in {seconds:.0f} s, {len(findings)} findings")
    assert cases > 3000
    assert not findings, "\n".join(findings[:40])
    # The producer routes were driven with the real channel and password, not only refused.
    written = httpx.get(f"{fuzzed_server.base_url}/events", params={"limit": 500},
                        headers={"Authorization": f"Bearer {fuzzed_server.producers_key}"}, timeout=30)
    assert len(written.json()["data"]) > 20, written.text
    # So were the intake routes, with the channel token: their messages and alerts are events (the
    # keyed ones fewer: a repeated key updates its ongoing event).
    for event_type, least in (("ntfy", 10), ("gotify", 10), ("pagerduty", 2), ("alertmanager", 2)):
        published = httpx.get(f"{fuzzed_server.base_url}/events", params={"limit": 500, "event_type": event_type},
                              headers={"Authorization": f"Bearer {fuzzed_server.producers_key}"}, timeout=30)
        assert len(published.json()["data"]) >= least, (event_type, published.text)
