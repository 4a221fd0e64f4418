"""Matching stored papers against topics and custom queries.

Each paper is tokenised once (:class:`~bot.query.PaperIndex`) and every query is a handful of
set lookups on it, so one harvested day serves every topic of every chat.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .models import Paper
from .query import PaperIndex, parse_query


def match(papers: Iterable[Paper], queries: Mapping[str, str]) -> dict[str, list[Paper]]:
    """``{topic: [papers it matches]}`` for ``queries = {topic: query}``, papers in input order."""
    parsed = {topic: parse_query(q) for topic, q in queries.items()}
    out: dict[str, list[Paper]] = {topic: [] for topic in queries}
    for paper in papers:
        doc = PaperIndex.of(paper)
        for topic, q in parsed.items():
            if q.root.matches(doc):
                out[topic].append(paper)
    return out


def match_any(papers: Iterable[Paper], queries: Mapping[str, str]) -> list[tuple[Paper, list[str]]]:
    """Each paper matching at least one query, once, with the topics it matched (a chat's digest)."""
    parsed = {topic: parse_query(q) for topic, q in queries.items()}
    out: list[tuple[Paper, list[str]]] = []
    for paper in papers:
        doc = PaperIndex.of(paper)
        hits = [topic for topic, q in parsed.items() if q.root.matches(doc)]
        if hits:
            out.append((paper, hits))
    return out
