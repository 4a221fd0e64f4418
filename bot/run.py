"""``paperbot run``: the chat bots and the scheduler, in one process and one event loop.

Telegram starts when ``TELEGRAM_BOT_TOKEN`` is set, Discord when ``DISCORD_BOT_TOKEN`` is set,
both when both are. They share one :class:`~bot.core.Paperbot` (store, arXiv client, caches)
and one :class:`~bot.schedule.Scheduler`.

The network is taken to be unreliable: a server may boot before its network, and Telegram or
Discord may be unreachable at any time. Each platform is started by its own keeper, which tries
again with :class:`~bot.health.Backoff` (one log line per failed try, saying when the next is)
while the other platform runs. A platform joins the scheduler once it is up, and its chats
whose digest time has passed get their digest then. Only what waiting cannot fix ends the run:
a :class:`~bot.errors.BadSetting` (a token the platform refuses, a bad webhook setting).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta
from typing import Protocol

from .core import Paperbot
from .deliver import Channel
from .errors import BadSetting
from .health import HEARTBEAT_SECONDS, Backoff, PlatformHealth, brief, scrub
from .schedule import Scheduler
from .settings import Settings
from .store import Store

log = logging.getLogger(__name__)


class Adapter(Channel, Protocol):
    """A chat platform: a delivery channel that can start and stop."""

    scheduler: Scheduler | None
    health: PlatformHealth | None

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


async def keep_up(
    adapter: Adapter, core: Paperbot, stop: asyncio.Event, on_up: asyncio.Queue[Adapter]
) -> None:
    """Start ``adapter``, trying again until it is up (or ``stop``); BadSetting ends the run."""
    settings = core.settings
    backoff = Backoff(settings.retry_max_seconds)
    health = adapter.health
    while not stop.is_set():
        try:
            await adapter.start()
        except BadSetting:
            raise
        except Exception as err:
            with contextlib.suppress(Exception):
                await adapter.stop()
            wait = backoff.next()
            at = core.clock() + timedelta(seconds=wait)
            reason = scrub(brief(err), settings.secrets())
            log.warning(
                "%s is unreachable (%s); next try at %s (in %.0f s)",
                adapter.platform, reason, at.strftime("%H:%M:%S"), wait,
            )  # fmt: skip
            log.debug("%s start failed", adapter.platform, exc_info=True)
            if health is not None:
                await health.mark(False, reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            continue
        if health is not None:
            await health.mark(True)
        log.info("%s bot started", adapter.platform)
        await on_up.put(adapter)
        return


async def _heartbeat(healths: list[PlatformHealth]) -> None:
    """Once a minute, each platform's record is rewritten with a fresh ``seen``: a health check
    can tell a bot that stopped writing from one whose platform is fine."""
    while True:
        for h in healths:
            if h.up is not None:
                with contextlib.suppress(Exception):
                    await h.write()
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM); raise BadSetting for what waiting cannot fix."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Paperbot(settings) as core:
        adapters = make_adapters(core)
        if not adapters:
            raise BadSetting("set TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN (in .env) to run a bot")
        channels: dict[str, Channel] = {}  # the platforms that are up: the scheduler delivers to these
        scheduler = Scheduler(core, channels)
        for a in adapters:
            a.scheduler = scheduler
            a.health = PlatformHealth(core.store, a.platform, core.clock)
        up: asyncio.Queue[Adapter] = asyncio.Queue()
        keepers = {asyncio.create_task(keep_up(a, core, stop, up), name=f"keep-up-{a.platform}") for a in adapters}
        background: set[asyncio.Task[object]] = {
            asyncio.create_task(_heartbeat([a.health for a in adapters if a.health is not None]), name="heartbeat")
        }
        stopping = asyncio.create_task(stop.wait())
        arrived = asyncio.create_task(up.get())
        try:
            await scheduler.start(catch_up=False)
            while not stop.is_set():
                done, _ = await asyncio.wait({stopping, arrived, *keepers}, return_when=asyncio.FIRST_COMPLETED)
                for task in done & keepers:
                    keepers.discard(task)
                    task.result()  # a BadSetting ends the run here
                if arrived in done:
                    adapter = arrived.result()
                    arrived = asyncio.create_task(up.get())
                    channels[adapter.platform] = adapter
                    for chat in await core.store.run(Store.active_chats, adapter.platform):
                        await scheduler.sync_chat(adapter.platform, chat["chat_id"])
                    # chats whose digest time passed while the platform was down get it now
                    background.add(asyncio.create_task(scheduler.catch_up(only=adapter.platform)))
        finally:
            stop.set()
            for task in (stopping, arrived, *keepers, *background):
                task.cancel()
            await asyncio.gather(stopping, arrived, *keepers, *background, return_exceptions=True)
            await scheduler.stop()
            for a in reversed(adapters):
                try:
                    await a.stop()
                except Exception as err:
                    log.warning("stopping %s: %s", a.platform, scrub(brief(err), settings.secrets()))
