"""A score and a decision per (paper, topic): the signals added up against the topic's threshold.

Three kinds of subscription end up here, each as a :class:`Matcher`:

* a catalogue topic: its weighted concepts (``config/topics.yaml``), its keyword query and
  its description;
* a custom arXiv query: the query alone decides, as arXiv would;
* a plain-text interest (``/subscribe about: 3D hair modelling``): similarity to the text.

Every signal adds evidence on one scale; ``evidence >= threshold`` takes the paper. The score a
reader sees is that margin squashed to 0..1 (0.5 = on the line). The LLM judge
(:mod:`bot.match.judge`), when a key is set, then settles the papers near the line.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..models import Paper
from ..query import PaperIndex, Query, parse_query
from . import signals
from .signals import Concept, Description, Signal

ABOUT = "about:"  # what marks a plain-text interest in a subscription's query column
SIMILARITY_SCALE = 12.0  # a description similarity of 1.0 is worth this much evidence


@dataclass(frozen=True)
class Verdict:
    """What the matcher decided for one paper and topic, and why (one line)."""

    paper_id: str
    topic: str
    score: float  # 0..1; 0.5 is the topic's line
    taken: bool
    why: str
    evidence: float = 0.0
    signals: tuple[Signal, ...] = ()
    judged: str | None = None  # the model's verdict, when one was asked

    def to_json(self, title: str = "") -> dict[str, object]:
        return {
            "id": self.paper_id,
            "title": title,
            "topic": self.topic,
            "score": round(self.score, 3),
            "taken": self.taken,
            "why": self.why,
            "signals": _totals(self.signals),
            "judged": self.judged,
        }


@dataclass
class Matcher:
    """How one topic (or custom query, or description) scores papers."""

    topic: str
    kind: str  # topic | query | about
    query: Query | None = None
    concepts: tuple[Concept, ...] = ()
    description: Description | None = None
    description_text: str = ""
    exemplars: tuple[str, ...] = ()
    threshold: float = 1.0
    keyword_bonus: float = 1.0
    similarity_weight: float = 0.0
    # the day's document frequencies, for the description signal (set by score_papers)
    _df: Counter[str] = field(default_factory=Counter)
    _n: int = 0

    def evidence(self, doc: PaperIndex, title: PaperIndex) -> list[Signal]:
        out: list[Signal] = []
        kw = signals.keyword(self.query, doc, self.keyword_bonus)
        if kw is not None:
            out.append(kw)
        out.extend(signals.concepts(self.concepts, doc, title))
        if self.description is not None and self.similarity_weight:
            sim, hit = signals.similarity(self.description, doc, self._df, self._n)
            if sim > 0:
                out.append(Signal("similarity", sim * self.similarity_weight, f"similar to the description ({', '.join(hit)})"))
        return out

    def verdict(self, paper: Paper, doc: PaperIndex | None = None, title: PaperIndex | None = None) -> Verdict:
        doc = doc or PaperIndex.of(paper)
        title = title or PaperIndex.of(Paper(id=paper.id, title=paper.title))
        found = self.evidence(doc, title)
        total = sum(s.evidence for s in found)
        margin = total - self.threshold
        taken = margin >= 0
        score = 1 / (1 + math.exp(-margin / 2))
        return Verdict(paper.id, self.topic, score, taken, _why(found, taken, total, self.threshold), total, tuple(found))


def _totals(found: Sequence[Signal]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in found:
        out[s.name] = round(out.get(s.name, 0.0) + s.evidence, 2)
    return out


def _why(found: Sequence[Signal], taken: bool, total: float, threshold: float) -> str:
    if not found:
        return "nothing in the title or abstract is about this topic"
    pos = [s for s in found if s.evidence > 0]
    neg = [s for s in found if s.evidence < 0]
    parts = [s.reason for s in sorted(pos, key=lambda s: -s.evidence)[:3]]
    if neg:
        parts.append("against: " + "; ".join(s.reason for s in neg[:2]))
    verb = "taken" if taken else "not taken"
    return f"{verb} ({total:.1f} of {threshold:.1f} needed): " + "; ".join(parts)


def score_papers(papers: Sequence[Paper], matchers: Sequence[Matcher]) -> dict[str, list[Verdict]]:
    """Every paper against every matcher, each paper tokenised once: ``{topic: [verdicts]}``."""
    docs = [PaperIndex.of(p) for p in papers]
    titles = [PaperIndex.of(Paper(id=p.id, title=p.title)) for p in papers]
    if any(m.description is not None and m.similarity_weight for m in matchers):
        df, n = signals.document_frequencies(docs)
        for m in matchers:
            m._df, m._n = df, n
    out: dict[str, list[Verdict]] = {m.topic: [] for m in matchers}
    for paper, doc, title in zip(papers, docs, titles, strict=True):
        for m in matchers:
            out[m.topic].append(m.verdict(paper, doc, title))
    return out


def query_matcher(text: str) -> Matcher:
    """A custom arXiv query: taken when it matches, as on arXiv."""
    return Matcher(topic=text, kind="query", query=parse_query(text), threshold=1.0, keyword_bonus=1.0)


def about_matcher(topic: str, text: str) -> Matcher:
    """A plain-text interest: taken when the paper carries enough of its rare words."""
    return Matcher(
        topic=topic,
        kind="about",
        description=Description.of(text),
        description_text=text,
        threshold=ABOUT_THRESHOLD,
        similarity_weight=SIMILARITY_SCALE,
    )


ABOUT_THRESHOLD = 0.55 * SIMILARITY_SCALE  # measured by bench.relevance (plain-text rows)
