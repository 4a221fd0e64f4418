"""The Telegram adapter: the real python-telegram-bot Application against a fake Bot API.

Every test starts the real adapter (``TelegramBot(core).start()``, or ``run()``/``paperbot run``)
pointed at ``tests/fakes/telegram.py`` on 127.0.0.1, with the fake arXiv serving a listing day
and small PDFs this module writes (vector charts with "Figure N:" captions). The LLM is
"none" (extractive summaries) unless a test brings the fake Gemini. Assertions are on what
the fake received, as a person would see it, and on the store (subscriptions, the ledger).
Flood limits are Telegram's, run 20 times faster, except where a test says otherwise.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from pydantic import SecretStr

from bot.core import Paperbot
from bot.deliver import deliver_digest, deliver_many
from bot.harvest import listing_day_for
from bot.run import run
from bot.schedule import Scheduler
from bot.settings import Settings
from bot.store import Store
from bot.telegram_bot import TelegramBot
from bot.telegram_pacing import FloodLimits
from bot.telegram_render import visible_len
from bot.topics import Catalogue
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.server import serve
from tests.fakes.telegram import TOKEN, FakeTelegram, Posted, tiny_pdf, utf16_len

FAST = FloodLimits().faster(20)
DAY = date(2026, 6, 30)  # a Tuesday
NOON = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)  # 12:00 in New York: the 30th's listing is out
GROUP, ADMIN, MEMBER, DM_USER = -1001234567890, 11, 12, 21
AVATAR = "元宇宙/虚拟人"

# ---- a listing day and its PDFs ------------------------------------------------------------------

LONG = " ".join(
    f"Sentence {i} explains that our animatable avatar method improves fidelity by a wide margin on benchmark {i}, "
    f"while keeping the rendering cost of the avatar below that of every earlier talking-avatar method on it."
    for i in range(1, 15)
)
PAPERS: list[dict[str, Any]] = [
    {"id": "2606.30001", "title": "Animatable Gaussian Avatars from Monocular Video",
     "summary": "We present an animatable avatar built from 3D Gaussians. It renders in real time. It beats prior work on two benchmarks.",
     "comment": "CVPR 2026. Project page: https://example.org/avatar", "figures": 2},
    {"id": "2606.30002", "title": "Avatars & <Faces>: Talking Avatar Synthesis at Scale",
     "summary": LONG, "comment": "42 pages, 17 figures", "figures": 2},
    {"id": "2606.30003", "title": "Codec Avatar Compression for Telepresence",
     "summary": "We compress codec avatars for telepresence. The bitrate drops by half. Quality is unchanged.", "figures": 1},
    {"id": "2606.30004", "title": "A Metaverse Avatar Benchmark",
     "summary": "We release a benchmark of avatar tasks in the metaverse. It has ten tasks. Baselines are weak."},
    {"id": "2606.30005", "title": "Convertible Codes for Distributed Storage",
     "summary": "We study convertible codes. Access cost is optimal."},
    {"id": "2606.30006", "title": "Channel Estimation with Diffusion",
     "summary": "A diffusion model estimates channels. It is robust to jamming."},
]  # fmt: skip
AVATAR_IDS = ["2606.30001", "2606.30002", "2606.30003", "2606.30004"]


def listing(fake: FakeArxiv, day: date, *, pdfs: bool = True) -> None:
    entries = []
    for p in PAPERS:
        entries.append({k: v for k, v in p.items() if k != "figures"} | {"authors": ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"], "categories": ["cs.CV"]})
        if pdfs and p.get("figures"):
            fake.pdfs[p["id"]] = tiny_pdf(p["figures"])
    fake.add_day(day, entries)
    fake.rss_day = day


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(limits=FAST)
    with serve(fake.app()) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def arxiv() -> Iterator[FakeArxiv]:
    fake = FakeArxiv()
    with serve(fake.app()) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def cfg(settings: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_api_url": f"{tg.url}/bot",  # type: ignore[attr-defined]
            "arxiv_api_url": f"{arxiv.url}/api/query",  # type: ignore[attr-defined]
            "arxiv_rss_url": f"{arxiv.url}/rss/",  # type: ignore[attr-defined]
            "arxiv_pdf_url": f"{arxiv.url}/pdf/{{id}}",  # type: ignore[attr-defined]
        }
    )


@asynccontextmanager
async def telegram(settings: Settings, *, limits: FloodLimits = FAST, scheduler: bool = False) -> AsyncIterator[tuple[Paperbot, TelegramBot]]:
    """The core and the started adapter (with a real, paused Scheduler when asked)."""
    async with Paperbot(settings, clock=lambda: NOON) as core:
        bot = TelegramBot(core, limits=limits)
        if scheduler:
            bot.scheduler = Scheduler(core, {"telegram": bot})
            bot.scheduler.aps.start(paused=True)  # real jobs, none firing during the test
        await bot.start()
        try:
            yield core, bot
        finally:
            await bot.stop()
            if bot.scheduler is not None:
                await bot.scheduler.stop()


async def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Wait for the fake to have seen something (bounded; never asserts on elapsed time)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        await asyncio.sleep(0.02)


def replies(tg: FakeTelegram, chat: int, after: int = 0) -> list[Posted]:
    return [p for p in tg.in_chat(chat) if p.message_id > after]


async def reply_to(tg: FakeTelegram, chat: int, user: int, text: str, *, n: int = 1, settle: Callable[[list[Posted]], bool] | None = None) -> list[Posted]:
    """Send ``text`` as ``user`` and wait for ``n`` bot messages after it (and ``settle``)."""
    mid = tg.send_text(chat, user, text)
    return await until(lambda: (r := replies(tg, chat, mid)) and len(r) >= n and (settle is None or settle(r)) and r)


def subscribe_directly(settings: Settings, chat: int, topic: str = AVATAR, **fields: Any) -> None:
    store = Store(settings.db_path)
    try:
        store.ensure_chat("telegram", str(chat))
        if fields:
            store.update_chat("telegram", str(chat), fields)
        store.subscribe("telegram", str(chat), topic, Catalogue.load().get(topic).query)  # type: ignore[union-attr]
    finally:
        store.close()


def ledger(core_or_path: Path, chat: int) -> list[str]:
    store = Store(core_or_path)
    try:
        rows = store.db.query("select paper_id from deliveries where platform = 'telegram' and chat_id = ? order by paper_id", [str(chat)])
        return [r["paper_id"] for r in rows]
    finally:
        store.close()


def paper_messages(tg: FakeTelegram, chat: int, paper_id: str) -> list[Posted]:
    """The bot's messages in ``chat`` that are about ``paper_id`` (they link to its abs page)."""
    return [p for p in tg.in_chat(chat) if f"arxiv.org/abs/{paper_id}" in p.html and "📚" not in p.visible]


