"""Telegram's flood limits, kept by the Telegram adapter: how fast messages leave and how the
handlers are shared between chats.

About 30 messages a second overall, 20 a minute in a group and one a second in a chat.
:class:`PacedRateLimiter` (PTB's rate-limiter interface) keeps them with each chat on its own: a
429 in one chat waits out that chat only. :class:`FairUpdates` (PTB's update-processor
interface) shares the handlers between chats, so one busy group never delays another chat.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Update
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, BaseUpdateProcessor

log = logging.getLogger(__name__)

MESSAGE_ENDPOINTS = frozenset({"sendMessage", "sendPhoto", "sendMediaGroup", "editMessageText", "editMessageCaption"})
HEADROOM = 0.9  # pace the whole bot at 90 % of Telegram's rate: room for network jitter


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's flood limits. ``second`` and ``minute`` are the windows' lengths: tests and the
    bench shorten them (:meth:`faster`) to run the same schedule in less time."""

    per_second: float = 30  # messages a second, all chats together
    per_group: float = 20  # messages a minute in one group
    per_chat: float = 1  # messages a second in one chat
    second: float = 1.0
    minute: float = 60.0

    def faster(self, factor: float) -> FloodLimits:
        return replace(self, second=self.second / factor, minute=self.minute / factor)


class _ChatTurns:
    """When a chat may get its next message: its own send times, one request at a time, and
    the end of a flood wait Telegram gave this chat (a 429's ``retry_after``)."""

    def __init__(self, size: int) -> None:
        self.lock = asyncio.Lock()
        self.sent: deque[float] = deque(maxlen=max(1, size))
        self.blocked_until = 0.0

    def delay(self, now: float, limits: FloodLimits, group: bool) -> float:
        wait = self.blocked_until - now
        if self.sent:
            wait = max(wait, self.sent[-1] + limits.second / limits.per_chat - now)
        if group and len(self.sent) == self.sent.maxlen:
            wait = max(wait, self.sent[0] + limits.minute - now)
        return wait


def _retry_seconds(err: RetryAfter) -> float:
    """A 429's wait in seconds (PTB keeps it as a timedelta; its property warns about the type)."""
    return err._retry_after.total_seconds() + 0.1  # as AIORateLimiter reads it


class PacedRateLimiter(BaseRateLimiter[int]):
    """Telegram's flood limits, counted the way Telegram counts, with every chat on its own.

    PTB's AIORateLimiter has two faults here. Its limiters are leaky buckets as deep as their
    rate, so (30 per 1 s) lets 30 requests out at once and (20 per 60 s) lets a group get 20 in
    a second, which Telegram answers with 429s. And a 429 (``retry_after``) in any one chat
    halts every request of the bot for that long: one busy group's 30-second flood wait kept a
    private /help waiting 25 s. So here:

    * the whole bot's messages are paced at 90 % of Telegram's rate without a burst (1 per
      1/27 s, aiolimiter's bucket one deep), handed out in the order chats asked: as each
      chat sends one message at a time, a chat waits behind at most one message of each other
      chat, never behind a busy chat's backlog;
    * each chat's messages go one at a time, at least a second apart and, in groups, at most
      20 in any minute, measured from when Telegram answered the previous one;
    * a 429 that still comes holds that chat alone for its ``retry_after`` and is retried up
      to ``max_retries`` times, then raised; the other chats go on. A 429 that was really the
      bot's global limit reaches each chat that sends, and each waits it out on its own.

    Calls that are not messages (chat actions, getChatMember) are not paced (Telegram's rate
    limits are on messages) but wait out their chat's flood wait and retry a 429 the same way.
    """

    def __init__(self, limits: FloodLimits | None = None, max_retries: int = 5) -> None:
        self.limits = limits or FloodLimits()
        self.max_retries = max_retries
        self._overall = AsyncLimiter(1, self.limits.second / (self.limits.per_second * HEADROOM))
        self._chats: dict[int | str, _ChatTurns] = {}
        self.answered: Callable[[], None] | None = None  # told of every answer: Telegram is reachable

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        retries = rate_limit_args or self.max_retries
        chat_id = data.get("chat_id")
        if chat_id is None:
            answer = await self._send(None, callback, args, kwargs, retries, paced=False)
            if self.answered is not None:
                self.answered()  # Telegram answered (getUpdates, getMe): it is reachable
            return answer
        turns = self._turns(chat_id)
        loop = asyncio.get_running_loop()
        if endpoint not in MESSAGE_ENDPOINTS:
            wait = turns.blocked_until - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            return await self._send(turns, callback, args, kwargs, retries, paced=False)
        group = str(chat_id).startswith("-") or str(chat_id).startswith("@")
        async with turns.lock:
            wait = turns.delay(loop.time(), self.limits, group)
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._send(turns, callback, args, kwargs, retries, paced=True)
            finally:
                turns.sent.append(loop.time())

    async def _send(
        self,
        turns: _ChatTurns | None,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        retries: int,
        *,
        paced: bool,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """One request, paced with the whole bot's messages when ``paced``; a 429 holds only
        ``turns`` (this chat) while it is waited out."""
        loop = asyncio.get_running_loop()
        for attempt in range(retries + 1):
            try:
                if paced:
                    async with self._overall:
                        return await callback(*args, **kwargs)
                return await callback(*args, **kwargs)
            except RetryAfter as err:
                if attempt == retries:
                    log.warning("telegram: still rate limited after %d retries", retries)
                    raise
                wait = _retry_seconds(err)
                log.info("telegram: 429, this request (and only its chat) waits %.1f s", wait)
                if turns is not None:
                    turns.blocked_until = max(turns.blocked_until, loop.time() + wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _turns(self, chat_id: int | str) -> _ChatTurns:
        if len(self._chats) > 4096:  # forget chats that have been quiet for a minute
            now = asyncio.get_running_loop().time()
            for key, turns in list(self._chats.items()):
                if not turns.lock.locked() and (not turns.sent or turns.sent[-1] < now - self.limits.minute):
                    del self._chats[key]
        turns = self._chats.get(chat_id)
        if turns is None:
            turns = self._chats[chat_id] = _ChatTurns(int(self.limits.per_group))
        return turns


class FairUpdates(BaseUpdateProcessor):
    """Updates handled concurrently, fairly between chats.

    PTB's processor runs at most 256 updates at once, first come first served: a burst of
    commands in a few busy groups (whose replies wait minutes under the group limit) fills every
    slot, and a private /help queues behind all of it. Here each chat has ``per_chat`` slots;
    an update waiting for its chat's turn holds none of the ``total`` shared ones, so one chat's
    backlog never delays another chat's update.
    """

    def __init__(self, total: int = 256, per_chat: int = 4) -> None:
        super().__init__(max_concurrent_updates=1_000_000)  # PTB's own, outer cap: only a backstop
        self._total = asyncio.Semaphore(total)
        self.per_chat = per_chat
        self._chats: dict[int, tuple[asyncio.Semaphore, list[int]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._total:
                await coroutine
            return
        gate, users = self._chats.setdefault(chat.id, (asyncio.Semaphore(self.per_chat), [0]))
        users[0] += 1
        try:
            async with gate, self._total:
                await coroutine
        finally:
            users[0] -= 1
            if not users[0]:
                del self._chats[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
