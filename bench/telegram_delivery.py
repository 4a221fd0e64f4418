"""Bench: one 5-paper digest to 1,000 Telegram groups through the real adapter, at Telegram's limits.

    .venv/bin/python -m bench.telegram_delivery [--chats 1000] [--speed 4] [--concurrency 1000]
    .venv/bin/python -m bench.telegram_delivery --listing   # also describe a real 虚拟人 day

The fake Bot API (``tests/fakes/telegram.py``) enforces Telegram's flood limits with 429s: 30
messages a second overall, 20 a minute in a group, one a second in a chat. ``--speed K`` makes
every window K times shorter on both sides (the fake's limits and the adapter's pacing), so the
same schedule of 1,000 chats runs K times faster; the rate achieved is reported as a fraction of
the (scaled) limit. Enrichment (PDFs, figures, summaries) is shared by every chat and done once
before the clock starts, so the timing is Telegram delivery alone. At the end the ledger is
checked against what the fake received: every chat has each paper exactly once and the header
once, and nothing the ledger lists is missing.

``--listing`` harvests ``../shared/data/listings/dw-dengwei_2026-06-30.jsonl`` through the fake
arXiv and describes the 虚拟人 digest one chat gets: messages, visible characters, photos. The
listing's own PDFs are not available offline, so the shared avatar PDFs stand in for the first
papers' PDFs (said so in the output).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.core import Paperbot
from bot.deliver import deliver_digest, deliver_many
from bot.settings import Settings
from bot.store import Store
from bot.telegram_bot import TelegramBot
from bot.telegram_pacing import FloodLimits
from bot.topics import Catalogue
from tests.fakes.arxiv import FakeArxiv, load_listing
from tests.fakes.server import serve
from tests.fakes.telegram import MESSAGE_METHODS, TOKEN, FakeTelegram, tiny_pdf

DAY = date(2026, 6, 30)
NOON = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
AVATAR = "元宇宙/虚拟人"
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
LONG = " ".join(f"Sentence {i} says our animatable avatar improves fidelity on benchmark {i} by a wide margin." for i in range(1, 15))
PAPERS = [  # 5 avatar papers: two albums (one whose text follows the album), one photo, two text-only
    ("2606.40001", "Animatable Gaussian Avatars from Monocular Video", "We build avatars from Gaussians. They render in real time.", 3),
    ("2606.40002", "Talking Avatar Synthesis at Scale", LONG, 2),
    ("2606.40003", "Codec Avatar Compression", "We compress codec avatars. The bitrate halves.", 1),
    ("2606.40004", "A Metaverse Avatar Benchmark", "We release an avatar benchmark with ten tasks.", 0),
    ("2606.40005", "Relightable Hand Avatars", "Hand avatars that can be relit. They generalise to new poses.", 0),
    ("2606.40006", "Convertible Codes", "Codes for storage, not avatars.", 0),
]  # fmt: skip


def _settings(data: Path, tg: str, arxiv: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data,
        telegram_bot_token=SecretStr(TOKEN),
        telegram_api_url=f"{tg}/bot",
        arxiv_api_url=f"{arxiv}/api/query",
        arxiv_rss_url=f"{arxiv}/rss/",
        arxiv_pdf_url=f"{arxiv}/pdf/{{id}}",
        arxiv_delay_seconds=0,
        llm_provider="none",
        default_lang="zh",
        **extra,
    )


def _subscribe(settings: Settings, chat_ids: list[str]) -> None:
    query = Catalogue.load().get(AVATAR).query  # type: ignore[union-attr]
    store = Store(settings.db_path)
    try:
        for cid in chat_ids:
            store.subscribe("telegram", cid, AVATAR, query)
    finally:
        store.close()


def _ledger(settings: Settings) -> dict[str, set[str]]:
    store = Store(settings.db_path)
    try:
        out: dict[str, set[str]] = {}
        for r in store.db.query("select chat_id, paper_id from deliveries where platform = 'telegram'"):
            out.setdefault(r["chat_id"], set()).add(r["paper_id"])
        return out
    finally:
        store.close()


async def delivery(chats: int, speed: float, concurrency: int) -> None:
    limits = FloodLimits().faster(speed)
    arxiv = FakeArxiv()
    arxiv.add_day(DAY, [{"id": i, "title": t, "summary": s, "authors": ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"], "categories": ["cs.CV"]} for i, t, s, _ in PAPERS])
    arxiv.rss_day = DAY
    for pid, _, _, n in PAPERS:
        if n:
            arxiv.pdfs[pid] = tiny_pdf(n)
    fake = FakeTelegram(limits=limits)
    with tempfile.TemporaryDirectory() as tmp, serve(arxiv.app()) as a, serve(fake.app()) as t:
        settings = _settings(Path(tmp), t.url, a.url)
        chat_ids = [str(-1001000000000 - i) for i in range(chats)]
        _subscribe(settings, chat_ids)
        async with Paperbot(settings, clock=lambda: NOON) as core:
            await core.harvest()
            for paper in await core.papers_for_day(DAY):
                await core.enrich(paper, "zh")  # once for every chat; not part of the timing
            bot = TelegramBot(core, limits=limits)
            await bot.start()
            try:
                started = time.monotonic()
                results = await deliver_many(core, bot, chat_ids, concurrency=concurrency)
                elapsed = time.monotonic() - started
            finally:
                await bot.stop()
        accepted = [c for c in fake.calls if c.method in MESSAGE_METHODS and c.status == 200]
        span = (accepted[-1].at - accepted[0].at) if len(accepted) > 1 else elapsed
        rate = (len(accepted) - 1) / span if span > 0 else 0.0
        limit = limits.per_second / limits.second
        statuses = Counter(r.status for r in results)
        # the ledger against what the fake received
        ledger = _ledger(settings)
        received: dict[str, Counter[str]] = {}
        headers: Counter[str] = Counter()
        for p in fake.posted:
            cid = str(p.chat_id)
            if "📚" in p.visible:
                headers[cid] += 1
                continue
            if (p.media_group_id and p.visible == "") or (p.method == "sendMessage" and p.reply_to is not None):
                continue  # album items after the first, and the text that follows an album
            for pid, *_ in PAPERS:
                if f"arxiv.org/abs/{pid}" in p.html:
                    received.setdefault(cid, Counter())[pid] += 1
        expected = {pid for pid, *_ in PAPERS[:5]}
        lost = sum(len(expected - set(received.get(c, {}))) for c in chat_ids)
        repeated = sum(n - 1 for c in received.values() for n in c.values() if n > 1) + sum(n - 1 for n in headers.values() if n > 1)
        mismatched = sum(1 for c in chat_ids if ledger.get(c, set()) != set(received.get(c, {})))
        photos = sum(1 for p in fake.posted if p.photo)
        print(f"chats {chats}, 5 papers each, limits ×{speed:g} faster: {limit:g} msg/s overall, "
              f"{limits.per_group:g} per {limits.minute:g} s per group, {limits.per_chat:g} per {limits.second:g} s per chat")  # fmt: skip
        print(f"digests: {dict(statuses)} in {elapsed:.1f} s; concurrency {concurrency}")
        print(f"API calls accepted: {len(accepted)} (Telegram messages {len(fake.posted)}, photos {photos}, uploads {fake.uploads})")
        print(f"rate: {rate:.1f} calls/s = {rate / limit:.0%} of the overall limit; 429s received: {fake.too_many}; "
              f"early retries: {fake.early_retries}")  # fmt: skip
        print(f"ledger vs received: lost {lost}, repeated {repeated}, chats whose ledger differs {mismatched}")


async def listing_day(path: Path) -> None:
    entries = load_listing(path)
    arxiv = FakeArxiv()
    arxiv.add_day(DAY, entries)
    arxiv.rss_day = DAY
    standins = sorted((SHARED / "pdfs").glob("*avatar*.pdf"))  # DELTA and TECA, both avatar papers
    fake = FakeTelegram(limits=None)
    with tempfile.TemporaryDirectory() as tmp, serve(arxiv.app()) as a, serve(fake.app()) as t:
        settings = _settings(Path(tmp), t.url, a.url)
        chat = "-1001"
        _subscribe(settings, [chat])
        async with Paperbot(settings, clock=lambda: NOON) as core:
            report = await core.harvest()
            items = await core.chat_papers("telegram", chat, DAY)
            for (paper, _), pdf in zip(items, standins, strict=False):
                arxiv.pdfs[paper.id] = pdf.read_bytes()
            bot = TelegramBot(core, limits=FloodLimits().faster(50))
            await bot.start()
            try:
                result = await deliver_digest(core, bot, chat)
            finally:
                await bot.stop()
    posted = fake.posted
    calls = Counter(c.method for c in fake.calls if c.method in MESSAGE_METHODS and c.status == 200)
    chars = sum(len(p.visible) for p in posted)
    print(f"\n{path.name}: {report.papers} papers harvested, {len(items)} match {AVATAR}; digest {result.status}, {result.sent} papers")
    print(f"API calls: {dict(calls)}; Telegram messages: {len(posted)} ({sum(1 for p in posted if p.photo)} photos, "
          f"{sum(1 for p in posted if not p.photo)} text); visible characters: {chars}")  # fmt: skip
    print(f"stand-in PDFs (the listing's own are not available offline): {', '.join(p.name for p in standins[: len(items)])}")
    for p in posted:
        kind = "photo" if p.photo else "text"
        print(f"  [{p.method} {kind} {len(p.visible)} chars] {p.visible.splitlines()[0][:90] if p.visible else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=4.0, help="shorten every flood window this many times")
    parser.add_argument("--concurrency", type=int, default=1000, help="chats delivered at once (the scheduler fires all due chats)")
    parser.add_argument("--listing", action="store_true", help="also describe the 虚拟人 digest of a real listing day")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bot.core").setLevel(logging.ERROR)  # "no PDF for …", once per chat: see the report
    asyncio.run(delivery(args.chats, args.speed, args.concurrency))
    listing = SHARED / "listings" / "dw-dengwei_2026-06-30.jsonl"
    if args.listing:
        if listing.exists():
            asyncio.run(listing_day(listing))
        else:
            print(f"{listing} is absent: no real listing day to describe")


if __name__ == "__main__":
    main()
