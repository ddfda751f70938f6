"""Alertmanager's webhook receiver (which Grafana's alerting speaks too):
`POST /integrations/alertmanager`, payload version 4.

    POST /integrations/alertmanager   {version, status, receiver, groupLabels, commonLabels,
                                       commonAnnotations, externalURL, alerts: [{status, labels,
                                       annotations, startsAt, endsAt, generatorURL, fingerprint}]}

The token (a channel token) travels as `Authorization: Bearer`, Basic auth (the password), or
`?token=`. Each alert is one keyed command in the token's channel, its `fingerprint` the key
(domain/keyed_intake.py): firing → create, or update while the event is ongoing; resolved →
close. A re-fire after a resolve is a new event.

Alertmanager repeats its notifications (group_interval, repeat_interval, retries): the op_id
of each alert is derived from what identifies its state (fingerprint, status, startsAt, labels,
annotations, links, and endsAt once resolved), so a repeat of an unchanged alert is an
idempotent replay and adds nothing, while a changed annotation is an update.

Mapping: annotations.summary (else the alertname label) → title; annotations.description (else
the summary) → message (and description when long, shortened past 4,096 characters: a firing
alert is never refused for its length); label `severity` critical / error|high / warning /
info|none → critical/high/normal/low, else normal; labels → attrs; annotations → metadata (long
values shortened); generatorURL (and Grafana's dashboardURL/panelURL) → actions; startsAt →
started_at; endsAt of a resolved alert → ended_at.

The answer lists each alert's result. One alert refused (400) does not stop the others: the
reply is 200 with that alert's error, and 400 `alerts_refused` only when every alert was
refused (Alertmanager does not retry a 4xx). 503 when the store cannot take writes: Alertmanager retries the whole
notification, and the alerts already applied are replays.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.bodies import decode_struct, read_body
from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.intake_credentials import authorization_tokens
from eventgate.domain.errors import DomainError, bad_request
from eventgate.domain.fields import MAX_DESCRIPTION, MAX_METADATA_KEY, MAX_METADATA_VALUE
from eventgate.domain.intake import ELLIPSIS
from eventgate.domain.keyed_intake import AlertMessage, link_action
from eventgate.domain.operations import WriteOutcome
from eventgate.service.intake import IntakeService

MAX_BODY_BYTES = 1024 * 1024
MAX_ALERTS = 1000
SEVERITIES = {"critical": "critical", "error": "high", "high": "high", "warning": "normal",
              "info": "low", "none": "low"}
_json = msgspec.json.Encoder(order="sorted")


class Alert(msgspec.Struct, kw_only=True):
    status: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None
    # Grafana's webhook adds these (and values that change every evaluation, left out).
    dashboardURL: str | None = None
    panelURL: str | None = None


class AlertResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What became of one alert: created, updated, closed, replayed (a repeat: nothing new),
    ignored (resolved, but no ongoing event has its fingerprint) or refused (the error says why)."""

    fingerprint: str
    status: str | None
    result: str
    event_id: str | None = None
    seq: int | None = None
    error_code: str | None = None
    error: str | None = None


class AlertmanagerReply(msgspec.Struct):
    status: str
    alerts: list[AlertResult]


class Notification(msgspec.Struct, kw_only=True):
    """A webhook notification; fields it does not know are ignored, as Alertmanager adds some."""

    version: str | None = None
    status: str | None = None
    receiver: str | None = None
    groupKey: str | None = None
    externalURL: str | None = None
    alerts: list[Alert] | None = None


def presented_tokens(request: Request) -> list[str]:
    found = authorization_tokens(request.headers.get("authorization", ""))
    if request.query_params.get("token"):
        found.append(request.query_params["token"].strip())
    return found


def _time_ms(text: str | None, field: str) -> int | None:
    """An RFC 3339 time; Alertmanager's zero time (0001-01-01…, "not ended yet") is None."""
    if not text or text.startswith("0001-01-01"):
        return None
    value = text.strip().replace("Z", "+00:00")
    # Go writes up to 9 fractional digits; Python reads at most 6.
    head, dot, rest = value.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{field}_invalid", f"{field} must be an RFC 3339 time", field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def _metadata(annotations: dict[str, str]) -> dict[str, str]:
    """Annotations within metadata's limits: long values are shortened (the description is whole
    in the event's message or description)."""
    result = {}
    for key, value in annotations.items():
        if not key:
            continue
        if len(value) > MAX_METADATA_VALUE:
            value = value[:MAX_METADATA_VALUE - 1] + ELLIPSIS
        result[key[:MAX_METADATA_KEY]] = value
    return result


