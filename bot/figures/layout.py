"""Document-wide layout statistics: body line height, the text frame and the column count, from
the lines of every page read, so a page full of figures is judged by the paper's normal pages."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from .geometry import Box, Layout, PageText


def _weighted_mode(values: Iterable[tuple[float, float]], step: float) -> float | None:
    """The most common value (binned to ``step``), weighted."""
    bins: dict[int, float] = {}
    for value, weight in values:
        k = round(value / step)
        bins[k] = bins.get(k, 0.0) + weight
    if not bins:
        return None
    return max(bins.items(), key=lambda kv: kv[1])[0] * step


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return 0.0
    k = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[k]


LayoutPage = tuple[float, float, list[tuple[Box, int]]]  # page width, height, (line box, characters)


def layout_page(page: PageText) -> LayoutPage:
    """What :func:`compute_layout` needs of a page: small enough to pass between processes."""
    return (page.width, page.height, [(ln.box, len(ln.text)) for ln in page.lines])


def compute_layout(pages: list[LayoutPage]) -> Layout | None:
    """Body line height, text frame and column count from the lines of the pages read.

    Body text is the most common line height (weighted by characters); its lines give the frame.
    Two columns when most long body lines stop short of, or start after, the frame's middle.
    """
    all_lines = [(box, n) for _, _, lines in pages for box, n in lines if box.width > box.height]
    body_h = _weighted_mode(((box.height, n) for box, n in all_lines if n >= 15), 0.25)
    if not body_h:
        return None
    page_w = statistics.median(w for w, _, _ in pages)
    body = [box for box, _ in all_lines if abs(box.height - body_h) <= 0.2 * body_h and box.width >= 0.25 * page_w]
    if len(body) < 5:
        return None
    x0 = _percentile([b.x0 for b in body], 0.05)
    x1 = _percentile([b.x1 for b in body], 0.95)
    mid = (x0 + x1) / 2
    halves = [b for b in body if b.x1 < mid + 8 or b.x0 > mid - 8]
    two_col = len(halves) > 0.6 * len(body)
    col_w = _percentile([b.width for b in halves], 0.8) if two_col else x1 - x0
    prose_min = 0.7 * col_w
    head = running_head(pages, body_h)
    tops, bottoms = [], []
    for _, _, lines in pages:
        prose = [
            box
            for box, _ in lines
            if abs(box.height - body_h) <= 0.2 * body_h and box.width >= prose_min and box.top > head + 0.5
        ]
        if len(prose) >= 3:
            tops.append(min(b.top for b in prose))
            bottoms.append(max(b.bottom for b in prose))
    page_h = statistics.median(h for _, h, _ in pages)
    frame_top = min(tops) if tops else 0.0
    frame_bottom = max(bottoms) if bottoms else page_h
    if head < 0 and len(pages) < 4:
        head = frame_top - 1  # too few pages to tell: everything above the body text counts
    return Layout(body_h, x0, x1, two_col, col_w, frame_top, frame_bottom, head)


def running_head(pages: list[LayoutPage], body_h: float) -> float:
    """Where the running head ends (-1 when there is none): the bottom of each page's top row of
    text when it is set apart from what follows by a gap and recurs at the same height on most
    pages read (a short title and a page number, a journal's name).

    Not everything above the body text is a running head: a figure set at the top of a page
    may start above the body text (its panel titles, an axis's exponent), and must keep it;
    table headers at the top of a few pages recur too, but not on most; the first body line
    recurs on every page, but the next line follows it at the body's line pitch.
    """
    if len(pages) < 2:
        return -1.0
    seen: dict[int, list[float]] = {}  # the top row's top, to 2 pt -> its bottom, one per page
    for _, page_h, lines in pages:
        boxes = [box for box, _ in lines]
        if not boxes:
            continue
        first = min(b.top for b in boxes)
        row = [b for b in boxes if b.top <= first + 3]
        bottom = max(b.bottom for b in row)
        if bottom > 0.15 * page_h:
            continue
        below = [b.top - bottom for b in boxes if b.top > bottom - 0.3 * b.height and b not in row]
        if below and min(below) < 0.8 * body_h:
            continue  # text follows at a line's pitch: a paragraph, or a figure's labels
        seen.setdefault(round(first / 2), []).append(bottom)
    need = max(2, 0.5 * len(pages))
    recurring = [statistics.median(b) for k, b in seen.items() if len(b) + len(seen.get(k - 1, [])) >= need]
    return max(recurring, default=-1.0)
