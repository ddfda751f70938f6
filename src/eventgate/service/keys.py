"""Looking up the API key a request presents, off the event loop."""

from __future__ import annotations

import anyio

from eventgate.auth.keys import ApiKey
from eventgate.store.database import Database
from eventgate.store.keys import find_active_key


class KeyDirectory:
    def __init__(self, database: Database) -> None:
        self.database = database

    def _find(self, plain: str) -> ApiKey | None:
        with self.database.reader.connect() as connection:
            return find_active_key(connection, plain)

    async def find(self, plain: str) -> ApiKey | None:
        # Not cached: a revoked or expired key stops working on its next request.
        return await anyio.to_thread.run_sync(self._find, plain)
