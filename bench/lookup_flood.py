"""Bench: one person floods /summarize with ids arXiv does not have; how long does another wait?

    .venv/bin/python -m bench.lookup_flood [--flood 60] [--distinct 20] [--delay 1.0]

The real ``TelegramBot`` against the fake Bot API, the fake arXiv and the fake Gemini (so the
hourly allowance, ``SUMMARIZE_PER_USER_PER_HOUR=10``, applies). User A sends ``--flood``
``/summarize`` commands at once, cycling through ``--distinct`` well-formed ids arXiv lacks;
right after, user B asks for a paper arXiv has. ``ARXIV_DELAY_SECONDS=--delay`` stands in
for arXiv's 3 s between requests. Printed: seconds from B's message to B's summary, arXiv API
requests in all and before B's lookup, and seconds until every one of A's commands was
answered. Runs on any version of the code (it only uses the adapter and the fakes), so
before/after figures come from the same reproduction.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from bot.core import Paperbot
from bot.settings import Settings
from bot.telegram_bot import TelegramBot
from bot.telegram_pacing import FloodLimits
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import serve
from tests.fakes.telegram import TOKEN, FakeTelegram

PAPER = "2606.50001"
NOON = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
FLOODER, OTHER = 501, 502


async def _wait(check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("no answer in time")
        await asyncio.sleep(0.02)


def _answered(tg: FakeTelegram, chat: int, after: int) -> list[int]:
    """Messages in ``chat`` after ``after`` that are final: an error or an edited status line."""
    return [p.message_id for p in tg.in_chat(chat) if p.message_id > after and (p.edits or "⏳" not in p.visible)]


async def bench(flood: int, distinct: int, delay: float, timeout: float) -> dict[str, float]:
    arxiv = FakeArxiv()
    arxiv.add_paper({"id": PAPER, "title": "Animatable Gaussian Avatars", "summary": "We build avatars. They are fast.",
                     "authors": ["Ada Lovelace"], "categories": ["cs.CV"]})  # fmt: skip
    llm = FakeGemini()
    tg = FakeTelegram(limits=FloodLimits().faster(1000))
    tg.add_user(FLOODER)
    tg.add_user(OTHER)
    missing = [f"2606.{60001 + i}" for i in range(distinct)]
    with tempfile.TemporaryDirectory() as tmp, serve(arxiv.app()) as a, serve(llm.app()) as g, serve(tg.app()) as t:
        settings = Settings(
            _env_file=None, data_dir=Path(tmp), telegram_bot_token=SecretStr(TOKEN), telegram_api_url=f"{t.url}/bot",
            arxiv_api_url=f"{a.url}/api/query", arxiv_rss_url=f"{a.url}/rss/", arxiv_pdf_url=f"{a.url}/pdf/{{id}}",
            arxiv_delay_seconds=delay, llm_provider="gemini", gemini_api_key=SecretStr("test-key"),
            gemini_base_url=g.url, figure_policy="none", default_lang="en", summarize_per_user_per_hour=10,
        )  # fmt: skip
        async with Paperbot(settings, clock=lambda: NOON) as core:
            bot = TelegramBot(core, limits=FloodLimits().faster(1000))
            await bot.start()
            try:
                start = time.monotonic()
                first = 0
                for i in range(flood):
                    mid = tg.send_text(FLOODER, FLOODER, f"/summarize {missing[i % distinct]}")
                    first = first or mid - 1
                await asyncio.sleep(0.2)  # A's flood is in the bot's hands
                before = len(arxiv.requests("api"))
                asked = time.monotonic()
                mid_b = tg.send_text(OTHER, OTHER, f"/summarize {PAPER}")
                await _wait(lambda: _answered(tg, OTHER, mid_b), timeout)
                waited = time.monotonic() - asked
                ids = [r["id_list"] for r in arxiv.requests("api")]
                b_at = ids.index(PAPER) if PAPER in ids else -1
                await _wait(lambda: len(_answered(tg, FLOODER, first)) >= flood, timeout)
                flood_done = time.monotonic() - start
                return {
                    "other_user_wait_s": round(waited, 2),
                    "api_requests": len(arxiv.requests("api")),
                    "api_requests_before_other_asked": before,
                    "other_users_place_in_arxiv_line": b_at,
                    "flood_answered_s": round(flood_done, 2),
                }
            finally:
                await bot.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flood", type=int, default=60, help="/summarize commands from the flooding user")
    parser.add_argument("--distinct", type=int, default=20, help="distinct missing ids among them")
    parser.add_argument("--delay", type=float, default=1.0, help="ARXIV_DELAY_SECONDS (arXiv asks for 3)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    result = asyncio.run(bench(args.flood, args.distinct, args.delay, args.timeout))
    for k, v in result.items():
        print(f"{k:<34} {v}")


if __name__ == "__main__":
    main()
