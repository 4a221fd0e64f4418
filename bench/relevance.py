"""Relevance on hand-labelled listing days: does a topic find the papers its readers want?

``python -m bench.relevance [--labels PATH]`` reads ``../shared/data/relevance/labels.tsv``
(papers labelled Y / B against CRITERIA.md; B counts neither way; every other paper of a
labelled day is N) and the listing days it names from ``../shared/data/listings``, then prints
per topic recall and precision for:

* the old blog's query (``ti:"Virtual Avatar" OR ti:Metaverse OR ti:Avatar``; for the other
  topics a title phrase in its style),
* the topic's keyword query alone,
* the matcher without a key (concepts + keyword query, :mod:`bot.match.score`),
* a plain-text interest (``about: ...``) written from CRITERIA.md's first sentence;

then the LLM judge's requests per topic and announcement through the fake Gemini (first run
and again, cached, with 1 and 1,000 chats asking), and the time to score one announcement day
for every catalogue topic against a plain keyword match of the same topics (the baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pydantic import SecretStr

from bot.core import Paperbot
from bot.match import judge, match, score_papers
from bot.match.score import about_matcher
from bot.models import Announcement, Paper
from bot.query import parse_query
from bot.settings import Settings
from bot.store import Store
from bot.topics import Catalogue

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
TOPICS = {"virtual_human": "元宇宙/虚拟人", "talking_head": "Talking Head Generation", "3dgs": "3DGS"}
OLD_BLOG = {  # the old blog's 元宇宙/虚拟人 query (Kedreamix/AutoFX configs.py); title phrases in its style for the others
    "virtual_human": 'ti:"Virtual Avatar" OR ti:Metaverse OR ti:Avatar',
    "talking_head": 'ti:"Talking Head"',
    "3dgs": 'ti:"Gaussian Splatting"',
}
INTERESTS = {  # what a person might type after /subscribe about:
    "virtual_human": "virtual humans and avatars: reconstruction, generation and animation of digital humans, "
    "talking heads, human motion generation, virtual try-on and garments, 3D face and body models",
    "talking_head": "audio-driven talking head and talking face video generation, lip sync and speech-driven "
    "facial animation",
    "3dgs": "3D Gaussian splatting: scene reconstruction and rendering with Gaussian primitives",
}


def load_day(path: Path) -> list[Paper]:
    seen: dict[str, Paper] = {}
    for line in path.open(encoding="utf-8"):
        e = json.loads(line)
        if e["id"] not in seen:
            seen[e["id"]] = Paper(
                id=e["id"], title=e["title"], abstract=e["summary"], authors=e["authors"],
                categories=e["categories"], comment=e["comment"],
            )  # fmt: skip
    return list(seen.values())


def load_labels(path: Path) -> tuple[dict[str, list[Paper]], dict[tuple[str, str, str], str]]:
    labels: dict[tuple[str, str, str], str] = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            labels[(row["day"], row["id"], row["topic"])] = row["label"]
    days = {}
    for day in sorted({d for d, _, _ in labels}):
        listing = SHARED / "listings" / f"dw-dengwei_{day}.jsonl"
        days[day] = load_day(listing)
    return days, labels


def store_day(settings: Settings, day: date, papers: list[Paper]) -> None:
    """Store ``papers`` as the announcement of ``day`` (what a harvest or an import leaves)."""
    for p in papers:
        p.announced, p.announce_type = day, "new"
    store = Store(settings.db_path)
    try:
        store.upsert_papers(papers)
        store.record_announcement(Announcement(day, ("cs.CV",), len(papers), "stored"), [(p.id, "new") for p in papers])
    finally:
        store.close()


def recall_precision(
    days: dict[str, list[Paper]], labels: dict[tuple[str, str, str], str], topic: str, taken: Callable[[str, Paper], bool]
) -> tuple[float, float, int]:
    tp = fp = fn = 0
    for day, papers in days.items():
        for p in papers:
            label = labels.get((day, p.id, topic), "N")
            if label == "B":
                continue
            hit = taken(day, p)
            tp += hit and label == "Y"
            fp += hit and label != "Y"
            fn += (not hit) and label == "Y"
    return (tp / (tp + fn) if tp + fn else 0.0), (tp / (tp + fp) if tp + fp else 0.0), tp + fn


def quality(days: dict[str, list[Paper]], labels: dict[tuple[str, str, str], str]) -> list[tuple[str, ...]]:
    catalogue = Catalogue.load()
    rows = []
    for key, name in TOPICS.items():
        topic = catalogue.resolve(name)
        scored: dict[str, set[str]] = {}
        about: dict[str, set[str]] = {}
        for day, papers in days.items():
            verdicts = score_papers(papers, [topic.matcher(), about_matcher("about", INTERESTS[key])])
            scored[day] = {v.paper_id for v in verdicts[name] if v.taken}
            about[day] = {v.paper_id for v in verdicts["about"] if v.taken}
        old = parse_query(OLD_BLOG[key])
        kw = topic.parsed
        for label, fn in [
            ("old blog query", lambda d, p, q=old: q.matches(p)),
            ("keyword query alone", lambda d, p, q=kw: q.matches(p)),
            ("matcher, no key", lambda d, p, s=scored: p.id in s[d]),
            ("plain-text interest, no key", lambda d, p, s=about: p.id in s[d]),
        ]:
            r, pr, n = recall_precision(days, labels, key, fn)
            rows.append((name, label, f"{r:.2f}", f"{pr:.2f}", str(n)))
    return rows


def timing(papers: list[Paper], repeat: int) -> tuple[float, float]:
    catalogue = Catalogue.load()
    queries = {t.name: t.query for t in catalogue.topics}
    base, ours = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        match(papers, queries)
        base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        score_papers(papers, [t.matcher() for t in catalogue.topics])
        ours.append(time.perf_counter() - t0)
    return statistics.median(ours), statistics.median(base)


async def judge_requests(day: str, papers: list[Paper], chats: int) -> list[tuple[str, int, int, int, int]]:
    """Judge requests per topic for one announcement through the fake Gemini: first, again."""
    from tests.fakes.gemini import FakeGemini
    from tests.fakes.server import serve

    fake = FakeGemini()
    rows = []
    with serve(fake.app()) as server, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None, data_dir=Path(tmp), llm_provider="gemini", gemini_api_key=SecretStr("test-key"),
            gemini_base_url=server.url, gemini_model="gemini-test-flash", arxiv_delay_seconds=0,
            arxiv_api_url="http://127.0.0.1:9/api/query",
        )  # fmt: skip
        d = date.fromisoformat(day)
        store_day(settings, d, papers)
        for name in TOPICS.values():
            before = len(fake.generate_calls)
            async with Paperbot(settings) as core:
                topic = core.catalogue.resolve(name)
                verdicts = score_papers(papers, [topic.matcher()])[name]
                n_cands = len(judge.candidates(topic.matcher(), verdicts))
                await asyncio.gather(*(core.verdicts(d, name, topic.query) for _ in range(chats)))
            first = len(fake.generate_calls) - before
            async with Paperbot(settings) as core:  # a new process: the cache is in the database
                await core.verdicts(d, name, topic.query)
            again = len(fake.generate_calls) - before - first
            rows.append((name, n_cands, judge.requests_needed(n_cands), first, again))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=Path, default=SHARED / "relevance" / "labels.tsv")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chats", type=int, default=1000, help="chats asking for the same topic at once")
    args = ap.parse_args()
    if not args.labels.exists():
        sys.exit(f"needs {args.labels} (../shared/data), which is absent")
    days, labels = load_labels(args.labels)
    print(f"labelled days: {', '.join(days)} ({sum(map(len, days.values()))} papers)\n")
    print("| topic | matcher | recall | precision | wanted |\n|---|---|---|---|---|")
    for row in quality(days, labels):
        print("| " + " | ".join(row) + " |")

    biggest = max(days, key=lambda d: len(days[d]))
    ours, base = timing(days[biggest], args.repeat)
    print(f"\nscoring {biggest} ({len(days[biggest])} papers, {len(Catalogue.load().topics)} topics): "
          f"{ours:.3f} s; keyword match baseline {base:.3f} s; ratio {ours / base:.1f}x")  # fmt: skip

    print(f"\nLLM judge through the fake Gemini, {biggest}, {args.chats} chats asking at once:")
    print("| topic | candidates | bound ⌈c/20⌉ | requests | requests again (cached) |\n|---|---|---|---|---|")
    for name, cands, bound, first, again in asyncio.run(judge_requests(biggest, days[biggest], args.chats)):
        print(f"| {name} | {cands} | {bound} | {first} | {again} |")
        assert first <= max(bound, 0) and again == 0, "the judge made more requests than its bound"



if __name__ == "__main__":
    main()
