"""Harvest: arXiv's announcement → papers in SQLite, once per announcement, never per chat.

arXiv announces Sun–Thu at 20:00 US Eastern; the listing is dated the next day (Mon–Fri) and
holds the submissions of one window (14:00 ET on one business day to 14:00 ET on the next).
The RSS feed for a set of categories carries the latest listing and is rebuilt around
midnight Eastern; it is empty on weekends and holidays.

A harvest reads the listing from the RSS feed (one request for the union of the categories
every topic needs), keeps ``new`` and ``cross`` items, stores every paper under its
versionless id, and fetches full metadata (comment, dates, all categories) from the API only
for the papers some topic matches. When listing days were missed (the bot was down, or the
feed is not rebuilt yet) they are filled from the API by submission window, so no day is lost
and none is stored twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from .arxiv_api import ARXIV_TZ, ArxivAPI
from .match import taken
from .models import Announcement, Paper
from .store import AsyncStore, Store
from .topics import Catalogue

ANNOUNCE_AT = dtime(20, 0)  # ET, on the eve of the listing day
CUTOFF_AT = dtime(14, 0)  # ET, end of a submission window
MAX_BACKFILL_DAYS = 10

Progress = Callable[[str, int, int], None]


# ---- the calendar ------------------------------------------------------------------------


def previous_listing_day(day: date) -> date:
    d = day - timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def listing_day_for(now: datetime) -> date:
    """The newest listing day already announced at ``now`` (holidays are not modelled)."""
    et = now.astimezone(ARXIV_TZ)
    d = et.date() + timedelta(days=1) if et.time() >= ANNOUNCE_AT else et.date()
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def listing_days_between(after: date, upto: date) -> list[date]:
    """Listing days d with after < d <= upto."""
    out = []
    d = after + timedelta(days=1)
    while d <= upto:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def submission_window(day: date) -> tuple[datetime, datetime]:
    """The UTC submission window a listing day announces."""
    end_day = previous_listing_day(day)
    start_day = previous_listing_day(end_day)
    start = datetime.combine(start_day, CUTOFF_AT, tzinfo=ARXIV_TZ).astimezone(UTC)
    end = datetime.combine(end_day, CUTOFF_AT, tzinfo=ARXIV_TZ).astimezone(UTC)
    return start, end


def window_query(categories: Sequence[str], day: date) -> str:
    start, end = submission_window(day)
    cats = " OR ".join(f"cat:{c}" for c in categories)
    fmt = "%Y%m%d%H%M"
    return f"({cats}) AND submittedDate:[{start.strftime(fmt)} TO {(end - timedelta(minutes=1)).strftime(fmt)}]"


# ---- harvesting ----------------------------------------------------------------------------


@dataclass
class HarvestReport:
    day: date | None
    source: str  # rss | api | stored | none
    papers: int = 0
    inserted: int = 0
    updated: int = 0
    backfilled: list[date] = field(default_factory=list)
    matched: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    waited: float = 0.0

    @property
    def message(self) -> str:
        if self.day is None:
            return "arXiv has not announced anything new (weekend or holiday)"
        if self.source == "stored":
            return f"{self.day} was already harvested ({self.papers} papers); nothing fetched"
        extra = f", backfilled {', '.join(map(str, self.backfilled))}" if self.backfilled else ""
        return (
            f"{self.day}: {self.papers} papers from {self.source} ({self.inserted} new, {self.updated} updated)"
            f"{extra}; {self.requests} arXiv requests"
        )


class _OnDbThread:
    """A Store look-alike that runs each call on an AsyncStore's thread (harvest runs in a worker)."""

    def __init__(self, astore: AsyncStore) -> None:
        self._astore = astore

    def __getattr__(self, name: str) -> Callable[..., object]:
        method = getattr(Store, name)
        return lambda *args: self._astore.run_sync(method, *args)


