"""Bench: cached /summarize latency through the real Telegram adapter, p50 and p99 over 1,000 requests.

    .venv/bin/python -m bench.summarize_latency [--requests 1000] [--paced 200] [--rate 10]

What is timed, per request: from the moment the fake Bot API hands the update to the bot's
``getUpdates`` long poll to the moment the fake receives the request that completes the reply
(for a cached /summarize the one ``sendMessage`` with the summary: no status line, there is
nothing to wait for; for /help its one ``sendMessage``). Both instants are taken by the fake (``time.monotonic`` in its
thread), so the figure is the adapter + python-telegram-bot + HTTP round trips + the store, as a
user would feel it minus Telegram's own network.

Setup: the real ``TelegramBot`` (long polling) against ``tests/fakes/telegram.py``, the fake
Gemini as the model (``LLM_PROVIDER=gemini``), ``FIGURE_POLICY=none`` so the edit is the last
message. The paper's summary is warmed once (one model call) before the clock starts, so every
timed /summarize is a cache hit: lookup from the store, the cached summary, no model call, no
quota charge (the bench checks the fake Gemini saw exactly one call). Every request comes from
a different person in their own private chat, so per-chat pacing never couples two requests.

The baseline, in the same run and the same process: ``/help``, which does no work (one store
read for the chat's language, one sendMessage): the adapter + PTB + HTTP floor. A cached
/summarize adds the paper and summary reads from the store and a longer message.

Three phases, each for /summarize and /help:

* ``sequential``: one request in flight at a time, flood pacing scaled ×1000 (effectively
  off): pure per-request latency.
* ``burst``: all requests enqueued at once, pacing scaled ×1000: latency under a queue of
  1,000 (PTB handles up to 256 updates concurrently), i.e. throughput-bound.
* ``paced``: Telegram's real flood limits (30 msg/s overall at 90 %, 1 msg/s per chat),
  requests arriving at ``--rate`` per second (a cached summary is one message, so the
  per-chat second never applies).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.core import Paperbot
from bot.settings import Settings
from bot.telegram_bot import TelegramBot
from bot.telegram_pacing import FloodLimits
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import serve
from tests.fakes.telegram import TOKEN, FakeTelegram, tiny_pdf

PAPER = "2606.50001"
NOON = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
UNPACED = FloodLimits().faster(1000)
REAL = FloodLimits()


class TimedTelegram(FakeTelegram):
    """The fake Bot API, also noting when each chat's update first left in a getUpdates answer."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.handed: dict[int, float] = {}
        self.first: dict[tuple[str, int], float] = {}
        self._scanned = 0

    async def _m_getupdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        pending = await super()._m_getupdates(params, files)
        now = time.monotonic()
        for update in pending:
            message = update.get("message")
            if message is not None:
                self.handed.setdefault(message["chat"]["id"], now)
        return pending

    def finished(self, method: str, chats: set[int]) -> dict[int, float]:
        """Each chat's first accepted ``method`` call: when the reply reached the fake. Scans only
        the calls that arrived since the last look, so polling stays cheap for the bot's loop."""
        calls = self.calls
        end = len(calls)
        for c in calls[self._scanned : end]:
            if c.status == 200 and c.method in ("editmessagetext", "sendmessage"):
                self.first.setdefault((c.method, int(c.params.get("chat_id", 0))), c.at)
        self._scanned = end
        return {chat: at for chat in chats if (at := self.first.get((method, chat))) is not None}


@dataclass
class Result:
    phase: str
    command: str
    latencies: list[float]

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, max(0, round(q / 100 * len(xs)) - 1))]

    def line(self) -> str:
        ms = [x * 1000 for x in self.latencies]
        return (
            f"{self.phase:<10} {self.command:<10} n={len(ms):<5} p50 {self.pct(50) * 1000:8.1f} ms  "
            f"p99 {self.pct(99) * 1000:8.1f} ms  mean {statistics.fmean(ms):8.1f} ms  max {max(ms):8.1f} ms"
        )


async def _wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not answer every request in time")
        await asyncio.sleep(0.002)


