"""Bench: `paperbot run` SIGKILLed again and again during one digest to 50 chats, then restarted.

    .venv/bin/python -m bench.crash [--kills 25] [--seed 1] [--inflight 0.2] [--delay-ms 40]

The real process (``python -m bot.cli run``) delivers one listing day (4 matching papers, no
figures, extractive summaries) to 25 Telegram groups and 25 Discord channels, seeded straight
into SQLite with a digest time already past, so ``catch_up()`` sends the digest at start. The
fakes count every message they accept; each run is killed with SIGKILL a random number of
accepted messages later (seeded RNG), then started again, ``--kills`` times, then once more to
completion. Two kinds of kill point:

* *in flight* (share ``--inflight``): inside the fake's handler, after the platform stored the
  message and before its answer is written, so the bot never learns it was accepted. No client
  can avoid repeating that message: neither Bot API has an idempotency key or a way to list
  the bot's recent messages in a chat (Telegram) cheaply enough to reconcile every chat.
* *random*: a uniformly random 0..``--delay-ms`` ms after the N-th acceptance, i.e. at any point
  of the bot's send → record → pace → send loop. A repeat here means the kill landed in the
  window between the bot reading the platform's answer and the ledger row being committed.

At the end, per chat and paper: the messages on the fakes (repeats and losses counted
separately), the ledger, the header count and ``digest_runs``; and for every repeat, that its
first copy was the last message its chat got before a kill (a repeat anywhere else is a bug).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.harvest import listing_day_for
from bot.settings import Settings
from bot.store import Store
from bot.topics import Catalogue
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.discord import FakeDiscord
from tests.fakes.server import serve, stop_process
from tests.fakes.telegram import TOKEN, FakeTelegram, Posted
from tests.test_telegram import AVATAR, AVATAR_IDS, listing, subscribe_directly

HEADER = "header"


@dataclass
class Accepted:
    """One message a fake accepted: in which run, where, and what it was."""

    run: int
    platform: str
    chat: str
    what: str  # a paper id, "header", or "other"
    at: float = 0.0  # time.monotonic() when the fake stored it
    killed_here: bool = False


class KillSwitch:
    """Shared by both fakes: records each accepted message and SIGKILLs the current run at its target."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[Accepted] = []
        self.run = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.target: int | None = None  # kill when this many messages have been accepted
        self.delay = 0.0  # seconds after that acceptance; 0: inside the handler (answer never sent)
        self.fired = threading.Event()

    def arm(self, proc: subprocess.Popen[bytes], target: int | None, delay: float) -> None:
        with self.lock:
            self.run += 1
            self.proc, self.target, self.delay = proc, target, delay
            self.fired.clear()

    def accepted(self, platform: str, chat: str, what: str) -> None:
        with self.lock:
            entry = Accepted(self.run, platform, chat, what, time.monotonic())
            self.log.append(entry)
            if self.target is None or len(self.log) < self.target or self.proc is None:
                return
            proc, delay = self.proc, self.delay
            self.target = None
            entry.killed_here = delay == 0
        if delay == 0:
            _kill(proc)
            self.fired.set()
        else:
            timer = threading.Timer(delay, lambda: (_kill(proc), self.fired.set()))
            timer.daemon = True
            timer.start()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)


class CountingTelegram(FakeTelegram):
    switch: KillSwitch

    def _post(self, chat_id: int, method: str, html_text: str, visible: str, **kw: Any) -> Posted:
        posted = super()._post(chat_id, method, html_text, visible, **kw)
        if "📚" in visible:
            what = HEADER
        else:
            what = next((p for p in AVATAR_IDS if f"arxiv.org/abs/{p}" in html_text), "other")
        self.switch.accepted("telegram", str(chat_id), what)
        return posted


class CountingDiscord(FakeDiscord):
    switch: KillSwitch

    def _message(
        self, channel_id: str, payload: dict[str, Any], files: list[Any], **kw: Any
    ) -> dict[str, Any]:
        msg = super()._message(channel_id, payload, files, **kw)
        embeds = payload.get("embeds") or []
        if not embeds:
            what = HEADER if payload.get("content") else "other"
        else:
            url = str(embeds[0].get("url") or "")
            what = next((p for p in AVATAR_IDS if url.endswith(p)), "other")
        self.switch.accepted("discord", str(channel_id), what)
        return msg


