"""Bench: resident size of ``paperbot run`` with both platforms and 10,000 subscriptions.

    .venv/bin/python -m bench.memory [--subscriptions 10000]

``paperbot -v run`` is started as a real process (``python -m bot.cli -v run``) with a Telegram
and a Discord token, against the fakes in this process: ``tests/fakes/telegram.py`` (served
from a thread), ``tests/fakes/discord.py`` (REST + gateway, in this event loop) and
``tests/fakes/arxiv.py`` (today's listing day, 40 papers). No LLM key (extractive summaries).

The store is seeded before start with the subscriptions, half on Telegram and half on Discord:
chats alternately follow one and two topics (catalogue topics, and every fifth a custom arXiv
query), so 10,000 subscriptions are ~6,700 chats. Every Discord chat is a text channel that
exists in the fake's guilds (67 channels per guild, as a real bot in that many channels would
have them in its guild cache from GUILD_CREATE). Today's digest is marked done for every chat,
so the start-up catch-up finds nothing due: the figure is the steady state of a bot between
digests, not of one delivering.

The process is measured once it is up: both adapters started (logged), the scheduler has built
one digest job per chat and the catch-up harvest has run (logged), and its CPU time has stopped
growing for 3 s (the catch-up's pass over every chat is over). Then VmRSS (resident now) and
VmHWM (peak resident) are read from ``/proc/PID/status`` and the process gets SIGTERM.

Baselines in the same run: the same ``paperbot run`` with 0 subscriptions, and a bare
``python -c "import bot.run, bot.telegram_bot, bot.discord_bot"`` (the interpreter and the
libraries, no work).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from bot.harvest import listing_day_for
from bot.store import Store
from bot.topics import Catalogue
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.discord import FakeDiscord
from tests.fakes.server import serve, stop_process
from tests.fakes.telegram import TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
CHANNELS_PER_GUILD = 67
CUSTOM = ['ti:"gaussian avatar"', 'abs:"talking head" ANDNOT cat:eess.AS', "au:lovelace OR ti:telepresence"]
PAGE = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    label: str
    rss_kb: int
    hwm_kb: int
    chats: int = 0
    subscriptions: int = 0

    def line(self) -> str:
        return (
            f"{self.label:<34} RSS {self.rss_kb / 1024:7.1f} MiB   peak (VmHWM) {self.hwm_kb / 1024:7.1f} MiB"
            + (f"   chats {self.chats}, subscriptions {self.subscriptions}" if self.subscriptions else "")
        )


def status_kb(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_ticks(pid: int) -> int:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime + stime


def plan(n: int, catalogue: Catalogue) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(platform, chat id, [(topic, query)]) for exactly ``n`` subscriptions, half per platform."""
    topics = [(t.name, t.query) for t in catalogue.topics]
    out: list[tuple[str, str, list[tuple[str, str]]]] = []
    left = n
    for i in itertools.count():
        if left <= 0:
            break
        platform = "telegram" if i % 2 == 0 else "discord"
        k = min(left, 1 if (i // 2) % 2 == 0 else 2)
        subs = [topics[(i + j) % len(topics)] for j in range(k)]
        if i % 5 == 0:
            q = CUSTOM[i % len(CUSTOM)]
            subs[-1] = (q, q)
        out.append((platform, "", subs))
        left -= k
    return out


def seed(db: Path, chats: list[tuple[str, str, list[tuple[str, str]]]], day: date) -> int:
    store = Store(db)
    try:
        with store.db.conn:
            for platform, chat_id, subs in chats:
                store.db["chats"].insert(
                    {"platform": platform, "chat_id": chat_id, "quiet": 0, "active": 1, "created_at": "2026-01-01T00:00:00"},
                    ignore=True,
                )
                for topic, query in subs:
                    store.db.execute(
                        "insert or ignore into subscriptions (platform, chat_id, topic, query, paused, created_at) "
                        "values (?, ?, ?, ?, 0, '2026-01-01T00:00:00')",
                        [platform, chat_id, topic, query],
                    )
        for platform, chat_id, _ in chats:  # today's digest is out: the catch-up has nothing to send
            store.set_digest_run(platform, chat_id, day, "done", "bench")
        return int(store.db.execute("select count(*) from subscriptions").fetchone()[0])
    finally:
        store.close()


def bare_import() -> Sample:
    code = (
        "import bot.run, bot.telegram_bot, bot.discord_bot, bot.core, bot.schedule, sys; "
        "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        rss, hwm = status_kb(proc.pid)
    finally:
        proc.kill()
        proc.wait(10)
    return Sample("bare import (bot.run + adapters)", rss, hwm)


async def measure(label: str, n: int) -> Sample:
    day = listing_day_for(datetime.now(UTC))
    arxiv = FakeArxiv()
    arxiv.add_day(day, [
        {"id": f"{day:%y%m}.{60000 + i:05d}", "title": f"Animatable Gaussian avatar paper {i}",
         "summary": "We build a talking head avatar from Gaussians. It renders in real time.",
         "authors": ["Ada Lovelace", "Alan Turing"], "categories": ["cs.CV"]} for i in range(40)
    ])  # fmt: skip
    arxiv.rss_day = day
    tg = FakeTelegram(limits=None)
    async with FakeDiscord() as dc:
        with tempfile.TemporaryDirectory() as tmp, serve(arxiv.app()) as a, serve(tg.app()) as t:
            chats = plan(n, Catalogue.load()) if n else []
            guild = ""
            ids: list[tuple[str, str, list[tuple[str, str]]]] = []
            tg_ids = itertools.count(1_001_000_000_000)
            for i, (platform, _, subs) in enumerate(chats):
                if platform == "telegram":
                    ids.append((platform, str(-next(tg_ids)), subs))
                else:
                    if not guild or len(dc.guilds[guild]["channels"]) >= CHANNELS_PER_GUILD:
                        guild = dc.add_guild(f"Lab {len(dc.guilds)}")
                    ids.append((platform, dc.add_channel(guild, f"papers-{i}"), subs))
            if not dc.guilds:
                dc.add_channel(dc.add_guild("Lab"), "papers")
            data = Path(tmp) / "data"
            data.mkdir()
            subscriptions = seed(data / "paperbot.db", ids, day) if ids else 0
            env = {
                "PATH": os.environ.get("PATH", ""), "HOME": tmp, "PAPERBOT_DATA_DIR": str(data),
                "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": f"{t.url}/bot",
                "DISCORD_BOT_TOKEN": dc.token, "DISCORD_API_URL": dc.api_url, "DISCORD_GATEWAY_URL": dc.gateway_url,
                "LLM_PROVIDER": "none", "ARXIV_API_URL": f"{a.url}/api/query", "ARXIV_RSS_URL": f"{a.url}/rss/",
                "ARXIV_PDF_URL": f"{a.url}/pdf/{{id}}", "ARXIV_DELAY_SECONDS": "0", "PYTHONPATH": str(ROOT),
            }  # fmt: skip
            lines: list[str] = []
            proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "-v", "run"], cwd=tmp, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
            reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
            reader.start()
            try:
                deadline = time.monotonic() + 300

                def up() -> bool:
                    text = "".join(lines)
                    return "telegram bot started" in text and "discord bot started" in text and (
                        "harvest:" in text or "harvest failed" in text
                    )

                while not up():
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("paperbot run did not come up:\n" + "".join(lines)[-3000:])
                    await asyncio.sleep(0.2)
                before, quiet_since = cpu_ticks(proc.pid), time.monotonic()
                while time.monotonic() - quiet_since < 3.0:  # idle: the catch-up pass is over
                    await asyncio.sleep(0.5)
                    now = cpu_ticks(proc.pid)
                    if now - before > PAGE * 0.05:  # more than 5 % of a core in half a second
                        quiet_since = time.monotonic()
                    before = now
                    if time.monotonic() > deadline:
                        raise RuntimeError("paperbot run never went idle")
                rss, hwm = status_kb(proc.pid)
                assert dc.identifies and tg.count("getUpdates") >= 1, "not connected to both platforms"
            finally:
                stop_process(proc)
            errors = [line for line in lines if " ERROR " in line or "Traceback" in line]
            assert not errors, "".join(errors)[:2000]
            store = Store(data / "paperbot.db")
            try:
                active = int(store.db.execute("select count(*) from chats where active = 1").fetchone()[0])
            finally:
                store.close()
            return Sample(label, rss, hwm, active if n else 0, subscriptions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscriptions", type=int, default=10_000)
    args = parser.parse_args()
    bare = bare_import()
    empty = asyncio.run(measure("paperbot run, 0 subscriptions", 0))
    full = asyncio.run(measure(f"paperbot run, {args.subscriptions:,} subscriptions", args.subscriptions))
    print("paperbot -v run with Telegram + Discord against the fakes; /proc/PID/status once up and idle")
    for s in (bare, empty, full):
        print(s.line())
    print(f"{full.subscriptions:,} vs 0 subscriptions: RSS {full.rss_kb / empty.rss_kb:.2f}× (+{(full.rss_kb - empty.rss_kb) / 1024:.1f} MiB, "
          f"{(full.rss_kb - empty.rss_kb) * 1024 / max(1, full.subscriptions):.0f} bytes per subscription), "
          f"peak {full.hwm_kb / empty.hwm_kb:.2f}×")  # fmt: skip
    print(f"0 subscriptions vs bare import: RSS {empty.rss_kb / bare.rss_kb:.2f}×")


if __name__ == "__main__":
    main()
