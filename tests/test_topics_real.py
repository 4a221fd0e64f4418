"""The 元宇宙/虚拟人 query against what the old blog really posted, and real listing days."""

from __future__ import annotations

import csv
import re

from bot.match import match, score_papers
from bot.models import Paper
from bot.topics import Catalogue
from tests.conftest import shared_path
from tests.fakes.arxiv import load_listing


def old_blog_pool() -> tuple[dict[str, Paper], dict[str, set[str]]]:
    """Every paper the old blog posted on 2024-12-06 (title and abstract from its posts) and its topics."""
    folder = shared_path("digests")
    topics: dict[str, set[str]] = {}
    with (folder / "kedreamix_picks.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["post_date"] == "2024-12-06":
                topics.setdefault(row["arxiv_id"], set()).add(row["topic"])
    papers: dict[str, Paper] = {}
    for post in folder.glob("kedreamix_2024-12-06_*.md"):
        for section in re.split(r"\n## ", post.read_text(encoding="utf-8"))[1:]:
            m = re.search(r"\*\*Authors:.*?\*\*\s*\n\s*\n(.*?)\n\s*\n\[PDF\]\(https?://arxiv\.org/abs/([^)]+)\)", section, re.S)
            if m:
                papers[m.group(2)] = Paper(id=m.group(2), title=section.split("\n", 1)[0].strip(), abstract=m.group(1))
    return papers, topics


def test_virtual_humans_keyword_query_matches_all_old_blog_picks_and_none_of_the_others() -> None:
    papers, topics = old_blog_pool()
    assert len(topics) == 48 and set(topics) <= set(papers)
    query = Catalogue.load().resolve("虚拟人").query
    hits = {p.id for p in match([papers[i] for i in topics], {"vh": query})["vh"]}
    picks = {i for i, t in topics.items() if "元宇宙/虚拟人" in t}
    assert len(picks) == 5 and picks <= hits
    assert hits - picks == set()  # none of the other 43 papers


def test_virtual_humans_matcher_takes_the_old_blogs_picks_and_its_talking_heads() -> None:
    """The scored topic takes what the old blog posted under 元宇宙/虚拟人, and what CRITERIA.md
    adds to it: the talking heads it posted under their own topic, and other human work."""
    papers, topics = old_blog_pool()
    topic = Catalogue.load().resolve("虚拟人")
    verdicts = score_papers([papers[i] for i in topics], [topic.matcher()])[topic.name]
    taken = {v.paper_id for v in verdicts if v.taken}
    picks = {i for i, t in topics.items() if "元宇宙/虚拟人" in t}
    talking = {i for i, t in topics.items() if "Talking Head Generation" in t}
    assert picks <= taken
    assert len(taken & talking) >= 0.8 * len(talking)
    for pid in taken - picks - talking:
        assert re.search(r"human|avatar|face|body|person", papers[pid].title + papers[pid].abstract, re.I), papers[pid].title


def test_virtual_humans_on_real_listing_days() -> None:
    """What it matches each day: a handful, each about avatars or virtual humans."""
    query = Catalogue.load().resolve("虚拟人").query
    for path in sorted(shared_path("listings").glob("dw-dengwei_2026-06-??.jsonl")):
        entries = load_listing(path)
        papers = [Paper(id=e["id"], title=e["title"], abstract=e["summary"], authors=e["authors"],
                        categories=e["categories"], comment=e["comment"]) for e in entries]  # fmt: skip
        hits = match(papers, {"vh": query})["vh"]
        assert 1 <= len(hits) <= 8, path.name
        for p in hits:
            text = f"{p.title} {p.abstract}".lower()
            assert re.search(r"avatar|virtual human|digital human|metaverse|facial animation|talking", text), p.title
