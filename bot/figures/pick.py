"""Which figures a digest shows, in what order: shared by the bot and the figure worker.

The worker draws only the crops a digest will post (the rest are drawn when first asked for), so
it has to make the same choice the adapters make when they post; one function makes it for both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..models import Paper
    from ..settings import Settings
    from .model import Figure

T = TypeVar("T")

# The figure that explains the method, and the table that holds the main results, say most about
# a paper after its teaser: a digest shows them before bigger figures.
_OVERVIEW = re.compile(r"\b(overview|pipeline|framework|architecture|our (method|approach|model))\b", re.I)
_RESULTS = re.compile(
    r"\b(comparisons?|compared|results|performance|state[- ]of[- ]the[- ]art|quantitative|benchmark)\b", re.I
)


def digest_rank(kind: str, caption: str, page: int, area: float, back: int | None, taken: set[str]) -> tuple[int, int, float]:
    """How much a digest wants a crop after its teaser, smaller first: a crop in the paper's main
    body before one after its references or appendix heading (``back``, the page it is on); then
    the method's overview figure, then the main results table (the first of each, in page
    order: ``taken`` holds the roles given); then the bigger."""
    appendix = 1 if back is not None and page > back else 0
    head = _first_sentence(caption)
    role = 2
    if not appendix and kind == "figure" and "overview" not in taken and _OVERVIEW.search(head):
        role = 0
        taken.add("overview")
    elif not appendix and kind == "table" and "results" not in taken and _RESULTS.search(head):
        role = 1
        taken.add("results")
    return appendix, role, -area


def _first_sentence(caption: str) -> str:
    """What a caption says first ("Overview of TECA.", "The pipeline of ..."), past its label."""
    body = re.sub(r"^\s*\S+\s*[\w.]+\s*[:.|]?\s*", "", caption, count=1)
    return re.split(r"(?<=[a-z\]\)])\.\s", body, maxsplit=1)[0][:160]


def digest_order(items: list[T], key: Callable[[T], tuple[str, str | None, float, int | None]]) -> list[T]:
    """The teaser (Figure 1, else the page-1 render) first, then as the figure worker ranked
    them (:func:`digest_rank`); items without a rank (a cache from before ranking) by size.

    ``key`` gives an item's kind ("figure", "table", "page"), number, area in square points and
    rank (None when not known).
    """
    lead = next((it for it in items if key(it)[:2] == ("figure", "1")), None)
    if lead is None:
        lead = next((it for it in items if key(it)[0] == "page"), None)
    rest = [it for it in items if it is not lead]
    if all(key(it)[3] is not None for it in rest):
        rest.sort(key=lambda it: key(it)[3])  # type: ignore[arg-type, return-value]
    else:
        rest.sort(key=lambda it: key(it)[2], reverse=True)
    return ([lead] if lead is not None else []) + rest


def rank_rows(rows: list[dict[str, Any]], back: int | None) -> None:
    """Set each row's ``rank``: its place in a digest's choice (the teaser first)."""
    def key(row: dict[str, Any]) -> tuple[str, str | None, float, int | None]:
        x0, top, x1, bottom = row["bbox"]
        return row["kind"], row["number"], max(0.0, x1 - x0) * max(0.0, bottom - top), None

    lead = digest_order(rows, key)[:1]
    lead = [r for r in lead if key(r)[:2] == ("figure", "1") or key(r)[0] == "page"]
    taken: set[str] = set()
    ranks = {
        id(r): digest_rank(r["kind"], r["caption"], int(r["page"]), key(r)[2], back, taken)
        for r in sorted(rows, key=lambda r: int(r["page"]))
        if not any(r is x for x in lead)
    }
    rest = sorted((r for r in rows if id(r) in ranks), key=lambda r: ranks[id(r)])
    for k, row in enumerate(lead + rest):
        row["rank"] = k


def _order_key(f: Figure) -> tuple[str, str | None, float, int | None]:
    return f.kind, f.number, f.area, f.rank


def pick_for_digest(figures: list[Figure], n: int) -> list[Figure]:
    """The N to show under a paper: the teaser (Figure 1, or the page-1 render) first, then as
    ranked (:func:`digest_rank`). Only drawn figures (with a PNG) are shown."""
    if n <= 0:
        return []
    return digest_order([f for f in figures if f.path is not None], _order_key)[:n]


def wanted(figures: list[Figure], n: int | None) -> list[Figure]:
    """The figures that must be drawn for a digest of ``n`` (all when None)."""
    return list(figures) if n is None else digest_order(list(figures), _order_key)[: max(0, n)]


def may_post_figures(settings: Settings, paper: Paper) -> bool:
    """FIGURE_POLICY: all (default), open (CC-licensed papers only) or none."""
    policy = settings.figure_policy
    if policy == "none":
        return False
    if policy == "open":
        return paper.is_open_license
    return True