@dataclass
class CrashReport:
    kills: int = 0
    inflight_kills: int = 0
    runs: int = 0
    chats: int = 0
    papers: int = 0
    messages: int = 0  # paper messages accepted by the fakes, repeats included
    headers: int = 0
    repeats: int = 0  # extra copies of a paper message
    repeats_by_platform: Counter[str] = field(default_factory=Counter)
    losses: int = 0  # (chat, paper) pairs with no message
    header_repeats: int = 0
    header_losses: int = 0
    ledger_missing: int = 0  # (chat, paper) pairs the ledger lacks
    ledger_extra: int = 0  # ledger rows for papers a chat never received
    not_done: int = 0  # chats whose digest_runs row is not "done"
    misplaced_repeats: list[str] = field(default_factory=list)  # repeats not at a crash point
    in_flight_marks: int = 0  # chats the ledger named a message in flight for, after a kill
    unmarked_repeats: list[str] = field(default_factory=list)  # repeats the ledger had not marked in flight
    windows_ms: dict[str, list[float]] = field(default_factory=dict)  # accepted -> ledger row visible
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"kills {self.kills} ({self.inflight_kills} in flight), runs {self.runs}, chats {self.chats}, "
            f"papers {self.papers}, paper messages {self.messages}, repeats {self.repeats} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.repeats_by_platform.items())) or 'none'}), losses {self.losses}, "
            f"headers {self.headers} (repeats {self.header_repeats}, losses {self.header_losses}), "
            f"ledger missing {self.ledger_missing}, ledger extra {self.ledger_extra}, not done {self.not_done}, "
            f"repeats not at a crash point {len(self.misplaced_repeats)}, in-flight marks after kills "
            f"{self.in_flight_marks}, repeats not marked in flight {len(self.unmarked_repeats)}, {self.seconds:.0f} s"
        )


def _env(data: Path, home: Path, tg_url: str, arxiv_url: str, discord: FakeDiscord) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": str(home), "PAPERBOT_DATA_DIR": str(data),
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": f"{tg_url}/bot",
        "DISCORD_BOT_TOKEN": discord.token, "DISCORD_API_URL": discord.api_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url, "LLM_PROVIDER": "none",
        "ARXIV_API_URL": f"{arxiv_url}/api/query", "ARXIV_RSS_URL": f"{arxiv_url}/rss/",
        "ARXIV_PDF_URL": f"{arxiv_url}/pdf/{{id}}", "ARXIV_DELAY_SECONDS": "0", "FIGURE_POLICY": "none",
        "PAPERBOT_LANG": "en", "PAPERBOT_LOG_LEVEL": "INFO",
    }  # fmt: skip


def _seed(settings: Settings, tg_chats: list[int], dc_chats: list[str]) -> None:
    """Subscriptions written straight into SQLite, digest time passed (00:00 UTC)."""
    for chat in tg_chats:
        subscribe_directly(settings, chat, digest_time="00:00", timezone="UTC")
    query = Catalogue.load().get(AVATAR).query  # type: ignore[union-attr]
    store = Store(settings.db_path)
    try:
        for cid in dc_chats:
            store.ensure_chat("discord", cid)
            store.update_chat("discord", cid, {"digest_time": "00:00", "timezone": "UTC"})
            store.subscribe("discord", cid, AVATAR, query)
    finally:
        store.close()


def _in_flight(settings: Settings) -> set[tuple[str, str, str]]:
    """(platform, chat, item) the ledger marks as in flight: after a kill, what may be repeated."""
    store = Store(settings.db_path)
    try:
        return {(r["platform"], r["chat_id"], r["item"]) for r in store.db.query("select * from in_flight")}
    finally:
        store.close()


def _ledger(settings: Settings) -> tuple[set[tuple[str, str, str]], dict[tuple[str, str], str]]:
    store = Store(settings.db_path)
    try:
        rows = {
            (r["platform"], r["chat_id"], r["paper_id"]) for r in store.db.query("select * from deliveries")
        }
        runs = {
            (r["platform"], r["chat_id"]): r["status"] for r in store.db.query("select * from digest_runs")
        }
        return rows, runs
    finally:
        store.close()


