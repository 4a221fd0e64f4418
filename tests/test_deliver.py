"""The delivery stage on its own: which papers a chat gets, once, whatever its topics and restarts.

The platform side is a recording channel here; the Telegram and Discord tests run the same
stage through the real client libraries against fake servers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.core import Enriched, Paperbot
from bot.deliver import ChatGone, ChatInfo, deliver_digest, deliver_many
from bot.models import Paper
from bot.settings import Settings
from bot.store import Store

DAY = date(2026, 6, 30)


class Recorder:
    platform = "test"

    def __init__(self, fail_after: int | None = None, gone: set[str] | None = None) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail_after = fail_after
        self.gone = gone or set()

    async def send_header(self, chat: ChatInfo, day: date, topics: list[str], papers: list[Paper]) -> None:
        self.sent.append((chat.chat_id, "header", f"{day}:{len(papers)}"))

    async def send_paper(self, chat: ChatInfo, item: Enriched) -> str:
        if chat.chat_id in self.gone:
            raise ChatGone("bot was kicked")
        if self.fail_after is not None and sum(1 for s in self.sent if s[1] == "paper") >= self.fail_after:
            raise KeyboardInterrupt  # the process dies mid-digest
        assert item.summary is not None and item.summary.summary
        self.sent.append((chat.chat_id, "paper", item.paper.id))
        return f"m{len(self.sent)}"

    async def send_overflow(self, chat: ChatInfo, day: date, papers: list[Paper]) -> None:
        self.sent.append((chat.chat_id, "overflow", ",".join(p.id for p in papers)))

    async def send_empty(self, chat: ChatInfo, day: date, topics: list[str]) -> None:
        self.sent.append((chat.chat_id, "empty", str(day)))


def entry(pid: str, title: str) -> dict[str, object]:
    return {"id": pid, "title": title, "summary": f"{title}. We propose a method. It is fast.", "authors": ["A B"],
            "categories": ["cs.CV"], "comment": None}


@pytest.fixture
async def bot(arxiv_settings: Settings, fake_arxiv):
    fake_arxiv.add_day(
        DAY,
        [
            entry("2606.00001", "Gaussian Splatting Head Avatars"),  # 3DGS and 虚拟人
            entry("2606.00002", "Talking avatar from audio"),  # 虚拟人
            entry("2606.00003", "Fast Gaussian Splatting"),  # 3DGS
            entry("2606.00004", "Protein folding"),  # nothing
        ],
    )
    fake_arxiv.rss_day = DAY
    settings = arxiv_settings.model_copy(update={"figure_policy": "none"})
    async with Paperbot(settings, clock=lambda: datetime(2026, 6, 30, 8, tzinfo=UTC)) as core:
        await core.harvest()
        yield core


async def test_each_paper_once_across_topics_and_runs(bot: Paperbot) -> None:
    await bot.store.run(Store.subscribe, "test", "c1", "元宇宙/虚拟人", bot.catalogue.resolve("虚拟人").query)
    await bot.store.run(Store.subscribe, "test", "c1", "3DGS", bot.catalogue.resolve("3DGS").query)
    ch = Recorder()
    result = await deliver_digest(bot, ch, "c1")
    assert result.sent == 3
    assert sorted(s[2] for s in ch.sent if s[1] == "paper") == ["2606.00001", "2606.00002", "2606.00003"]
    assert [s for s in ch.sent if s[1] == "header"] == [("c1", "header", "2026-06-30:3")]
    again = await deliver_digest(bot, ch, "c1")  # the same digest time twice
    assert again.status == "done" and len(ch.sent) == 4
    manual = await deliver_digest(bot, ch, "c1", manual=True)  # /digest: nothing new
    assert manual.status == "empty" and len(ch.sent) == 4


async def test_restart_mid_digest_loses_nothing_repeats_nothing(bot: Paperbot) -> None:
    await bot.store.run(Store.subscribe, "test", "c1", "all", "cat:cs.CV")
    dying = Recorder(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        await deliver_digest(bot, dying, "c1")
    resumed = Recorder()
    await deliver_digest(bot, resumed, "c1")
    first = [s[2] for s in dying.sent if s[1] == "paper"]
    second = [s[2] for s in resumed.sent if s[1] == "paper"]
    assert len(first) == 2 and sorted(first + second) == ["2606.00001", "2606.00002", "2606.00003", "2606.00004"]
    assert not [s for s in resumed.sent if s[1] == "header"]  # the header went out before the crash


async def test_overflow_empty_and_quiet(bot: Paperbot) -> None:
    bot.settings = bot.settings.model_copy(update={"digest_max_papers": 2})
    await bot.store.run(Store.subscribe, "test", "many", "all", "cat:cs.CV")
    await bot.store.run(Store.subscribe, "test", "none", "q", "ti:quantum")
    await bot.store.run(Store.subscribe, "test", "quiet", "q", "ti:quantum")
    await bot.store.run(Store.update_chat, "test", "quiet", {"quiet": 1})
    ch = Recorder()
    results = {r.chat_id: r for r in await deliver_many(bot, ch, ["many", "none", "quiet"])}
    assert results["many"].sent == 4
    assert ("many", "overflow", "2606.00003,2606.00004") in ch.sent
    assert ("none", "empty", "2026-06-30") in ch.sent
    assert not [s for s in ch.sent if s[0] == "quiet"]


async def test_a_gone_chat_is_paused_and_others_still_get_theirs(bot: Paperbot) -> None:
    for cid in ("ok", "kicked"):
        await bot.store.run(Store.subscribe, "test", cid, "all", "cat:cs.CV")
    ch = Recorder(gone={"kicked"})
    results = {r.chat_id: r for r in await deliver_many(bot, ch, ["kicked", "ok"])}
    assert results["kicked"].status == "gone" and results["ok"].sent == 4
    chat = await bot.store.run(Store.get_chat, "test", "kicked")
    assert chat["active"] == 0
    assert [c["chat_id"] for c in await bot.store.run(Store.active_chats, "test")] == ["ok"]
