"""Hardening through the real chat adapters: secrets, admin-only commands, hostile text.

* A full ``paperbot -v run`` (a real process, ``PAPERBOT_LOG_LEVEL=DEBUG``) with a Telegram
  token, a Discord token and a Gemini key through digests on both platforms, /summarize, /ask
  and errors (a 403 from a kicked group, a 500 in a handler, a failing model call): no secret in
  its stderr, nor in anything the bot sent to either platform.
* Every command that changes a chat's subscriptions or settings, on both platforms: a
  non-admin's attempt is refused and changes nothing in the store; an admin's succeeds.
* Papers whose title, abstract, comment and authors (and a model summary) carry HTML, Markdown,
  bidi overrides and 10,000 characters go out as Telegram and Discord digests that the fakes
  (which enforce every limit and parse Telegram's HTML) accept, shown literally, without bidi
  overrides.
* Generated input (hypothesis, derandomized) into the real Telegram handlers of /summarize,
  /subscribe, /settime and the DM link detector, each through the full round trip: no crash
  (no 400 from the fake, no generic "something went wrong"), one clear reply, nothing stored
  from a refused input. ``PAPERBOT_HOSTILE_EXAMPLES`` sets the examples per command (1,000 by
  default, the issue's count; about 40 s for the four).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from pydantic import SecretStr

from bot import discord_render as dr
from bot.core import Paperbot
from bot.deliver import deliver_digest
from bot.harvest import listing_day_for
from bot.i18n import t
from bot.ids import find_arxiv_ids, parse_arxiv_id
from bot.settings import Settings, parse_hhmm, parse_zone
from bot.store import Store
from bot.telegram_bot import TelegramBot
from bot.telegram_pacing import FloodLimits
from bot.telegram_render import tt
from bot.topics import Catalogue
from tests.fakes.discord import MANAGE_CHANNELS, FakeDiscord, embed_chars
from tests.fakes.gemini import EN_SUMMARY, FakeGemini
from tests.fakes.server import serve, stop_process
from tests.fakes.telegram import FakeTelegram, Posted
from tests.test_discord import MANAGER, check_limits, dsettings, fake, running  # noqa: F401  (fixtures)
from tests.test_hostile import HOSTILE
from tests.test_telegram import (  # noqa: F401  (fixtures)
    ADMIN,
    AVATAR,
    AVATAR_IDS,
    DAY,
    DM_USER,
    GROUP,
    MEMBER,
    NOON,
    arxiv,
    cfg,
    listing,
    replies,
    reply_to,
    subscribe_directly,
    telegram,
    tg,
    until,
)

T = TypeVar("T")
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]  # embeddings, overrides, isolates
GENERIC_EN = t("error.generic", "en")

# ---- secrets never in logs ------------------------------------------------------------------------

TG_TOKEN = "7361549023:AAHk3vQx-TelegramSecretPart_9ZpLmNoQ"
DC_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhJkLm.DiscordSecretPart-abcdefghijklmnopq"
GEMINI_KEY = "AIzaSyD-GeminiSecretPart_0123456789abcdef"


def secret_forms() -> dict[str, str]:
    """Each secret and its distinctive parts (a token's secret half, URL-encoded forms)."""
    forms = {"telegram token": TG_TOKEN, "telegram secret half": TG_TOKEN.split(":", 1)[1],
             "discord token": DC_TOKEN, "discord secret part": DC_TOKEN.rsplit(".", 1)[1],
             "gemini key": GEMINI_KEY}  # fmt: skip
    for name, value in list(forms.items()):
        forms[f"{name} (url-encoded)"] = quote(value, safe="")
    return forms


def gemini_app(llm: FakeGemini) -> web.Application:
    """The fake Gemini, accepting GEMINI_KEY (the fake itself only knows "test-key")."""

    @web.middleware
    async def swap_key(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("x-goog-api-key") == GEMINI_KEY:
            headers = request.headers.copy()
            headers["x-goog-api-key"] = "test-key"
            request = request.clone(headers=headers)
        return await handler(request)

    app = llm.app()
    app.middlewares.append(swap_key)
    return app


def leaks(text: str) -> list[str]:
    return [name for name, value in secret_forms().items() if value in text]


async def test_secrets_never_in_logs_or_replies(cfg: Settings, arxiv: Any, tmp_path: Path) -> None:  # noqa: F811
    """A full ``paperbot -v run`` at DEBUG: digests on both platforms, /summarize, /ask, errors."""
    day = listing_day_for(datetime.now(UTC))
    listing(arxiv, day, pdfs=False)
    kicked = GROUP - 5
    for chat in (GROUP, kicked):
        subscribe_directly(cfg, chat, digest_time="00:00", timezone="UTC")  # due now: catch-up sends it
    tgf = FakeTelegram(limits=None, token=TG_TOKEN)
    tgf.add_group(GROUP, admins=(ADMIN,), members=(MEMBER,))
    tgf.add_user(DM_USER)
    tgf.kicked.add(kicked)
    llm = FakeGemini()
    async with FakeDiscord(token=DC_TOKEN) as dc:
        channel = dc.add_channel(dc.add_guild("Vision Lab"), "papers")
        store = Store(cfg.db_path)
        try:
            store.subscribe("discord", channel, AVATAR, "ti:avatar OR abs:avatar")
            store.update_chat("discord", channel, {"digest_time": "00:00", "timezone": "UTC"})
        finally:
            store.close()
        with serve(tgf.app()) as t_srv, serve(gemini_app(llm)) as g_srv:
            llm.url = g_srv.url
            env = {
                "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PAPERBOT_DATA_DIR": str(cfg.data_dir),
                "PAPERBOT_LOG_LEVEL": "DEBUG", "PAPERBOT_LANG": "en", "FIGURE_POLICY": "none",
                "TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_API_URL": f"{t_srv.url}/bot",
                "DISCORD_BOT_TOKEN": DC_TOKEN, "DISCORD_API_URL": dc.api_url, "DISCORD_GATEWAY_URL": dc.gateway_url,
                "LLM_PROVIDER": "gemini", "GEMINI_API_KEY": GEMINI_KEY, "GEMINI_BASE_URL": g_srv.url, "LLM_RETRIES": "0",
                "ARXIV_API_URL": cfg.arxiv_api_url, "ARXIV_RSS_URL": cfg.arxiv_rss_url,
                "ARXIV_PDF_URL": cfg.arxiv_pdf_url, "ARXIV_DELAY_SECONDS": "0",
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            }  # fmt: skip
            lines: list[str] = []
            proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "-v", "run"], cwd=tmp_path, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
            readers = [threading.Thread(target=lambda s=s: lines.extend(s), daemon=True) for s in (proc.stdout, proc.stderr)]
            for r in readers:
                r.start()
            try:
                def alive_and(check: Callable[[], Any]) -> Callable[[], Any]:
                    return lambda: check() or proc.poll() is not None

                # the start-up catch-up: a Telegram digest (the kicked group answers 403) and a Discord one
                def both_digests() -> bool:
                    tg_papers = [p for p in tgf.in_chat(GROUP) if "arxiv.org/abs/" in p.html and "📚" not in p.visible]
                    return len(tg_papers) == len(AVATAR_IDS) and len(dc.sent(channel)) == 1 + len(AVATAR_IDS)

                await until(alive_and(both_digests), timeout=90)
                assert proc.poll() is None, "".join(lines)[-3000:]
                # /summarize (cached: the digest summarized it) and /ask (a model call that fails)
                (summary,) = await reply_to(tgf, DM_USER, DM_USER, "/summarize 2606.30003")  # cached: one message
                assert summary.visible.startswith("Codec Avatar Compression")
                llm.queue.append(FakeGemini.error(500))
                (failed,) = await reply_to(tgf, DM_USER, DM_USER, "/ask 2606.30001 Which datasets?",
                                           settle=lambda r: r[0].edits > 0)  # fmt: skip
                assert "Q:" not in failed.visible
                # an unexpected failure inside a handler: logged with its traceback, one sentence in the chat
                tgf.fail_next("getChatMember", 500, "Internal Server Error")
                (oops,) = await reply_to(tgf, GROUP, MEMBER, "/quiet")
                assert oops.visible == GENERIC_EN
                # Discord: a slash command that fails, and one that works
                bad = await dc.slash("summarize", {"paper": "not-a-paper"}, channel_id=channel)
                good = await dc.slash("summarize", {"paper": "2606.30002"}, channel_id=channel)
                await dc.wait_until(lambda: bad.callback and good.followups, timeout=30)
            finally:
                stop_process(proc)
                for r in readers:
                    r.join(10)
        log = "".join(lines)
        assert tgf.count("sendMessage", 403) >= 1 and "kicked" in log  # the 403 happened and was logged
        assert "Traceback" in log and "telegram: handling an update failed" in log  # so was the 500
        assert f"{t_srv.url}/bot***/" in log  # request URLs were logged, with the token redacted
        assert len(llm.generate_calls) >= len(AVATAR_IDS)  # the key was used (and accepted)
        assert not leaks(log), f"secrets in the log: {leaks(log)}"
        sent_tg = json.dumps([c.params for c in tgf.calls], ensure_ascii=False, default=str)
        sent_tg += "".join(p.html + p.visible for p in tgf.posted)
        assert not leaks(sent_tg), f"secrets sent to Telegram: {leaks(sent_tg)}"
        sent_dc = json.dumps([[r.path, r.query, r.json] for r in dc.requests], ensure_ascii=False, default=str)
        sent_dc += json.dumps([[i.callback, i.followups, i.edits] for i in dc.interactions.values()], default=str)
        assert not leaks(sent_dc), f"secrets sent to Discord: {leaks(sent_dc)}"


def test_a_secret_inside_a_logged_exception_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from bot.logs import RedactSecrets

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets([TG_TOKEN]))
    log = logging.getLogger("paperbot.test.redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.error("request failed", exc_info=RuntimeError(f"POST https://api.telegram.org/bot{TG_TOKEN}/getMe: 502"))
    finally:
        log.removeHandler(handler)
    err = capsys.readouterr().err
    assert "request failed" in err and "RuntimeError" in err
    assert TG_TOKEN not in err


# ---- admin-only commands --------------------------------------------------------------------------


def _snapshot(store: Store, platform: str, chat_id: str) -> dict[str, list[dict[str, Any]]]:
    """Everything the store holds about one chat."""
    out = {}
    for table in ("chats", "subscriptions", "digest_runs", "deliveries"):
        rows = store.db.query(f"select * from {table} where platform = ? and chat_id = ?", [platform, chat_id])
        out[table] = sorted((dict(r) for r in rows), key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


async def test_telegram_admin_only_commands(cfg: Settings, tg: FakeTelegram, arxiv: Any) -> None:  # noqa: F811
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER,))
    refusal = tt("error.not_admin", "en")
    async with telegram(cfg.model_copy(update={"default_lang": "en"}), scheduler=True) as (core, _bot):
        await core.harvest()
        group = str(GROUP)

        async def snap() -> dict[str, list[dict[str, Any]]]:
            return await core.store.run(_snapshot, "telegram", group)

        async def chat() -> dict[str, Any]:
            return await core.store.run(Store.get_chat, "telegram", group) or {}

        async def topics() -> list[str]:
            return sorted(s["topic"] for s in await core.store.run(Store.subscriptions, "telegram", group))

        async def ledger() -> list[str]:
            return sorted(await core.store.run(Store.delivered_ids, "telegram", group, AVATAR_IDS))

        async def digest_finished() -> bool:
            """Every paper in the ledger and the run marked done: the digest's last write (comparing
            the store while it is still finishing would see that write as the member's doing)."""
            run = await core.store.run(Store.get_digest_run, "telegram", group, DAY) or {}
            return await ledger() == sorted(AVATAR_IDS) and run.get("status") == "done"

        # (command, what the admin's attempt must have changed)
        steps: list[tuple[str, Callable[[], Coroutine[Any, Any, bool]]]] = [
            ("/subscribe 虚拟人", lambda: _eq(topics(), [AVATAR])),
            ("/settime 08:30 Europe/Berlin", lambda: _has(chat(), digest_time="08:30", timezone="Europe/Berlin")),
            ("/quiet", lambda: _has(chat(), quiet=1)),
            ("/digest", digest_finished),
            ("/unsubscribe 虚拟人", lambda: _eq(topics(), [])),
            ("/lang zh", lambda: _has(chat(), lang="zh")),  # last: replies are Chinese from here on
        ]
        for command, changed in steps:
            before = await snap()
            posted = len(tg.in_chat(GROUP))
            (refused,) = await reply_to(tg, GROUP, MEMBER, command)
            assert refused.visible == refusal, command
            assert await snap() == before, f"a member's {command} changed the store"
            assert not await changed(), command
            (done, *_) = await reply_to(tg, GROUP, ADMIN, command)
            await eventually(changed)
            assert done.visible != refusal, command
            assert len(tg.in_chat(GROUP)) > posted + 1
        # /topics: a member's tap on a topic's button is refused (an alert), an admin's subscribes
        (menu,) = await reply_to(tg, GROUP, MEMBER, "/topics")
        before = await snap()
        tg.press(GROUP, MEMBER, menu.message_id, "sub:3DGS")
        await until(lambda: tg.count("answerCallbackQuery") == 1)
        alert = next(c for c in tg.calls if c.method == "answercallbackquery")
        assert alert.params.get("show_alert") in ("true", True) and alert.params["text"] == tt("error.not_admin", "zh")
        assert await snap() == before and await topics() == []
        tg.press(GROUP, ADMIN, menu.message_id, "sub:3DGS")
        await until(lambda: tg.count("answerCallbackQuery") == 2)
        assert await topics() == ["3DGS"]