# ---- commands ---------------------------------------------------------------------------------------


async def test_menu_help_and_dm_link(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_user(DM_USER)
    async with telegram(cfg):
        assert {"zh", "en", ""} <= set(tg.commands)
        assert [c["command"] for c in tg.commands["en"]][:3] == ["start", "help", "topics"]
        assert "订阅" in tg.commands["zh"][3]["description"]
        (help_msg,) = await reply_to(tg, DM_USER, DM_USER, "/help")
        assert "/subscribe" in help_msg.visible and "/summarize" in help_msg.visible
        # a link pasted in a DM, no command: the status line is edited into the summary
        (summary,) = await reply_to(tg, DM_USER, DM_USER, "what about https://arxiv.org/abs/2606.30003v1 ?",
                                    settle=lambda r: r[0].edits > 0)  # fmt: skip
        assert summary.visible.startswith("Codec Avatar Compression for Telepresence")
        assert "Ada Lovelace, Alan Turing, Grace Hopper, Edsger Dijkstra" in summary.visible
        # the whole summary at once (default language zh), with its id and links, marked as extracted
        assert "一句话总结 〔摘录〕" in summary.visible and "1. " in summary.visible and "关键词" in summary.visible
        assert "arXiv:2606.30003 · abs · PDF" in summary.visible
        assert summary.visible.endswith("（摘录自摘要原句，未经模型总结；没有模型，文字保持英文）")
        # votes as on a digest card; nothing to repeat: no Full button
        assert [b["callback_data"] for b in summary.buttons] == ["v+:2606.30003", "v-:2606.30003", "abs:2606.30003"]
        # garbage gets one sentence, no status line, nothing edited
        (bad,) = await reply_to(tg, DM_USER, DM_USER, "/summarize not-a-paper")
        assert "不是 arXiv 编号或链接" in bad.visible and bad.edits == 0
        # an id arXiv does not have: the status line becomes the error
        (missing,) = await reply_to(tg, DM_USER, DM_USER, "/summarize 2606.99999", settle=lambda r: r[0].edits > 0)
        assert "arXiv 上没有 2606.99999" in missing.visible
        assert tg.count("sendChatAction") >= 1
        assert tg.count("editMessageText", 400) == 0
        # the albums' "Full summary" deep link: /start full-<id> answers with the structured summary
        full = await reply_to(tg, DM_USER, DM_USER, "/start full-2606_30003")
        assert full[0].visible.startswith("Codec Avatar Compression for Telepresence") and "关键词" in "".join(m.visible for m in full)


async def test_subscribe_admins_only_and_bad_queries_store_nothing(cfg: Settings, tg: FakeTelegram) -> None:
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER,))
    tg.add_user(ADMIN, "Admin")
    tg.add_user(MEMBER, "Member")
    async with telegram(cfg.model_copy(update={"default_lang": "en"}), scheduler=True) as (core, bot):
        (refusal,) = await reply_to(tg, GROUP, MEMBER, "/subscribe 虚拟人")
        assert refusal.visible == "Sorry, only the chat's administrators can change its subscriptions and settings."
        assert await core.store.run(Store.subscriptions, "telegram", str(GROUP)) == []
        assert tg.count("getChatMember") == 1
        (broken,) = await reply_to(tg, GROUP, ADMIN, '/subscribe ti:(avatar OR abs:"head')
        assert "at character" in broken.visible and "^" in broken.visible
        (unknown,) = await reply_to(tg, GROUP, ADMIN, "/subscribe 虚拟人人人")
        assert "There is no topic" in unknown.visible
        assert await core.store.run(Store.subscriptions, "telegram", str(GROUP)) == []
        (ok,) = await reply_to(tg, GROUP, ADMIN, "/subscribe 虚拟人")
        assert ok.visible == f"✅ Subscribed to {AVATAR}"
        (query,) = await reply_to(tg, GROUP, ADMIN, '/subscribe ti:"gaussian avatar" OR abs:"head avatar"')
        assert query.visible.startswith("✅ Subscribed to ti:")
        topics = [s["topic"] for s in await core.store.run(Store.subscriptions, "telegram", str(GROUP))]
        assert sorted(topics) == sorted([AVATAR, 'ti:"gaussian avatar" OR abs:"head avatar"'])
        assert bot.scheduler is not None and bot.scheduler.aps.get_job(f"digest:telegram:{GROUP}") is not None
        (listed,) = await reply_to(tg, GROUP, MEMBER, "/subscriptions")  # anyone may look
        assert AVATAR in listed.visible and "gaussian avatar" in listed.visible
        # /topics: one button per topic; a member's tap is refused politely, an admin's subscribes
        (menu,) = await reply_to(tg, GROUP, MEMBER, "/topics")
        assert len(menu.buttons) == len(core.catalogue.topics)
        tg.press(GROUP, MEMBER, menu.message_id, "sub:3DGS")
        await until(lambda: tg.count("answerCallbackQuery") == 1)
        answer = next(c for c in tg.calls if c.method == "answercallbackquery")
        assert answer.params.get("show_alert") in ("true", True) and "administrators" in answer.params["text"]
        tg.press(GROUP, ADMIN, menu.message_id, "sub:3DGS")
        (done,) = await until(lambda: [p for p in replies(tg, GROUP, menu.message_id) if "3DGS" in p.visible])
        assert done.visible == "✅ Subscribed to 3DGS"
        assert len(await core.store.run(Store.subscriptions, "telegram", str(GROUP))) == 3
        # settings: admins only, refused input changes nothing
        (no_time,) = await reply_to(tg, GROUP, ADMIN, "/settime 25:99")
        assert "is not a time" in no_time.visible
        (no_zone,) = await reply_to(tg, GROUP, ADMIN, "/settime 08:30 Mars/Olympus")
        assert "is not a time zone" in no_zone.visible
        (member_time,) = await reply_to(tg, GROUP, MEMBER, "/settime 08:30 Europe/Berlin")
        assert "only the chat's administrators" in member_time.visible
        chat = await core.store.run(Store.get_chat, "telegram", str(GROUP))
        assert chat["digest_time"] is None and chat["timezone"] is None
        (time_set,) = await reply_to(tg, GROUP, ADMIN, "/settime 08:30 Europe/Berlin")
        assert time_set.visible == "⏰ The daily digest now comes at 08:30 (Europe/Berlin)."
        job = bot.scheduler.aps.get_job(f"digest:telegram:{GROUP}")
        assert str(job.trigger.timezone) == "Europe/Berlin" and "hour='8'" in str(job.trigger)
        (quiet,) = await reply_to(tg, GROUP, ADMIN, "/quiet")
        assert quiet.visible.startswith("OK: days without new papers will stay silent")
        (zh,) = await reply_to(tg, GROUP, ADMIN, "/lang zh")
        assert zh.visible == "语言已设为中文。"
        (unsub,) = await reply_to(tg, GROUP, ADMIN, "/unsubscribe avatar")
        assert unsub.visible == f"已取消订阅：{AVATAR}"
        chat = await core.store.run(Store.get_chat, "telegram", str(GROUP))
        assert (chat["digest_time"], chat["timezone"], chat["quiet"], chat["lang"]) == ("08:30", "Europe/Berlin", 1, "zh")
        # an unexpected failure reaches the error handler: logged, one polite sentence, no traceback
        tg.fail_next("getChatMember", 500, "Internal Server Error")
        (oops,) = await reply_to(tg, GROUP, MEMBER, "/quiet")
        assert oops.visible == "出了点问题，请稍后再试。"


