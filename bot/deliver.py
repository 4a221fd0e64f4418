"""Deliver: one chat's digest for one listing day, each paper once (but for the one message in
flight at a crash), on any platform.

The chat adapters (Telegram, Discord) implement :class:`Channel`: how to put a header, a paper
or a short list into their chat. Everything else is here and platform-free: which papers the
chat should get (its topics, each paper once across topics, minus the ledger), enriching each
paper once for every chat, and writing the ledger row right after the platform accepted the
message, so a restart resumes where it stopped. Before each message the chat's in-flight mark
names it: a crash can repeat only that one message per chat (see ``Store.mark_in_flight``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from . import ranking
from .chat_settings import ChatSettings, local_today
from .core import Enriched, Paperbot
from .i18n import t
from .models import Paper
from .store import Store

log = logging.getLogger(__name__)


class ChatGone(Exception):
    """The platform says the bot can no longer post there (removed, blocked, channel deleted)."""


class ChatMoved(Exception):
    """The chat has a new id (a Telegram group upgraded to a supergroup)."""

    def __init__(self, new_id: str) -> None:
        super().__init__(new_id)
        self.new_id = str(new_id)


class DeliveryDeferred(Exception):
    """A transient failure (rate limits exhausted, network): try this chat again later."""


@dataclass
class ChatInfo:
    platform: str
    chat_id: str
    lang: str
    timezone: str
    digest_time: str
    quiet: bool
    row: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    """What a platform adapter provides to the delivery stage."""

    platform: str

    async def send_header(self, chat: ChatInfo, day: date, topics: list[str], papers: list[Paper]) -> None: ...

    async def send_paper(self, chat: ChatInfo, item: Enriched) -> str | None:
        """Post one paper; return a reference to the message (for the ledger)."""
        ...

    async def send_overflow(self, chat: ChatInfo, day: date, papers: list[Paper]) -> None: ...

    async def send_empty(self, chat: ChatInfo, day: date, topics: list[str]) -> None: ...


@dataclass
class DigestResult:
    chat_id: str
    day: date | None
    sent: int = 0
    status: str = "done"  # done | empty | nothing | no-subscriptions | gone | moved | deferred | running | not-today
    detail: str = ""


async def chat_info(bot: Paperbot, platform: str, chat_id: str) -> ChatInfo:
    row = await bot.store.run(Store.ensure_chat, platform, chat_id)
    s = bot.settings
    return ChatInfo(
        platform=platform,
        chat_id=str(chat_id),
        lang=row.get("lang") or await parent_lang(bot, platform, row) or s.default_lang,
        timezone=row.get("timezone") or s.default_timezone,
        digest_time=row.get("digest_time") or s.digest_time,
        quiet=bool(row.get("quiet")),
        row=row,
    )


async def parent_lang(bot: Paperbot, platform: str, row: dict[str, Any] | None) -> str | None:
    """A thread's language when it has none of its own: its parent channel's (Discord threads)."""
    parent = (row or {}).get("parent_id")
    if not parent:
        return None
    found = await bot.store.run(Store.get_chat, platform, parent)
    return (found or {}).get("lang") or None


async def deliver_digest(
    bot: Paperbot, channel: Channel, chat_id: str, day: date | None = None, *, manual: bool = False
) -> DigestResult:
    """Send ``chat_id`` its digest for ``day`` (default: the newest harvested listing day).

    Scheduled runs happen once per chat and day (``digest_runs``); ``manual`` (/digest) sends
    whatever the chat has not had yet. One delivery per chat runs at a time: while one for the
    same day is running, this returns ``running`` and sends nothing. Failures of one chat are
    reported in the result, never raised, so one broken chat does not hold up the others.
    """
    platform, chat_id = channel.platform, str(chat_id)
    day = day or await bot.latest_day()
    if day is None:
        return DigestResult(chat_id, None, status="nothing", detail="no announcement harvested yet")
    key = (platform, chat_id)
    if bot.deliveries.running(key) == day:
        # /digest, an edit of it, the schedule or the retry job while this day is being posted:
        # the running delivery sends everything; a second one would post each paper again
        return DigestResult(chat_id, day, status="running", detail="a digest for this chat is being posted")
    async with bot.deliveries.turn(key, day):
        return await _deliver(bot, channel, chat_id, day, manual)


async def _deliver(bot: Paperbot, channel: Channel, chat_id: str, day: date, manual: bool) -> DigestResult:
    """One chat's digest, while it holds its turn (see :mod:`bot.turns`)."""
    platform = channel.platform
    chat = await chat_info(bot, platform, chat_id)
    doubt = await bot.ledger.run(Store.in_flight, platform, chat.chat_id)
    if doubt is not None:
        log.warning(
            "%s:%s: %s was being sent when the process stopped (%s); it is sent again and may arrive twice",
            platform, chat.chat_id, doubt["item"], doubt["at"],
        )  # fmt: skip
    run = await bot.store.run(Store.get_digest_run, platform, chat.chat_id, day)
    if run is not None and run["status"] == "done" and not manual:
        return DigestResult(chat.chat_id, day, status="done", detail="already delivered")
    subs = await bot.store.run(Store.subscriptions, platform, chat.chat_id)
    topics = [s["topic"] for s in subs if not s["paused"]]
    if not topics:
        return DigestResult(chat.chat_id, day, status="no-subscriptions")
    wants = ChatSettings.of(chat.row, bot.settings)
    if not manual and not wants.digest_today(local_today(bot.clock(), chat.timezone)):
        return DigestResult(chat.chat_id, day, status="not-today", detail=wants.days)
    try:
        # a weekly or weekday digest gathers every listing day of the past week it has not had
        days = [day] if wants.days == "daily" else await _recent_days(bot, day)
        digest = await ranking.chat_digest(bot, platform, chat.chat_id, days)
        if not digest:
            ann = await bot.store.run(Store.get_announcement, day)
            already = run is not None and run["status"] in ("started", "done")
            if ann is not None and ann.count > 0 and not chat.quiet and not already:
                await channel.send_empty(chat, day, topics)
            await bot.ledger.run(Store.set_digest_run, platform, chat.chat_id, day, "done", "empty")
            return DigestResult(chat.chat_id, day, status="empty")
        limit = wants.papers
        cards = digest.shown[:limit]
        rest = [p.paper for p in digest.shown[limit:]] + [p.paper for p in digest.below]
        papers = [p.paper for p in cards] + rest
        # the messages in order: each ledger commit marks the next one in flight (Store.mark_in_flight)
        order = [p.paper.id for p in cards] + (["list"] if rest else [])
        if run is None or not (run.get("header_sent") or run["status"] in ("started", "done")):
            await bot.ledger.run(Store.mark_in_flight, platform, chat.chat_id, "header", day)
            await channel.send_header(chat, day, topics, papers)
            await bot.ledger.run(Store.set_digest_run, platform, chat.chat_id, day, "started", "", True, order[0])
        else:
            await bot.ledger.run(Store.mark_in_flight, platform, chat.chat_id, order[0], day)
        sent = 0
        for i, pick in enumerate(cards):
            enriched = await bot.enrich(pick.paper, chat.lang, figures=wants.figures > 0)
            enriched.topics = pick.topics
            enriched.note = t("label.near_miss", chat.lang) if pick.near_miss else None
            ref = await channel.send_paper(chat, enriched)
            nxt = order[i + 1] if i + 1 < len(order) else None
            await bot.ledger.run(
                Store.record_delivery, platform, chat.chat_id, [pick.paper.id], day, pick.topics[0], ref, nxt
            )
            sent += 1
        if rest:
            await channel.send_overflow(chat, day, rest)
            await bot.ledger.run(Store.record_delivery, platform, chat.chat_id, [p.id for p in rest], day, None, "list")
            sent += len(rest)
        await bot.ledger.run(Store.set_digest_run, platform, chat.chat_id, day, "done", f"{sent} papers")
        return DigestResult(chat.chat_id, day, sent=sent)
    except ChatGone as err:
        log.info("chat %s:%s is gone (%s); pausing it", platform, chat.chat_id, err)
        await bot.ledger.run(Store.clear_in_flight, platform, chat.chat_id)
        await bot.store.run(
            Store.update_chat, platform, chat.chat_id, {"active": 0, "inactive_reason": str(err)[:200] or "forbidden"}
        )
        return DigestResult(chat.chat_id, day, status="gone", detail=str(err))
    except ChatMoved as err:
        await bot.ledger.run(Store.clear_in_flight, platform, chat.chat_id)
        await bot.store.run(Store.migrate_chat, platform, chat.chat_id, err.new_id)
        return DigestResult(chat.chat_id, day, status="moved", detail=err.new_id)
    except DeliveryDeferred as err:
        await bot.ledger.run(Store.set_digest_run, platform, chat.chat_id, day, "deferred", str(err)[:200])
        return DigestResult(chat.chat_id, day, status="deferred", detail=str(err))


async def _recent_days(bot: Paperbot, day: date) -> list[date]:
    """The listing days of the week up to ``day``, oldest first."""
    days = await bot.store.run(Store.announcement_days)
    return [d for d in days if 0 <= (day - d).days < 7] or [day]


async def deliver_many(
    bot: Paperbot, channel: Channel, chat_ids: list[str], day: date | None = None, *, concurrency: int = 20
) -> list[DigestResult]:
    """Digests for many chats at once: enrichment is shared, one failing chat never blocks others."""
    gate = asyncio.Semaphore(concurrency)

    async def one(cid: str) -> DigestResult:
        async with gate:
            try:
                return await deliver_digest(bot, channel, cid, day)
            except Exception as err:  # a bug or an unexpected platform error: log, keep going
                log.exception("digest for %s:%s failed", channel.platform, cid)
                return DigestResult(cid, day, status="deferred", detail=type(err).__name__)

    return await asyncio.gather(*(one(c) for c in chat_ids))