async def _eq(value: Coroutine[Any, Any, Any], expected: Any) -> bool:
    return await value == expected


async def _has(row: Coroutine[Any, Any, dict[str, Any]], **fields: Any) -> bool:
    got = await row
    return all(got.get(k) == v for k, v in fields.items())


async def eventually(check: Callable[[], Coroutine[Any, Any, bool]], timeout: float = 30) -> None:
    """Wait until the store shows the change (bounded; never asserts on elapsed time)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"the store never showed {check}")
        await asyncio.sleep(0.02)


async def test_discord_manage_channels_only(dsettings: Settings, fake: FakeDiscord) -> None:  # noqa: F811
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    async with running(dsettings) as (core, _bot):
        gated = {c["name"]: c.get("default_member_permissions") for c in fake.commands}
        for name in ("subscribe", "unsubscribe", "settime", "lang", "quiet"):
            assert gated[name] == str(MANAGE_CHANNELS), name  # Discord hides them from other members too

        async def snap() -> dict[str, list[dict[str, Any]]]:
            return await core.store.run(_snapshot, "discord", channel)

        async def row() -> dict[str, Any]:
            return await core.store.run(Store.get_chat, "discord", channel) or {}

        async def topics() -> list[str]:
            return [s["topic"] for s in await core.store.run(Store.subscriptions, "discord", channel)]

        steps: list[tuple[str, dict[str, Any], Callable[[], Coroutine[Any, Any, bool]]]] = [
            ("subscribe", {"topic": "虚拟人"}, lambda: _eq(topics(), [AVATAR])),
            ("settime", {"time": "07:30", "zone": "Europe/Berlin"}, lambda: _has(row(), digest_time="07:30", timezone="Europe/Berlin")),
            ("quiet", {"mode": "on"}, lambda: _has(row(), quiet=1)),
            ("unsubscribe", {"topic": "虚拟人"}, lambda: _eq(topics(), [])),
            ("lang", {"language": "zh"}, lambda: _has(row(), lang="zh")),
        ]  # fmt: skip
        for name, options, changed in steps:
            before = await snap()
            lang = (await row()).get("lang") or "en"
            refused = await fake.slash(name, options, channel_id=channel)
            await fake.wait_until(lambda refused=refused: refused.callback)
            assert refused.callback["data"]["content"] == dr.dt("dc.need_manage", lang), name
            assert refused.callback["data"]["flags"] & 64  # only the person sees the refusal
            assert await snap() == before, f"a member's /{name} changed the store"
            ok = await fake.slash(name, options, channel_id=channel, permissions=MANAGER)
            await fake.wait_until(lambda ok=ok: ok.callback)
            assert ok.callback["data"]["content"] != dr.dt("dc.need_manage", lang), name
            assert await changed(), name
        # /digest posts to the whole channel: gated like the settings, as on Telegram
        await core.store.run(Store.subscribe, "discord", channel, "3DGS", core.catalogue.resolve("3DGS").query)
        posted = len(fake.sent(channel))
        refused = await fake.slash("digest", channel_id=channel)
        await fake.wait_until(lambda: refused.callback)
        assert refused.callback["data"]["content"] == dr.dt("dc.need_manage", (await row()).get("lang") or "en")
        assert len(fake.sent(channel)) == posted
        it = await fake.slash("digest", channel_id=channel, permissions=MANAGER)
        await fake.wait_until(lambda: it.followups)
        assert it.callback["type"] == 5  # accepted (deferred), not refused


# ---- hostile text through the digests -------------------------------------------------------------

RLO, LRO, PDF_, LRI, PDI = "\u202e", "\u202d", "\u202c", "\u2066", "\u2069"
HOSTILE_PAPERS: list[dict[str, Any]] = [
    {"id": "2606.70001", "title": f"<b>Bold</b> & <script>alert(1)</script> avatar {RLO}live{PDF_} &amp; &lt;",
     "summary": f"Our avatar <i>renders</i> fast & x < y > z. {LRO}Override{PDF_} {LRI}isolate{PDI}. *bold* _it_ "
                "`code` [link](https://evil.example) ||spoiler|| @everyone <a href=\"javascript:alert(1)\">x</a>.",
     "comment": "<a href='javascript:x'>page</a> **CVPR** __2026__ ~~strike~~",
     "authors": ["<b>Ada</b> Lovelace", f"Alan {RLO}Turing", "*Grace*_Hopper_", "[Edsger](https://x.y) Dijkstra"]},
    {"id": "2606.70002", "title": "Avatar " + "Ü<&>*_" * 1666 + "end",  # 10,000 characters
     "summary": ("An avatar sentence with <tags> & *stars*. " * 250).strip(),
     "comment": "x" * 5000, "authors": [f"Author {i} <b>" for i in range(300)]},
    {"id": "2606.70003", "title": "Markdown avatar **bold** __under__ ~~s~~ `tick` > quote # head ```block```",
     "summary": "Avatar abstract with\nnewlines\n\nand\ttabs and\r\ncarriage returns.",
     "authors": ["A B"]},
]  # fmt: skip
MODEL_SUMMARY = EN_SUMMARY | {
    "summary": f"<b>Model</b> says & {RLO}reversed{PDF_} **bold** <script>x</script>",
    "key_takeaways": ["<i>one</i> & two", f"{LRO}three{PDF_} `four` [five](https://evil.example)", "x" * 3000],
    "method": "<pre>" + "m" * 5000,
    "conclusion": "A nul \x00 and an escape \x1b[31m from the model.",
}


def _hostile_listing(fake_arxiv: Any) -> None:
    fake_arxiv.days.clear()
    fake_arxiv.add_day(DAY, [p | {"categories": ["cs.CV"]} for p in HOSTILE_PAPERS])
    fake_arxiv.rss_day = DAY


def _no_bidi(text: str) -> bool:
    return not any(c in text for c in BIDI)


async def test_hostile_papers_through_a_telegram_digest(cfg: Settings, tg: FakeTelegram, arxiv: Any) -> None:  # noqa: F811
    _hostile_listing(arxiv)
    llm = FakeGemini()
    llm.queue += [FakeGemini.reply(json.dumps(MODEL_SUMMARY)) for _ in HOSTILE_PAPERS]
    with serve(llm.app()) as server:
        llm.url = server.url
        settings = cfg.model_copy(update={
            "default_lang": "en", "llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"),
            "gemini_base_url": server.url, "llm_retries": 0, "figure_policy": "none",
        })  # fmt: skip
        store = Store(settings.db_path)
        try:
            store.subscribe("telegram", str(GROUP), "all:avatar", "all:avatar")
        finally:
            store.close()
        async with telegram(settings) as (core, bot):
            await core.harvest()
            result = await deliver_digest(core, bot, str(GROUP))
            assert (result.status, result.sent) == ("done", 3)
            assert llm.queue == []  # every paper got the hostile model summary
            # the Full summary of each, too
            texts = [p for p in tg.in_chat(GROUP) if p.buttons]
            for p in texts:  # each card's Full summary button (next to 👍 / 👎)
                tg.press(GROUP, ADMIN, p.message_id, next(b["callback_data"] for b in p.buttons if b["callback_data"].startswith("full:")))
            await until(lambda: sum(1 for p in tg.in_chat(GROUP) if p.reply_to in {m.message_id for m in texts}) >= len(texts))
            await asyncio.sleep(0.3)
    sends = [c for c in tg.calls if c.method in ("sendmessage", "editmessagetext", "sendphoto", "sendmediagroup")]
    assert sends and all(c.status == 200 for c in sends), [c.description for c in sends if c.status != 200]
    posted = tg.in_chat(GROUP)
    visible = "\n".join(p.visible for p in posted)
    assert all(_no_bidi(p.visible) and len(p.visible.encode("utf-16-le")) // 2 <= 4096 for p in posted)
    # HTML from arXiv and from the model shows literally, escaped in what was sent
    assert "<b>Bold</b> & <script>alert(1)</script>" in visible and "&lt;b&gt;Bold&lt;/b&gt;" in "".join(p.html for p in posted)
    assert "<b>Model</b> says &" in visible and "<i>one</i> & two" in visible
    assert "<b>Ada</b> Lovelace" in visible
    assert not [p.html for p in posted if re.search(r"<a\s[^>]*href=[\"']\s*javascript", p.html)]  # only escaped
    assert "\x00" not in visible and "\x1b" not in visible
    assert "Avatar Ü<&>*_" in visible  # the 10,000-character title, cut to fit
    assert max(len(p.visible) for p in posted) <= 4096


async def _discord_hostile_digest(settings: Settings, fake: FakeDiscord, fake_arxiv: Any) -> tuple[list[Any], list[Any]]:  # noqa: F811
    """The hostile papers (and model summaries) as a Discord digest, each card's Full summary
    clicked; returns the channel's messages and the clicks, after checking every request passed."""
    _hostile_listing(fake_arxiv)
    channel = fake.add_channel(fake.add_guild(), "papers")
    llm = FakeGemini()
    llm.queue += [FakeGemini.reply(json.dumps(MODEL_SUMMARY)) for _ in HOSTILE_PAPERS]
    with serve(llm.app()) as server:
        llm.url = server.url
        settings = settings.model_copy(update={
            "llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"), "gemini_base_url": server.url,
            "llm_retries": 0, "figure_policy": "none",
        })  # fmt: skip
        async with running(settings) as (core, bot):
            await core.harvest()
            await core.store.run(Store.subscribe, "discord", channel, "all:avatar", "all:avatar")
            result = await deliver_digest(core, bot, channel)
            assert (result.status, result.sent) == ("done", 3)
            assert llm.queue == []
            sent = fake.sent(channel)
            cards = [r for r in sent if r.payload.get("components")]
            clicks = [await fake.click(r.response["id"], r.payload["components"][0]["components"][0]["custom_id"]) for r in cards]
            await fake.wait_until(lambda: all(c.followups for c in clicks))
    posts = [r for r in fake.requests if r.method in ("POST", "PATCH") and ("messages" in r.path or "webhooks" in r.path or "interactions" in r.path)]
    assert posts and all(200 <= r.status < 300 for r in posts), [(r.path, r.status, r.response) for r in posts if r.status >= 300]
    assert len(sent) == 4 and len(cards) == 3
    return sent, clicks