async def crash_run(
    workdir: Path,
    *,
    kills: int = 25,
    seed: int = 1,
    telegram_chats: int = 25,
    discord_chats: int = 25,
    inflight: float = 0.2,
    delay_ms: float = 40.0,
    run_timeout: float = 90.0,
    measure: bool = False,
    log: Any = None,
) -> CrashReport:
    """Kill `paperbot run` ``kills`` times during one digest, finish it, and count what arrived."""
    rng = random.Random(seed)
    say = log or (lambda *_: None)
    started = time.monotonic()
    switch = KillSwitch()
    arxiv = FakeArxiv()
    tg = CountingTelegram(limits=None)  # the bot paces at Telegram's real speed by itself
    tg.switch = switch
    data, home = workdir / "data", workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(_env_file=None, data_dir=data)
    day = listing_day_for(datetime.now(UTC))
    listing(arxiv, day, pdfs=False)
    report = CrashReport(chats=telegram_chats + discord_chats, papers=len(AVATAR_IDS))
    tg_ids = [-1001000000000 - i for i in range(telegram_chats)]
    expected = report.chats * (1 + len(AVATAR_IDS))  # a header and each paper, per chat
    with serve(arxiv.app()) as arxiv_server, serve(tg.app()) as tg_server:
        async with CountingDiscord() as discord:
            discord.switch = switch
            guild = discord.add_guild("Crash lab")
            dc_ids = [discord.add_channel(guild, f"papers-{i}") for i in range(discord_chats)]
            _seed(settings, tg_ids, dc_ids)
            env = _env(data, home, tg_server.url, arxiv_server.url, discord)
            stderr = open(workdir / "paperbot.log", "ab")  # noqa: SIM115 - closed below
            poller: _LedgerPoller | None = None
            marks: set[tuple[int, str, str, str]] = set()  # (run, platform, chat, item) in flight at its kill
            try:
                final = False
                while not final:
                    delivered = len({(a.platform, a.chat, a.what) for a in switch.log if a.what != "other"})
                    left = expected - delivered
                    final = report.kills >= kills or left <= 1 or report.runs > 3 * kills + 3
                    spread = max(2, expected // (kills + 1))
                    target = None if final else len(switch.log) + rng.randint(1, min(spread, left - 1))
                    delay = 0.0 if rng.random() < inflight else rng.uniform(0.0005, delay_ms / 1000)
                    if final and measure:
                        poller = _LedgerPoller(settings)
                        poller.start()
                    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=home, env=env,
                                            stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
                    switch.arm(proc, target, delay)
                    report.runs += 1
                    try:
                        await _wait_run(proc, switch, settings, expected, final, run_timeout)
                    finally:
                        if poller is not None:
                            poller.stop()
                        stop_process(proc)
                    if proc.returncode == -signal.SIGKILL:
                        flying = _in_flight(settings)
                        report.in_flight_marks += len(flying)
                        marks |= {(switch.run, p, c, HEADER if item == "header" else item) for p, c, item in flying}
                        report.kills += 1
                        report.inflight_kills += int(delay == 0)
                        say(f"kill {report.kills}: after {target} accepted messages, "
                            f"{'in flight' if delay == 0 else f'{delay * 1000:.1f} ms later'}")  # fmt: skip
                    elif not final:
                        say(f"run {report.runs} ended before its kill point (exit {proc.returncode})")
                if poller is not None:
                    report.windows_ms = poller.windows(switch.log, switch.run)
            finally:
                stderr.close()
            _count(
                report,
                switch.log,
                settings,
                [("telegram", str(c)) for c in tg_ids] + [("discord", c) for c in dc_ids],
                marks,
            )
    report.seconds = time.monotonic() - started
    return report


class _LedgerPoller(threading.Thread):
    """Reads the ledger every millisecond and notes when each row first appears (``--measure``)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.path = settings.db_path
        self.seen: dict[tuple[str, str, str], float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        import sqlite3

        conn = sqlite3.connect(str(self.path), timeout=30)
        try:
            while not self._halt.is_set():
                rows = conn.execute("select platform, chat_id, paper_id from deliveries").fetchall()
                now = time.monotonic()
                for row in rows:
                    self.seen.setdefault(tuple(row), now)  # type: ignore[arg-type]
                time.sleep(0.001)
        finally:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def windows(self, log: list[Accepted], run: int) -> dict[str, list[float]]:
        """Per platform: milliseconds from the fake storing a paper message to its ledger row."""
        out: dict[str, list[float]] = {}
        for a in log:
            key = (a.platform, a.chat, a.what)
            if a.run == run and a.what not in (HEADER, "other") and key in self.seen:
                out.setdefault(a.platform, []).append((self.seen[key] - a.at) * 1000)
        return out


async def _wait_run(
    proc: subprocess.Popen[bytes],
    switch: KillSwitch,
    settings: Settings,
    expected: int,
    to_end: bool,
    timeout: float,
) -> None:
    """Until the run is killed, or (``to_end``) the digest is complete on the fakes and in the ledger."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        if to_end and _complete(switch, settings, expected):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {switch.run} neither died nor finished in {timeout:.0f} s")


