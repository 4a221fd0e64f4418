"""Bench: a realistic day end to end, from arXiv's announcement to the last chat delivered.

    .venv/bin/python -m bench.day                 # real parameters (takes several minutes)
    .venv/bin/python -m bench.day --speed 10      # every delay and limit 10x shorter: a quick look

A real listing day (``../shared/data/listings/dw-dengwei_2026-06-30.jsonl``) is announced by the
fake arXiv (``tests/fakes/arxiv.py``; the listing's PDFs are not available offline, so the
shared real PDFs stand in, in turn). 1,000 Telegram groups and 100 Discord channels follow the
catalogue's 6 topics (one topic each, in turn), all due: the scheduler's harvest job runs
(``Scheduler.harvest``: harvest, then the catch-up of every due chat on both platforms), with

* arXiv's pacing (``ARXIV_DELAY_SECONDS=3``) for the RSS, API and PDF requests;
* the fake model (Gemini) answering each call in 4-8 s, ``LLM_CONCURRENCY`` at a time;
* Telegram's flood limits enforced by the fake (30 messages/s, 20 a minute per group, 1 a second
  per chat) and Discord's per-channel limit (5 messages per 5 s) as the bound below.

The time is from the harvest's start to the last message delivered, against a lower bound: the
larger of (a) the arXiv requests made, at arXiv's pace, plus one model call (the last PDF's
summary), and (b) the platforms' send limits for the messages sent. ``--speed K`` divides every
delay (arXiv's pace, the model's latency) and flood window by K, and the bound with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from bot.core import Paperbot
from bot.discord_bot import DiscordBot
from bot.schedule import Scheduler
from bot.settings import Settings
from bot.store import Store
from bot.telegram_bot import TelegramBot
from bot.telegram_pacing import FloodLimits
from bot.topics import Catalogue
from tests.fakes.arxiv import FakeArxiv, load_listing
from tests.fakes.discord import FakeDiscord
from tests.fakes.gemini import FakeGemini, Recorded
from tests.fakes.server import serve
from tests.fakes.telegram import MESSAGE_METHODS, TOKEN, FakeTelegram

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
LISTING = SHARED / "listings" / "dw-dengwei_2026-06-30.jsonl"
DAY = date(2026, 6, 30)
# 20:40 New York on the 29th: the 30th's listing has just been announced
ANNOUNCED = datetime(2026, 6, 30, 0, 40, tzinfo=UTC)
DISCORD_PER_CHANNEL = 5 / 5.0  # messages a second in one channel
DISCORD_GLOBAL = 50.0  # requests a second, the whole bot


class Timed(list):  # type: ignore[type-arg]
    """A fake's request log that also notes when each entry arrived."""

    def append(self, item: Any) -> None:
        super().append(item)
        self.times.append(time.monotonic())

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []


class SlowGemini(FakeGemini):
    """The fake model, answering each call after ``low``-``high`` seconds (a real model's latency)."""

    def __init__(self, low: float, high: float, seed: int = 7) -> None:
        super().__init__()
        self.low, self.high = low, high
        self.rng = random.Random(seed)
        self.spans: list[tuple[float, float]] = []

    async def next_action(self, rec: Recorded, default: Any) -> web.StreamResponse:
        start = time.monotonic()
        if ":generateContent" in rec.path:
            await asyncio.sleep(self.rng.uniform(self.low, self.high))
        try:
            return await super().next_action(rec, default)
        finally:
            if ":generateContent" in rec.path:
                self.spans.append((start, time.monotonic()))


def _subscribe(settings: Settings, telegram: list[str], discord: list[str], topics: list[str]) -> dict[str, int]:
    catalogue = Catalogue.load()
    per_topic: Counter[str] = Counter()
    store = Store(settings.db_path)
    try:
        for platform, chats in (("telegram", telegram), ("discord", discord)):
            for i, cid in enumerate(chats):
                topic = topics[i % len(topics)]
                store.subscribe(platform, cid, topic, catalogue.get(topic).query)  # type: ignore[union-attr]
                store.update_chat(platform, cid, {"digest_time": "00:00", "timezone": "UTC"})
                per_topic[topic] += 1
    finally:
        store.close()
    return dict(per_topic)


