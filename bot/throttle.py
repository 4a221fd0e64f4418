"""How many commands one person may send a minute, on every platform.

Each command costs something (a database write, an arXiv request, a reply under the chat's flood
limit); one person sending hundreds a minute slows everyone else's. :class:`CommandThrottle`
counts each person's commands in a sliding minute. Over ``COMMANDS_PER_USER_PER_MINUTE`` the
first extra command is answered with one sentence (``warn``) and the rest are dropped silently
(``drop``) until the minute has room again: a reply to every dropped command would be the flood.
In memory: a restart forgets the counts, which costs at most one more minute's commands.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

Verdict = Literal["ok", "warn", "drop"]
WINDOW = 60.0
FORGET_AFTER = 10_000  # people tracked before the quiet ones are forgotten


class CommandThrottle:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._sent: dict[str, deque[float]] = {}
        self._warned: dict[str, float] = {}

    def check(self, who: str) -> Verdict:
        """Count one command of ``who`` (a platform-qualified person), or say why not."""
        if self.per_minute <= 0:
            return "ok"
        now = self.clock()
        if len(self._sent) > FORGET_AFTER:
            self._forget(now)
        sent = self._sent.setdefault(who, deque())
        while sent and sent[0] <= now - WINDOW:
            sent.popleft()
        if len(sent) < self.per_minute:
            sent.append(now)
            self._warned.pop(who, None)
            return "ok"
        if who in self._warned:
            return "drop"
        self._warned[who] = now
        return "warn"

    def _forget(self, now: float) -> None:
        for who, sent in list(self._sent.items()):
            if not sent or sent[-1] <= now - WINDOW:
                del self._sent[who]
                self._warned.pop(who, None)