def fingerprint_of(alert: Alert) -> str:
    """Alertmanager's fingerprint, or one of the labels when a sender leaves it out."""
    return alert.fingerprint or hashlib.sha256(_json.encode(alert.labels or {})).hexdigest()[:16]


def alert_message(alert: Alert, request: Request) -> AlertMessage:
    """One webhook alert as an AlertMessage; raises DomainError (400) naming the problem."""
    if alert.status not in ("firing", "resolved"):
        raise bad_request("alert_status_invalid", "an alert's status must be firing or resolved", "status")
    labels = alert.labels or {}
    annotations = alert.annotations or {}
    fingerprint = fingerprint_of(alert)
    started_at = _time_ms(alert.startsAt, "startsAt")
    ended_at = _time_ms(alert.endsAt, "endsAt") if alert.status == "resolved" else None
    links = (("Source", alert.generatorURL), ("Dashboard", alert.dashboardURL), ("Panel", alert.panelURL))
    actions = [action for label, url in links if url and (action := link_action(label, url)) is not None]
    summary = annotations.get("summary") or None
    title = summary or labels.get("alertname") or "alert"
    message = annotations.get("description") or summary or title
    if len(message) > MAX_DESCRIPTION:  # Alertmanager bounds no annotation: shortened, never refused
        message = message[:MAX_DESCRIPTION - 1] + ELLIPSIS
    identity = [fingerprint, alert.status, alert.startsAt, labels, annotations, [url for _, url in links],
                alert.endsAt if alert.status == "resolved" else None]
    return AlertMessage(
        source="alertmanager", key=fingerprint, action="trigger" if alert.status == "firing" else "resolve",
        title=title, message=message,
        severity=SEVERITIES.get(labels.get("severity", "").strip().lower(), "normal"), status=alert.status,
        attrs=dict(labels), metadata=_metadata(annotations), actions=actions,
        started_at=started_at, ended_at=ended_at,
        event_type=request.headers.get("x-event-type") or request.query_params.get("event_type") or None,
        op_id="am-" + hashlib.sha256(_json.encode(identity)).hexdigest()[:48],
    )


def _result(alert: Alert, outcome: WriteOutcome | DomainError | BaseException) -> AlertResult:
    if isinstance(outcome, DomainError):
        return AlertResult(fingerprint=fingerprint_of(alert), status=alert.status,
                           result="ignored" if outcome.code == "keyed_event_not_found" else "refused",
                           error_code=outcome.code, error=outcome.message)
    assert isinstance(outcome, WriteOutcome)
    receipt = outcome.receipt
    result = "replayed" if outcome.replayed else {
        "create": "created", "update": "updated", "close": "closed"}.get(receipt.kind or "", "updated")
    return AlertResult(fingerprint=fingerprint_of(alert), status=alert.status, result=result,
                       event_id=receipt.event_id, seq=receipt.seq)


async def receive(request: Request) -> Response:
    """Apply each alert of a webhook notification to the event its fingerprint names."""
    runtime = request.app.state.runtime
    service = IntakeService(runtime.writer, runtime.channel_tokens, runtime.reader)
    try:
        token = await service.authenticate(presented_tokens(request))
        notification = decode_struct(await read_body(request, MAX_BODY_BYTES), Notification)
        alerts = notification.alerts
        if alerts is None:
            raise bad_request("alerts_required", "alerts is required", "alerts")
        if len(alerts) > MAX_ALERTS:
            raise bad_request("alerts_too_many", f"a notification may hold at most {MAX_ALERTS} alerts", "alerts")
    except DomainError as error:
        return failure(error)

    async def apply(alert: Alert) -> WriteOutcome | DomainError:
        try:
            message = alert_message(alert, request)
        except DomainError as error:
            return error
        outcome, _ = await service.alert(token, message)
        return outcome

    outcomes = await asyncio.gather(*(apply(alert) for alert in alerts), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, DomainError):
            raise outcome
        if isinstance(outcome, DomainError) and outcome.status >= 500:
            return failure(outcome)  # 503: Alertmanager retries the notification
    results = [_result(alert, outcome) for alert, outcome in zip(alerts, outcomes)]
    refused = [entry for entry in results if entry.result == "refused"]
    if alerts and len(refused) == len(alerts):
        first = refused[0]
        return failure(DomainError(400, "alerts_refused", f"every alert was refused; the first: {first.error}"))
    return JSONResponse(msgspec.to_builtins(AlertmanagerReply("success", results)))


routes = [
    Route("/integrations/alertmanager", receive, methods=["POST"], name="alertmanager_webhook"),
]