async def test_subscribe_warns_about_a_query_that_reads_otherwise(cfg: Settings, tg: FakeTelegram) -> None:
    """The subscription is made as typed, and the reply says what was read and how to write it."""
    tg.add_group(GROUP, admins=(ADMIN,))
    tg.add_user(ADMIN, "Admin")
    async with telegram(cfg.model_copy(update={"default_lang": "en"})) as (core, _bot):
        (lower,) = await reply_to(tg, GROUP, ADMIN, "/subscribe nerf or 3dgs")
        assert lower.visible.splitlines() == [
            "✅ Subscribed to nerf or 3dgs",
            "⚠️ lowercase “or” is read as a word to search for, not an operator "
            "(read as: all:nerf AND all:or AND all:3dgs); operators are in capitals: nerf OR 3dgs",
        ]
        (plain,) = await reply_to(tg, GROUP, ADMIN, "/subscribe nerf OR 3dgs")
        assert plain.visible == "✅ Subscribed to nerf OR 3dgs"  # nothing to say
        await reply_to(tg, GROUP, ADMIN, "/lang zh")
        (curly,) = await reply_to(tg, GROUP, ADMIN, "/subscribe abs:“talking head” AND NOT survey")
        assert curly.visible.splitlines() == [
            '✅ 已订阅：abs:"talking head" AND NOT survey',
            'ℹ️ 弯引号（“ ” ‘ ’）已按直引号处理：abs:"talking head" AND NOT survey',
            '⚠️ “AND NOT” 会搜索单词 “not”（实际读作：abs:"talking head" AND all:NOT AND all:survey）；'
            'arXiv 的排除运算符是一个词 ANDNOT：abs:"talking head" ANDNOT survey',
        ]
        subs = await core.store.run(Store.subscriptions, "telegram", str(GROUP))
        assert sorted(s["query"] for s in subs) == ['abs:"talking head" AND NOT survey', "nerf OR 3dgs", "nerf or 3dgs"]


