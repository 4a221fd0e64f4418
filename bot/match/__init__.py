"""The match stage: which stored papers each topic, custom query and interest takes, and why.

* :mod:`bot.match.signals`: the local, key-free signals (keyword query, weighted concepts,
  similarity to a description);
* :mod:`bot.match.score`: a score and a decision per (paper, topic) from those signals;
* :mod:`bot.match.judge`: with an LLM key, the model settles the papers near a topic's line, in
  batches, cached per (paper, topic, model).

Each paper is tokenised once (:class:`~bot.query.PaperIndex`), so one harvested day serves
every topic of every chat; scoring happens once per paper and topic, never per chat.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..models import Paper
from ..query import PaperIndex, parse_query
from .score import Matcher, Verdict, score_papers

__all__ = ["Matcher", "Verdict", "match", "match_any", "score_papers", "taken"]


def match(papers: Iterable[Paper], queries: Mapping[str, str]) -> dict[str, list[Paper]]:
    """``{topic: [papers the arXiv query matches]}``, papers in input order (plain keyword match)."""
    parsed = {topic: parse_query(q) for topic, q in queries.items()}
    out: dict[str, list[Paper]] = {topic: [] for topic in queries}
    for paper in papers:
        doc = PaperIndex.of(paper)
        for topic, q in parsed.items():
            if q.root.matches(doc):
                out[topic].append(paper)
    return out


def match_any(papers: Iterable[Paper], queries: Mapping[str, str]) -> list[tuple[Paper, list[str]]]:
    """Each paper matching at least one query, once, with the topics it matched (keyword match)."""
    parsed = {topic: parse_query(q) for topic, q in queries.items()}
    out: list[tuple[Paper, list[str]]] = []
    for paper in papers:
        doc = PaperIndex.of(paper)
        hits = [topic for topic, q in parsed.items() if q.root.matches(doc)]
        if hits:
            out.append((paper, hits))
    return out


def taken(papers: Sequence[Paper], matchers: Sequence[Matcher]) -> dict[str, list[Paper]]:
    """``{topic: [papers it takes]}``, most relevant first: the scored counterpart of :func:`match`."""
    by_id = {p.id: p for p in papers}
    out: dict[str, list[Paper]] = {}
    for topic, verdicts in score_papers(papers, matchers).items():
        ranked = sorted((v for v in verdicts if v.taken), key=lambda v: -v.score)
        out[topic] = [by_id[v.paper_id] for v in ranked]
    return out