async def _phase(
    fake: TimedTelegram, phase: str, command: str, chats: list[int], *, rate: float | None, one_at_a_time: bool
) -> Result:
    # the warm-up summarizes (a status line edited into the result); a cached summary is one sendMessage
    method = "editmessagetext" if phase == "warm" else "sendmessage"
    text = f"/summarize {PAPER}" if command == "/summarize" else "/help"
    wanted = set(chats)
    if one_at_a_time:
        for chat in chats:
            fake.send_text(chat, chat, text)
            await _wait(lambda chat=chat: chat in fake.finished(method, {chat}), 30)
    else:
        for chat in chats:
            fake.send_text(chat, chat, text)
            if rate:
                await asyncio.sleep(1 / rate)
        await _wait(lambda: len(fake.finished(method, wanted)) == len(wanted), 600)
    done = fake.finished(method, wanted)
    return Result(phase, command, [done[c] - fake.handed[c] for c in chats])


async def bench(requests: int, paced: int, rate: float) -> list[Result]:
    arxiv = FakeArxiv()
    arxiv.add_paper({"id": PAPER, "title": "Animatable Gaussian Avatars from Monocular Video",
                     "summary": "We build avatars from 3D Gaussians. They render in real time. They beat prior work.",
                     "authors": ["Ada Lovelace", "Alan Turing"], "categories": ["cs.CV"]})  # fmt: skip
    arxiv.pdfs[PAPER] = tiny_pdf(1)
    llm = FakeGemini()
    results: list[Result] = []
    next_chat = iter(range(10_000_000, 20_000_000))
    with tempfile.TemporaryDirectory() as tmp, serve(arxiv.app()) as a, serve(llm.app()) as g:
        llm.url = g.url
        for limits, phases in ((UNPACED, ("sequential", "burst")), (REAL, ("paced",))):
            fake = TimedTelegram(limits=None)  # the fake does not refuse; the adapter paces itself
            with serve(fake.app()) as t:
                settings = Settings(
                    _env_file=None, data_dir=Path(tmp), telegram_bot_token=SecretStr(TOKEN),
                    telegram_api_url=f"{t.url}/bot", arxiv_api_url=f"{a.url}/api/query",
                    arxiv_rss_url=f"{a.url}/rss/", arxiv_pdf_url=f"{a.url}/pdf/{{id}}", arxiv_delay_seconds=0,
                    llm_provider="gemini", gemini_api_key=SecretStr("test-key"), gemini_base_url=g.url,
                    figure_policy="none", default_lang="en",
                )  # fmt: skip
                async with Paperbot(settings, clock=lambda: NOON) as core:
                    bot = TelegramBot(core, limits=limits)
                    await bot.start()
                    try:
                        if limits is UNPACED:  # warm: one model call, then every /summarize is a cache hit
                            warm = next(next_chat)
                            await _phase(fake, "warm", "/summarize", [warm], rate=None, one_at_a_time=True)
                            calls = len(llm.generate_calls)
                            assert calls == 1, f"warm-up made {calls} model calls"
                            warm_text = fake.in_chat(warm)[0].visible
                            assert "💡" in warm_text and "extracted from the abstract" not in warm_text
                        for phase in phases:
                            n = paced if phase == "paced" else requests
                            for command in ("/help", "/summarize"):
                                chats = [next(next_chat) for _ in range(n)]
                                results.append(await _phase(
                                    fake, phase, command, chats,
                                    rate=rate if phase == "paced" else None, one_at_a_time=phase == "sequential",
                                ))  # fmt: skip
                                if command == "/summarize":  # every one answered with the summary
                                    assert all("💡" in fake.in_chat(c)[0].visible for c in chats)
                    finally:
                        await bot.stop()
        assert len(llm.generate_calls) == 1, "a timed /summarize called the model: not a cache hit"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests per command, sequential and burst")
    parser.add_argument("--paced", type=int, default=200, help="requests per command at Telegram's real limits")
    parser.add_argument("--rate", type=float, default=10.0, help="arrivals per second in the paced phase")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # the fake's long poll cut at stop
    results = asyncio.run(bench(args.requests, args.paced, args.rate))
    print("latency: update handed to getUpdates -> final reply received by the fake "
          "(/summarize: one sendMessage with the cached summary; /help: sendMessage)")  # fmt: skip
    print("each request from a different user in their own private chat; one process, fakes in threads, 2 cores")
    by = {(r.phase, r.command): r for r in results}
    for r in results:
        print(r.line())
    print()
    for phase in ("sequential", "burst", "paced"):
        s, h = by.get((phase, "/summarize")), by.get((phase, "/help"))
        if s and h:
            print(f"{phase:<10} /summarize ÷ /help: p50 {s.pct(50) / h.pct(50):5.2f}×   p99 {s.pct(99) / h.pct(99):5.2f}×")


if __name__ == "__main__":
    main()
