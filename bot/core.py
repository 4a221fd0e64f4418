"""The platform-agnostic core that the CLI, Telegram and Discord all stand on.

:class:`Paperbot` owns the expensive things and makes sure each happens once per paper, never
per chat: arXiv requests (one :class:`~bot.arxiv_api.ArxivAPI`, one request at a time), PDF
downloads and figure extraction (cached per paper version, single-flight), and LLM summaries
(cached per paper and language by the summarizer). Chat adapters ask it for papers and
enriched papers and render them for their platform.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .arxiv_api import ArxivAPI
from .errors import (
    BadInterest,
    NeedsLLM,
    PaperNotFound,
    PaperWithdrawn,
    PdfError,
    RateLimited,
    VersionNotFound,
)
from .harvest import Harvester, HarvestReport, Progress
from .ids import ArxivId, parse_arxiv_id
from .links import Link, find_links, first_page_text
from .llm import KeyedLocks
from .match import Verdict, score_papers
from .models import Paper
from .pdfs import download_pdf, pdf_path
from .settings import Settings
from .store import AsyncStore, Store
from .throttle import CommandThrottle
from .topics import Catalogue, Subscription, about_subscription, has_cjk
from .turns import ChatTurns

if TYPE_CHECKING:
    from .figures import Figure, FigureWorkers
    from .ranking import Ranker
    from .summarize import Summarizer, Summary

log = logging.getLogger(__name__)

VERDICT_CACHE = 256  # (day, subscription) verdict lists kept in memory
PDF_RETRY_AFTER = 3600.0  # seconds before a PDF that could not be fetched is tried again
MISS_CACHE_SIZE = 10_000  # ids arXiv lacks, remembered (ARXIV_MISS_TTL); the oldest go first


def _fresh(paper: Paper | None, version: int | None) -> bool:
    """Whether the stored paper answers a request without asking arXiv."""
    return paper is not None and paper.has_full_metadata and (version is None or version <= paper.version)


def create_tables(store: Store) -> None:
    """The feature modules' tables (summaries, figures, the LLM allowance), created once when the
    core opens: later calls only read the schema, so no DDL ever runs while chats are being
    delivered, when it could meet the ledger connection's writes."""
    from . import allowance, feedback, figures, summarize
    from .match import judge

    summarize.ensure_tables(store)
    judge.ensure_tables(store)
    figures.ensure_tables(store)
    allowance.ensure_tables(store)
    feedback.ensure_tables(store)


@dataclass
class Enriched:
    """A paper with what the enrich stage adds: its summary in one language and its figures."""

    paper: Paper
    summary: Summary | None
    figures: list[Figure] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)  # code, data, project: from the paper's own text
    note: str | None = None  # a line a chat's digest adds (a near miss, bot.ranking)


