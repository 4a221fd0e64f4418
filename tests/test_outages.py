"""``paperbot run`` on an unreliable network, as a real process: a platform that is down at start
is waited for (one line per try, no traceback) and the bot comes up when it does; what waiting
cannot fix (a refused token) is one line without the token and exit code 2; the health check
(``paperbot status --json``) says which."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.harvest import listing_day_for
from bot.settings import Settings
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.discord import FakeDiscord
from tests.fakes.server import free_port, serve, stop_process
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.test_telegram import AVATAR_IDS, FAST, GROUP, listing, paper_messages, subscribe_directly, until

KEYS = ("PAPERBOT_", "ARXIV_", "GEMINI_", "OPENAI_", "LLM_", "TELEGRAM_", "DISCORD_", "FIGURE_", "DIGEST_", "PDF_")


def bot_env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(KEYS)}
    env.update({
        "HOME": str(tmp_path), "PAPERBOT_DATA_DIR": str(settings.data_dir), "LLM_PROVIDER": "none",
        "ARXIV_API_URL": settings.arxiv_api_url, "ARXIV_RSS_URL": settings.arxiv_rss_url,
        "ARXIV_PDF_URL": settings.arxiv_pdf_url, "ARXIV_DELAY_SECONDS": "0", "FIGURE_POLICY": "none",
        "PAPERBOT_LANG": "en", **extra,
    })  # fmt: skip
    return env


class Running:
    """A `paperbot run` process whose stderr is collected line by line as it comes."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=cwd, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr or []), daemon=True)
        self._reader.start()

    def stop(self) -> str:
        stop_process(self.proc)
        self._reader.join(10)
        return "".join(self.lines)


