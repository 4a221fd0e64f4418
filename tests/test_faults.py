"""Fault injection across the stack: one fault at a time, a digest to healthy chats on both platforms.

Every test runs the real core, the real Telegram and Discord adapters and the real
:class:`~bot.schedule.Scheduler` against the fakes: two healthy Telegram groups and two
healthy Discord channels subscribed to 虚拟人 (4 papers), plus the chat the fault hits when it
is a chat's fault. ``catch_up()`` is the scheduled run; a second ``catch_up()`` (what a restart
or the next scheduled run does) is "later". After each fault: every healthy chat got each
paper exactly once, what failed is delivered later and only once, and ``paperbot status`` (the
CLI, as a subprocess on the same data dir) shows what is pending and why.

Single faults are tested in depth elsewhere (tests/test_harvest.py, tests/test_summaries.py,
tests/test_telegram.py, tests/test_discord.py); this file is the cross-cutting version.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.core import Paperbot
from bot.discord_bot import DiscordBot
from bot.schedule import Scheduler
from bot.settings import Settings
from bot.store import Store
from bot.telegram_bot import TelegramBot
from bot.topics import Catalogue
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.discord import FakeDiscord
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import serve
from tests.fakes.telegram import MESSAGE_METHODS, TOKEN, ApiError, FakeTelegram
from tests.test_telegram import (
    AVATAR,
    AVATAR_IDS,
    DAY,
    FAST,
    NOON,
    listing,
    paper_messages,
    subscribe_directly,
)

TG_HEALTHY = [-1002000000001, -1002000000002]
TG_SICK = -1002000000099


@dataclass
class FaultyTelegram(FakeTelegram):
    """The fake Bot API plus faults aimed at one chat: after ``sick_after`` accepted messages
    there, its next message calls get ``sick`` in order (an ApiError, or "drop": the connection
    is aborted before the message is stored, as a network failure would)."""

    sick_chat: int | None = None
    sick_after: int = 0
    sick: list[ApiError | str] = field(default_factory=list)
    dropped: int = 0

    def _next_fault(self, chat: int | None) -> ApiError | str | None:
        if chat is None or chat != self.sick_chat or not self.sick:
            return None
        if len(self.in_chat(chat)) < self.sick_after:
            return None
        return self.sick.pop(0)

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            return await super()._handle(request)
        except _Drop:
            self.dropped += 1
            assert request.transport is not None
            request.transport.abort()  # the client sees the connection die mid-request
            return web.Response(status=502)

    def _check_faults(self, method: str, params: dict[str, Any], now: float) -> None:
        if method in MESSAGE_METHODS and self.sick:
            chat = params.get("chat_id")
            fault = self._next_fault(int(chat) if str(chat).lstrip("-").isdigit() else None)
            if fault == "drop":
                self.calls.pop()  # never reached "Telegram"
                raise _Drop()
            if isinstance(fault, ApiError):
                raise fault
        super()._check_faults(method, params, now)


class _Drop(Exception):
    """Close the connection instead of answering."""


@dataclass
class World:
    settings: Settings
    arxiv: FakeArxiv
    tg: FaultyTelegram
    discord: FakeDiscord
    dc_healthy: list[str]
    dc_sick: str
    gemini: FakeGemini | None = None
    core: Paperbot | None = None
    scheduler: Scheduler | None = None

    # ---- what the chats received ---------------------------------------------------------------
    def tg_papers(self, chat: int) -> dict[str, int]:
        return {pid: len(paper_messages(self.tg, chat, pid)) for pid in AVATAR_IDS}

    def tg_headers(self, chat: int) -> int:
        return sum(1 for p in self.tg.in_chat(chat) if "📚" in p.visible)

    def dc_papers(self, channel: str) -> dict[str, int]:
        urls = [str((r.payload.get("embeds") or [{}])[0].get("url", "")) for r in self.discord.sent(channel)]
        return {pid: sum(1 for u in urls if u.endswith(pid)) for pid in AVATAR_IDS}

    def dc_headers(self, channel: str) -> int:
        return sum(
            1 for r in self.discord.sent(channel) if r.payload.get("content") and not r.payload.get("embeds")
        )

    def assert_healthy_complete(self) -> None:
        once = dict.fromkeys(AVATAR_IDS, 1)
        for chat in TG_HEALTHY:
            assert self.tg_papers(chat) == once, chat
            assert self.tg_headers(chat) == 1
        for channel in self.dc_healthy:
            assert self.dc_papers(channel) == once, channel
            assert self.dc_headers(channel) == 1

    async def run_state(self, platform: str, chat: str | int) -> str | None:
        assert self.core is not None
        row = await self.core.store.run(Store.get_digest_run, platform, str(chat), DAY)
        return None if row is None else row["status"]


@asynccontextmanager
async def world(tmp_path: Path, *, llm: bool = False, **update: Any) -> AsyncIterator[World]:
    """The fakes, the chats subscribed in SQLite (digest time passed), a core with both adapters
    started and a Scheduler (its cron jobs never fire during a test)."""
    async with AsyncExitStack() as stack:
        arxiv = FakeArxiv()
        arxiv.timeout_seconds = 1.5
        listing(arxiv, DAY, pdfs=False)
        arxiv_server = stack.enter_context(serve(arxiv.app()))
        tg = FaultyTelegram(limits=FAST)
        tg_server = stack.enter_context(serve(tg.app()))
        discord = await stack.enter_async_context(FakeDiscord())
        guild = discord.add_guild("Lab")
        dc_healthy = [discord.add_channel(guild, f"papers-{i}") for i in range(2)]
        dc_sick = discord.add_channel(guild, "sick")
        gemini = None
        extra: dict[str, Any] = {}
        if llm:
            gemini = FakeGemini()
            gemini_server = stack.enter_context(serve(gemini.app()))
            extra = {"llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"),
                     "gemini_base_url": gemini_server.url, "llm_retries": 0, "llm_timeout": 10.0}  # fmt: skip
        settings = Settings(
            _env_file=None, data_dir=tmp_path / "data", default_lang="en", figure_policy="none", llm_provider="none",
            arxiv_delay_seconds=0, arxiv_timeout=0.5, arxiv_retries=1,
            arxiv_api_url=f"{arxiv_server.url}/api/query", arxiv_rss_url=f"{arxiv_server.url}/rss/",
            arxiv_pdf_url=f"{arxiv_server.url}/pdf/{{id}}",
            telegram_bot_token=SecretStr(TOKEN), telegram_api_url=f"{tg_server.url}/bot",
            discord_bot_token=SecretStr(discord.token), discord_api_url=discord.api_url,
            discord_gateway_url=discord.gateway_url,
        ).model_copy(update={**extra, **update})  # fmt: skip
        for chat in [*TG_HEALTHY, TG_SICK]:
            subscribe_directly(settings, chat, digest_time="00:00", timezone="UTC")
        query = Catalogue.load().get(AVATAR).query  # type: ignore[union-attr]
        store = Store(settings.db_path)
        try:
            for channel in [*dc_healthy, dc_sick]:
                store.subscribe("discord", channel, AVATAR, query)
                store.update_chat("discord", channel, {"digest_time": "00:00", "timezone": "UTC"})
        finally:
            store.close()
        w = World(settings, arxiv, tg, discord, dc_healthy, dc_sick, gemini)
        core = await stack.enter_async_context(Paperbot(settings, clock=lambda: NOON))
        telegram = TelegramBot(core, limits=FAST, max_retries=2)
        dc = DiscordBot(core, guild_ready_timeout=0.05)
        await telegram.start()
        stack.push_async_callback(telegram.stop)
        await dc.start()
        stack.push_async_callback(dc.stop)
        w.core, w.scheduler = core, Scheduler(core, {"telegram": telegram, "discord": dc})
        for a in (telegram, dc):
            a.scheduler = w.scheduler
        yield w


async def status(settings: Settings) -> dict[str, tuple[str, str]]:
    """`paperbot status` as a subprocess: chat id -> (state, detail)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(settings.data_dir), "COLUMNS": "250",
           "PAPERBOT_DATA_DIR": str(settings.data_dir)}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "status", cwd=settings.data_dir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    rows: dict[str, tuple[str, str]] = {}
    for line in out.decode().splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) == 4 and cells[0] in ("telegram", "discord"):
            rows[cells[1]] = (cells[2], cells[3])
    rows["_header"] = (out.decode().splitlines()[0], "")
    rows["_text"] = (out.decode(), "")
    return rows


