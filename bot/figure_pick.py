"""Which figures a digest shows, in what order: shared by the bot and the figure worker.

The worker draws only the crops a digest will post (the rest are drawn when first asked for), so
it has to make the same choice the adapters make when they post; one function makes it for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

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