async def day(speed: float, n_telegram: int, n_discord: int, concurrency: int) -> dict[str, Any]:
    entries = load_listing(LISTING)
    arxiv = FakeArxiv()
    arxiv.add_day(DAY, entries)
    arxiv.rss_day = DAY
    arxiv.log = Timed()
    standins = sorted((SHARED / "pdfs").glob("*.pdf"))
    for i, e in enumerate(entries):
        arxiv.pdfs[e["id"]] = standins[i % len(standins)].read_bytes()
    limits = FloodLimits().faster(speed)
    tg = FakeTelegram(limits=limits)
    gemini = SlowGemini(4.0 / speed, 8.0 / speed)
    topics = [t.name for t in Catalogue.load().topics][:6]
    async with FakeDiscord() as dc:
        dc.requests = Timed()
        guild = dc.add_guild("Labs")
        discord_chats = [dc.add_channel(guild, f"papers-{i}") for i in range(n_discord)]
        telegram_chats = [str(-1001000000000 - i) for i in range(n_telegram)]
        with tempfile.TemporaryDirectory() as tmp, serve(arxiv.app()) as a, serve(tg.app()) as t, serve(gemini.app()) as g:
            gemini.url = g.url  # type: ignore[attr-defined]
            settings = Settings(
                _env_file=None,
                data_dir=Path(tmp),
                telegram_bot_token=SecretStr(TOKEN),
                telegram_api_url=f"{t.url}/bot",
                discord_bot_token=SecretStr(dc.token),
                discord_api_url=dc.api_url,
                discord_gateway_url=dc.gateway_url,
                arxiv_api_url=f"{a.url}/api/query",
                arxiv_rss_url=f"{a.url}/rss/",
                arxiv_pdf_url=f"{a.url}/pdf/{{id}}",
                arxiv_delay_seconds=3.0 / speed,
                llm_provider="gemini",
                gemini_api_key=SecretStr("test-key"),
                gemini_base_url=g.url,
                default_lang="zh",
            )
            per_topic = _subscribe(settings, telegram_chats, discord_chats, topics)
            clock_start = time.monotonic()
            async with Paperbot(settings, clock=lambda: ANNOUNCED + timedelta(seconds=time.monotonic() - clock_start)) as core:
                telegram = TelegramBot(core, limits=limits)
                discord_bot = DiscordBot(core)
                await telegram.start()
                await discord_bot.start()
                scheduler = Scheduler(core, {"telegram": telegram, "discord": discord_bot})
                telegram.scheduler = discord_bot.scheduler = scheduler
                if concurrency:
                    scheduler.deliver_concurrency = concurrency  # type: ignore[attr-defined]
                try:
                    start = time.monotonic()
                    await scheduler.harvest()
                    end = time.monotonic()
                finally:
                    await scheduler.stop()
                    await discord_bot.stop()
                    await telegram.stop()
                runs = Counter(
                    r["status"] for r in (await core.store.run(lambda s: list(s.db.query("select status from digest_runs"))))
                )
                matched = await core.store.run(lambda s: s.db.execute("select count(distinct paper_id) from deliveries").fetchone()[0])
    # ---- where the time went ----------------------------------------------------------------
    log_times = list(zip(arxiv.log.times, arxiv.log, strict=True))
    kinds = Counter(kind for _, (kind, _) in log_times)
    pdf_times = [at for at, (kind, _) in log_times if kind == "pdf"]
    harvest_done = max((at for at, (kind, _) in log_times if kind != "pdf"), default=start)
    tg_sent = [c for c in tg.calls if c.method in MESSAGE_METHODS and c.status == 200]
    dc_sent = [at for at, r in zip(dc.requests.times, dc.requests, strict=False)
               if r.method == "POST" and r.path.startswith("channels/") and r.path.endswith("/messages") and r.status == 200]  # fmt: skip
    per_dc_chat = Counter(r.path for r in dc.requests if r.method == "POST" and r.path.endswith("/messages") and r.status == 200)
    per_tg_chat = Counter(str(c.params.get("chat_id")) for c in tg_sent)
    delay = 3.0 / speed
    model_round = 6.0 / speed  # the model's mean latency
    arxiv_requests = sum(kinds.values())
    enrich_bound = arxiv_requests * delay + model_round
    tg_bound = max(len(tg_sent) / (limits.per_second / limits.second),
                   max(per_tg_chat.values(), default=1) * limits.second / limits.per_chat)  # fmt: skip
    dc_bound = max(len(dc_sent) / DISCORD_GLOBAL, max(per_dc_chat.values(), default=1) / DISCORD_PER_CHANNEL / speed)
    send_bound = max(tg_bound, dc_bound)
    bound = max(enrich_bound, send_bound)
    elapsed = end - start
    spans = gemini.spans
    report = {
        "speed": speed,
        "listing": LISTING.name,
        "papers_in_listing": len(entries),
        "topics": per_topic,
        "papers_delivered_or_listed": matched,
        "chats": {"telegram": n_telegram, "discord": n_discord},
        "digest_runs": dict(runs),
        "arxiv_requests": dict(kinds),
        "model_calls": len(spans),
        "model_latency_mean_s": round(statistics.mean(e - s for s, e in spans), 2) if spans else None,
        "telegram_messages": len(tg_sent),
        "telegram_429s": tg.too_many,
        "discord_messages": len(dc_sent),
        "elapsed_s": round(elapsed, 1),
        "harvest_done_s": round(harvest_done - start, 1),
        "first_pdf_s": round(pdf_times[0] - start, 1) if pdf_times else None,
        "last_pdf_s": round(pdf_times[-1] - start, 1) if pdf_times else None,
        "last_model_answer_s": round(max(e for _, e in spans) - start, 1) if spans else None,
        "first_telegram_s": round(tg_sent[0].at - start, 1) if tg_sent else None,
        "last_telegram_s": round(tg_sent[-1].at - start, 1) if tg_sent else None,
        "first_discord_s": round(dc_sent[0] - start, 1) if dc_sent else None,
        "last_discord_s": round(dc_sent[-1] - start, 1) if dc_sent else None,
        "bound_enrich_s": round(enrich_bound, 1),
        "bound_telegram_s": round(tg_bound, 1),
        "bound_discord_s": round(dc_bound, 1),
        "lower_bound_s": round(bound, 1),
        "ratio": round(elapsed / bound, 3),
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=1.0, help="divide every delay and flood window by this")
    parser.add_argument("--telegram", type=int, default=1000, help="Telegram groups")
    parser.add_argument("--discord", type=int, default=100, help="Discord channels")
    parser.add_argument("--concurrency", type=int, default=0, help="chats delivered at once (0: the scheduler's own)")
    args = parser.parse_args()
    if not LISTING.exists():
        raise SystemExit(f"needs {LISTING} (real arXiv data), which is absent")
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("bot.core", "bot.figures", "discord", "httpx", "bot.deliver", "bot.schedule"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    report = asyncio.run(day(args.speed, args.telegram, args.discord, args.concurrency))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print(
        f"\nfrom the harvest's start to the last chat delivered: {report['elapsed_s']} s; lower bound "
        f"{report['lower_bound_s']} s (arXiv+model {report['bound_enrich_s']} s, Telegram {report['bound_telegram_s']} s, "
        f"Discord {report['bound_discord_s']} s): {report['ratio']}x"
    )


if __name__ == "__main__":
    main()