def status_json(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "status", "--json"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return done.returncode, json.loads(done.stdout)


async def test_telegram_down_at_start_then_up(settings: Settings, fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    """Telegram's port is closed when the bot starts: it retries with one line per try and no
    traceback, the health check fails; once the fake listens on that port the bot comes up,
    the chat whose digest time passed gets its digest, and the health check passes."""
    arxiv = fake_arxiv
    listing(arxiv, listing_day_for(datetime.now(UTC)), pdfs=False)
    port = free_port()
    cfg = settings.model_copy(update={
        "arxiv_api_url": f"{arxiv.url}/api/query", "arxiv_rss_url": f"{arxiv.url}/rss/",  # type: ignore[attr-defined]
        "arxiv_pdf_url": f"{arxiv.url}/pdf/{{id}}",  # type: ignore[attr-defined]
    })  # fmt: skip
    subscribe_directly(cfg, GROUP, digest_time="00:00", timezone="UTC")
    env = bot_env(cfg, tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=f"http://127.0.0.1:{port}/bot",
                  PAPERBOT_HEALTH_DOWN_MINUTES="0.02")  # fmt: skip
    bot = Running(env, tmp_path)
    tg = FakeTelegram(limits=FAST)
    try:
        retries = lambda: [ln for ln in bot.lines if "telegram is unreachable" in ln]  # noqa: E731
        await until(lambda: len(retries()) >= 2 or bot.proc.poll() is not None, timeout=60)
        assert bot.proc.poll() is None, "".join(bot.lines)
        assert all("next try at" in ln for ln in retries())
        _, report = await until_status(env, tmp_path, lambda c, r: c == 1 and "down since" in json.dumps(r))
        assert report["platforms"]["telegram"]["up"] is False  # type: ignore[index]
        with serve(tg.app(), port=port):
            await until(lambda: tg.count("getUpdates") >= 1 or bot.proc.poll() is not None, timeout=60)
            assert bot.proc.poll() is None, "".join(bot.lines)
            await until(lambda: all(paper_messages(tg, GROUP, pid) for pid in AVATAR_IDS), timeout=60)
            _, report = await until_status(env, tmp_path, lambda c, r: c == 0)
            assert report["platforms"]["telegram"]["up"] is True  # type: ignore[index]
            log = bot.stop()
    finally:
        bot.stop()
    assert "Traceback" not in log, log
    assert TOKEN not in log


async def until_status(env: dict[str, str], cwd: Path, want: object, timeout: float = 60) -> tuple[int, dict[str, object]]:
    """``paperbot status --json`` run until its (exit code, report) is what ``want`` accepts."""
    deadline = time.monotonic() + timeout
    while True:
        code, report = await asyncio.to_thread(status_json, env, cwd)
        if want(code, report):  # type: ignore[operator]
            return code, report
        assert time.monotonic() < deadline, f"status stayed {code} {report}"


def test_rejected_telegram_token_is_one_line_and_exit_2(settings: Settings, tmp_path: Path) -> None:
    tg = FakeTelegram(token="999:RIGHT-token")
    wrong = "123456:WRONG-token-value"
    with serve(tg.app()) as server:
        env = bot_env(settings, tmp_path, TELEGRAM_BOT_TOKEN=wrong, TELEGRAM_API_URL=f"{server.url}/bot",
                      PAPERBOT_LOG_LEVEL="WARNING")  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "TELEGRAM_BOT_TOKEN" in lines[0], done.stderr
    assert "WRONG" not in done.stderr + done.stdout and "Traceback" not in done.stderr


async def test_rejected_discord_token_is_one_line_and_exit_2(settings: Settings, tmp_path: Path) -> None:
    """Also: no PyNaCl/davey voice warnings (paperbot never joins voice)."""
    async with FakeDiscord(token="right-discord-token") as dc:
        env = bot_env(settings, tmp_path, DISCORD_BOT_TOKEN="wrong-discord-token-123",
                      DISCORD_API_URL=dc.api_url, DISCORD_GATEWAY_URL=dc.gateway_url, PAPERBOT_LOG_LEVEL="WARNING")  # fmt: skip
        bot = Running(env, tmp_path)
        await until(lambda: bot.proc.poll() is not None, timeout=60)
        log = bot.stop()
    assert bot.proc.returncode == 2, log
    lines = log.strip().splitlines()
    assert len(lines) == 1 and "DISCORD_BOT_TOKEN" in lines[0], log
    assert "wrong-discord-token" not in log and "PyNaCl" not in log and "voice" not in log


async def test_arxiv_down_at_start_then_up(settings: Settings, tmp_path: Path) -> None:
    """arXiv cannot be reached when the bot starts: the harvest is tried again with backoff (one
    line each, with the next time), the health check reports the failed harvest; once arXiv
    answers, the harvest succeeds and the due chat gets its digest."""
    port = free_port()
    arxiv = FakeArxiv()
    listing(arxiv, listing_day_for(datetime.now(UTC)), pdfs=False)
    url = f"http://127.0.0.1:{port}"
    cfg = settings.model_copy(update={
        "arxiv_api_url": f"{url}/api/query", "arxiv_rss_url": f"{url}/rss/", "arxiv_pdf_url": f"{url}/pdf/{{id}}",
    })  # fmt: skip
    subscribe_directly(cfg, GROUP, digest_time="00:00", timezone="UTC")
    tg = FakeTelegram(limits=FAST)
    with serve(tg.app()) as t_srv:
        env = bot_env(cfg, tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=f"{t_srv.url}/bot",
                      ARXIV_TIMEOUT="2", ARXIV_RETRIES="0", PAPERBOT_RETRY_MAX_SECONDS="4")  # fmt: skip
        bot = Running(env, tmp_path)
        try:
            retries = lambda: [ln for ln in bot.lines if "harvest failed" in ln and "next try at" in ln]  # noqa: E731
            await until(lambda: len(retries()) >= 2 or bot.proc.poll() is not None, timeout=90)
            assert bot.proc.poll() is None, "".join(bot.lines)
            _, report = await until_status(env, tmp_path, lambda c, r: c == 1 and r["harvest"]["last_error"])
            with serve(arxiv.app(), port=port):
                await until(lambda: all(paper_messages(tg, GROUP, pid) for pid in AVATAR_IDS), timeout=90)
                _, report = await until_status(env, tmp_path, lambda c, r: c == 0)
                assert report["harvest"]["last_ok"]  # type: ignore[index]
                log = bot.stop()
        finally:
            bot.stop()
    assert "Traceback" not in log, log