# ---- digests --------------------------------------------------------------------------------------


async def test_groups_delivered_at_once_share_each_figure_sheet(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    """Many groups due at the same moment each get the paper's stacked figures: the sheet is made
    once and every delivery reuses it (two chats stacking the same sheet at once used to collide
    on one temporary file, and the second digest failed)."""
    listing(arxiv, DAY)
    groups = [GROUP - i for i in range(8)]
    for g in groups:
        tg.add_group(g, admins=(ADMIN,))
        subscribe_directly(cfg, g)
    async with telegram(cfg, scheduler=True) as (core, bot):
        assert bot.scheduler is not None
        await core.harvest()
        runs = await asyncio.gather(*(bot.scheduler.digest("telegram", str(g)) for g in groups))
        assert [(r.status, r.sent) for r in runs if r is not None] == [("done", 4)] * len(groups)
        for g in groups:
            (photo,) = paper_messages(tg, g, "2606.30001")
            assert photo.method == "sendPhoto" and photo.buttons
            assert sorted(ledger(cfg.db_path, g)) == AVATAR_IDS
        folder = cfg.data_dir / "figures" / "2606.30001v1"
        (stacked,) = folder.glob("sheet-*.png")
        assert not list(folder.glob("*.tmp"))
        assert stacked.stat().st_mode & 0o777 == 0o600


async def test_digest_with_figures_once_per_paper(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY)
    tg.add_group(GROUP, admins=(ADMIN,))
    settings = cfg.model_copy(update={"default_lang": "en"})
    subscribe_directly(settings, GROUP)
    subscribe_directly(settings, GROUP, "Talking Head Generation")  # 2606.30002 matches both topics
    async with telegram(settings, scheduler=True) as (core, bot):
        assert bot.scheduler is not None
        first = await bot.scheduler.digest("telegram", str(GROUP))  # harvests, then delivers
        assert first is not None and (first.status, first.sent) == ("done", 4)
        header, *rest = tg.in_chat(GROUP)
        assert header.visible.startswith("📚 ") and AVATAR in header.visible and "Talking Head Generation" in header.visible
        assert "· 2026-06-30 · 4 new papers" in header.visible
        for pid in AVATAR_IDS:
            assert f'<a href="https://arxiv.org/abs/{pid}">' in header.html
        # the paper whose text fits: one photo, its two figures stacked into one image (albums take
        # no buttons), the caption holds everything and the message carries 👍 / 👎 / Full summary
        (photo1,) = paper_messages(tg, GROUP, "2606.30001")
        assert photo1.method == "sendPhoto" and len(tg.in_chat(GROUP)) == len(rest) + 1
        (stacked,) = (settings.data_dir / "figures" / "2606.30001v1").glob("sheet-*.png")
        assert tg.files[photo1.photo][:2] == Image.open(stacked).size  # the sheet is what went out
        caption = photo1.visible
        assert caption.startswith("Animatable Gaussian Avatars from Monocular Video\nAda Lovelace, Alan Turing, Grace Hopper et al.\nCVPR 2026")
        assert "💡" in caption and "\n1. " in caption and utf16_len(caption) <= 1024
        assert [b["callback_data"] for b in photo1.buttons] == ["v+:2606.30001", "v-:2606.30001", "full:2606.30001", "abs:2606.30001"]
        # the long one: still one photo with the buttons, its caption the card with the key takeaways
        # that fit 1,024 characters (the rest are behind Full summary)
        (text,) = paper_messages(tg, GROUP, "2606.30002")
        assert text.method == "sendPhoto" and text.visible.startswith("Avatars & <Faces>")
        assert "&amp; &lt;Faces&gt;" in text.html
        assert "💡" in text.visible and "\n1. Sentence 2 explains" in text.visible and utf16_len(text.visible) <= 1024
        assert "\n7. " not in text.visible and text.visible.endswith("(extracted from the abstract, not written by a model)")
        assert [b["callback_data"] for b in text.buttons] == ["v+:2606.30002", "v-:2606.30002", "full:2606.30002", "abs:2606.30002"]
        # one figure: one photo, caption and buttons on it
        (photo,) = paper_messages(tg, GROUP, "2606.30003")
        assert photo.method == "sendPhoto" and len(photo.buttons) == 4 and "💡" in photo.visible
        # no PDF, no figures: one text message
        (plain,) = paper_messages(tg, GROUP, "2606.30004")
        assert plain.method == "sendMessage" and plain.buttons
        assert not paper_messages(tg, GROUP, "2606.30005")
        assert sorted(ledger(settings.db_path, GROUP)) == AVATAR_IDS
        # each picture is uploaded once (two sheets, one single figure); a second chat gets them by file id
        uploads = tg.uploads
        assert uploads == 3
        # the same digest time again: nothing new is sent
        count = len(tg.posted)
        again = await bot.scheduler.digest("telegram", str(GROUP))
        assert again is not None and again.status == "done" and len(tg.posted) == count
        # /digest by hand: nothing new either, and it says so
        (nothing,) = await reply_to(tg, GROUP, ADMIN, "/digest")
        assert nothing.visible.startswith("Nothing new to send today")
        # Full summary: the structured summary, split only between paragraphs
        tg.press(GROUP, ADMIN, text.message_id, "full:2606.30002")
        full = await until(lambda: [p for p in replies(tg, GROUP, nothing.message_id) if p.reply_to == text.message_id])
        # … without repeating the card above it: the key takeaways it had no room for, its sections,
        # in folded blockquotes
        assert "Summary [extract]" not in full[0].visible and "Key takeaways [extract]\n1. Sentence 2" in full[0].visible
        assert "Results [extract]" in "".join(m.visible for m in full)
        assert "<blockquote expandable>" in full[0].html
        assert all(utf16_len(m.visible) <= 4096 for m in full)
        assert "extracted from the abstract" in full[-1].visible
        # another chat gets the same day by file id, without uploads
        other = -1009999
        subscribe_directly(settings, other)
        result = await deliver_digest(core, bot, str(other))
        assert result.sent == 4 and tg.uploads == uploads
        assert tg.count("sendMessage", 400) == tg.count("sendPhoto", 400) == tg.count("sendMediaGroup", 400) == 0


async def test_empty_day_one_line_unless_quiet(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    arxiv.add_day(DAY, [{k: v for k, v in p.items() if k != "figures"} | {"authors": ["A B"], "categories": ["cs.CV"]} for p in PAPERS[4:]])
    arxiv.rss_day = DAY
    settings = cfg.model_copy(update={"default_lang": "en"})
    subscribe_directly(settings, GROUP)
    subscribe_directly(settings, GROUP - 1, quiet=1)
    async with telegram(settings) as (core, bot):
        await core.harvest()
        results = await deliver_many(core, bot, [str(GROUP), str(GROUP - 1)])
        assert [r.status for r in results] == ["empty", "empty"]
        (line,) = tg.in_chat(GROUP)
        assert line.visible.startswith(f"📭 No new arXiv papers on {AVATAR} for 2026-06-30")
        assert tg.in_chat(GROUP - 1) == []
        await deliver_digest(core, bot, str(GROUP))  # the same day again: no second line
        assert len(tg.in_chat(GROUP)) == 1


async def test_overflow_goes_out_as_a_linked_list(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    settings = cfg.model_copy(update={"default_lang": "en", "digest_max_papers": 2})
    subscribe_directly(settings, GROUP)
    async with telegram(settings) as (core, bot):
        await core.harvest()
        result = await deliver_digest(core, bot, str(GROUP))
        assert result.sent == 4
        *_, overflow = tg.in_chat(GROUP)
        assert overflow.visible.startswith("2 more papers")
        shown = [pid for pid in AVATAR_IDS if any(m is not overflow for m in paper_messages(tg, GROUP, pid))]
        assert len(shown) == 2  # the two most relevant; the others are linked in the list
        for pid in set(AVATAR_IDS) - set(shown):
            assert f"https://arxiv.org/abs/{pid}" in overflow.html
        assert sorted(ledger(settings.db_path, GROUP)) == AVATAR_IDS


async def test_forbidden_marks_the_chat_inactive_and_others_still_get_theirs(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    kicked, fine = GROUP, GROUP - 7
    for chat in (kicked, fine):
        subscribe_directly(cfg, chat)
    tg.kicked.add(kicked)
    async with telegram(cfg, scheduler=True) as (core, bot):
        assert bot.scheduler is not None
        for chat in (kicked, fine):
            await bot.scheduler.sync_chat("telegram", str(chat))
        await core.harvest()
        gone, done = await asyncio.gather(
            bot.scheduler.digest("telegram", str(kicked)), bot.scheduler.digest("telegram", str(fine))
        )
        assert gone is not None and gone.status == "gone" and "kicked" in gone.detail
        assert done is not None and (done.status, done.sent) == ("done", 4)
        row = await core.store.run(Store.get_chat, "telegram", str(kicked))
        assert row["active"] == 0 and "kicked" in row["inactive_reason"]
        assert bot.scheduler.aps.get_job(f"digest:telegram:{kicked}") is None
        assert bot.scheduler.aps.get_job(f"digest:telegram:{fine}") is not None
        assert ledger(cfg.db_path, kicked) == [] and len(ledger(cfg.db_path, fine)) == 4


async def test_group_upgraded_to_supergroup_moves_the_chat(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    old, new = -4242, -1004242
    subscribe_directly(cfg, old)
    tg.migrated[old] = new
    async with telegram(cfg) as (core, bot):
        await core.harvest()
        result = await deliver_digest(core, bot, str(old))
        assert (result.status, result.detail) == ("moved", str(new))
        assert [s["topic"] for s in await core.store.run(Store.subscriptions, "telegram", str(new))] == [AVATAR]
        del tg.migrated[old]
        assert (await deliver_digest(core, bot, str(new))).sent == 4


async def test_retry_after_is_honoured(cfg: Settings, tg: FakeTelegram) -> None:
    tg.add_user(DM_USER)
    tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    async with telegram(cfg):
        (reply,) = await reply_to(tg, DM_USER, DM_USER, "/help")
        assert "/subscribe" in reply.visible
        sends = [c for c in tg.calls if c.method == "sendmessage"]
        assert [c.status for c in sends] == [429, 200]  # the same message, once accepted
        assert tg.early_retries == 0  # nothing came back before retry_after was over
        assert len(tg.in_chat(DM_USER)) == 1


async def test_flood_limits_are_kept_in_a_busy_group(cfg: Settings, tg: FakeTelegram) -> None:
    """25 replies in one group: at most 20 a minute and one a second there, with no 429."""
    tg.add_group(GROUP, admins=(ADMIN,))
    async with telegram(cfg.model_copy(update={"commands_per_user_per_minute": 0})):  # one person's 25: no throttle
        first = tg.send_text(GROUP, ADMIN, "/help")
        for _ in range(24):
            tg.send_text(GROUP, ADMIN, "/subscriptions")
        await until(lambda: len(replies(tg, GROUP, first)) == 25, timeout=60)
        assert tg.too_many == 0


# ---- /search and /ask ---------------------------------------------------------------------------------


async def test_search_then_summarize_a_result(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, members=(MEMBER,))
    async with telegram(cfg.model_copy(update={"default_lang": "en"})):
        (results,) = await reply_to(tg, GROUP, MEMBER, "/search animatable avatar", settle=lambda r: r[0].edits > 0)
        assert results.visible.startswith("🔎 arXiv search: animatable avatar")
        assert "Animatable Gaussian Avatars from Monocular Video" in results.visible
        assert sorted(b["callback_data"] for b in results.buttons) == ["sum:2606.30001", "sum:2606.30002"]
        api = arxiv.requests("api")[-1]
        assert api["search_query"] == "all:animatable AND all:avatar"  # one arXiv request, words ANDed
        tg.press(GROUP, MEMBER, results.message_id, "sum:2606.30001")
        # the paper is stored and its (extractive) summary is ready: one message, no status line to edit
        summary = await until(lambda: [p for p in replies(tg, GROUP, results.message_id) if p.visible.startswith("Animatable")])
        assert summary[0].visible.startswith("Animatable Gaussian Avatars") and summary[0].reply_to == results.message_id
        (broken,) = await reply_to(tg, GROUP, MEMBER, "/search ti:(avatar")
        assert "'(' is never closed (at character 4)" in broken.visible


async def test_ask_without_a_model_says_it_needs_one(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, members=(MEMBER,))
    settings = cfg.model_copy(update={"default_lang": "en"})
    async with telegram(settings):
        (answer,) = await reply_to(tg, GROUP, MEMBER, "/ask 2606.30001 Which datasets?", settle=lambda r: r[0].edits > 0)
        assert answer.visible == "This needs a language model: ask the bot's operator to set GEMINI_API_KEY or OPENAI_API_KEY."
        (needs,) = await reply_to(tg, GROUP, MEMBER, "/ask Which datasets?")
        assert needs.visible.startswith("Write /ask ID QUESTION")
        # a reply to a paper message asks about that paper
        (summary,) = await reply_to(tg, GROUP, MEMBER, "/summarize 2606.30004", settle=lambda r: r[0].edits > 0)
        mid = tg.send_text(GROUP, MEMBER, "How many tasks?", reply_to=summary.message_id)
        (reply,) = await until(lambda: [p for p in replies(tg, GROUP, mid) if p.edits])
        assert reply.visible.startswith("This needs a language model")


async def test_ask_and_summarize_with_the_fake_llm_and_the_hourly_allowance(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    gemini = pytest.importorskip("tests.fakes.gemini")
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, members=(MEMBER, MEMBER + 1))
    llm = gemini.FakeGemini()
    with serve(llm.app()) as server:
        settings = cfg.model_copy(update={
            "default_lang": "en", "llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"),
            "gemini_base_url": server.url, "summarize_per_user_per_hour": 2, "llm_retries": 0,
        })  # fmt: skip
        async with telegram(settings):
            (answer,) = await reply_to(tg, GROUP, MEMBER, "/ask 2606.30001 Which datasets?", settle=lambda r: r[0].edits > 0)
            assert answer.visible.startswith("Animatable Gaussian Avatars from Monocular Video\n\nQ: Which datasets?\n\n")
            assert len(answer.visible.split("\n\n", 2)[2]) > 10
            (summary,) = await reply_to(tg, GROUP, MEMBER, "/summarize 2606.30003", settle=lambda r: r[0].edits > 0)
            # the whole structured summary: its headings, and who wrote it from what (no PDF here)
            for heading in ("Summary", "Key takeaways", "Background", "Method", "Results", "Conclusion", "Keywords"):
                assert f"\n{heading}\n" in summary.visible, heading
            assert summary.visible.endswith("AI summary · gemini-2.5-flash · from the abstract only (no PDF yet; rewritten once it is there)")
            assert "<blockquote expandable>" in summary.html and "extracted from the abstract" not in summary.visible
            # votes as on a digest card; all on screen: no Full button
            assert [b["callback_data"] for b in summary.buttons] == ["v+:2606.30003", "v-:2606.30003", "abs:2606.30003"]
            calls = len(llm.generate_calls)
            # the allowance (2 an hour) is used up: a third model call is refused …
            (limited,) = await reply_to(tg, GROUP, MEMBER, "/summarize 2606.30004", settle=lambda r: r[0].edits > 0)
            assert limited.visible.startswith("You have used this hour's summaries; try again in")
            assert len(llm.generate_calls) == calls
            # … but a cached summary is free, and another person has their own allowance
            (again,) = await reply_to(tg, GROUP, MEMBER, "/summarize 2606.30003")  # cached: one message, no status
            assert again.visible == summary.visible and again.edits == 0
            (other,) = await reply_to(tg, GROUP, MEMBER + 1, "/summarize 2606.30004", settle=lambda r: r[0].edits > 0)
            assert "AI summary · gemini-2.5-flash" in other.visible


# ---- the real wiring: webhook, run(), `paperbot run` killed mid-digest ------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_mode_checks_the_secret(cfg: Settings, tg: FakeTelegram) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    settings = cfg.model_copy(update={
        "telegram_webhook_url": url, "telegram_webhook_secret": SecretStr("s3cret"),
        "telegram_webhook_listen": f"127.0.0.1:{port}", "default_lang": "en",
    })  # fmt: skip
    tg.add_user(DM_USER)
    async with telegram(settings):
        assert tg.webhook is not None and tg.webhook["url"] == url and tg.webhook["secret_token"] == "s3cret"
        assert tg.count("getUpdates") == 0
        tg.send_text(DM_USER, DM_USER, "/help")  # queued in the fake; here we play Telegram pushing it
        update = tg.updates.pop()
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
                assert r.status == 403
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}) as r:
                assert r.status == 200
        (reply,) = await until(lambda: tg.in_chat(DM_USER))
        assert "/subscribe" in reply.visible


