"""Bench: two PDFs trickle at 1 KB every 5 s; how long does a third person wait for theirs?

    .venv/bin/python -m bench.pdf_trickle [--every 5] [--timeout 150]

The real ``TelegramBot`` against the fake Bot API and the fake arXiv (no model: extractive
summaries; ``FIGURE_POLICY=all``, so a /summarize waits for its paper's PDF and figures). Users
A and B ask for two papers whose PDFs the fake sends 1 KB at a time, ``--every`` seconds apart;
once both downloads have started, user C asks for a third paper whose PDF is served at once.
Printed: seconds from C's message to C's answer (or that none came within ``--timeout``), and
from A's and B's messages to theirs. Only the adapter and the fakes are used, so the same
script measures any version of the code.
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
from tests.fakes.server import serve
from tests.fakes.telegram import TOKEN, FakeTelegram, tiny_pdf

NOON = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
SLOW = ["2606.90001", "2606.90002"]
FAST = "2606.90003"
USERS = {SLOW[0]: 601, SLOW[1]: 602, FAST: 603}


def _final(tg: FakeTelegram, chat: int) -> bool:
    return any(p.edits or "⏳" not in p.visible for p in tg.in_chat(chat))


async def bench(every: float, timeout: float) -> dict[str, object]:
    arxiv = FakeArxiv()
    for pid in [*SLOW, FAST]:
        arxiv.add_paper({"id": pid, "title": f"Paper {pid}", "summary": "We build avatars. They are fast. They beat prior work.",
                         "authors": ["Ada Lovelace"], "categories": ["cs.CV"]})  # fmt: skip
        arxiv.pdfs[pid] = tiny_pdf(1) + b"\n%" + b"0" * 200_000  # ~200 KB: 40 minutes at 1 KB / 5 s
    for pid in SLOW:
        arxiv.trickle[pid] = every
    tg = FakeTelegram(limits=FloodLimits().faster(1000))
    for user in USERS.values():
        tg.add_user(user)
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp, serve(arxiv.app()) as a, serve(tg.app()) as t:
        settings = Settings(
            _env_file=None, data_dir=Path(tmp), telegram_bot_token=SecretStr(TOKEN), telegram_api_url=f"{t.url}/bot",
            arxiv_api_url=f"{a.url}/api/query", arxiv_rss_url=f"{a.url}/rss/", arxiv_pdf_url=f"{a.url}/pdf/{{id}}",
            arxiv_delay_seconds=0, llm_provider="none", figure_policy="all", default_lang="en",
        )  # fmt: skip
        async with Paperbot(settings, clock=lambda: NOON) as core:
            bot = TelegramBot(core, limits=FloodLimits().faster(1000))
            await bot.start()
            try:
                sent: dict[str, float] = {}
                for pid in SLOW:
                    tg.send_text(USERS[pid], USERS[pid], f"/summarize {pid}")
                    sent[pid] = time.monotonic()
                deadline = time.monotonic() + timeout
                while len(arxiv.requests("pdf")) < 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)  # both slow downloads hold their slots
                tg.send_text(USERS[FAST], USERS[FAST], f"/summarize {FAST}")
                sent[FAST] = time.monotonic()
                done: dict[str, float] = {}
                while len(done) < 3 and time.monotonic() < deadline:
                    for pid, user in USERS.items():
                        if pid not in done and _final(tg, user):
                            done[pid] = time.monotonic() - sent[pid]
                    await asyncio.sleep(0.05)
                out["third_user_wait_s"] = round(done[FAST], 2) if FAST in done else f"no answer in {timeout:g} s"
                for pid in SLOW:
                    out[f"slow_{pid}_wait_s"] = round(done[pid], 2) if pid in done else f"no answer in {timeout:g} s"
                out["pdf_requests"] = len(arxiv.requests("pdf"))
                for k, v in out.items():  # now: stopping may wait for downloads still trickling
                    print(f"{k:<26} {v}", flush=True)
            finally:
                await bot.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between the slow PDFs' 1 KB pieces")
    parser.add_argument("--timeout", type=float, default=150.0, help="give up after this many seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    asyncio.run(bench(args.every, args.timeout))


if __name__ == "__main__":
    main()