def _card(sent: list[Any], paper_id: str) -> dict[str, Any]:
    return next(r for r in sent if r.payload.get("components") and r.payload["embeds"][0]["url"].endswith(paper_id)).payload["embeds"][0]


async def test_hostile_papers_through_a_discord_digest(dsettings: Settings, fake: FakeDiscord, fake_arxiv: Any) -> None:  # noqa: F811
    sent, clicks = await _discord_hostile_digest(dsettings, fake, fake_arxiv)
    for r in sent:
        check_limits(r)
    for c in clicks:
        for f in c.followups:
            assert len(f.get("embeds") or []) <= 10 and sum(embed_chars(e) for e in f.get("embeds") or []) <= 6000
    everything = json.dumps([r.payload for r in sent] + [f for c in clicks for f in c.followups], ensure_ascii=False)
    assert _no_bidi(everything) and "\\u0000" not in everything and "\x1b" not in everything
    first = _card(sent, "2606.70001")
    # arXiv's comment never becomes Markdown; HTML is plain text on Discord and shows as typed
    assert "\\*\\*CVPR\\*\\* \\_\\_2026\\_\\_ \\~\\~strike\\~\\~" in first["description"]
    assert first["title"].startswith("<b>Bold</b> & <script>alert(1)</script> avatar live")
    assert first["author"]["name"].startswith("<b>Ada</b> Lovelace, Alan Turing")  # author names never render Markdown
    long = _card(sent, "2606.70002")
    assert len(long["title"]) <= 256 and long["title"].endswith("…")
    no_author_links = all("[Edsger](https://x.y)" not in (e.get("description") or "") for r in sent for e in r.payload.get("embeds") or [])
    assert no_author_links