async def test_paperbot_run_killed_mid_digest_then_restarted(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv, tmp_path: Path) -> None:
    """`paperbot run` (a real process) is killed while Telegram has the third paper in flight;
    `run()` started again finishes the digest: every paper exactly once, header once."""
    day = listing_day_for(datetime.now(UTC))
    listing(arxiv, day, pdfs=False)
    settings = cfg.model_copy(update={"figure_policy": "none", "default_lang": "en"})
    subscribe_directly(settings, GROUP, digest_time="00:00", timezone="UTC")
    tg.limits = None  # the subprocess paces at Telegram's real speed anyway
    tg.freeze_after = 3  # header + 2 papers accepted, then Telegram "hangs"
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PAPERBOT_DATA_DIR": str(settings.data_dir),
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": settings.telegram_api_url, "LLM_PROVIDER": "none",
        "ARXIV_API_URL": settings.arxiv_api_url, "ARXIV_RSS_URL": settings.arxiv_rss_url,
        "ARXIV_PDF_URL": settings.arxiv_pdf_url, "ARXIV_DELAY_SECONDS": "0", "FIGURE_POLICY": "none",
        "PAPERBOT_LANG": "en",
    }  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        await until(lambda: tg.held >= 1 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    tg.thaw()
    first = {pid: len(paper_messages(tg, GROUP, pid)) for pid in AVATAR_IDS}
    assert sorted(first.values()) == [0, 0, 1, 1]
    assert len(ledger(settings.db_path, GROUP)) == 2
    store = Store(settings.db_path)
    try:  # the ledger knows which message was in flight at the kill: the held one, the one that may repeat
        flying = store.in_flight("telegram", str(GROUP))
        assert flying is not None and first.get(flying["item"]) == 0
    finally:
        store.close()
    # the process comes back (in-process this time: run() is what `paperbot run` calls)
    stop = asyncio.Event()
    runner = asyncio.create_task(run(settings, stop))
    try:
        # wait for what is compared below: the messages, and the ledger rows written after them
        await until(lambda: (all(paper_messages(tg, GROUP, pid) for pid in AVATAR_IDS)
                             and sorted(ledger(settings.db_path, GROUP)) == AVATAR_IDS) or runner.done(), timeout=60)  # fmt: skip
    finally:
        stop.set()
        await asyncio.wait_for(runner, 30)
    assert {pid: len(paper_messages(tg, GROUP, pid)) for pid in AVATAR_IDS} == dict.fromkeys(AVATAR_IDS, 1)
    assert sum(1 for p in tg.in_chat(GROUP) if "📚" in p.visible) == 1
    assert sorted(ledger(settings.db_path, GROUP)) == AVATAR_IDS
    store = Store(settings.db_path)
    try:
        assert store.in_flight("telegram", str(GROUP)) is None
    finally:
        store.close()


def test_visible_length_counts_what_telegram_counts() -> None:
    assert visible_len('<b><a href="https://arxiv.org/abs/1">A &amp; B</a></b>') == 5
    assert visible_len("📚 x") == 4  # an emoji is two UTF-16 code units


async def test_a_text_telegram_cannot_parse_goes_out_plain(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    """A rendering Telegram refuses (a parse error no retry fixes) must not block the chat every day:
    the header goes out plain, a paper as its title and link."""
    listing(arxiv, DAY, pdfs=False)
    settings = cfg.model_copy(update={"figure_policy": "none", "default_lang": "en"})
    subscribe_directly(settings, GROUP)
    subscribe_directly(settings, GROUP + 1)
    parse_error = "Bad Request: can't parse entities: unsupported start tag"
    async with telegram(settings) as (core, bot):
        await core.harvest()
        tg.fail_next("sendMessage", 400, parse_error)  # the first group's header
        first = await deliver_digest(core, bot, str(GROUP))
        await core.store.run(Store.set_digest_run, "telegram", str(GROUP + 1), DAY, "started", "", True)
        tg.fail_next("sendMessage", 400, parse_error)  # the second group's first paper (its header went out)
        second = await deliver_digest(core, bot, str(GROUP + 1))
    assert first.status == second.status == "done"
    for chat in (GROUP, GROUP + 1):
        assert sorted(ledger(settings.db_path, chat)) == AVATAR_IDS
        assert all(paper_messages(tg, chat, pid) for pid in AVATAR_IDS)
    assert tg.in_chat(GROUP)[0].visible.startswith("📚")  # the plain header


async def test_why_says_for_each_topic_whether_the_digest_takes_a_paper(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY)
    tg.add_group(GROUP, admins=(ADMIN,))
    settings = cfg.model_copy(update={"default_lang": "en"})
    subscribe_directly(settings, GROUP)
    subscribe_directly(settings, GROUP, "3DGS")
    async with telegram(settings) as (core, _bot):
        await core.harvest()
        [answer] = await reply_to(tg, GROUP, MEMBER, "/why 2606.30003")
        head, *lines = answer.visible.splitlines()
        assert head == "2606.30003 Codec Avatar Compression for Telepresence"
        avatar = next(line for line in lines if line.startswith(f"• {AVATAR}: "))
        gs = next(line for line in lines if line.startswith("• 3DGS: "))
        assert avatar.startswith(f"• {AVATAR}: in the digest (") and "avatar" in avatar
        assert gs.startswith("• 3DGS: not in the digest (") and "nothing in the title or abstract" in gs
        [bad] = await reply_to(tg, GROUP, MEMBER, "/why not-an-id")
        assert "is not an arXiv id or link" in bad.visible
        [lonely] = await reply_to(tg, DM_USER, DM_USER, "/why 2606.30003")
        assert "follows nothing yet" in lonely.visible


async def test_subscribe_to_an_interest_in_words(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    """A plain-text interest is followed by similarity; a Chinese one is refused without a model and
    translated once (stored in English) with one (real google-genai against the fake Gemini)."""
    from tests.fakes.gemini import INTEREST_EN, FakeGemini

    listing(arxiv, DAY)
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER,))
    async with telegram(cfg.model_copy(update={"default_lang": "en"})) as (core, _bot):
        (ok,) = await reply_to(tg, GROUP, ADMIN, "/subscribe about: codec avatars for telepresence")
        assert ok.visible.startswith("✅ Subscribed to about: codec avatars for telepresence\nThis is an interest")
        (vague,) = await reply_to(tg, GROUP, ADMIN, "/subscribe about: new methods")
        assert vague.visible.startswith("That description is too vague")
        (zh,) = await reply_to(tg, GROUP, ADMIN, "/subscribe about: 三维头发建模与发型生成")
        assert zh.visible.startswith("Paper abstracts are in English")
        topics = [s["topic"] for s in await core.store.run(Store.subscriptions, "telegram", str(GROUP))]
        assert topics == ["about: codec avatars for telepresence"]
        await core.harvest()
        taken = await core.topic_papers(topics[0], topics[0], DAY)
        assert [p.id for p in taken] == ["2606.30003"]  # "Codec Avatar Compression for Telepresence"
    fake = FakeGemini()
    with serve(fake.app()) as server:
        settings = cfg.model_copy(update={"default_lang": "en", "llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"),
                                          "gemini_base_url": server.url, "gemini_model": "gemini-test-flash"})  # fmt: skip
        async with telegram(settings) as (core, _bot):
            (zh,) = await reply_to(tg, GROUP, ADMIN, "/subscribe 三维头发建模与发型生成的方法")
            assert zh.visible.startswith(f"✅ Subscribed to about: {INTEREST_EN}")
            (member,) = await reply_to(tg, GROUP, MEMBER, "/subscribe 三维头发建模与发型生成的论文")
            assert "only the chat's administrators" in member.visible
        assert len(fake.generate_calls) == 1  # translated once, and never for a refused member


