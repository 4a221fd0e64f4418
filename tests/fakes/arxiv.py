"""A fake arXiv on 127.0.0.1: the RSS feed, the query API (Atom) and PDFs, serving real data.

Listing days from ``../shared/data/listings`` (or papers a test makes up) become the RSS feed
rss.arxiv.org would serve for them and the Atom entries export.arxiv.org/api/query would
return, in the current (2025+) formats. Queries are evaluated with arXiv's syntax, including
``submittedDate:[… TO …]`` against submission times placed inside each listing day's window.
Faults can be queued per endpoint: an HTTP status (429, 503, …), ``"timeout"`` (no answer for
longer than the client waits), ``"malformed"`` (broken XML) or ``"empty"``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from bot.harvest import submission_window
from bot.ids import parse_arxiv_id
from bot.models import Paper
from bot.query import parse_query

CC_BY = "http://creativecommons.org/licenses/by/4.0/"
ARXIV_LICENSE = "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"


def load_listing(path: Path) -> list[dict[str, Any]]:
    """A dw-dengwei listing day, de-duplicated by id (the raw files repeat lines)."""
    seen: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            e = json.loads(line)
            seen.setdefault(e["id"], e)
    return list(seen.values())


class FakeArxiv:
    def __init__(self, rss_categories_filter: bool = True) -> None:
        self.days: dict[date, list[dict[str, Any]]] = {}
        self.papers: dict[str, dict[str, Any]] = {}
        self.rss_day: date | None = None
        self.pdfs: dict[str, bytes] = {}
        self.faults: dict[str, list[Any]] = {"rss": [], "api": [], "pdf": []}
        self.log: list[tuple[str, dict[str, str]]] = []
        self.canned: dict[tuple[str, str, str, str], tuple[int, str]] = {}
        self.timeout_seconds = 3.0
        self.trickle: dict[str, float] = {}  # paper id -> seconds between the 1 KB pieces of its PDF
        self.rss_categories_filter = rss_categories_filter

    # ---- data ----------------------------------------------------------------------------
    def add_day(self, day: date, entries: Iterable[dict[str, Any]]) -> None:
        entries = list(entries)
        start, end = submission_window(day)
        span = (end - start).total_seconds()
        for i, e in enumerate(entries):
            e = dict(e)
            e.setdefault("version", 1)
            e.setdefault("license", CC_BY if i % 3 == 0 else ARXIV_LICENSE)
            if "published" not in e:
                e["published"] = start + timedelta(seconds=span * (i + 1) / (len(entries) + 1))
            e["day"] = day
            self.papers[e["id"]] = e
            entries[i] = e
        self.days[day] = entries

    def add_paper(self, entry: dict[str, Any]) -> None:
        """A paper the API knows that no listing day carries (an old paper, a new version)."""
        e = dict(entry)
        e.setdefault("version", 1)
        e.setdefault("license", ARXIV_LICENSE)
        e.setdefault("published", datetime(2023, 9, 13, 17, 0, tzinfo=UTC))
        self.papers[e["id"]] = e

    def add_recorded(self, recorded_json: Path) -> None:
        """Serve a recorded real API response (``{url, status_code, body}``) for its exact query."""
        from urllib.parse import parse_qs, urlparse

        rec = json.loads(recorded_json.read_text(encoding="utf-8"))
        qs = {k: v[0] for k, v in parse_qs(urlparse(rec["url"]).query, keep_blank_values=True).items()}
        key = (qs.get("search_query", ""), qs.get("id_list", ""), qs.get("start", "0"), qs.get("max_results", ""))
        self.canned[key] = (rec["status_code"], rec["body"])

    def requests(self, kind: str | None = None) -> list[dict[str, str]]:
        return [p for k, p in self.log if kind is None or k == kind]

    # ---- the server ------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/rss/{cats}", self._rss)
        app.router.add_get("/api/query", self._api)
        app.router.add_get("/pdf/{pid:.+}", self._pdf)
        return app

    async def _fault(self, kind: str) -> web.Response | None:
        if not self.faults[kind]:
            return None
        fault = self.faults[kind].pop(0)
        if fault == "timeout":
            await asyncio.sleep(self.timeout_seconds)
            return web.Response(status=504, text="timeout")
        if fault == "malformed":
            return web.Response(text="<?xml version='1.0'?><rss><channel><title>x</title><item><title>bro", content_type="application/xml")
        if fault == "html":
            return web.Response(text="<html><body>Service Unavailable</body></html>", content_type="text/html")
        if fault == "empty":
            return web.Response(text=_atom([], 0, 0), content_type="application/atom+xml")
        if isinstance(fault, int):
            headers = {"Retry-After": "0"} if fault in (429, 503) else {}
            return web.Response(status=fault, text=f"HTTP {fault}", headers=headers)
        raise ValueError(fault)

    async def _rss(self, request: web.Request) -> web.Response:
        cats = request.match_info["cats"].split("+")
        self.log.append(("rss", {"cats": "+".join(cats)}))
        if (fault := await self._fault("rss")) is not None:
            return fault
        day = self.rss_day
        items = []
        if day is not None and day in self.days:
            for e in self.days[day]:
                if self.rss_categories_filter and not set(e["categories"]) & set(cats):
                    continue
                kind = e.get("announce_type") or ("new" if e["categories"][0] in cats else "cross")
                items.append((e, kind))
        return web.Response(text=_rss(cats, day, items), content_type="application/rss+xml", charset="utf-8")

    async def _api(self, request: web.Request) -> web.Response:
        q = request.query
        params = {k: q.get(k, "") for k in ("search_query", "id_list", "start", "max_results", "sortBy")}
        self.log.append(("api", params))
        if (fault := await self._fault("api")) is not None:
            return fault
        key = (params["search_query"], params["id_list"], params["start"] or "0", params["max_results"])
        if key in self.canned:
            status, body = self.canned[key]
            return web.Response(status=status, text=body, content_type="application/atom+xml")
        start = int(params["start"] or 0)
        size = int(params["max_results"] or 10)
        if params["id_list"]:
            found = []
            for raw in params["id_list"].split(","):
                try:
                    aid = parse_arxiv_id(raw)
                except Exception:
                    return web.Response(status=400, text=_error_feed(raw), content_type="application/atom+xml")
                if aid.id in self.papers:
                    found.append(self.papers[aid.id])
            matches = found
        elif params["search_query"]:
            query = parse_query(params["search_query"])
            matches = [e for e in self.papers.values() if query.matches(_paper(e))]
            matches.sort(key=lambda e: e["published"], reverse=True)
        else:
            matches = []
        page = matches[start : start + size]
        return web.Response(text=_atom(page, len(matches), start), content_type="application/atom+xml")

    async def _pdf(self, request: web.Request) -> web.Response:
        raw = request.match_info["pid"]
        self.log.append(("pdf", {"id": raw}))
        if (fault := await self._fault("pdf")) is not None:
            return fault
        try:
            aid = parse_arxiv_id(raw)
        except Exception:
            return web.Response(status=404, text="not found")
        body = self.pdfs.get(aid.id)
        if body is None:
            return web.Response(status=404, text="not found")
        if aid.id in self.trickle:
            return await self._trickle(request, body, self.trickle[aid.id])
        return web.Response(body=body, content_type="application/pdf")

    async def _trickle(self, request: web.Request, body: bytes, every: float) -> web.StreamResponse:
        """A server that sends 1 KB, waits ``every`` seconds, sends the next (at most 500 KB)."""
        resp = web.StreamResponse(headers={"Content-Type": "application/pdf", "Content-Length": str(len(body))})
        await resp.prepare(request)
        try:
            for start in range(0, min(len(body), 500 * 1024), 1024):
                await resp.write(body[start : start + 1024])
                await asyncio.sleep(every)
            await resp.write_eof()
        except ConnectionError:  # the client gave up (aiohttp's reset error is one)
            pass
        return resp


def _paper(e: dict[str, Any]) -> Paper:
    return Paper(
        id=e["id"],
        version=e.get("version", 1),
        title=e["title"],
        abstract=e.get("summary", ""),
        authors=e.get("authors", []),
        categories=e.get("categories", []),
        comment=e.get("comment"),
        published=e["published"],
    )


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rss(cats: list[str], day: date | None, items: list[tuple[dict[str, Any], str]]) -> str:
    pub = f"{day.strftime('%a, %d %b %Y')} 00:00:00 -0400" if day else "Sat, 01 Jan 2000 00:00:00 -0500"
    out = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">',
        "  <channel>",
        f"    <title>{escape(', '.join(cats))} updates on arXiv.org</title>",
        f"    <link>http://rss.arxiv.org/rss/{escape('+'.join(cats))}</link>",
        f"    <description>{escape(', '.join(cats))} updates on the arXiv.org e-print archive.</description>",
        "    <docs>http://www.rssboard.org/rss-specification</docs>",
        "    <language>en-us</language>",
        f"    <lastBuildDate>{pub}</lastBuildDate>",
        "    <managingEditor>rss-help@arxiv.org</managingEditor>",
        f"    <pubDate>{pub}</pubDate>",
        "    <skipDays><day>Saturday</day><day>Sunday</day></skipDays>",
    ]
    for e, kind in items:
        vid = f"{e['id']}v{e.get('version', 1)}"
        out += [
            "    <item>",
            f"      <title>{escape(e['title'])}</title>",
            f"      <link>https://arxiv.org/abs/{e['id']}</link>",
            f"      <description>arXiv:{vid} Announce Type: {kind} \nAbstract: {escape(e.get('summary', ''))}</description>",
            f'      <guid isPermaLink="false">oai:arXiv.org:{vid}</guid>',
            *[f"      <category>{escape(c)}</category>" for c in e["categories"]],
            f"      <pubDate>{pub}</pubDate>",
            f"      <arxiv:announce_type>{kind}</arxiv:announce_type>",
            f"      <dc:rights>{escape(e.get('license') or ARXIV_LICENSE)}</dc:rights>",
            f"      <dc:creator>{escape(', '.join(e.get('authors', [])))}</dc:creator>",
            "    </item>",
        ]
    out += ["  </channel>", "</rss>"]
    return "\n".join(out)


def _atom(entries: list[dict[str, Any]], total: int, start: int) -> str:
    out = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns="http://www.w3.org/2005/Atom">',
        "  <id>https://arxiv.org/api/fake</id>",
        "  <title>arXiv Query</title>",
        f"  <updated>{_iso(datetime.now(UTC))}</updated>",
        f"  <opensearch:itemsPerPage>{len(entries)}</opensearch:itemsPerPage>",
        f"  <opensearch:totalResults>{total}</opensearch:totalResults>",
        f"  <opensearch:startIndex>{start}</opensearch:startIndex>",
    ]
    for e in entries:
        vid = f"{e['id']}v{e.get('version', 1)}"
        published = e["published"]
        updated = e.get("updated") or published
        out += [
            "  <entry>",
            f"    <id>http://arxiv.org/abs/{vid}</id>",
            f"    <title>{escape(e['title'])}</title>",
            f"    <updated>{_iso(updated)}</updated>",
            f'    <link href="https://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>',
            f'    <link href="https://arxiv.org/pdf/{vid}" rel="related" type="application/pdf" title="pdf"/>',
            f"    <summary>{escape(e.get('summary', ''))}</summary>",
            *[f'    <category term={quoteattr(c)} scheme="http://arxiv.org/schemas/atom"/>' for c in e["categories"]],
            f"    <published>{_iso(published)}</published>",
        ]
        if e.get("comment"):
            out.append(f"    <arxiv:comment>{escape(e['comment'])}</arxiv:comment>")
        out.append(f"    <arxiv:primary_category term={quoteattr(e['categories'][0])}/>")
        out += [f"    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in e.get("authors", [])]
        out.append("  </entry>")
    out.append("</feed>")
    return "\n".join(out)


def _error_feed(raw: str) -> str:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns="http://www.w3.org/2005/Atom">\n  <id>https://arxiv.org/</id>\n  <title>arXiv Search Results</title>\n'
        "  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>\n  <opensearch:totalResults>1</opensearch:totalResults>\n"
        "  <opensearch:startIndex>0</opensearch:startIndex>\n  <entry>\n"
        f"    <id>https://arxiv.org/api/errors#incorrect_id_format_for_{escape(raw)}</id>\n    <title>Error</title>\n"
        f"    <summary>incorrect id format for {escape(raw)}</summary>\n"
        "    <author>\n      <name>arXiv api core</name>\n    </author>\n  </entry>\n</feed>\n"
    )
