"""The model as judge: with an LLM key, the papers near a topic's line are settled by the model.

The local score settles most papers of a day (nothing about the topic, or plainly about it);
the ones within :data:`BAND` of the line go to the model with the topic's description, in
batches of up to :data:`BATCH` papers (title and abstract each) per request, answered as JSON
verdicts. A verdict is cached per (paper, topic, model), so an announcement costs at most
⌈candidates / BATCH⌉ requests per topic, whatever the number of chats, and never again. A
failed request leaves those papers to the local decision.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..errors import PaperbotError
from ..models import Paper
from ..store import Store
from .score import Matcher, Verdict

if TYPE_CHECKING:
    from ..core import Paperbot

log = logging.getLogger(__name__)

BATCH = 20  # papers per request
BAND = 3.0  # evidence this close to the line (either side) is the model's to settle
ABSTRACT_CHARS = 1200
TABLE = "match_judgements"


class PaperVerdict(BaseModel):
    id: str = Field(description="The paper's arXiv id, as given.")
    relevant: bool = Field(description="Would a subscriber of this topic want this paper in the digest?")
    reason: str = Field(default="", description="At most 15 words: why.")


class Verdicts(BaseModel):
    verdicts: list[PaperVerdict]


def ensure_tables(store: Store) -> None:
    store.ensure_table(
        TABLE,
        {"paper_id": str, "topic": str, "model": str, "relevant": int, "reason": str, "at": str},
        pk=("paper_id", "topic", "model"),
    )


def _cached(store: Store, topic: str, model: str, ids: Sequence[str]) -> dict[str, tuple[bool, str]]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = store.db.query(
        f"select paper_id, relevant, reason from {TABLE} where topic = ? and model = ? and paper_id in ({marks})",
        [topic, model, *ids],
    )
    return {r["paper_id"]: (bool(r["relevant"]), r["reason"] or "") for r in rows}


def _save(store: Store, topic: str, model: str, found: dict[str, tuple[bool, str]]) -> None:
    at = datetime.now(UTC).isoformat(timespec="seconds")
    rows = [
        {"paper_id": i, "topic": topic, "model": model, "relevant": int(ok), "reason": why[:200], "at": at}
        for i, (ok, why) in found.items()
    ]
    with store.db.conn:
        store.db[TABLE].upsert_all(rows, pk=("paper_id", "topic", "model"))


def candidates(matcher: Matcher, verdicts: Sequence[Verdict]) -> list[Verdict]:
    """The papers the local score cannot settle: some evidence for the topic, near its line."""
    if matcher.kind == "query":
        return []  # a custom arXiv query means what it says, as on arXiv
    return [v for v in verdicts if v.evidence > 0 and abs(v.evidence - matcher.threshold) <= BAND]


def requests_needed(n_candidates: int) -> int:
    return math.ceil(n_candidates / BATCH)


def system_prompt() -> str:
    return (
        "You are a relevance judge for a research digest. For each paper, decide whether a member of a "
        "chat subscribed to the topic below would want it in the day's digest, judging from its title and "
        "abstract as a researcher of that field would. Answer with JSON: "
        '{"verdicts": [{"id": "...", "relevant": true|false, "reason": "at most 15 words"}]}, '
        "one verdict per paper, ids exactly as given."
    )


def batch_prompt(matcher: Matcher, papers: Sequence[Paper]) -> str:
    about = matcher.description_text or matcher.topic
    parts = [f"Topic: {matcher.topic}\nWhat subscribers want: {about}"]
    if matcher.exemplars:
        parts.append("Papers they wanted before: " + "; ".join(matcher.exemplars))
    parts.append("\nPapers:")
    for p in papers:
        abstract = " ".join(p.abstract.split())[:ABSTRACT_CHARS]
        parts.append(f"\n[{p.id}] {' '.join(p.title.split())}\n{abstract}")
    return "\n".join(parts)


async def settle(core: Paperbot, matcher: Matcher, papers: Sequence[Paper], verdicts: list[Verdict]) -> list[Verdict]:
    """``verdicts`` with the model's word on the candidates near the line (cached, batched)."""
    cands = candidates(matcher, verdicts)
    if not cands:
        return verdicts
    summarizer = core.summarizer
    model = summarizer.provider_name
    ids = [v.paper_id for v in cands]
    known = await core.store.run(_cached, matcher.topic, model, ids)
    todo = [i for i in ids if i not in known]
    by_id = {p.id: p for p in papers}
    for start in range(0, len(todo), BATCH):
        chunk = [by_id[i] for i in todo[start : start + BATCH]]
        try:
            reply = await summarizer.complete_json(
                f"match:{matcher.topic}", system=system_prompt(), prompt=batch_prompt(matcher, chunk), schema=Verdicts
            )
            found = {
                v.id.strip(): (v.relevant, " ".join(v.reason.split()))
                for v in reply.verdicts
                if v.id.strip() in {p.id for p in chunk}
            }
        except (PaperbotError, ValueError) as err:
            log.warning("the model could not judge %d papers for %s: %s", len(chunk), matcher.topic, err)
            continue
        if found:
            await core.store.run(_save, matcher.topic, model, found)
            known.update(found)
    out: list[Verdict] = []
    for v in verdicts:
        judged = known.get(v.paper_id)
        if judged is None:
            out.append(v)
            continue
        ok, reason = judged
        verb = "taken" if ok else "not taken"
        why = f"{verb}, the model's verdict ({model}): {reason or ('relevant' if ok else 'not relevant')}; local: {v.why}"
        score = max(v.score, 0.75) if ok else min(v.score, 0.25)
        out.append(replace(v, taken=ok, score=score, why=why, judged="yes" if ok else "no"))
    return out


class Interest(BaseModel):
    english: str = Field(description="The research interest as a short English phrase, in the field's usual terms.")


async def translate_interest(core: Paperbot, text: str) -> str:
    """A Chinese ``/subscribe`` interest in English, once (the subscription stores the result)."""
    system = (
        "Translate this research interest into one short English phrase that a researcher of the field "
        'would write, using its usual technical terms. Answer with JSON: {"english": "..."}.'
    )
    reply = await core.summarizer.complete_json("interest", system=system, prompt=text, schema=Interest)
    return " ".join(reply.english.split())[:300]