async def test_code_links_from_the_abstract_and_the_abstract_on_demand(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    arxiv.add_paper({
        "id": "2606.31001", "title": "Relightable Gaussian Head Avatars",
        "summary": "Head avatars from phone videos cannot be relit. We propose RelightHead, a relightable "
                   "Gaussian head avatar. It renders at 90 fps and improves PSNR by 2 dB. Code and models are "
                   "available at https://github.com/ada/relighthead and https://huggingface.co/ada/relighthead.",
        "authors": ["Ada Lovelace"], "categories": ["cs.CV"], "comment": "Project page: https://ada.github.io/relighthead/",
    })  # fmt: skip
    tg.add_user(DM_USER)
    async with telegram(cfg.model_copy(update={"default_lang": "en"})):
        (summary,) = await reply_to(tg, DM_USER, DM_USER, "/summarize 2606.31001", settle=lambda r: r[0].edits > 0)
        assert '<a href="https://github.com/ada/relighthead">Code</a>' in summary.html
        assert '<a href="https://huggingface.co/ada/relighthead">Model</a>' in summary.html
        assert '<a href="https://ada.github.io/relighthead/">Project page</a>' in summary.html
        assert '<a href="https://arxiv.org/pdf/2606.31001v1">PDF</a>' in summary.html and "arXiv:2606.31001" in summary.visible
        assert "github.com" not in summary.visible.split("Summary", 1)[1]  # a link, not a sentence of the summary
        tg.press(DM_USER, DM_USER, summary.message_id, "abs:2606.31001")
        (abstract,) = await until(lambda: [p for p in replies(tg, DM_USER, summary.message_id) if p.reply_to == summary.message_id])
        assert "Abstract\nHead avatars from phone videos cannot be relit." in abstract.visible
        assert "<blockquote expandable>" in abstract.html
