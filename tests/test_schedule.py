"""The scheduler: jobs rebuilt from SQLite at start, in each chat's own time zone; missed digests sent at start."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core import Paperbot
from bot.schedule import Scheduler
from bot.settings import Settings
from bot.store import Store
from tests.test_deliver import DAY, Recorder, entry


async def test_jobs_from_sqlite_and_catch_up(arxiv_settings: Settings, fake_arxiv) -> None:
    fake_arxiv.add_day(DAY, [entry("2606.00001", "Gaussian Splatting Head Avatars")])
    fake_arxiv.rss_day = DAY
    settings = arxiv_settings.model_copy(update={"figure_policy": "none"})
    # 2026-06-30 09:30 in Shanghai = 01:30 UTC; Berlin is at 03:30, before its 08:00 digest
    clock = lambda: datetime(2026, 6, 30, 1, 30, tzinfo=UTC)  # noqa: E731
    async with Paperbot(settings, clock=clock) as bot:
        q = bot.catalogue.resolve("3DGS").query
        for cid, zone, at in (("sh", "Asia/Shanghai", "09:00"), ("be", "Europe/Berlin", "08:00")):
            await bot.store.run(Store.subscribe, "test", cid, "3DGS", q)
            await bot.store.run(Store.update_chat, "test", cid, {"timezone": zone, "digest_time": at})
        channel = Recorder()
        scheduler = Scheduler(bot, {"test": channel})
        await scheduler.start(catch_up=False)
        try:
            jobs = {j.id: j for j in scheduler.aps.get_jobs()}
            assert {"harvest", "harvest-late", "digest:test:sh", "digest:test:be"} <= set(jobs)
            assert str(jobs["digest:test:sh"].trigger.timezone) == "Asia/Shanghai"
            assert "hour='9'" in str(jobs["digest:test:sh"].trigger)
            results = await scheduler.catch_up()  # the bot was down at 09:00 Shanghai
            assert [(r.chat_id, r.sent) for r in results] == [("sh", 1)]
            assert [s for s in channel.sent if s[1] == "paper"] == [("sh", "paper", "2606.00001")]
            assert await scheduler.catch_up() == []  # done: not again
            await bot.store.run(Store.update_chat, "test", "be", {"digest_time": "07:15"})
            await scheduler.sync_chat("test", "be")
            assert "minute='15'" in str(scheduler.aps.get_job("digest:test:be").trigger)
        finally:
            await scheduler.stop()


async def test_deferred_digest_is_retried_by_the_periodic_job(arxiv_settings: Settings, fake_arxiv) -> None:
    """A chat deferred mid-digest (rate limits, network) gets the rest at the next retry run,
    without waiting for a restart, and its header is not repeated."""
    from bot.deliver import DeliveryDeferred

    fake_arxiv.add_day(DAY, [entry("2606.00001", "Gaussian Splatting Avatars"), entry("2606.00002", "Gaussian Splatting NeRF")])
    fake_arxiv.rss_day = DAY

    class Flaky(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.fail = True

        async def send_paper(self, chat, item):  # type: ignore[no-untyped-def]
            if self.fail and any(s[1] == "paper" for s in self.sent):
                self.fail = False
                raise DeliveryDeferred("rate limited")
            return await super().send_paper(chat, item)

    settings = arxiv_settings.model_copy(update={"figure_policy": "none"})
    async with Paperbot(settings, clock=lambda: datetime(2026, 6, 30, 12, tzinfo=UTC)) as bot:
        await bot.store.run(Store.subscribe, "test", "c", "3DGS", bot.catalogue.resolve("3DGS").query)
        await bot.store.run(Store.update_chat, "test", "c", {"timezone": "UTC", "digest_time": "08:00"})
        channel = Flaky()
        scheduler = Scheduler(bot, {"test": channel})
        first = await scheduler.catch_up()
        assert [r.status for r in first] == ["deferred"]
        later = await scheduler.retry_pending()
        assert [(r.status, r.sent) for r in later] == [("done", 1)]
        assert sorted(s[2] for s in channel.sent if s[1] == "paper") == ["2606.00001", "2606.00002"]
        assert sum(1 for s in channel.sent if s[1] == "header") == 1
        assert await scheduler.retry_pending() == []