async def test_discord_escapes_markdown_from_the_model(dsettings: Settings, fake: FakeDiscord, fake_arxiv: Any) -> None:  # noqa: F811
    sent, clicks = await _discord_hostile_digest(dsettings, fake, fake_arxiv)
    shown = [_card(sent, "2606.70001")["description"]]
    shown += [f["value"] for c in clicks for m in c.followups for e in m.get("embeds") or [] for f in e.get("fields") or []]
    text = "\n".join(shown)
    # escaped with backslashes: no masked link, bold or code from the model renders
    assert not re.search(r"(?<!\\)\[five\]\(https://evil\.example\)", text)
    assert not re.search(r"(?<!\\)\*\*bold", text) and not re.search(r"(?<!\\)`four", text)
    assert "\\[five]" in text


# ---- generated input into the real Telegram handlers -----------------------------------------------

EXAMPLES = int(os.environ.get("PAPERBOT_HOSTILE_EXAMPLES", "1000"))
GENERATED = hsettings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
INSTANT = FloodLimits().faster(1000)


class BotThread:
    """The real TelegramBot on its own event loop in a thread, so a sync hypothesis test drives it."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.core = Paperbot(settings, clock=lambda: NOON)
        self.bot: TelegramBot | None = None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def store(self, fn: Callable[..., T], *args: Any) -> T:
        return self.call(self.core.store.run(fn, *args))

    async def _start(self) -> None:
        await self.core.__aenter__()
        self.bot = TelegramBot(self.core, limits=INSTANT)
        await self.bot.start()

    async def _stop(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
        await self.core.aclose()


@contextmanager
def bot_thread(settings: Settings) -> Iterator[BotThread]:
    runner = BotThread(settings)
    try:
        runner.call(runner._start())
        yield runner
    finally:
        runner.call(runner._stop())
        runner.loop.call_soon_threadsafe(runner.loop.stop)
        runner.thread.join(10)


def wait_for(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError("no reply in time")
        time.sleep(0.003)
    return result


def counts(store: Store) -> dict[str, int]:
    return {t: store.db[t].count for t in ("chats", "subscriptions", "papers", "digest_runs", "deliveries")}


def _clear(posted: list[Posted]) -> None:
    """One clear sentence: something visible, no generic failure, no traceback."""
    for p in posted:
        assert p.visible.strip() and p.visible != GENERIC_EN and "Traceback" not in p.visible


def _argument(text: str) -> str:
    parts = text.split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""


def _parses(fn: Callable[[str], Any], text: str) -> bool:
    try:
        fn(text)
    except Exception:
        return False
    return True


@pytest.fixture
def hostile_cfg(cfg: Settings, arxiv: Any) -> Settings:  # noqa: F811
    listing(arxiv, DAY, pdfs=False)
    # one admin sends every generated command: no per-person throttle (tests/test_chat_integrity.py has it)
    return cfg.model_copy(update={"default_lang": "en", "figure_policy": "none", "commands_per_user_per_minute": 0})


def test_generated_summarize_and_dm_text(hostile_cfg: Settings, tg: FakeTelegram) -> None:  # noqa: F811
    chats = iter(range(50_000_000, 60_000_000))
    seen = {"summarize": 0, "dm": 0}
    with bot_thread(hostile_cfg) as runner:
        base = runner.store(counts)

        def round_trip(text: str, n: int, edited: int) -> list[Posted]:
            """Send ``text`` in a new DM; wait for ``n`` replies, the first ``edited`` of them status
            lines already edited into their answer."""
            chat = next(chats)
            mid = tg.send_text(chat, chat, text)
            return wait_for(
                lambda: (r := replies(tg, chat, mid)) and len(r) >= n and all(p.edits > 0 for p in r[:edited]) and r
            )

        @GENERATED
        @given(HOSTILE)
        def summarize(text: str) -> None:
            full = f"/summarize {text}"
            arg = _argument(full)
            status = bool(arg) and _parses(parse_arxiv_id, arg)
            posted = round_trip(full, 1, 1 if status else 0)
            assert len(posted) == 1
            _clear(posted)
            assert runner.store(counts) == base  # a paper arXiv does not have, or not an id: nothing stored
            seen["summarize"] += 1

        @GENERATED
        @given(HOSTILE.filter(lambda s: s.strip() and not s.startswith("/")))
        def dm_text(text: str) -> None:
            found = find_arxiv_ids(text, limit=3)
            posted = round_trip(text, max(1, len(found)), len(found))
            assert len(posted) == max(1, len(found))
            _clear(posted)
            assert runner.store(counts) == base
            seen["dm"] += 1

        summarize()
        dm_text()
    assert seen == {"summarize": EXAMPLES, "dm": EXAMPLES}
    assert tg.count("sendMessage", 400) == tg.count("editMessageText", 400) == 0


def test_generated_subscribe_and_settime(hostile_cfg: Settings, tg: FakeTelegram) -> None:  # noqa: F811
    groups = iter(range(-1_005_000_000_000, -1_004_000_000_000))
    seen = {"subscribe": 0, "settime": 0}
    with bot_thread(hostile_cfg) as runner:

        def in_new_group(text: str) -> tuple[str, Posted]:
            chat = next(groups)
            tg.add_group(chat, admins=(ADMIN,))
            mid = tg.send_text(chat, ADMIN, text)
            (reply,) = wait_for(lambda: replies(tg, chat, mid))
            _clear([reply])
            return str(chat), reply

        @GENERATED
        @given(HOSTILE)
        def subscribe(text: str) -> None:
            chat, reply = in_new_group(f"/subscribe {text}")
            subs = runner.store(Store.subscriptions, "telegram", chat)
            if reply.visible.startswith("✅"):
                (sub,) = subs
                Catalogue.load().matcher(sub["topic"], sub["query"])  # a query that parses, or an interest
            else:
                assert subs == [] and runner.store(Store.get_chat, "telegram", chat) is None
            seen["subscribe"] += 1

        @GENERATED
        @given(HOSTILE, HOSTILE)
        def settime(hhmm: str, zone: str) -> None:
            chat, reply = in_new_group(f"/settime {hhmm} {zone}")
            row = runner.store(Store.get_chat, "telegram", chat)
            if reply.visible.startswith("⏰"):
                assert row is not None
                parse_hhmm(row["digest_time"])
                if row["timezone"] is not None:
                    parse_zone(row["timezone"])
            else:
                assert row is None, f"refused /settime {hhmm!r} {zone!r} stored {row}"
            seen["settime"] += 1

        subscribe()
        settime()
    assert seen == {"subscribe": EXAMPLES, "settime": EXAMPLES}
    assert tg.count("sendMessage", 400) == 0
