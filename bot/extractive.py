"""A summary without a model, built from sentences of the abstract.

Used when no LLM is configured and when the model fails after its retries, so a digest
still goes out. It only selects and shortens the authors' own sentences (never rewrites
them), so it is in the abstract's language whatever the chat's; callers mark it as
extractive wherever it is shown.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

SUMMARY_MAX = 100
FIELD_MAX = 600
TAKEAWAY_MAX = 220

_ABBREV = re.compile(r"\b(e\.g|i\.e|et al|etc|vs|cf|Fig|Figs|Eq|Eqs|Sec|Tab|resp|approx|no)\.$", re.I)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

# cue phrases, each with a weight: what makes a sentence worth a takeaway
_CUES: list[tuple[re.Pattern[str], float]] = [
    (
        re.compile(
            r"\bwe (propose|present|introduce|develop|design|build|release|show|find|demonstrate)\b", re.I
        ),
        3.0,
    ),
    (
        re.compile(
            r"\b(our|this) (method|approach|model|framework|work|paper|system|dataset|benchmark)\b", re.I
        ),
        1.5,
    ),
    (
        re.compile(
            r"\b(outperform\w*|state[- ]of[- ]the[- ]art|sota|surpass\w*|improv\w*|achiev\w*)\b", re.I
        ),
        2.0,
    ),
    (re.compile(r"\b(first|novel|new)\b", re.I), 1.0),
    (re.compile(r"\d+(\.\d+)?\s*(%|x|×|times|fps|ms|db)", re.I), 2.0),
    (re.compile(r"\b(experiments?|results?|evaluat\w*|benchmarks?)\b", re.I), 1.0),
    (re.compile(r"\b(code|data|models?) (is|are|will be) (publicly )?(available|released)\b", re.I), -1.0),
]
_METHOD = re.compile(
    r"\b(we (propose|present|introduce|develop|design|study|investigate|quantify|explore|analy[sz]e)|"
    r"our (method|approach|model|framework)|in this (paper|work)|"
    r"this (paper|work) (proposes|presents|introduces|studies))\b",
    re.I,
)
_PAST = re.compile(
    r"\b(however|but|although|existing|previous|prior|current|conventional|traditional|"
    r"limit\w*|struggl\w*|fail\w*|suffer\w*|challeng\w*|lack\w*)\b",
    re.I,
)
_RESULT = re.compile(
    r"(\d+(\.\d+)?\s*(%|x|×|fps|ms|db)|\b(outperform\w*|state[- ]of[- ]the[- ]art|experiments?|results?|"
    r"achiev\w*|surpass\w*|evaluat\w*|benchmark\w*)\b)",
    re.I,
)
_STOPWORDS = """a an the of for and or to in on with from by via at as is are be we our this that these those its
it using based towards toward into over under new novel approach method methods model models paper work can which
their than such has have not also more most both between while when where how what learning"""
_STOP = frozenset(_STOPWORDS.split())


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, not split after "e.g.", "et al.", "Fig." or inside numbers."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if not text:
        return []
    parts = re.split(r"(?<=[.!?。！？])\s+(?=[A-Z0-9\"'(\[\u4e00-\u9fff])|(?<=[。！？])", text)
    out: list[str] = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if out and (_ABBREV.search(out[-1]) or len(out[-1]) < 12):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word (or clause) boundary with "…"."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for sep in ("; ", ", ", " "):
        pos = cut.rfind(sep)
        if pos > limit * 0.6:
            cut = cut[:pos]
            break
    return cut.rstrip(" ,;:-") + "…"


def _score(sentence: str, index: int, count: int) -> float:
    score = sum(weight for pattern, weight in _CUES if pattern.search(sentence))
    if index == 0:
        score += 0.5  # the opening usually states the topic
    if index == count - 1:
        score += 0.3  # and the last the outcome
    if len(sentence) < 40:
        score -= 1.0
    if len(sentence) > 350:
        score -= 0.5
    return score


def takeaways(sentences: list[str], most: int = 7) -> list[str]:
    """The abstract's strongest sentences (3–7 when it has them), in the abstract's order.

    An abstract of fewer than three sentences is split at its clauses to reach three.
    """
    pool = list(sentences)
    if len(pool) < 3:
        pool = [c for s in pool for c in _clauses(s)]
    if not pool:
        return []
    want = min(most, max(3, (len(pool) + 1) // 2), len(pool))
    ranked = sorted(range(len(pool)), key=lambda i: -_score(pool[i], i, len(pool)))[:want]
    return [shorten(pool[i], TAKEAWAY_MAX) for i in sorted(ranked)]


def _clauses(sentence: str) -> list[str]:
    parts = [p.strip() for p in re.split(r";\s+|,\s+(?=(?:and|but|while|which|whereas)\s)|:\s+", sentence)]
    return [p for p in parts if len(p) >= 8] or [sentence]


def keywords(title: str, abstract: str, most: int = 6) -> list[str]:
    """Frequent content words and two-word terms of the title and abstract, title words first."""
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z][A-Za-z0-9\-]*", f"{title} {title} {abstract}")
    terms: Counter[str] = Counter()
    for i, w in enumerate(words):
        lw = w.lower()
        if lw in _STOP or len(lw) < 3:
            continue
        terms[w if w.isupper() or any(c.isdigit() for c in w) else lw] += 1
        if i + 1 < len(words) and words[i + 1].lower() not in _STOP and len(words[i + 1]) >= 3:
            terms[f"{lw} {words[i + 1].lower()}"] += 1
    picked: list[str] = []
    for term, n in terms.most_common():
        if n < 2 or len(picked) >= most:
            break
        if any(term in p or p in term for p in picked):
            continue
        picked.append(term)
    return picked


def extract(title: str, abstract: str) -> dict[str, Any]:
    """The summary fields from the abstract alone (see module docstring)."""
    sentences = split_sentences(abstract)
    if not sentences:
        return {
            "summary": shorten(title, SUMMARY_MAX),
            "key_takeaways": [shorten(title, TAKEAWAY_MAX)] if title else [],
            "background": "",
            "past_methods": "",
            "method": "",
            "results": "",
            "conclusion": "",
            "keywords": keywords(title, ""),
        }
    buckets = _buckets(sentences)
    return {
        "summary": shorten(sentences[0], SUMMARY_MAX),
        "key_takeaways": takeaways(sentences),
        **{
            name: _field(buckets[name])
            for name in ("background", "past_methods", "method", "results", "conclusion")
        },
        "keywords": keywords(title, abstract),
    }


def _buckets(sentences: list[str]) -> dict[str, list[str]]:
    """Each sentence in one structured field, so no field repeats another.

    Before the first "we propose" sentence: problems of earlier work go to past_methods,
    the rest to background. From it on: result-like sentences go to results, the last
    sentence (when not a result) to conclusion, the rest to method.
    """
    out: dict[str, list[str]] = {
        k: [] for k in ("background", "past_methods", "method", "results", "conclusion")
    }
    method_at = next((i for i, s in enumerate(sentences) if _METHOD.search(s)), None)
    if method_at is None:  # no "we propose": the first sentence sets the scene, the rest is the work
        method_at = 1 if len(sentences) > 1 else 0
    for i, sentence in enumerate(sentences):
        if i < method_at:
            out["past_methods" if i > 0 and _PAST.search(sentence) else "background"].append(sentence)
        elif i == method_at or _METHOD.search(sentence):
            out["method"].append(sentence)
        elif _RESULT.search(sentence):
            out["results"].append(sentence)
        elif i == len(sentences) - 1:
            out["conclusion"].append(sentence)
        else:
            out["method"].append(sentence)
    return out


def _field(sentences: list[str]) -> str:
    return shorten(" ".join(sentences), FIELD_MAX)


def language_of(text: str) -> str:
    """Return "zh" when most letters of ``text`` are CJK, else "en" (the abstract's language)."""
    cjk = len(_CJK.findall(text))
    latin = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if cjk and cjk >= latin else "en"