ONCE = dict.fromkeys(AVATAR_IDS, 1)

# ---- arXiv -------------------------------------------------------------------------------------------

ARXIV_DOWN = {
    "rss-429": ("rss", [429, 429]),
    "rss-503": ("rss", [503, 503]),
    "rss-timeout": ("rss", ["timeout", "timeout"]),
    "rss-malformed": ("rss", ["malformed"]),
}


@pytest.mark.parametrize("name", list(ARXIV_DOWN))
async def test_arxiv_down_at_digest_time_then_back(tmp_path: Path, name: str) -> None:
    """The harvest fails after its retries: no chat gets a wrong or partial digest, every chat is
    pending, and the next run harvests and delivers the day to every chat once."""
    endpoint, faults = ARXIV_DOWN[name]
    async with world(tmp_path) as w:
        assert w.scheduler is not None
        w.arxiv.faults[endpoint] = list(faults)
        first = await w.scheduler.catch_up()
        assert first == [] and w.tg.posted == [] and w.discord.sent() == []
        shown = await status(w.settings)
        assert shown["_header"][0].startswith("nothing harvested yet; the last harvest failed at")
        assert {shown[str(c)][0] for c in [*TG_HEALTHY, TG_SICK]} == {"pending"}
        assert {shown[c][0] for c in [*w.dc_healthy, w.dc_sick]} == {"pending"}
        # arXiv is back: the next run (a restart, or the next scheduled digest) delivers
        second = await w.scheduler.catch_up()
        assert sorted(r.status for r in second) == ["done"] * 6
        w.assert_healthy_complete()
        assert w.tg_papers(TG_SICK) == ONCE and w.dc_papers(w.dc_sick) == ONCE
        shown = await status(w.settings)
        assert shown["_header"][0].startswith(f"latest listing day: {DAY}")
        assert {shown[str(c)][0] for c in [*TG_HEALTHY, TG_SICK]} == {"done"}


