"""Talking to arXiv: the announcement RSS feed and the query API, politely.

arXiv's terms ask for one request at a time, at least 3 s apart, and backing off on 429/503.
One :class:`ArxivAPI` per process does all of it: the ``arxiv`` package's client (its own
delay between pages and retries), a ``requests`` session whose urllib3 ``Retry`` backs off on
429/503 and honours ``Retry-After``, a timeout on every request, a lock so calls never overlap,
and a counter of the requests actually made (reported by ``paperbot harvest``).
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import arxiv
import feedparser
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .errors import ArxivUnavailable, FeedError
from .ids import split_version
from .models import Paper
from .settings import Settings

log = logging.getLogger(__name__)

ARXIV_TZ = ZoneInfo("America/New_York")
_WITHDRAWN = re.compile(r"\b(withdrawn|retracted)\b", re.IGNORECASE)


class _TimeoutAdapter(HTTPAdapter):
    """An adapter that puts a timeout on every request (the arxiv client sets none)."""

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


@dataclass
class RssItem:
    paper: Paper
    announce_type: str  # new | cross | replace | replace-cross


@dataclass
class RssFeed:
    day: date | None  # the listing day the feed announces; None when it is empty
    items: list[RssItem]


class ArxivAPI:
    """arXiv's RSS and query API behind one polite, counted, thread-safe gate."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.requests = 0
        self.waited = 0.0  # seconds slept to keep arXiv's pace (reported, excluded from timings)
        self._lock = threading.Lock()
        self._last = 0.0
        self.session = requests.Session()
        retry = Retry(  # rate limits and overload are worth waiting out; a dead network is not
            total=settings.arxiv_retries,
            connect=min(1, settings.arxiv_retries),
            read=min(1, settings.arxiv_retries),
            status=settings.arxiv_retries,
            backoff_factor=settings.arxiv_delay_seconds,
            backoff_max=120,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = _TimeoutAdapter(settings.arxiv_timeout, max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "paperbot/0.1 (+https://github.com/paperbot)"
        self.session.hooks["response"].append(self._count)
        # the client's own retries are for arXiv's occasional empty page; HTTP errors are retried above
        self.client = arxiv.Client(page_size=100, delay_seconds=settings.arxiv_delay_seconds, num_retries=1)
        self.client.query_url_format = settings.arxiv_api_url.rstrip("?") + "?{}"
        self.client._session = self.session

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        retries = getattr(response.raw, "retries", None)
        self.requests += 1 + (len(retries.history) if retries is not None else 0)

    def _wait_turn(self) -> None:
        gap = self.settings.arxiv_delay_seconds - (time.monotonic() - self._last)
        if gap > 0:
            self.waited += gap
            time.sleep(gap)

    def close(self) -> None:
        self.session.close()

    # ---- RSS --------------------------------------------------------------------------
    def rss(self, categories: Sequence[str]) -> RssFeed:
        """The latest announcement for these categories: one request."""
        url = self.settings.arxiv_rss_url.rstrip("/") + "/" + "+".join(categories)
        with self._lock:
            self._wait_turn()
            try:
                resp = self.session.get(url)
            except requests.RequestException as err:
                raise ArxivUnavailable(f"RSS: {type(err).__name__}") from err
            finally:
                self._last = time.monotonic()
        if resp.status_code != 200:
            raise ArxivUnavailable(f"RSS: HTTP {resp.status_code}")
        return parse_rss(resp.content)

    # ---- API ----------------------------------------------------------------------------
    def by_ids(self, ids: Sequence[str]) -> list[Paper]:
        """Full metadata for these papers, ≤100 ids a request. Unknown ids are left out."""
        out: list[Paper] = []
        for start in range(0, len(ids), 100):
            chunk = list(ids[start : start + 100])
            out.extend(self._run(arxiv.Search(id_list=chunk, max_results=len(chunk))))
        return out

    def search(
        self, query: str, max_results: int | None = 10, *, newest_first: bool = False, page_size: int = 100
    ) -> list[Paper]:
        sort = arxiv.SortCriterion.SubmittedDate if newest_first else arxiv.SortCriterion.Relevance
        if max_results is not None:
            page_size = max(1, min(page_size, max_results))  # /search asks for 5, not 100
        return self._run(arxiv.Search(query=query, max_results=max_results, sort_by=sort), page_size)

    def _run(self, search: arxiv.Search, page_size: int = 100) -> list[Paper]:
        with self._lock:
            self._wait_turn()
            self.client.page_size = page_size
            try:
                results = list(self.client.results(search))
            except arxiv.HTTPError as err:
                if err.status == 400:
                    return []  # arXiv's answer to an id it does not know the format of
                raise ArxivUnavailable(f"API: HTTP {err.status}") from err
            except (arxiv.UnexpectedEmptyPageError, requests.RequestException) as err:
                raise ArxivUnavailable(f"API: {type(err).__name__}") from err
            finally:
                self._last = time.monotonic()
        return [paper_from_result(r) for r in results if "/api/errors" not in r.entry_id]


def paper_from_result(r: arxiv.Result) -> Paper:
    """An ``arxiv.Result`` as our Paper: full metadata, versionless key."""
    pid, version = split_version(r.get_short_id())
    cats = list(dict.fromkeys([r.primary_category, *r.categories])) if r.primary_category else list(r.categories)
    comment = (r.comment or "").strip() or None
    return Paper(
        id=pid,
        version=version,
        title=" ".join(r.title.split()),
        abstract=" ".join(r.summary.split()),
        authors=[a.name for a in r.authors],
        categories=[c for c in cats if c],
        comment=comment,
        journal_ref=r.journal_ref or None,
        doi=r.doi or None,
        published=_utc(r.published),
        updated=_utc(r.updated),
        pdf_url=r.pdf_url,
        announce_type="api",
        has_full_metadata=True,
        withdrawn=bool(comment and _WITHDRAWN.search(comment)),
    )


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None or dt.year < 1990:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# ---- RSS parsing -------------------------------------------------------------------------

_ANNOUNCE = re.compile(r"Announce Type:\s*([\w-]+)", re.IGNORECASE)
_ABSTRACT = re.compile(r"Abstract:\s*(.*)\Z", re.DOTALL)


def parse_rss(content: bytes | str) -> RssFeed:
    """Parse rss.arxiv.org's feed: the listing day and every item with its announce type.

    Raises :class:`FeedError` when the body is not an RSS feed at all (an HTML error page,
    truncated XML); an empty channel (weekends, holidays) is a feed with ``day=None``.
    """
    parsed = feedparser.parse(content)
    channel = parsed.get("feed", {})
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, feedparser.CharacterEncodingOverride):
        raise FeedError(f"RSS is malformed: {problem}")
    if not channel.get("title") and not parsed.get("entries"):
        raise FeedError("RSS has no channel")
    items = []
    for e in parsed.get("entries", []):
        item = _rss_item(e)
        if item is not None:
            items.append(item)
    day = None
    if items:
        stamp = channel.get("published") or channel.get("updated") or ""
        day = _feed_day(stamp)
        if day is None:
            day = _feed_day(parsed["entries"][0].get("published", ""))
    return RssFeed(day=day, items=items)


def _feed_day(stamp: str) -> date | None:
    try:
        dt = email.utils.parsedate_to_datetime(stamp)
    except (TypeError, ValueError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(ARXIV_TZ).date()


def _rss_item(e: Any) -> RssItem | None:
    guid = e.get("id", "") or e.get("guid", "")
    m = re.search(r"arXiv\.org:(.+)$", guid) or re.search(r"arxiv\.org/abs/(.+)$", e.get("link", ""))
    if not m:
        return None
    try:
        pid, version = split_version(m.group(1).strip())
    except ValueError:
        return None
    description = e.get("summary", "") or ""
    kind = (e.get("arxiv_announce_type") or "").strip().lower()
    if not kind:
        km = _ANNOUNCE.search(description)
        kind = km.group(1).lower() if km else "new"
    am = _ABSTRACT.search(description)
    abstract = am.group(1) if am else description
    authors_text = e.get("author", "") or ""
    authors = [a.strip() for a in re.split(r",\s*|\s+and\s+", authors_text) if a.strip()]
    categories = [t.get("term") for t in e.get("tags", []) if t.get("term")]
    return RssItem(
        paper=Paper(
            id=pid,
            version=version,
            title=" ".join((e.get("title") or "").split()),
            abstract=" ".join(abstract.split()),
            authors=authors,
            categories=categories,
            license=(e.get("rights") or "").strip() or None,
            announce_type=kind,
        ),
        announce_type=kind,
    )

