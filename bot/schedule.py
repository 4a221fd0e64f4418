"""When things happen: one APScheduler for the whole process, shared by Telegram and Discord.

* a harvest shortly after each arXiv announcement (20:00 US Eastern, Sun–Thu), again hourly
  through the night in case arXiv is late, and once at start;
* a digest job per chat at the chat's own time in its own time zone.

Jobs are rebuilt from SQLite at start, and a digest whose time passed while the bot was down
goes out at start (the ledger and ``digest_runs`` make that safe to repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .arxiv_api import ARXIV_TZ
from .core import Paperbot
from .deliver import Channel, DigestResult, chat_info, deliver_digest, deliver_many
from .errors import PaperbotError
from .health import Backoff
from .settings import parse_hhmm, parse_zone
from .store import Store

log = logging.getLogger(__name__)

RETRY_MINUTES = 15  # how often deferred digests are tried again
# chats delivered at once after an announcement. Each chat gets at most one message a second and
# waits for its next paper while the PDFs come in at arXiv's pace; only with every chat in flight
# do the papers already summarized keep Telegram's 30 messages a second busy (200 at once left it
# at 19 a second in bench.day while the PDFs were still coming in)
CATCH_UP_CONCURRENCY = 2000


class Scheduler:
    def __init__(self, bot: Paperbot, channels: dict[str, Channel]) -> None:
        self.bot = bot
        self.channels = channels
        self.aps = AsyncIOScheduler(timezone=ARXIV_TZ)
        self._catch_up: asyncio.Task[list[DigestResult]] | None = None
        self._harvest_backoff = Backoff(bot.settings.retry_max_seconds)

    async def start(self, *, catch_up: bool = True) -> None:
        # after the 20:00 ET announcement, hourly until the small hours in case arXiv is late
        for job_id, days, hours in (("harvest", "sun,mon,tue,wed,thu", "20-23"), ("harvest-late", "mon-fri", "0-3")):
            self.aps.add_job(
                self.harvest,
                CronTrigger(day_of_week=days, hour=hours, minute=35, timezone=ARXIV_TZ),
                id=job_id,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=3600,
            )
        self.aps.add_job(
            self.retry_pending,
            IntervalTrigger(minutes=RETRY_MINUTES, timezone=ARXIV_TZ),
            id="retry-pending",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        for platform in self.channels:
            for chat in await self.bot.store.run(Store.active_chats, platform):
                await self.sync_chat(platform, chat["chat_id"])
        self.aps.start()
        if catch_up:
            self._catch_up = asyncio.get_running_loop().create_task(self.catch_up())

    async def stop(self) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=False)
        if self._catch_up is not None and not self._catch_up.done():
            self._catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._catch_up

    async def harvest(self, *, then_catch_up: bool = True) -> None:
        """Harvest; when that stores a new day (arXiv was late, or down at digest time), the
        chats whose digest time has passed get it now instead of tomorrow."""
        now = self.bot.clock().isoformat(timespec="seconds")
        try:
            report = await self.bot.harvest()
        except PaperbotError as err:
            await self.bot.store.run(Store.set_kv, "harvest.last_error", f"{now} {err}")
            if not self.aps.running:
                log.warning("harvest failed: %s", err)
                return
            # arXiv unreachable (or late): try again soon rather than at the next hourly run
            wait = self._harvest_backoff.next()
            at = self.bot.clock() + timedelta(seconds=wait)
            self.aps.add_job(self.harvest, DateTrigger(at), id="harvest-retry", replace_existing=True)
            log.warning("harvest failed (%s); next try at %s (in %.0f s)", err, at.strftime("%H:%M:%S"), wait)
            return
        self._harvest_backoff.reset()
        log.info("harvest: %s", report.message)
        await self.bot.store.run(Store.set_kv, "harvest.last_ok", f"{now} {report.message}")
        await self.bot.store.run(Store.set_kv, "harvest.last_error", "")
        if then_catch_up and report.source in ("rss", "api"):
            await self.catch_up(harvest=False)

    async def retry_pending(self) -> list[DigestResult]:
        """Digests deferred by a platform failure (rate limits, network) or cut short, for the
        last week's listing days: each chat gets the rest (the ledger says what it had); a chat
        whose digest is being posted right now is left to it (``running``)."""
        since = self.bot.clock().date() - timedelta(days=7)
        results: list[DigestResult] = []
        by_day: dict[tuple[str, str], list[str]] = {}
        for row in await self.bot.store.run(Store.pending_runs, since):
            if row["platform"] in self.channels:
                by_day.setdefault((row["platform"], row["day"]), []).append(row["chat_id"])
        for (platform, day), chats in sorted(by_day.items(), key=lambda kv: kv[0][1]):
            results += await deliver_many(self.bot, self.channels[platform], chats, date.fromisoformat(day))
        return results

    async def sync_chat(self, platform: str, chat_id: str) -> None:
        """(Re)create a chat's digest job from its stored time and zone."""
        chat = await chat_info(self.bot, platform, chat_id)
        job_id = f"digest:{platform}:{chat_id}"
        if not chat.row.get("active", 1):
            if self.aps.get_job(job_id):
                self.aps.remove_job(job_id)
            return
        at = parse_hhmm(chat.digest_time)
        self.aps.add_job(
            self.digest,
            CronTrigger(hour=at.hour, minute=at.minute, timezone=parse_zone(chat.timezone)),
            args=[platform, chat_id],
            id=job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=6 * 3600,
        )

    def remove_chat(self, platform: str, chat_id: str) -> None:
        job = self.aps.get_job(f"digest:{platform}:{chat_id}")
        if job:
            job.remove()

    async def digest(self, platform: str, chat_id: str) -> DigestResult | None:
        """A chat's scheduled digest: make sure the day is harvested, then deliver it."""
        await self.harvest(then_catch_up=False)
        result = await deliver_digest(self.bot, self.channels[platform], chat_id)
        log.info("digest %s:%s %s %s", platform, chat_id, result.status, result.detail)
        if result.status in ("gone",):
            self.remove_chat(platform, chat_id)
        elif result.status == "moved":
            self.remove_chat(platform, chat_id)
            await self.sync_chat(platform, result.detail)
        if result.status not in ("gone", "moved"):
            await self._roundup(platform, chat_id)
        return result

    async def _roundup(self, platform: str, chat_id: str) -> None:
        """The weekly roundup after the digest, on the chat's weekly day (bot.roundup)."""
        from . import roundup

        channel = self.channels[platform]
        if not hasattr(channel, "send_roundup"):
            return
        try:
            await roundup.maybe_send(self.bot, channel, chat_id)  # type: ignore[arg-type]
        except Exception:  # a roundup is a bonus: never a reason for the digest job to fail
            log.exception("roundup for %s:%s failed", platform, chat_id)

    async def catch_up(self, *, harvest: bool = True, only: str | None = None) -> list[DigestResult]:
        """At start (and after a late harvest, or when ``only`` that platform came up): every
        chat whose digest time today has passed and that has not had the newest listing day
        gets it now."""
        results: list[DigestResult] = []
        if harvest:
            await self.harvest(then_catch_up=False)
        day = await self.bot.latest_day()
        if day is None:
            return results
        now = self.bot.clock()
        due: dict[str, list[str]] = {}
        langs: list[str] = []
        for platform in [p for p in self.channels if only in (None, p)]:
            due_chats = due.setdefault(platform, [])
            for row in await self.bot.store.run(Store.active_chats, platform):
                chat = await chat_info(self.bot, platform, row["chat_id"])
                local = now.astimezone(parse_zone(chat.timezone))
                at = datetime.combine(local.date(), parse_hhmm(chat.digest_time), tzinfo=local.tzinfo)
                run = await self.bot.store.run(Store.get_digest_run, platform, chat.chat_id, day)
                if local >= at and (run is None or run["status"] != "done"):
                    due_chats.append(chat.chat_id)
                    langs.append(chat.lang)
        if not any(due.values()):
            return results
        # the papers these chats will show are enriched ahead of them, in the order they need them
        queries = await self.bot.store.run(_queries_of, due)
        prefetch = asyncio.get_running_loop().create_task(self.bot.prefetch(day, queries, langs))
        try:
            # all platforms and all due chats at once: each chat is paced by its platform's limits
            # (per chat, per bot), not by the others; a chat waits only for its next paper
            for batch in await asyncio.gather(
                *(deliver_many(self.bot, self.channels[p], chats, day, concurrency=CATCH_UP_CONCURRENCY) for p, chats in due.items() if chats)
            ):
                results += batch
        finally:
            if not prefetch.done():
                prefetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await prefetch
        return results


def _queries_of(store: Store, due: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The subscriptions (topic, query) the due chats follow (not paused), most followed first."""
    wanted = {(platform, chat) for platform, chats in due.items() for chat in chats}
    counts: dict[tuple[str, str], int] = {}
    for r in store.db.query("select platform, chat_id, topic, query from subscriptions where not paused"):
        if (r["platform"], r["chat_id"]) in wanted:
            key = (r["topic"], r["query"])
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda q: -counts[q])
