"""Which figures a digest shows, in what order: shared by the bot and the figure worker.

The worker draws only the crops a digest will post (the rest are drawn when first asked for), so
it has to make the same choice the adapters make when they post; one function makes it for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ..models import Paper
    from ..settings import Settings
    from .model import Figure

T = TypeVar("T")


def digest_order(items: list[T], key: Callable[[T], tuple[str, str | None, float]]) -> list[T]:
    """The teaser (Figure 1, else the page-1 render) first, then by size on the page.

    ``key`` gives an item's kind ("figure", "table", "page"), number and area in square points.
    """
    lead = next((it for it in items if key(it)[:2] == ("figure", "1")), None)
    if lead is None:
        lead = next((it for it in items if key(it)[0] == "page"), None)
    rest = sorted((it for it in items if it is not lead), key=lambda it: key(it)[2], reverse=True)
    return ([lead] if lead is not None else []) + rest


def _order_key(f: Figure) -> tuple[str, str | None, float]:
    return f.kind, f.number, f.area


def pick_for_digest(figures: list[Figure], n: int) -> list[Figure]:
    """The N to show under a paper: the teaser (Figure 1, or the page-1 render) first, then by
    size. Only drawn figures (with a PNG) are shown."""
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
