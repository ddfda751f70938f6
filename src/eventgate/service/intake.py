"""Writing what the intake APIs send (ntfy, Gotify one-shot messages; PagerDuty and
Alertmanager keyed alerts) with a channel token.

The token authorises the write (like an API key, so the writer gets no password hash to
re-check): the command goes to `GroupCommit.submit` as every other write does, with the
token's channel and workspace. Idempotency is per channel, by the request's
`Idempotency-Key` or an op id of our own.
"""

from __future__ import annotations

from typing import Any

from eventgate.auth.channel_tokens import ChannelToken
from eventgate.domain.errors import DomainError
from eventgate.domain.intake import OneShotMessage, build_one_shot_command
from eventgate.domain.keyed_intake import AlertMessage, build_alert_command
from eventgate.domain.lifecycle import LifecycleCommand
from eventgate.domain.operations import WriteOutcome
from eventgate.service.channel_tokens import ChannelTokenDirectory
from eventgate.service.event_reads import EventReader
from eventgate.store.group_commit import GroupCommit


def token_required() -> DomainError:
    return DomainError(401, "token_required", "a channel token is required", headers={"WWW-Authenticate": "Bearer"})


def token_invalid() -> DomainError:
    return DomainError(401, "token_invalid", "the channel token is unknown or revoked",
                       headers={"WWW-Authenticate": "Bearer"})


class IntakeService:
    def __init__(self, writer: GroupCommit, tokens: ChannelTokenDirectory, reader: EventReader) -> None:
        self.writer = writer
        self.tokens = tokens
        self.reader = reader

    async def authenticate(self, presented: list[str]) -> ChannelToken:
        """The first active token among the credentials presented (in the API's order of preference)."""
        if not presented:
            raise token_required()
        for plain in presented:
            token = await self.tokens.find(plain)
            if token is not None:
                return token
        raise token_invalid()

    async def publish(self, token: ChannelToken, message: OneShotMessage, *,
                      idempotency_key: str | None = None) -> tuple[WriteOutcome, dict[str, Any]]:
        """Store the message as an event closed at once; returns the outcome and the event."""
        command = build_one_shot_command(message, channel_id=token.channel_id, default_title=token.name,
                                         op_id=idempotency_key)
        return await self._write(token, command)

    async def alert(self, token: ChannelToken, alert: AlertMessage) -> tuple[WriteOutcome | DomainError,
                                                                           dict[str, Any] | None]:
        """Apply one keyed alert; a refusal of this alert alone (400, 404) is returned, not raised,
        so that one bad alert of a batch does not stop the others. 503 and 5xx are raised."""
        try:
            command = build_alert_command(alert, channel_id=token.channel_id, default_title=token.name)
            return await self._write(token, command)
        except DomainError as error:
            if error.status >= 500:
                raise
            return error, None

    async def _write(self, token: ChannelToken, command: LifecycleCommand) -> tuple[WriteOutcome, dict[str, Any]]:
        outcome = await self.writer.submit(command, workspace_id=token.workspace_id, verified_password_hash=None)
        if outcome.operation is not None:
            return outcome, outcome.operation.event
        # A replay: the event as the first request left it.
        event = None
        if outcome.receipt.seq is not None:
            event = await self.reader.event_after(token.workspace_id, outcome.receipt.seq)
        if event is None:
            event = await self.reader.event(token.workspace_id, outcome.receipt.event_id)
        return outcome, event
