"""Create, update and close events in a channel, as producers do (seeds 000 and 001)."""

from __future__ import annotations

from eventgate.domain.lifecycle import LifecycleCommand
from eventgate.service.channel_access import ChannelAuthenticator
from eventgate.domain.decide import CredentialsChanged
from eventgate.domain.operations import WriteOutcome
from eventgate.store.group_commit import GroupCommit


class LifecycleService:
    def __init__(self, writer: GroupCommit, authenticator: ChannelAuthenticator) -> None:
        self.writer = writer
        self.authenticator = authenticator

    async def apply(self, command: LifecycleCommand, *, password: str, address: str) -> WriteOutcome:
        """Authenticate against the channel, then commit the operation (or replay it)."""
        channel = await self.authenticator.verify(command.channel_id, password, address)
        try:
            return await self.writer.submit(command, workspace_id=channel.workspace_id,
                                            verified_password_hash=channel.password_hash)
        except CredentialsChanged:
            # Another process rotated the password; our cached channel was stale. Check again.
            self.authenticator.directory.invalidate(command.channel_id)
            channel = await self.authenticator.verify(command.channel_id, password, address)
            return await self.writer.submit(command, workspace_id=channel.workspace_id,
                                            verified_password_hash=channel.password_hash)
