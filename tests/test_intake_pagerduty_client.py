"""PagerDuty's official Python client (`pagerduty` on PyPI) against eventgate.

What the client needed that PagerDuty's docs do not say: it refuses any base_url that is not
https://, so eventgate must be reached over TLS (here a self-signed certificate the client is
told to trust); it sends the routing key only in the body; it reads `dedup_key` from a 202
answer and fails on any answer without one.
"""

from __future__ import annotations

import ssl
import subprocess

import pytest

from tests.conftest import start_server
from tests.intake import intake_channel

pagerduty = pytest.importorskip("pagerduty")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def tls_server(server, certificate):
    """The session's server settings, served over TLS on a port of its own."""
    cert, key = certificate
    running = start_server(server.settings, ssl_certfile=str(cert), ssl_keyfile=str(key))
    running.base_url = running.base_url.replace("http://", "https://")
    yield running
    running.stop()


@pytest.fixture
def events_client(tls_server, certificate):
    made = []

    def make(routing_key):
        trust = ssl.create_default_context(cafile=str(certificate[0]))
        made.append(pagerduty.EventsApiV2Client(routing_key, base_url=tls_server.base_url, verify=trust))
        return made[-1]

    yield make
    for client in made:  # its kept-alive connections would hold the server's shutdown
        client.close()


def test_trigger_acknowledge_resolve_with_the_official_client(server, events_client):
    intake = intake_channel(server)
    client = events_client(intake.token)
    dedup_key = client.trigger("Disk full on nas", "nas", severity="warning",
                               custom_details={"free": "2%"},
                               links=[{"href": "https://wiki.example/disk", "text": "Runbook"}])
    assert dedup_key and isinstance(dedup_key, str)
    assert client.trigger("Disk full on nas", "nas", dedup_key=dedup_key, severity="critical") == dedup_key
    assert client.acknowledge(dedup_key) == dedup_key
    assert client.resolve(dedup_key) == dedup_key
    found = intake.only_event()
    assert found["state"] == "closed" and found["status"] == "resolved" and found["severity"] == "critical"
    assert found["attrs"]["details"] == {"free": "2%"} and found["attrs"]["dedup_key"] == dedup_key
    assert found["actions"] == [{"label": "Runbook", "url": "https://wiki.example/disk"}]
    assert [entry["kind"] for entry in intake.timeline(found["id"])] == ["create", "update", "update", "close"]


def test_the_client_reports_an_unknown_routing_key_as_an_error(events_client):
    client = events_client("0" * 32)
    with pytest.raises(pagerduty.Error) as refused:
        client.trigger("Disk full", "nas")
    assert refused.value.response is not None and refused.value.response.status_code == 400