def _complete(switch: KillSwitch, settings: Settings, expected: int) -> bool:
    with switch.lock:
        delivered = {(a.platform, a.chat, a.what) for a in switch.log if a.what != "other"}
    if len(delivered) < expected:
        return False
    rows, runs = _ledger(settings)
    chats = {(p, c) for p, c, _ in delivered}
    return len(rows) >= len(chats) * len(AVATAR_IDS) and all(runs.get(c) == "done" for c in chats)


def _count(
    report: CrashReport,
    log: list[Accepted],
    settings: Settings,
    chats: list[tuple[str, str]],
    marks: set[tuple[int, str, str, str]] = frozenset(),  # type: ignore[assignment]
) -> None:
    copies = Counter((a.platform, a.chat, a.what) for a in log)
    rows, runs = _ledger(settings)
    for platform, chat in chats:
        for pid in AVATAR_IDS:
            n = copies[(platform, chat, pid)]
            report.messages += n
            report.repeats += max(0, n - 1)
            report.repeats_by_platform[platform] += max(0, n - 1)
            report.losses += int(n == 0)
            has_row = (platform, chat, pid) in rows
            report.ledger_missing += int(not has_row)
            report.ledger_extra += int(has_row and n == 0)
        h = copies[(platform, chat, HEADER)]
        report.headers += h
        report.header_repeats += max(0, h - 1)
        report.header_losses += int(h == 0)
        report.not_done += int(runs.get((platform, chat)) != "done")
    # a repeat is only acceptable at a crash point: its first copy is the last message its chat
    # got in a run that was killed (the bot sends a chat's messages one after another)
    last_of_run: dict[tuple[int, str, str], Accepted] = {}
    for a in log:
        last_of_run[(a.run, a.platform, a.chat)] = a
    final_run = max((a.run for a in log), default=0)
    first: dict[tuple[str, str, str], Accepted] = {}
    for a in log:
        key = (a.platform, a.chat, a.what)
        if key not in first:
            first[key] = a
            continue
        if a is first[key] or a.what == "other":
            continue
        orig = first[key]
        at_crash = last_of_run[(orig.run, orig.platform, orig.chat)] is orig and orig.run != final_run
        if not at_crash:
            report.misplaced_repeats.append(f"{orig.platform}:{orig.chat}:{orig.what} (run {orig.run})")
        if (orig.run, orig.platform, orig.chat, orig.what) not in marks:
            report.unmarked_repeats.append(f"{orig.platform}:{orig.chat}:{orig.what} (run {orig.run})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--telegram-chats", type=int, default=25)
    parser.add_argument("--discord-chats", type=int, default=25)
    parser.add_argument(
        "--inflight", type=float, default=0.2, help="share of kills inside the fake's handler"
    )
    parser.add_argument(
        "--delay-ms", type=float, default=40.0, help="other kills: 0..this after an acceptance"
    )
    parser.add_argument("--measure", action="store_true", help="time accepted -> ledger row in the last run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paperbot-crash-") as tmp:
        report = asyncio.run(
            crash_run(
                Path(tmp), kills=args.kills, seed=args.seed, telegram_chats=args.telegram_chats,
                discord_chats=args.discord_chats, inflight=args.inflight, delay_ms=args.delay_ms, log=print,
                measure=args.measure,
            )
        )  # fmt: skip
    print(report.summary(), flush=True)
    for platform, ms in sorted(report.windows_ms.items()):
        ms.sort()
        print(
            f"{platform}: accepted -> ledger row, {len(ms)} messages: median {ms[len(ms) // 2]:.1f} ms, "
            f"p90 {ms[int(len(ms) * 0.9)]:.1f} ms, max {ms[-1]:.1f} ms"
        )
    for r in report.misplaced_repeats:
        print("repeat not at a crash point:", r)
    for r in report.unmarked_repeats:
        print("repeat the ledger had not marked in flight:", r)


if __name__ == "__main__":
    main()