async def test_status_says_why_the_harvest_failed(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        assert w.scheduler is not None
        w.arxiv.faults["rss"] = [503, 503]
        await w.scheduler.catch_up()
        shown = await status(w.settings)
        assert "503" in shown["_header"][0]


@pytest.mark.parametrize("fault", ["empty-rss", "api-503"])
async def test_arxiv_partly_down_the_digest_still_goes_out(tmp_path: Path, fault: str) -> None:
    """An empty feed falls back to the API; an API that keeps failing leaves the RSS metadata:
    either way every chat gets the day at its time."""
    async with world(tmp_path) as w:
        assert w.scheduler is not None
        if fault == "empty-rss":
            w.arxiv.faults["rss"] = ["empty"]
        else:
            w.arxiv.faults["api"] = [503] * 6
        results = await w.scheduler.catch_up()
        assert sorted(r.status for r in results) == ["done"] * 6
        w.assert_healthy_complete()
        assert w.tg_papers(TG_SICK) == ONCE and w.dc_papers(w.dc_sick) == ONCE


# ---- the LLM -------------------------------------------------------------------------------------------

LLM_FAULTS = {
    "429": [FakeGemini.error(429)],
    "500": [FakeGemini.error(500)],
    "timeout": [FakeGemini.sleep(15.0)],  # longer than llm_timeout (10 s: generous for a loaded machine)
    "invalid-json": [FakeGemini.reply('{"summary": "cut off'), FakeGemini.reply("not JSON either")],
}


@pytest.mark.parametrize("name", list(LLM_FAULTS))
async def test_llm_fault_gives_an_extractive_summary_now_and_the_model_later(
    tmp_path: Path, name: str
) -> None:
    async with world(tmp_path, llm=True, llm_concurrency=1) as w:
        assert w.scheduler is not None and w.core is not None and w.gemini is not None
        await w.core.harvest()
        await w.core.chat_papers("telegram", str(TG_HEALTHY[0]), DAY)  # the topic's close calls judged first
        w.gemini.queue += LLM_FAULTS[name]  # so the faults meet a summary
        results = await w.scheduler.catch_up()
        assert sorted(r.status for r in results) == ["done"] * 6, results  # nobody waits for the model
        w.assert_healthy_complete()
        # exactly one paper went out extractive (marked so), the same in every chat
        papers = {p.id: p for p in await w.core.papers_for_day(DAY)}
        summaries = {pid: await w.core.summarizer.cached(papers[pid], "en") for pid in AVATAR_IDS}
        fallback = [pid for pid, s in summaries.items() if s is not None and s.extractive]
        assert len(fallback) == 1
        (msg,) = paper_messages(w.tg, TG_HEALTHY[0], fallback[0])
        assert "extracted from the abstract" in msg.visible
        shown = await status(w.settings)
        assert {shown[str(c)][0] for c in TG_HEALTHY} == {"done"}
        assert f"summary of {fallback[0]}v1 (en) is extractive since" in shown["_text"][0]  # pending, and why
        # later (the fallback is older than the retry interval): the model is asked again
        await w.core.store.run(
            lambda s: s.db.execute(
                "update summaries set created_at = '2000-01-01T00:00:00+00:00' where extractive = 1"
            )
        )
        calls = len(w.gemini.generate_calls)
        later = await w.core.summary(papers[fallback[0]], "en")
        assert not later.extractive and len(w.gemini.generate_calls) == calls + 1
        assert not (await w.core.summarizer.cached(papers[fallback[0]], "en")).extractive  # type: ignore[union-attr]


# ---- Telegram ----------------------------------------------------------------------------------------

TELEGRAM_FAULTS: dict[str, tuple[list[ApiError | str], str, str]] = {
    # fault on the sick chat's first paper (after its header), expected status, words in the detail
    "429-retry-after": (
        [ApiError(429, "Too Many Requests: retry after 0.05", {"retry_after": 0.05})] * 3,
        "deferred",
        "rate limited",
    ),
    "403": ([ApiError(403, "Forbidden: bot was kicked from the supergroup chat")], "gone", "kicked"),
    "400": ([ApiError(400, "Bad Request: message can't be sent right now")], "deferred", "refused"),
    "dropped-connection": (["drop"], "deferred", "network"),
}


@pytest.mark.parametrize("name", list(TELEGRAM_FAULTS))
async def test_telegram_fault_hits_one_chat_others_complete_then_retried(tmp_path: Path, name: str) -> None:
    faults, expected, reason = TELEGRAM_FAULTS[name]
    async with world(tmp_path) as w:
        assert w.scheduler is not None and w.core is not None
        w.tg.sick_chat, w.tg.sick_after, w.tg.sick = TG_SICK, 1, list(faults)
        results = {r.chat_id: r for r in await w.scheduler.catch_up()}
        w.assert_healthy_complete()
        assert w.dc_papers(w.dc_sick) == ONCE
        assert results[str(TG_SICK)].status == expected and w.tg.sick == []
        assert w.tg_papers(TG_SICK) == dict.fromkeys(AVATAR_IDS, 0) and w.tg_headers(TG_SICK) == 1
        state, detail = (await status(w.settings))[str(TG_SICK)]
        assert state == ("inactive" if expected == "gone" else "deferred") and reason in detail.lower()
        if expected == "gone":
            # paused, not retried, until the bot is back in the group (what membership() records)
            again = await w.scheduler.catch_up()
            assert str(TG_SICK) not in {r.chat_id for r in again}
            await w.core.store.run(
                Store.update_chat, "telegram", str(TG_SICK), {"active": 1, "inactive_reason": None}
            )
        second = {r.chat_id: r for r in await w.scheduler.catch_up()}
        assert second[str(TG_SICK)].status == "done" and second[str(TG_SICK)].sent == len(AVATAR_IDS)
        assert w.tg_papers(TG_SICK) == ONCE
        w.assert_healthy_complete()  # the retry sent the healthy chats nothing more
        assert (await status(w.settings))[str(TG_SICK)][0] == "done"
        if name == "dropped-connection":
            assert w.tg.dropped == 1


async def test_a_digest_deferred_mid_way_repeats_no_header(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        assert w.scheduler is not None
        w.tg.sick_chat, w.tg.sick_after, w.tg.sick = TG_SICK, 2, ["drop"]
        await w.scheduler.catch_up()
        await w.scheduler.catch_up()
        assert w.tg_papers(TG_SICK) == ONCE
        assert w.tg_headers(TG_SICK) == 1


# ---- Discord ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["429", "403", "404"])
async def test_discord_fault_hits_one_channel_others_complete(tmp_path: Path, name: str) -> None:
    async with world(tmp_path) as w:
        assert w.scheduler is not None and w.core is not None
        sick = w.dc_sick
        if name == "429":  # more 429s than discord.py retries: the channel is deferred
            w.discord.rate_limit("POST", rf"channels/{sick}/messages", retry_after=0.05, times=5)
        else:
            w.discord.delete_channel(sick, int(name))
        results = {r.chat_id: r for r in await w.scheduler.catch_up()}
        w.assert_healthy_complete()
        assert w.tg_papers(TG_SICK) == ONCE
        assert w.dc_papers(sick) == dict.fromkeys(AVATAR_IDS, 0)
        state, detail = (await status(w.settings))[sick]
        if name == "429":
            assert results[sick].status == "deferred"
            assert state == "deferred" and "429" in detail
            second = {r.chat_id: r for r in await w.scheduler.catch_up()}
            assert second[sick].status == "done" and w.dc_papers(sick) == ONCE and w.dc_headers(sick) == 1
            assert (await status(w.settings))[sick][0] == "done"
        else:
            assert results[sick].status == "gone" and state == "inactive" and name in detail
            posts = len(w.discord.calls("POST", rf"channels/{sick}/messages"))
            again = await w.scheduler.catch_up()  # paused: not tried again
            assert sick not in {r.chat_id for r in again}
            assert len(w.discord.calls("POST", rf"channels/{sick}/messages")) == posts
        w.assert_healthy_complete()


async def test_discord_gateway_reconnect_during_a_digest(tmp_path: Path) -> None:
    """The gateway drops mid-digest: the client RESUMEs, REST deliveries go on, nothing twice."""
    async with world(tmp_path) as w:
        assert w.scheduler is not None
        run = asyncio.create_task(w.scheduler.catch_up())
        await w.discord.wait_until(lambda: len(w.discord.sent()) >= 3)
        await w.discord.drop_connection()
        results = await run
        await w.discord.wait_until(lambda: w.discord.resumes and w.discord.sockets)
        assert w.discord.resumes[0]["session_id"] == "session-1" and len(w.discord.identifies) == 1
        assert sorted(r.status for r in results) == ["done"] * 6
        w.assert_healthy_complete()
        assert w.dc_papers(w.dc_sick) == ONCE and w.dc_headers(w.dc_sick) == 1
        shown = await status(w.settings)
        assert {shown[c][0] for c in [*w.dc_healthy, w.dc_sick]} == {"done"}