class Paperbot:
    """One per process. Use as ``async with Paperbot(settings) as bot: ...``."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)  # the store, PDFs and figures are the owner's alone
        self.store = AsyncStore(settings.db_path)
        # the ledger's own connection and thread: its writes never queue behind other chats'
        # reads, which keeps "platform accepted → ledger committed" (the crash window) short
        self.ledger = AsyncStore(settings.db_path)
        self.api = ArxivAPI(settings)
        self.catalogue = Catalogue.load(settings.topics_file)
        self._summarizer: Summarizer | None = None
        self._harvest_lock = asyncio.Lock()
        self._flights: dict[tuple[str, ...], asyncio.Future[Any]] = {}
        self._pdf_limit = asyncio.Semaphore(2)
        self._pdf_failures: dict[str, float] = {}
        self._misses: dict[tuple[str, int | None], tuple[float, int]] = {}  # → (until, latest version)
        self._lookup_queue = KeyedLocks()  # one arXiv lookup at a time per person …
        self._lookup_slot = asyncio.Semaphore(1)  # … and one in the arXiv line at a time in all
        self._figure_limit = asyncio.Semaphore(1)
        self._pdf_pace = asyncio.Lock()  # PDF downloads start ARXIV_DELAY_SECONDS apart, like the API's requests
        self._pdf_next = 0.0
        # the day's papers, shared by every chat of a digest run; forgotten on harvest
        self._day_papers: dict[date, list[Paper]] = {}
        self._figure_workers: FigureWorkers | None = None  # started on the first extraction
        self._verdicts: dict[tuple[str, str, str], list[Verdict]] = {}  # (day, topic, query) -> scored
        self._links: dict[str, tuple[bool, list[Link]]] = {}  # per paper version, whether the PDF was read
        self.deliveries = ChatTurns()  # one digest delivery per chat at a time (bot.deliver)
        self.throttle = CommandThrottle(settings.commands_per_user_per_minute)  # per person, every platform
        self._ranker: Ranker | None = None

    async def __aenter__(self) -> Paperbot:
        await self.store.run(Store.sync_topics, [t.model_dump() for t in self.catalogue.topics])
        await self.store.run(create_tables)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._summarizer is not None:
            await self._summarizer.aclose()
        self.api.close()
        if self._figure_workers is not None:
            await asyncio.to_thread(self._figure_workers.close)
        await self.ledger.close()
        await self.store.close()

    @property
    def ranker(self) -> Ranker:
        """Per-chat models from votes (:mod:`bot.ranking`), made on first use (scikit-learn)."""
        if self._ranker is None:
            from .ranking import Ranker

            self._ranker = Ranker()
        return self._ranker

    @property
    def summarizer(self) -> Summarizer:
        if self._summarizer is None:
            from .summarize import Summarizer

            self._summarizer = Summarizer(self.settings, self.store)
        return self._summarizer

    async def _once(self, key: tuple[str, ...], make: Callable[[], Any]) -> Any:
        """Single-flight: concurrent callers of the same key share one run of ``make``."""
        running = self._flights.get(key)
        if running is not None:
            return await asyncio.shield(running)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._flights[key] = fut
        try:
            result = await make()
            fut.set_result(result)
            return result
        except BaseException as err:
            fut.set_exception(err)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            self._flights.pop(key, None)

    # ---- harvest ----------------------------------------------------------------------------
    async def custom_queries(self) -> list[str]:
        names = {t.name for t in self.catalogue.topics}

        def q(s: Store) -> list[str]:
            rows = s.db.query("select distinct topic, query from subscriptions")
            return [r["query"] for r in rows if r["topic"] not in names]

        return await self.store.run(q)

    async def harvest(self, day: date | None = None, progress: Progress | None = None) -> HarvestReport:
        """Harvest the latest announcement (or ``day``); one at a time per process."""
        async with self._harvest_lock:
            extra = await self.custom_queries()
            harvester = Harvester(self.store, self.api, self.catalogue)
            now = self.clock()
            self._forget_days()
            try:
                return await asyncio.to_thread(
                    harvester.harvest, day, now=now, extra_queries=extra, progress=progress
                )
            finally:
                self._forget_days()
                self._verdicts.clear()  # a day scored before its papers arrived is scored again

    def _forget_days(self) -> None:
        self._day_papers.clear()
        if self._ranker is not None:
            self._ranker.recount()

    async def import_days(self, days: dict[date, list[Paper]]) -> list[HarvestReport]:
        """Store papers read from a file as announcements (``harvest --from``); never asks arXiv."""
        async with self._harvest_lock:
            extra = await self.custom_queries()
            harvester = Harvester(self.store, self.api, self.catalogue)
            try:
                return await asyncio.to_thread(harvester.import_days, days, extra)
            finally:
                self._forget_days()
                self._verdicts.clear()

    @property
    def harvesting(self) -> bool:
        """A harvest is running (at start, after an announcement): a /digest now would find
        yesterday's papers or none."""
        return self._harvest_lock.locked()

    async def harvested(self) -> None:
        """Wait for the harvest in progress (if any) to end."""
        async with self._harvest_lock:
            pass

    async def latest_day(self) -> date | None:
        ann = await self.store.run(Store.last_announcement)
        return ann.day if ann else None

    async def papers_for_day(self, day: date) -> list[Paper]:
        papers = self._day_papers.get(day)
        if papers is None:
            papers = await self.store.run(Store.papers_for_day, day)
            if len(self._day_papers) > 8:
                self._forget_days()
            self._day_papers[day] = papers
        return list(papers)

    async def verdicts(self, day: date, topic: str, query: str) -> list[Verdict]:
        """Every paper of ``day`` scored for one subscription (topic, query), best first.

        Computed once per (day, topic) and shared by every chat that follows it; with an LLM key
        the model settles the papers near the topic's line (:mod:`bot.match.judge`), in bounded
        batches cached per paper, topic and model.
        """
        key = (day.isoformat(), topic, query)

        async def compute() -> list[Verdict]:
            papers = await self.papers_for_day(day)
            matcher = self.catalogue.matcher(topic, query)
            found = score_papers(papers, [matcher])[matcher.topic]
            if self.summarizer.provider_name != "none":
                from .match import judge

                found = await judge.settle(self, matcher, papers, found)
            return sorted(found, key=lambda v: (-v.taken, -v.score, v.paper_id))

        cached = self._verdicts.get(key)
        if cached is None:
            cached = await self._once(("verdicts", *key), compute)
            self._verdicts[key] = cached
            while len(self._verdicts) > VERDICT_CACHE:
                self._verdicts.pop(next(iter(self._verdicts)))
        return cached

    async def topic_papers(self, topic: str, query: str, day: date) -> list[Paper]:
        """The papers of ``day`` a subscription takes, most relevant first."""
        papers = {p.id: p for p in await self.papers_for_day(day)}
        return [papers[v.paper_id] for v in await self.verdicts(day, topic, query) if v.taken]

    async def chat_papers(self, platform: str, chat_id: str, day: date) -> list[tuple[Paper, list[str]]]:
        """What a chat should get for ``day``: each paper its topics take, once across its
        topics, most relevant first, minus what the ledger says it already got."""
        subs = await self.store.run(Store.subscriptions, platform, chat_id)
        queries = {s["topic"]: s["query"] for s in subs if not s["paused"]}
        if not queries:
            return []
        papers = {p.id: p for p in await self.papers_for_day(day)}
        best: dict[str, float] = {}
        topics: dict[str, list[str]] = {}
        for topic, query in queries.items():
            for v in await self.verdicts(day, topic, query):
                if v.taken:
                    best[v.paper_id] = max(best.get(v.paper_id, 0.0), v.score)
                    topics.setdefault(v.paper_id, []).append(topic)
        ranked = sorted(best, key=lambda i: (-best[i], i))
        sent = await self.store.run(Store.delivered_ids, platform, chat_id, ranked)
        return [(papers[i], topics[i]) for i in ranked if i not in sent]

    async def why(self, paper: Paper, topic: str, query: str) -> Verdict:
        """Why a subscription takes a paper or not: the day's verdict, or a fresh one for a paper
        of no stored day (a /why about any paper)."""
        if paper.announced is not None:
            for v in await self.verdicts(paper.announced, topic, query):
                if v.paper_id == paper.id:
                    return v
        matcher = self.catalogue.matcher(topic, query)
        return score_papers([paper], [matcher])[matcher.topic][0]

    def needs_translation(self, text: str) -> bool:
        """Whether ``/subscribe text`` is a Chinese interest that the model will translate (slow:
        a chat adapter acknowledges first)."""
        return self.summarizer.provider_name != "none" and has_cjk(text) and self.catalogue.get(text) is None

    async def subscription(self, text: str) -> Subscription:
        """What ``/subscribe text`` follows (:meth:`Catalogue.subscription`); a Chinese interest is
        translated once by the model and stored in English (abstracts are English), or refused
        with what to write instead when there is no model."""
        try:
            return self.catalogue.subscription(text)
        except BadInterest as err:
            if err.reason != "not_english" or self.summarizer.provider_name == "none":
                raise
        from .match.judge import translate_interest

        return about_subscription(await translate_interest(self, text))

    async def chat_why(self, platform: str, chat_id: str, text: str) -> tuple[Paper, list[Verdict]]:
        """``/why <id>``: the paper and, for each of the chat's subscriptions, whether its digest
        takes the paper and why. Raises BadArxivId, PaperNotFound, ArxivUnavailable."""
        aid = parse_arxiv_id(text)
        paper = await self.store.run(Store.get_paper, aid.id) or await self.lookup(text)
        subs = await self.store.run(Store.subscriptions, platform, chat_id)
        return paper, [await self.why(paper, s["topic"], s["query"]) for s in subs if not s["paused"]]

    # ---- single papers -------------------------------------------------------------------
    async def lookup(self, text: str, *, asker: tuple[str, str] | None = None) -> Paper:
        """The paper an id or link names, from the store or else the arXiv API (full metadata).

        An id arXiv does not have, or a version it lacks, is remembered for ``ARXIV_MISS_TTL``:
        asking again answers from memory instead of queueing behind everyone's arXiv requests.
        ``asker`` (platform, user id) queues a person's lookups one behind the other, so a
        flood from one person holds at most one place in the line the harvest also stands in.

        Raises BadArxivId, PaperNotFound (VersionNotFound), PaperWithdrawn, ArxivUnavailable.
        """
        aid = parse_arxiv_id(text)
        self._known_missing(aid)
        paper = await self.store.run(Store.get_paper, aid.id)
        if not _fresh(paper, aid.version):

            async def fetch() -> list[Paper]:
                async with self._lookup_queue(asker or ("", "")), self._lookup_slot:
                    return await asyncio.to_thread(self.api.by_ids, [aid.id])

            found = await self._once(("lookup", aid.id), fetch)
            if found:
                await self.store.run(Store.upsert_papers, found)
                self._forget_days()
                paper = await self.store.run(Store.get_paper, aid.id)
        if paper is None:
            self._remember_missing(aid.id, None)
            raise PaperNotFound(str(aid))
        if paper.withdrawn:
            raise PaperWithdrawn(paper.id)
        if aid.version and aid.version > paper.version:
            self._remember_missing(aid.id, aid.version, paper.version)
            raise VersionNotFound(paper.id, aid.version, paper.version)
        if aid.version and aid.version < paper.version:
            paper.version = aid.version  # the reader asked for that version: summarize it
        return paper

    def _known_missing(self, aid: ArxivId) -> None:
        """Raise what arXiv said a little while ago about this id or version, if it had none."""
        now = time.monotonic()
        for key in ((aid.id, None), (aid.id, aid.version)):
            hit = self._misses.get(key)
            if hit is None:
                continue
            until, latest = hit
            if until <= now:
                del self._misses[key]
            elif key[1] is None:
                raise PaperNotFound(str(aid))
            elif aid.version is not None:
                raise VersionNotFound(aid.id, aid.version, latest)

    def _remember_missing(self, paper_id: str, version: int | None, latest: int = 0) -> None:
        ttl = self.settings.arxiv_miss_ttl
        if ttl <= 0:
            return
        self._misses[(paper_id, version)] = (time.monotonic() + ttl, latest)
        while len(self._misses) > MISS_CACHE_SIZE:  # oldest first: a dict keeps insertion order
            del self._misses[next(iter(self._misses))]

    async def paper_for(
        self, platform: str, user_id: str, text: str, lang: str, *, asking: bool = False
    ) -> Paper:
        """The paper a person asked about (``/summarize``, ``/ask``, a button), their hourly
        allowance charged BEFORE any work for it is done: a paper the store lacks costs one
        arXiv lookup, a summary not cached (or a question) costs a model call, and either is
        charged once, up front; a cached paper with a cached summary is free. A lookup refused
        for the allowance never reaches arXiv, and known misses are answered from memory.

        Raises what :meth:`lookup` raises, :class:`RateLimited`, and :class:`NeedsLLM` for a
        question with no model to answer it.
        """
        aid = parse_arxiv_id(text)
        if asking and self.summarizer.provider_name == "none":
            raise NeedsLLM()
        self._known_missing(aid)
        stored = await self.store.run(Store.get_paper, aid.id)
        if _fresh(stored, aid.version):
            paper = await self.lookup(text)  # from the store: no network
            await self.spend_llm(platform, user_id, paper, lang, asking=asking)
            return paper
        await self._take_allowance(platform, user_id, aid.id)
        return await self.lookup(text, asker=(platform, str(user_id)))

    async def _take_allowance(self, platform: str, user_id: str, paper_id: str) -> None:
        from . import allowance

        wait = await self.store.run(
            allowance.take, platform, str(user_id), paper_id, self.clock(), self.settings.summarize_per_user_per_hour
        )
        if wait is not None:
            raise RateLimited(wait)

    async def pdf(self, paper: Paper) -> Path | None:
        """The paper's PDF on disk, fetched once; None (logged) when it cannot be had.

        A failure is remembered for an hour, so a digest to a thousand chats asks arXiv for a
        missing PDF once, not once per chat.
        """
        key = paper.versioned_id
        failed_at = self._pdf_failures.get(key)
        if failed_at is not None and time.monotonic() - failed_at < PDF_RETRY_AFTER:
            return None

        async def fetch() -> Path | None:
            async with self._pdf_limit:
                if not pdf_path(self.settings, paper.id, paper.version).exists():
                    await self._pace_pdf()
                try:
                    return await download_pdf(self.settings, paper.id, paper.version)
                except PdfError as err:
                    log.warning("no PDF for %s: %s", key, err)
                    self._pdf_failures[key] = time.monotonic()
                    return None

        return await self._once(("pdf", key), fetch)

    async def _pace_pdf(self) -> None:
        """Wait for this download's turn: arXiv asks for ARXIV_DELAY_SECONDS between requests."""
        async with self._pdf_pace:
            loop = asyncio.get_running_loop()
            wait = self._pdf_next - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._pdf_next = loop.time() + self.settings.arxiv_delay_seconds

    async def prefetch(self, day: date, subscriptions: list[tuple[str, str]], langs: list[str]) -> None:
        """Enrich what a digest run will show before the chats ask for it, in the order they will:
        every subscription's (topic, query) first paper, then every one's second, and so on (up to
        DIGEST_MAX_PAPERS). Started with all at once, the PDFs download one by one at arXiv's pace
        while the model summarizes those already fetched (LLM_CONCURRENCY at a time) and chats
        are sent each paper as soon as it is ready: a pipeline, instead of each chat waiting in turn."""
        found = [await self.topic_papers(topic, query, day) for topic, query in dict.fromkeys(subscriptions)]
        order: dict[str, Paper] = {}
        for rank in range(self.settings.digest_max_papers):
            for hits in found:
                if rank < len(hits):
                    order.setdefault(hits[rank].id, hits[rank])
        jobs = [self.enrich(p, lang) for p in order.values() for lang in dict.fromkeys(langs)]
        for result in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(result, Exception):
                log.warning("prefetch: %s", result)

    async def figures(self, paper: Paper, *, every: bool = False) -> list[Figure]:
        """Every captioned figure and table of the paper, found once per version; drawn are the
        ones a digest shows (``DIGEST_FIGURES``), or all of them with ``every`` (the CLI)."""
        from . import figures as fig

        render = None if every else self.settings.digest_figures
        found = await self.store.run(fig.cached_figures, paper.id, paper.version)
        if found is None:
            found = await self._once(("figures", paper.versioned_id), lambda: self._extract(paper, render))
        if not any(f.path is None for f in fig.wanted(found, render)):
            return found
        return await self._once(("draw", paper.versioned_id, str(render)), lambda: self._draw(paper, render))

    async def _extract(self, paper: Paper, render: int | None) -> list[Figure]:
        from . import figures as fig

        again = await self.store.run(fig.cached_figures, paper.id, paper.version)
        if again is not None:
            return again
        pdf = await self.pdf(paper)
        if pdf is None:
            return []  # not cached: the PDF may be reachable later
        result = await self._in_figure_server(fig.run_extraction, pdf, fig.figures_dir(self.settings, paper.id, paper.version), render=render)
        # a broken or hostile PDF is recorded with its reason and not tried again
        await self.store.run(fig.save_figures, paper.id, paper.version, result.figures, result.status, result.reason)
        return result.figures

    async def _draw(self, paper: Paper, render: int | None) -> list[Figure]:
        """Draw figures found earlier that are wanted now (a bigger digest, the CLI)."""
        from . import figures as fig

        found = await self.store.run(fig.cached_figures, paper.id, paper.version)
        if found is None or not any(f.path is None for f in fig.wanted(found, render)):
            return found or []
        pdf = await self.pdf(paper)
        if pdf is None:
            return found
        out_dir = fig.figures_dir(self.settings, paper.id, paper.version)
        drawn = await self._in_figure_server(fig.render_figures, pdf, found, out_dir, render=render)
        await self.store.run(fig.save_drawn, paper.id, paper.version, drawn)
        return drawn

    async def _in_figure_server(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One request to the figure server at a time (it uses both cores for one PDF)."""
        from . import figures as fig

        async with self._figure_limit:
            if self._figure_workers is None:
                self._figure_workers = fig.FigureWorkers()
            return await asyncio.to_thread(
                fn,
                *args,
                timeout=self.settings.figure_timeout,
                memory_mb=self.settings.figure_memory_mb,
                workers=self._figure_workers,
                **kwargs,
            )

    async def summary(self, paper: Paper, lang: str) -> Summary:
        """The paper's summary in ``lang``: cached, else one LLM call (or the extractive fallback).

        The summarizer makes concurrent requests for one paper share one call; the PDF is
        fetched only when a model will read it. A summary the model wrote from the abstract
        alone (the PDF was missing) is written again once the PDF can be fetched.
        """
        cached = await self.summarizer.cached(paper, lang)
        if cached is not None and not cached.abstract_only:
            return cached
        pdf = await self.pdf(paper) if self.summarizer.provider_name != "none" else None
        if cached is not None and pdf is None:
            return cached  # written from the abstract, and the PDF is still missing
        return await self.summarizer.summarize(paper, lang, pdf)

    async def enrich(
        self, paper: Paper, lang: str, *, figures: bool = True, summary: bool = True, every_figure: bool = False
    ) -> Enriched:
        """Summary and figures for one paper, each computed once and shared by every chat (the
        figures a digest shows drawn, or all of them with ``every_figure``)."""
        from .figures import may_post_figures

        figures = figures and may_post_figures(self.settings, paper)  # no extraction when not posted
        tasks: list[Any] = []
        tasks.append(self.summary(paper, lang) if summary else _none())
        tasks.append(self._figures_or_none(paper, every_figure) if figures else _empty())
        # the PDF's first page too when the figures or the model fetch the PDF anyway (shared fetch)
        reads_pdf = figures or (summary and self.summarizer.provider_name != "none")
        tasks.append(self.links(paper, fetch=reads_pdf))
        s, figs, links = await asyncio.gather(*tasks)
        return Enriched(paper, s, list(figs), links=links)

    async def links(self, paper: Paper, *, fetch: bool = False) -> list[Link]:
        """Code, data and project links from the abstract, the comment and its PDF's first page
        (when the PDF is on disk, or ``fetch``: it is being fetched anyway); never from a model."""
        key = paper.versioned_id
        pdf = pdf_path(self.settings, paper.id, paper.version)
        if fetch and not pdf.is_file():
            try:
                await self.pdf(paper)
            except Exception:  # links are a bonus: the abstract's still count
                log.exception("fetching the PDF of %s for its links failed", key)
        have_pdf = pdf.is_file()
        known = self._links.get(key)
        if known is not None and known[0] == have_pdf:
            return known[1]
        first = ""
        if have_pdf:
            try:
                first = await self.summarizer.pdf_worker.run(first_page_text, str(pdf))
            except Exception as err:  # a broken PDF: the abstract's links still count
                log.info("no first-page text of %s: %s", key, err)
        found = find_links(paper.abstract, paper.comment, first_page=first)
        self._links[key] = (have_pdf, found)
        while len(self._links) > 512:
            self._links.pop(next(iter(self._links)))
        return found

    async def _figures_or_none(self, paper: Paper, every: bool = False) -> list[Figure]:
        """Figures are a bonus: whatever goes wrong there, the summary still goes out."""
        try:
            return await self.figures(paper, every=every)
        except Exception:
            log.exception("figures of %s failed; sending without", paper.versioned_id)
            return []

    async def spend_llm(self, platform: str, user_id: str, paper: Paper, lang: str, *, asking: bool = False) -> None:
        """Charge a person's hourly allowance for a model call, or raise :class:`RateLimited`.

        Free when no model runs: no provider, or (for a summary) one that is cached already.
        """
        if self.summarizer.provider_name == "none":
            return
        if not asking and await self.summarizer.cached(paper, lang) is not None:
            return  # served from the cache: no model call
        await self._take_allowance(platform, user_id, paper.id)

    async def ask(self, paper: Paper, question: str, lang: str) -> str:
        pdf = None
        if self.summarizer.provider_name != "none":
            pdf = await self.pdf(paper)
        return await self.summarizer.ask(paper, question, lang, pdf)

    async def search(self, query: str, n: int = 5) -> list[Paper]:
        """The arXiv API's top ``n`` for a query (one request; in the same one-place line as
        lookups, so people's searches never crowd the harvest out of arXiv's gate)."""
        async with self._lookup_slot:
            papers = await asyncio.to_thread(self.api.search, query, n)
        if papers:
            await self.store.run(Store.upsert_papers, papers)
        return papers


async def _none() -> None:
    return None


async def _empty() -> list[Any]:
    return []