class Harvester:
    """One harvest at a time; everything it stores is shared by every chat.

    Synchronous (network and database calls in sequence); async callers run it in a worker
    thread with an :class:`AsyncStore`, whose calls then hop to the database thread.
    """

    def __init__(self, store: Store | AsyncStore, api: ArxivAPI, catalogue: Catalogue) -> None:
        self.store: Store = _OnDbThread(store) if isinstance(store, AsyncStore) else store  # type: ignore[assignment]
        self.api = api
        self.catalogue = catalogue

    def queries(self, extra: Sequence[str] = ()) -> dict[str, str]:
        q = {t.name: t.query for t in self.catalogue.topics}
        for custom in extra:
            q.setdefault(custom, custom)
        return q

    def harvest(
        self,
        day: date | None = None,
        *,
        now: datetime | None = None,
        extra_queries: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> HarvestReport:
        """Harvest the latest listing (or ``day``) and whatever days were missed before it."""
        started = time.perf_counter()
        requests_before = self.api.requests
        waited_before = self.api.waited
        now = now or datetime.now(UTC)
        cats = self.catalogue.categories(list(extra_queries))
        queries = self.queries(extra_queries)
        tick = progress or (lambda stage, done, total: None)

        target = day or listing_day_for(now)
        stored = self.store.get_announcement(target)
        if stored is not None:
            return HarvestReport(target, "stored", papers=stored.count, seconds=time.perf_counter() - started)

        report = HarvestReport(target, "none")
        last = self.store.last_announcement()
        feed_items: list[Paper] = []
        if day is None:
            tick("rss", 0, 1)
            feed = self.api.rss(cats)
            tick("rss", 1, 1)
            if feed.day is not None and feed.day >= target:
                target = feed.day
                report.day = target
                feed_items = [i.paper for i in feed.items if i.announce_type in ("new", "cross")]
                if self.store.get_announcement(target) is not None:
                    report.source = "stored"
                    report.papers = len(feed_items)
                    report.requests = self.api.requests - requests_before
                    report.seconds = time.perf_counter() - started
                    return report

        # days missed since the last harvest, oldest first; then the target itself
        gap: list[date] = []
        if last is not None and last.day < target:
            gap = listing_days_between(last.day, target)[-MAX_BACKFILL_DAYS - 1 : -1]
        for i, missed in enumerate(gap):
            if self.store.get_announcement(missed) is None:
                tick("backfill", i, len(gap))
                self._harvest_from_api(missed, cats, queries, report)
                report.backfilled.append(missed)

        if feed_items:
            report.source = "rss"
            self._store_day(target, cats, feed_items, "rss", queries, report, tick)
        else:
            report.source = "api"
            if not self._harvest_from_api(target, cats, queries, report, main=True):
                # nothing yet: arXiv is late, or a holiday. Not recorded, so the next run asks again.
                report.day, report.source = None, "none"
        report.requests = self.api.requests - requests_before
        report.waited = self.api.waited - waited_before
        report.seconds = time.perf_counter() - started
        return report

    def import_days(self, days: dict[date, list[Paper]], extra_queries: Sequence[str] = ()) -> list[HarvestReport]:
        """Store papers read from a file (``harvest --from``) as the announcements of ``days``.

        The same path as a harvest (one announcement per day, source "import"), but nothing is
        asked of arXiv: the file carries the full metadata, and an import must work offline.
        """
        cats = self.catalogue.categories(list(extra_queries))
        queries = self.queries(extra_queries)
        reports = []
        for day, papers in sorted(days.items()):
            started = time.perf_counter()
            for p in papers:
                p.announce_type = "new" if p.primary_category in cats else "cross"
            report = HarvestReport(day, "import")
            before = self.store.get_announcement(day)
            self._store_day(day, cats, papers, "import", queries, report, fetch_metadata=False)
            if before is not None:  # added to a day already stored: it lists both
                listed = len(self.store.papers_for_day(day))
                self.store.record_announcement(Announcement(day, tuple(cats), listed, "import"), [])
            report.seconds = time.perf_counter() - started
            reports.append(report)
        return reports

    def _harvest_from_api(
        self, day: date, cats: Sequence[str], queries: dict[str, str], report: HarvestReport, main: bool = False
    ) -> int:
        """Fill a listing day from the API by its submission window; returns the papers found.

        A missed day with no papers (a holiday) is recorded so it is not asked again; the
        newest day is only recorded once it has papers.
        """
        papers = self.api.search(window_query(cats, day), max_results=None, newest_first=True, page_size=500)
        for p in papers:
            p.announce_type = "new" if p.primary_category in cats else "cross"
        if papers or not main:
            self._store_day(day, cats, papers, "backfill" if not main else "api", queries, report if main else None)
        return len(papers)

    def _store_day(
        self,
        day: date,
        cats: Sequence[str],
        papers: list[Paper],
        source: str,
        queries: dict[str, str],
        report: HarvestReport | None,
        tick: Progress | None = None,
        fetch_metadata: bool = True,
    ) -> None:
        unique: dict[str, Paper] = {}
        for p in papers:
            p.announced = day
            if p.id not in unique or p.version > unique[p.id].version:
                unique[p.id] = p
        inserted, updated = self.store.upsert_papers(unique.values())
        self.store.record_announcement(
            Announcement(day, tuple(cats), len(unique), source),
            [(p.id, p.announce_type) for p in unique.values()],
        )
        stored = self.store.get_papers(list(unique))
        matched = taken(stored, [self.catalogue.matcher(topic, q) for topic, q in queries.items()])
        need = sorted({p.id for ps in matched.values() for p in ps if not p.has_full_metadata}) if fetch_metadata else []
        if tick:
            tick("metadata", 0, max(1, len(need)))
        if need:
            full = self.api.by_ids(need)
            for p in full:
                p.announced = day
            self.store.upsert_papers(full)
        if tick:
            tick("metadata", max(1, len(need)), max(1, len(need)))
        if report is not None:
            report.papers = len(unique)
            report.inserted += inserted
            report.updated += updated
            report.matched = {topic: len(ps) for topic, ps in matched.items()}
