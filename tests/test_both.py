"""Telegram and Discord in one process: the same topic brings the same papers, at one LLM call each.

`run()` (what `paperbot run` calls) starts both adapters against their fakes, with the fake
arXiv and the fake Gemini; a Telegram group and a Discord channel follow 元宇宙/虚拟人 and their
digest time has passed, so the start-up catch-up delivers to both.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from pydantic import SecretStr

from bot.harvest import listing_day_for
from bot.run import run
from bot.settings import Settings
from bot.store import Store
from bot.topics import Catalogue
from tests.fakes.discord import FakeDiscord
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import serve
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.test_telegram import AVATAR, AVATAR_IDS, FAST, GROUP, listing, paper_messages, until


async def test_same_topic_same_papers_one_llm_call_per_paper(settings: Settings, fake_arxiv) -> None:
    day = listing_day_for(datetime.now(UTC))
    listing(fake_arxiv, day, pdfs=False)
    gemini = FakeGemini()
    tg = FakeTelegram(limits=FAST)
    tg.add_group(GROUP, admins=(11,))
    with serve(gemini.app()) as llm, serve(tg.app()) as tg_server:
        async with FakeDiscord() as dc:
            guild = dc.add_guild()
            channel = dc.add_channel(guild, "papers")
            cfg = settings.model_copy(
                update={
                    "arxiv_api_url": f"{fake_arxiv.url}/api/query",
                    "arxiv_rss_url": f"{fake_arxiv.url}/rss/",
                    "arxiv_pdf_url": f"{fake_arxiv.url}/pdf/{{id}}",
                    "telegram_bot_token": SecretStr(TOKEN),
                    "telegram_api_url": f"{tg_server.url}/bot",
                    "discord_bot_token": SecretStr(dc.token),
                    "discord_api_url": dc.api_url,
                    "discord_gateway_url": dc.gateway_url,
                    "llm_provider": "gemini",
                    "gemini_api_key": SecretStr("test-key"),
                    "gemini_base_url": llm.url,
                    "figure_policy": "none",
                    "default_lang": "en",
                }
            )
            store = Store(cfg.db_path)
            query = Catalogue.load().resolve(AVATAR).query
            for platform, chat in (("telegram", str(GROUP)), ("discord", channel)):
                store.ensure_chat(platform, chat)
                store.update_chat(platform, chat, {"digest_time": "00:00", "timezone": "UTC"})
                store.subscribe(platform, chat, AVATAR, query)
            store.close()

            def discord_ids() -> list[str]:
                ids = []
                for req in dc.sent(channel):
                    for embed in req.payload.get("embeds", []):
                        m = re.search(r"arxiv\.org/abs/(\d{4}\.\d{5})", embed.get("url") or "")
                        if m and embed.get("title"):
                            ids.append(m.group(1))
                return ids

            stop = asyncio.Event()
            runner = asyncio.create_task(run(cfg, stop))
            try:
                await until(
                    lambda: runner.done()
                    or (all(paper_messages(tg, GROUP, pid) for pid in AVATAR_IDS) and len(discord_ids()) >= len(AVATAR_IDS)),
                    timeout=90,
                )
            finally:
                stop.set()
                await asyncio.wait_for(runner, 30)
            assert runner.exception() is None
    telegram_ids = sorted(pid for pid in AVATAR_IDS if paper_messages(tg, GROUP, pid))
    assert telegram_ids == AVATAR_IDS
    assert sorted(discord_ids()) == AVATAR_IDS  # the same papers, each once
    judged = [c for c in gemini.generate_calls if "relevance judge" in c.text_parts()]
    summaries = [c for c in gemini.generate_calls if c not in judged]
    assert len(summaries) == len(AVATAR_IDS)  # one LLM call per paper for both platforms
    assert len(judged) <= 1  # the topic's close calls, judged once for every chat
