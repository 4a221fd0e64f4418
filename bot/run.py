"""``paperbot run``: the chat bots and the scheduler, in one process and one event loop.

Telegram starts when ``TELEGRAM_BOT_TOKEN`` is set, Discord when ``DISCORD_BOT_TOKEN`` is set,
both when both are. They share one :class:`~bot.core.Paperbot` (store, arXiv client, caches)
and one :class:`~bot.schedule.Scheduler`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Protocol

from .core import Paperbot
from .deliver import Channel
from .errors import BadSetting
from .schedule import Scheduler
from .settings import Settings

log = logging.getLogger(__name__)


class Adapter(Channel, Protocol):
    """A chat platform: a delivery channel that can start and stop."""

    scheduler: Scheduler | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def make_adapters(core: Paperbot) -> list[Adapter]:
    settings = core.settings
    adapters: list[Adapter] = []
    if settings.telegram_bot_token is not None:
        from .telegram_bot import TelegramBot

        adapters.append(TelegramBot(core))
    if settings.discord_bot_token is not None:
        from .discord_bot import DiscordBot

        adapters.append(DiscordBot(core))
    return adapters


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Paperbot(settings) as core:
        adapters = make_adapters(core)
        if not adapters:
            raise BadSetting("set TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN (in .env) to run a bot")
        scheduler = Scheduler(core, {a.platform: a for a in adapters})
        for a in adapters:
            a.scheduler = scheduler
        started: list[Adapter] = []
        try:
            for a in adapters:
                await a.start()
                started.append(a)
                log.info("%s bot started", a.platform)
            await scheduler.start()
            await stop.wait()
        finally:
            await scheduler.stop()
            for a in reversed(started):
                try:
                    await a.stop()
                except Exception:
                    log.exception("stopping %s", a.platform)
