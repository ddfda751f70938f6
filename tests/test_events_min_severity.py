"""GET /events?min_severity=: events at a severity or above, in the order live subscriptions use.

Every test works in a workspace of its own."""

from __future__ import annotations

import pytest

from eventgate.domain.fields import SEVERITIES, SEVERITY_RANK, severities_at_least
from tests.helpers import error_code


def create(api, severity):
    reply = api.post("/events", json={"title": f"{severity} event", "subtitle": "happened", "topics": [],
                                      "severity": severity})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def listed_severities(reply):
    assert reply.status_code == 200, reply.text
    return [event["severity"] for event in reply.json()["data"]]


@pytest.fixture
def one_of_each(api):
    return {severity: create(api, severity) for severity in ("low", "normal", "high", "critical")}


def test_min_severity_high_lists_high_and_critical(api, one_of_each):
    assert listed_severities(api.get("/events", params={"min_severity": "high"})) == ["critical", "high"]


def test_min_severity_low_lists_everything(api, one_of_each):
    assert listed_severities(api.get("/events", params={"min_severity": "low"})) == [
        "critical", "high", "normal", "low"]


def test_min_severity_critical_lists_only_critical(api, one_of_each):
    assert listed_severities(api.get("/events", params={"min_severity": "critical"})) == ["critical"]


def test_min_severity_ignores_case(api, one_of_each):
    assert listed_severities(api.get("/events", params={"min_severity": " Normal "})) == [
        "critical", "high", "normal"]


def test_empty_min_severity_is_no_filter(api, one_of_each):
    assert len(listed_severities(api.get("/events", params={"min_severity": ""}))) == 4


def test_min_severity_combines_with_other_filters(api, one_of_each):
    reply = api.get("/events", params={"min_severity": "normal", "active": "true", "limit": 2})
    assert listed_severities(reply) == ["critical", "high"]
    reply = api.get("/events", params={"min_severity": "normal", "cursor": reply.json()["next_cursor"]})
    assert listed_severities(reply) == ["normal"]


def test_unknown_min_severity_is_400_naming_the_order(api, one_of_each):
    reply = api.get("/events", params={"min_severity": "urgent"})
    assert reply.status_code == 400 and error_code(reply) == "min_severity_invalid"
    assert "low < normal < high < critical" in reply.text


def test_min_severity_with_severity_is_400(api, one_of_each):
    reply = api.get("/events", params={"min_severity": "high", "severity": "low"})
    assert reply.status_code == 400 and error_code(reply) == "min_severity_invalid"


def test_min_severity_given_twice_is_400(api):
    reply = api.get("/events?min_severity=high&min_severity=low")
    assert reply.status_code == 400 and error_code(reply) == "min_severity_invalid"


def test_listing_and_live_subscriptions_share_one_order():
    for minimum in SEVERITIES:
        assert set(severities_at_least(minimum)) == {
            name for name in SEVERITIES if SEVERITY_RANK[name] >= SEVERITY_RANK[minimum]}
    assert severities_at_least("high") == ("critical", "high")


def test_openapi_documents_min_severity(server):
    document = server.client().get("/openapi.json").json()
    parameters = {parameter["name"]: parameter for parameter in document["paths"]["/events"]["get"]["parameters"]}
    assert parameters["min_severity"]["schema"]["enum"] == list(SEVERITIES)
