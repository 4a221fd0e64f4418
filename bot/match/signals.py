"""The signals a topic's score is made of, one function each, all local and key-free.

Each signal looks at one paper (tokenised once, :class:`~bot.query.PaperIndex`) and returns a
:class:`Signal`: how much evidence it adds (a number on the topic's evidence scale, where the
topic's ``threshold`` is the line between taken and not) and a short reason a reader can check.
:func:`bot.match.score.score_paper` adds them up; adding a signal is one function here and one
line in :data:`bot.match.score.SIGNALS`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..query import Node, Op, PaperIndex, Query, Term, stem, words

FOCUS_WORDS = 3  # how many of a description's words make a full match (see similarity)
TITLE_BONUS = 1.5  # a concept named in the title is the paper's subject, not a passing mention


@dataclass(frozen=True)
class Signal:
    name: str
    evidence: float
    reason: str = ""


@dataclass(frozen=True)
class Concept:
    """One weighted rule of a topic: an arXiv query whose match adds (or, negative, removes) evidence."""

    weight: float
    query: Query
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or first_terms(self.query, 2)


def first_terms(query: Query, n: int = 3) -> str:
    """The first ``n`` terms of a query, for a reason line ("avatar, metaverse…")."""
    out = [t.raw for t in _positive_terms(query.root)][: n + 1]
    return ", ".join(out[:n]) + ("…" if len(out) > n else "")


def matched_terms(query: Query, doc: PaperIndex, n: int = 3) -> list[str]:
    """Which terms of ``query`` the paper contains (the "why" of a keyword hit)."""
    found: list[str] = []
    for term in _positive_terms(query.root):
        if term.raw not in found and term.matches(doc):
            found.append(term.raw)
    found.sort(key=lambda t: -len(t.rstrip("*")))  # the most specific first: "talking head" before "generat*"
    return found[:n]


def _positive_terms(root: Node) -> list[Term]:
    """The query's terms in reading order, less those under ``ANDNOT`` (not evidence for it)."""
    out: list[Term] = []
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Term):
            out.append(node)
        elif isinstance(node, Op):
            negated = node.negated or (False,) * len(node.items)
            stack.extend(item for item, neg in reversed(list(zip(node.items, negated, strict=True))) if not neg)
    return out


def keyword(query: Query | None, doc: PaperIndex, bonus: float) -> Signal | None:
    """The topic's arXiv query: a hit adds ``bonus``."""
    if query is None or not query.root.matches(doc):
        return None
    terms = matched_terms(query, doc)
    return Signal("keyword", bonus, "keyword " + ", ".join(terms))


def concepts(rules: Sequence[Concept], doc: PaperIndex, title: PaperIndex) -> list[Signal]:
    """Each concept rule the paper meets: its weight, ×1.5 when it is met in the title."""
    out: list[Signal] = []
    for rule in rules:
        if rule.query.root.matches(title):
            w = rule.weight * TITLE_BONUS if rule.weight > 0 else rule.weight
            out.append(Signal("concept", w, f"title: {', '.join(matched_terms(rule.query, title, 2))}"))
        elif rule.query.root.matches(doc):
            out.append(Signal("concept", rule.weight, f"abstract: {', '.join(matched_terms(rule.query, doc, 2))}"))
    return out


# ---- description similarity -----------------------------------------------------------------

_STOP = frozenset(
    """a an and are as at be by for from has have in into is it its of on or that the their this to was
    were which with we our us via using based new paper method approach model models propose proposed
    present show results task tasks data performance existing also can than such these those both while
    without within more most only other over under between about them they it's not no any each
    generation generating generate generated modelling modeling 3d""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Description:
    """A plain-text interest ("3D hair modelling and hairstyle generation"), as weighted words.

    Words are stemmed like queries; their weights are inverse document frequencies, taken from
    the papers being scored (a day's announcement), so "hair" outweighs "modelling" without any
    shipped vocabulary. Words the day never saw get the rarest weight.
    """

    text: str
    terms: tuple[str, ...]
    phrases: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, text: str) -> Description:
        raw = [w for w in words(text) if not re.fullmatch(r"[\u4e00-\u9fff]", w)]
        stems = [stem(w) for w in raw]
        keep = [s for s, w in zip(stems, raw, strict=True) if w not in _STOP and len(w) > 1]
        terms = tuple(dict.fromkeys(keep))
        pairs = [
            (stems[i], stems[i + 1])
            for i in range(len(raw) - 1)
            if raw[i] not in _STOP and raw[i + 1] not in _STOP
        ]
        return cls(text, terms, tuple(dict.fromkeys(pairs)))


def document_frequencies(docs: Sequence[PaperIndex]) -> tuple[Counter[str], int]:
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.field("ti")[1] | d.field("abs")[1])
    return df, len(docs)


def similarity(desc: Description, doc: PaperIndex, df: Counter[str], n: int) -> tuple[float, list[str]]:
    """How much of the description's rare vocabulary the paper carries (0..1), and which words.

    Each description word counts with its idf, double in the title; a two-word phrase of the
    description found in the paper counts once more. 1.0 is the description's three rarest
    words in the title.
    """
    if not desc.terms:
        return 0.0, []
    title = doc.field("ti")[1]
    body = doc.field("abs")[1]

    def idf(t: str) -> float:
        return math.log((n + 1) / (df.get(t, 0) + 1)) + 1.0

    weights = {t: idf(t) for t in desc.terms}
    # a description lists alternatives: a paper carrying its three rarest words in the title is a
    # full match, whatever else the description names
    best = 2 * sum(sorted(weights.values(), reverse=True)[:FOCUS_WORDS])
    got = 0.0
    hit: list[str] = []
    for t, w in weights.items():
        if t in title:
            got += 2 * w
            hit.append(t)
        elif t in body:
            got += w
            hit.append(t)
    ti_tokens, abs_tokens = doc.field("ti")[0], doc.field("abs")[0]
    for a, b in desc.phrases:
        if _has_pair(ti_tokens, a, b) or _has_pair(abs_tokens, a, b):
            got += (weights.get(a, 1.0) + weights.get(b, 1.0)) / 2
    hit.sort(key=lambda t: -weights[t])
    return min(1.0, got / best), hit[:4]


def _has_pair(tokens: Sequence[str], a: str, b: str) -> bool:
    return any(tokens[i] == a and tokens[i + 1] == b for i in range(len(tokens) - 1))
