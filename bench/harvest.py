"""Harvest benchmark: a real listing day through the real RSS parsing, store and matching.

Run: ``.venv/bin/python -m bench.harvest`` (needs ../shared/data/listings).

For each shared listing day, the fake arXiv on 127.0.0.1 serves the day as rss.arxiv.org and
export.arxiv.org would; paperbot harvests it with arXiv's 3 s waits set to 0 (they are counted,
not slept: requests × 3 s is what arXiv's terms add in production). Printed per day: papers,
seconds (parse + store + match every catalogue topic + the API metadata call), arXiv requests,
and what 元宇宙/虚拟人 matched. Then the largest day again with 1,000 custom queries, and a
baseline measured in the same run: json-parsing the listing and inserting it into SQLite
with sqlite-utils (the floor any harvest pays), as a ratio.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlite_utils import Database

from bot.arxiv_api import ArxivAPI
from bot.harvest import Harvester
from bot.match import match
from bot.settings import Settings
from bot.store import Store
from bot.topics import Catalogue
from tests.fakes.arxiv import FakeArxiv, load_listing
from tests.fakes.server import serve

LISTINGS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "listings"


def custom_queries(papers: list[dict], n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = [w for p in papers for w in p["title"].split() if w.isalpha() and len(w) > 4]
    out = []
    for _ in range(n):
        a, b, c = rng.sample(words, 3)
        out.append(f'ti:"{a} {b}" OR abs:{c} ANDNOT cat:math.OC')
    return out


def harvest_day(day: date, entries: list[dict], all_categories: bool, extra: list[str] = ()) -> tuple[float, int, dict, int]:
    fake = FakeArxiv(rss_categories_filter=not all_categories)
    fake.add_day(day, entries)
    fake.rss_day = day
    with serve(fake.app()) as srv, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            data_dir=Path(tmp),
            arxiv_delay_seconds=0,
            arxiv_api_url=f"{srv.url}/api/query",
            arxiv_rss_url=f"{srv.url}/rss/",
        )
        store = Store(settings.db_path)
        api = ArxivAPI(settings)
        harvester = Harvester(store, api, Catalogue.load())
        now = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
        started = time.perf_counter()
        report = harvester.harvest(now=now, extra_queries=list(extra))
        seconds = time.perf_counter() - started
        stored = store.count_papers()
        api.close()
        store.close()
    return seconds, report.requests, report.matched, stored


def baseline(path: Path) -> float:
    started = time.perf_counter()
    entries = load_listing(path)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "b.db")
        db["papers"].insert_all(
            [{k: (str(v) if isinstance(v, list) else v) for k, v in e.items()} for e in entries], pk="id"
        )
    return time.perf_counter() - started


def main() -> None:
    files = sorted(LISTINGS.glob("dw-dengwei_2026-06-??.jsonl"))
    if not files:
        raise SystemExit(f"needs {LISTINGS} (real listing days)")
    print("day         unique  stored  seconds  requests  元宇宙/虚拟人 matched (ids)")
    biggest = None
    for f in files:
        day = date.fromisoformat(f.stem.split("_")[1])
        entries = load_listing(f)
        seconds, requests, matched, stored = harvest_day(day, entries, all_categories=True)
        cat = Catalogue.load()
        from bot.models import Paper

        papers = [Paper(id=e["id"], title=e["title"], abstract=e["summary"], authors=e["authors"],
                        categories=e["categories"], comment=e["comment"]) for e in entries]
        vh = match(papers, {"vh": cat.resolve("虚拟人").query})["vh"]
        print(f"{day}  {len(entries):6d}  {stored:6d}  {seconds:7.2f}  {requests:8d}  {matched['元宇宙/虚拟人']:3d}  "
              + ", ".join(f"{p.id} {p.title[:40]}" for p in vh))
        if biggest is None or len(entries) > len(biggest[1]):
            biggest = (day, entries, f)
    day, entries, path = biggest
    runs = []
    for _ in range(3):
        runs.append(harvest_day(day, entries, all_categories=True)[0])
    base = statistics.median(baseline(path) for _ in range(3))
    extra = custom_queries(entries, 1000)
    with_custom = statistics.median(harvest_day(day, entries, all_categories=True, extra=extra)[0] for _ in range(3))
    print()
    print(f"largest day {day}: {len(entries)} papers")
    print(f"  harvest (parse RSS, store, match 6 topics, API metadata): median {statistics.median(runs):.2f} s")
    print(f"  same + 1,000 custom queries:                             median {with_custom:.2f} s")
    print(f"  baseline (json parse + sqlite-utils insert of the listing): median {base:.2f} s")
    print(f"  ratio harvest / baseline: {statistics.median(runs) / base:.1f}x; "
          f"with 1,000 queries: {with_custom / base:.1f}x")
    print("  arXiv's mandated waits are excluded (ARXIV_DELAY_SECONDS=0); in production each request adds 3 s.")


if __name__ == "__main__":
    main()
