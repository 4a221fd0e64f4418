"""One digest delivery per chat at a time.

Four things start a chat's digest: its scheduled job, ``/digest``, the catch-up after a late
harvest or a restart, and the 15-minute retry of unfinished runs. Two of them running at once
for one chat read the same ledger before either has written to it, and every paper still to go
is posted twice. :class:`ChatTurns` (one per :class:`~bot.core.Paperbot`, so shared by Telegram,
Discord and the scheduler) lets one delivery per chat run; a second one for the same listing
day is told that one is running and does nothing, one for another day waits its turn.
It serialises within one process; one ``paperbot run`` per database is the deployment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

Key = tuple[str, str]  # (platform, chat id)


class ChatTurns:
    """Per-chat locks, with the listing day each running delivery is for."""

    def __init__(self) -> None:
        self._locks: dict[Key, asyncio.Lock] = {}
        self._users: dict[Key, int] = {}
        self._days: dict[Key, date] = {}

    def running(self, key: Key) -> date | None:
        """The day whose digest is being posted to this chat right now, if any."""
        return self._days.get(key)

    @asynccontextmanager
    async def turn(self, key: Key, day: date) -> AsyncIterator[None]:
        """Hold the chat for a delivery of ``day`` (waiting for a running one to end)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                self._days[key] = day
                try:
                    yield
                finally:
                    self._days.pop(key, None)
        finally:
            self._users[key] -= 1
            if not self._users[key]:  # nobody holds or waits: forget the chat
                del self._users[key], self._locks[key]
