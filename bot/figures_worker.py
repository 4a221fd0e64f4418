"""The PDFium side of figure extraction: find captions, grow each one into its figure, render the crop.

Everything here runs inside the worker process that :mod:`bot.figures` starts (PDFium is not
thread-safe, and a hostile PDF must not take the bot down with it), so this module may be slow
to import and may crash; the parent only ever sees a list of plain dicts or a reason.

How a figure is found, without a layout model:

1. Read each page's text as pdfium's text rectangles, merged into visual lines.
2. A caption is a line that *starts* with a label ("Figure 3:", "Fig. 3.", "TABLE II", "Fig. 3 |")
   and is not the continuation of a paragraph (an in-text reference that happens to wrap to the
   start of a line sits right under a body line at normal line pitch; a caption never does).
3. The caption's band is its column, or the whole text width when the caption crosses the
   middle of the page (``figure*``), or half of the width when another caption sits beside it.
4. From the caption, walk away from it (up for figures, down for tables, the other way when
   that side is empty) through the page objects (images, vector paths, form XObjects) and the
   non-body text inside the band, and stop at body text, another caption or a wide gap.
5. The crop is the union of the caption and what was collected, padded; its pixel size is known
   before drawing, so only the crops a digest shows are drawn at once (the rest when asked).
"""

from __future__ import annotations

import array
import base64
import contextlib
import ctypes
import itertools
import json
import logging
import math
import os
import re
import signal
import socket
import statistics
import struct
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .figure_pick import digest_order

log = logging.getLogger(__name__)

MAX_PAGES = 60  # pages examined: a 2,000-page PDF costs no more than a 60-page one
MIN_WIDTH_PX = 800  # crops are at least this wide unless that needs more than MAX_SCALE
MAX_SCALE = 4.0
MAX_PIXELS = 24_000_000  # per crop, whatever the page size says
MAX_SIDE_SUM = 9_900  # Telegram: width + height <= 10,000
MAX_ASPECT = 20.0  # Telegram: aspect ratio <= 20
MAX_PNG_BYTES = 9_500_000  # Telegram: photos <= 10 MB
MAX_IMAGE_PIXELS = 150_000_000  # an embedded image bigger than this is a decompression bomb
PAD = 3.0  # points of white around a crop

_LABEL = r"(?P<label>Figure|Fig\.?|FIGURE|FIG\.?|Table|TABLE|Tab\.?|TAB\.?|Supplementary\s+Figure|Supplementary\s+Table)"
_NUMBER = r"(?P<num>[A-Z]?\d{1,3}(?:\.\d{1,2})?|[IVXL]{1,6})"
CAPTION_RE = re.compile(rf"^\s*{_LABEL}\s*{_NUMBER}(?P<rest>.*)$", re.S)
QUICK_RE = re.compile(r"(?m)^\s*(?:Fig|FIG|Tab|TAB|Supplementary)")
DELIMS = (":", ".", "|", "：", "—", "–")


class BombError(Exception):
    """The PDF holds an image too large to decode safely."""


@dataclass(slots=True)
class Box:
    """A rectangle in PDF points with the origin at the page's top-left corner."""

    x0: float
    top: float
    x1: float
    bottom: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x0, other.x0),
            min(self.top, other.top),
            max(self.x1, other.x1),
            max(self.bottom, other.bottom),
        )

    def x_overlap(self, x0: float, x1: float) -> float:
        return max(0.0, min(self.x1, x1) - max(self.x0, x0))


@dataclass(slots=True)
class Line:
    """A visual text line: pdfium text rectangles on one baseline with no wide gap between them."""

    box: Box
    text: str
    rects: list[Box]
    # the page's text and each rect's char range in it (None: not known, see _rect_spans)
    chars: tuple[str, list[tuple[int, int]]] | None = None
    prose: bool | None = None  # body text of the paper? (mark_prose, then is_prose)
    checked: bool = False  # word spacing looked at

    @property
    def height(self) -> float:
        return self.box.height


@dataclass(slots=True)
class Item:
    """Something a figure can be made of: a text line or a graphic page object."""

    box: Box
    kind: str  # "text" | "image" | "path" | "form" | "shading" | "caption"
    line: Line | None = None


@dataclass(slots=True)
class Caption:
    kind: str  # "figure" | "table"
    number: str
    page: int
    first: Line
    box: Box = field(default_factory=lambda: Box(0, 0, 0, 0))
    text: str = ""
    band: tuple[float, float] = (0.0, 0.0)


@dataclass(slots=True)
class Layout:
    """Document-wide text geometry, so a page full of figures is judged by the paper's normal pages."""

    body_h: float  # height of a body text line
    frame_x0: float
    frame_x1: float
    two_col: bool
    col_w: float
    frame_top: float
    frame_bottom: float

    @property
    def mid(self) -> float:
        return (self.frame_x0 + self.frame_x1) / 2

    @property
    def columns(self) -> list[tuple[float, float]]:
        if self.two_col:
            return [(self.frame_x0, self.frame_x0 + self.col_w), (self.frame_x1 - self.col_w, self.frame_x1)]
        return [(self.frame_x0, self.frame_x1)]


@dataclass(slots=True)
class PageText:
    index: int  # 0-based
    width: float
    height: float
    lines: list[Line]


# ---- reading text ------------------------------------------------------------------------------


_DROP = dict.fromkeys([c for c in range(32) if chr(c) not in "\t\n"] + [0xFFFE, 0xAD])


def _clean(text: str) -> str:
    """pdfium marks soft hyphens as \\x02 (and sometimes \\ufffe); drop them and control chars."""
    return text.translate(_DROP)


_BREAK = re.compile(r"\r\n|\r|\n")


def _page_text(textpage: pdfium.PdfTextPage, n_chars: int) -> str:
    """The page's text with one character per pdfium char index (pypdfium2's helper may not):
    a character outside the BMP is two indices, kept as two surrogates (see :func:`_whole`)."""
    buf = (ctypes.c_ushort * (n_chars + 1))()
    got = pdfium_c.FPDFText_GetText(textpage, 0, n_chars, buf)
    units = array.array("H", bytes(buf)[: 2 * max(0, got - 1)])
    text = array.array("I", units).tobytes().decode("utf-32-le", "surrogatepass")
    if len(text) != n_chars:  # pdfium's text leaves out chars without a code (NUL, some hyphens)
        get = pdfium_c.FPDFText_GetUnicode
        text = "".join([chr(get(textpage, k)) for k in range(n_chars)])
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _whole(text: str) -> str:
    """Surrogate pairs joined into their characters (lone ones replaced)."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _rect_spans(
    textpage: pdfium.PdfTextPage, rects: list[tuple[float, float, float, float]], text: str | None = None
) -> tuple[str, list[tuple[int, int]]] | None:
    """The char range of each of pdfium's text rectangles, so a rectangle's text is a slice.

    Asking pdfium for the text inside each rectangle (FPDFText_GetBoundedText) scans the whole
    page every time: most of the cost of reading a page. Rectangles never span pdfium's line
    breaks, so the rectangles of one line of its text are found by counting rectangles over
    growing prefixes of that line. None when that does not reproduce the page's rectangles
    exactly (a character outside the BMP shifts the indices), and the caller asks the slow way.
    """
    n_chars = pdfium_c.FPDFText_CountChars(textpage)
    if text is None:
        text = _page_text(textpage, n_chars)
    if len(text) != n_chars:
        return None
    l_, b_, r_, t_ = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    count_rects = pdfium_c.FPDFText_CountRects
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BREAK.finditer(text + "\n"):
        end = m.start()
        if end > start:
            k = count_rects(textpage, start, end - start)
            bounds = [start]
            for j in range(1, k):  # rectangle j starts at the shortest prefix holding j + 1 of them
                lo, hi = bounds[-1] + 1, end
                while lo < hi:
                    mid = (lo + hi) // 2
                    if count_rects(textpage, start, mid - start) > j:
                        hi = mid
                    else:
                        lo = mid + 1
                bounds.append(lo - 1)
            bounds.append(end)
            count_rects(textpage, start, end - start)
            for j in range(k):
                idx = len(spans)
                if idx >= len(rects) or not pdfium_c.FPDFText_GetRect(textpage, j, l_, t_, r_, b_):
                    return None
                if (l_.value, t_.value, r_.value, b_.value) != rects[idx]:
                    return None
                spans.append((bounds[j], bounds[j + 1]))
        start = m.end()
    return (text, spans) if len(spans) == len(rects) else None


_SPACE_RUN = re.compile(r"[\s\x02\ufffe]+")


def _space_runs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The glyphs on either side of each run of spaces in ``text[start:end]``, as char indices."""
    return [
        (m.start() - 1, m.end())  # finditer's positions are the page's char indices
        for m in _SPACE_RUN.finditer(text, start, end)
        if m.start() > start and m.end() < end
    ]


def read_lines(
    textpage: pdfium.PdfTextPage, page_h: float, ox: float, oy: float, text: str | None = None
) -> list[Line]:
    """pdfium's text rectangles (one per run of text in one font on one line), merged into lines.

    Rectangles come in reading order; consecutive ones on the same baseline with a gap no wider
    than about a character join one line. Columns never merge (the gap between them is wide).
    """
    lines: list[Line] = []
    n = pdfium_c.FPDFText_CountRects(textpage, 0, -1)
    l_, b_, r_, t_ = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    rects: list[tuple[float, float, float, float]] = []
    for i in range(n):
        if pdfium_c.FPDFText_GetRect(textpage, i, l_, t_, r_, b_):
            rects.append((l_.value, t_.value, r_.value, b_.value))
        else:
            rects.append((math.nan, math.nan, math.nan, math.nan))
    spans = _rect_spans(textpage, rects, text)
    page_text, page_spans = spans if spans is not None else ("", [])
    # the slow way: pdfium's raw calls with a reused buffer
    size = 2 * pdfium_c.FPDFText_CountChars(textpage) + 64
    buf = (ctypes.c_ushort * size)() if spans is None else None
    prev: Line | None = None
    pb_top = pb_bottom = pb_x1 = pb_h = 0.0  # the previous rectangle, in page space
    for i, (left, top, right, bottom) in enumerate(rects):
        if left != left:  # NaN: pdfium had no rectangle
            continue
        if spans is not None:
            s, e = page_spans[i]
            raw = page_text[s:e]
        else:
            got = pdfium_c.FPDFText_GetBoundedText(textpage, left, top, right, bottom, buf, size)
            raw = ctypes.string_at(buf, 2 * min(got, size)).decode("utf-16-le", "ignore") if got > 0 else ""
        text = _clean(raw).strip()
        if not text:
            continue
        x0, y0, x1, y1 = left - ox, oy - top, right - ox, oy - bottom
        h = y1 - y0
        if h <= 0 or x1 <= x0:
            continue
        if prev is not None:
            overlap = min(pb_bottom, y1) - max(pb_top, y0)
            small = max(min(pb_h, h), 1.0)
            gap = x0 - pb_x1
            if overlap >= 0.5 * small and -2.0 <= gap <= max(0.7 * max(pb_h, h), 3.0):
                box = Box(x0, y0, x1, y1)
                prev.rects.append(box)
                if prev.chars is not None and spans is not None:
                    prev.chars[1].append(page_spans[i])
                else:
                    prev.chars = None
                prev.box = prev.box.union(box)
                prev.text += ("" if gap < 0.12 * small or prev.text.endswith(" ") else " ") + text
                pb_top, pb_bottom, pb_x1, pb_h = y0, y1, x1, h
                continue
        box = Box(x0, y0, x1, y1)
        prev = Line(box=box, text=text, rects=[box], chars=(page_text, [page_spans[i]]) if spans is not None else None)
        lines.append(prev)
        pb_top, pb_bottom, pb_x1, pb_h = y0, y1, x1, h
    for line in lines:
        line.text = _whole(re.sub(r"\s+", " ", line.text).strip())
    return lines


# ---- document layout -----------------------------------------------------------------------------


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
    tops, bottoms = [], []
    for _, _, lines in pages:
        prose = [box for box, _ in lines if abs(box.height - body_h) <= 0.2 * body_h and box.width >= prose_min]
        if len(prose) >= 3:
            tops.append(min(b.top for b in prose))
            bottoms.append(max(b.bottom for b in prose))
    page_h = statistics.median(h for _, h, _ in pages)
    frame_top = min(tops) if tops else 0.0
    frame_bottom = max(bottoms) if bottoms else page_h
    return Layout(body_h, x0, x1, two_col, col_w, frame_top, frame_bottom)


# ---- captions --------------------------------------------------------------------------------------


def _kind_of(label: str) -> str:
    return "table" if label.lower().replace("supplementary", "").strip().startswith("tab") else "figure"


def _normal_number(num: str) -> str:
    return num.strip().rstrip(".")


def _font_weight_at(textpage: pdfium.PdfTextPage, x: float, y: float) -> int:
    idx = textpage.get_index(x, y, 2.0, 2.0)
    if idx is None or idx < 0:
        return 0
    return int(pdfium_c.FPDFText_GetFontWeight(textpage, idx))


def mark_prose(lines: list[Line], layout: Layout) -> None:
    """Flag body text by its geometry: body size, flush with a column's edges (justified), or the
    short last line of such a paragraph. Table rows and figure text are rarely both."""
    h = layout.body_h
    cols = layout.columns
    candidates: list[tuple[Line, tuple[float, float]]] = []
    for line in lines:
        b = line.box
        line.prose = False
        if abs(line.height - h) > 0.22 * h or b.width < 2 * b.height:
            continue
        col = max(cols, key=lambda c: b.x_overlap(c[0], c[1]))
        if b.x_overlap(col[0], col[1]) < 0.9 * b.width:
            continue
        left_ok = col[0] - 4 <= b.x0 <= col[0] + 25
        if left_ok and abs(b.x1 - col[1]) <= 4 and b.width >= 0.7 * (col[1] - col[0]):
            line.prose = True
        elif abs(b.x0 - col[0]) <= 4:
            candidates.append((line, col))
    for line, col in candidates:  # last lines of paragraphs
        for other in lines:
            if (
                other.prose
                and 0 <= line.box.top - other.box.bottom <= 0.6 * h
                and other.box.x_overlap(col[0], col[1]) > 0
            ):
                line.prose = True
                break


def is_prose(line: Line, layout: Layout, textpage: pdfium.PdfTextPage | None, ox: float, oy: float) -> bool:
    """Body text (see :func:`mark_prose`), confirmed lazily by even word spacing: a table row set
    flush with the column still has wide gaps between its cells."""
    if not line.prose:
        return False
    if line.checked or textpage is None:
        return True
    line.checked = True
    if _max_char_gap(line, textpage, ox, oy) > 1.1 * line.height:
        line.prose = False
    return bool(line.prose)


def _max_char_gap(line: Line, textpage: pdfium.PdfTextPage, ox: float, oy: float) -> float:
    """The widest horizontal gap between neighbouring glyphs of a line (table cells are far apart)."""
    if line.chars is not None:
        return _max_space_gap(line, textpage)
    worst = 0.0
    n = textpage.count_chars()
    l_, b_, r_, t_ = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    for rect in line.rects:
        cy = oy - (rect.top + rect.bottom) / 2
        idx = pdfium_c.FPDFText_GetCharIndexAtPos(textpage, rect.x0 + ox + 0.5, cy, 1.5, rect.height / 2 + 0.5)
        if idx < 0:
            continue
        last_x1: float | None = None
        for k in range(idx, min(n, idx + 400)):
            if not pdfium_c.FPDFText_GetCharBox(textpage, k, l_, r_, b_, t_):  # yes, l r b t
                continue
            left, bottom, right, top = l_.value, b_.value, r_.value, t_.value
            if right - left <= 0.01:
                continue  # generated spaces have no width
            if left - ox > rect.x1 + 1 or (oy - top) > rect.bottom + 1 or (oy - bottom) < rect.top - 1:
                break
            if last_x1 is not None:
                worst = max(worst, (left - ox) - last_x1)
            last_x1 = right - ox
    return worst


def _max_space_gap(line: Line, textpage: pdfium.PdfTextPage) -> float:
    """:func:`_max_char_gap` when the line's char indices are known: a gap between glyphs as wide
    as a table's cell gap always holds a space (pdfium adds one where the text has none), so only
    the glyphs on either side of each run of spaces are measured, not every glyph."""
    worst = 0.0
    raw = textpage.raw
    get_box = pdfium_c.FPDFText_GetCharBox
    l_, b_, r_, t_ = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    assert line.chars is not None
    text, spans = line.chars
    for before, after in (run for start, end in spans for run in _space_runs(text, start, end)):
        if get_box(raw, before, l_, r_, b_, t_):  # yes, l r b t
            right = r_.value
            if get_box(raw, after, l_, r_, b_, t_):
                worst = max(worst, l_.value - right)
    return worst


def find_captions(
    page: PageText, layout: Layout, textpage: pdfium.PdfTextPage, ox: float, oy: float
) -> list[Caption]:
    """Lines that start with a figure/table label and read like a caption, not a reference."""
    found: list[Caption] = []
    for line in page.lines:
        m = CAPTION_RE.match(line.text)
        if not m:
            continue
        label, num, rest = m.group("label"), _normal_number(m.group("num")), m.group("rest")
        if line.box.height > line.box.width:
            continue  # rotated text
        stripped = rest.lstrip()
        if stripped.startswith(DELIMS):
            pass
        elif not stripped:
            # "Figure 3" alone on a line: a caption when set in capitals or in bold
            weight_ok = (
                label.isupper()
                or _font_weight_at(textpage, line.box.x0 + ox + 1, oy - (line.box.top + line.box.bottom) / 2)
                >= 600
            )
            if not weight_ok:
                continue
        elif label.isupper() and stripped[:1].isupper():
            pass  # "FIGURE 3 Overview", "TABLE II Results"
        else:
            # "Figure 3 Overview" is a caption only when the label is set apart by a bold font
            weight = _font_weight_at(
                textpage, line.box.x0 + ox + 1, oy - (line.box.top + line.box.bottom) / 2
            )
            if weight < 600 or not stripped[:1].isupper():
                continue
        if _continues_paragraph(line, page.lines, layout, textpage, ox, oy):
            continue
        found.append(Caption(kind=_kind_of(label), number=num, page=page.index + 1, first=line))
    return found


def _line_above(line: Line, lines: list[Line]) -> Line | None:
    """The line right above at normal line pitch, overlapping horizontally, if any."""
    for other in lines:
        if other is line:
            continue
        gap = line.box.top - other.box.bottom
        if -0.3 * line.height <= gap <= 0.6 * line.height and other.box.x_overlap(
            line.box.x0, line.box.x1
        ) > 0.5 * min(other.box.width, line.box.width):
            return other
    return None


def _continues_paragraph(
    line: Line, lines: list[Line], layout: Layout, textpage: pdfium.PdfTextPage, ox: float, oy: float
) -> bool:
    """True when body text sits right above at normal line pitch: a reference that wrapped.

    Unless that text is itself a caption (a table's caption set right under a figure's): the
    paragraph above is followed up to its first line, and a caption label there clears it.
    """
    above = _line_above(line, lines)
    if above is None:
        return False
    if not (
        is_prose(above, layout, textpage, ox, oy) and abs(above.height - line.height) <= 0.2 * line.height
    ):
        return False
    current: Line | None = above
    for _ in range(40):
        if current is None:
            break
        m = CAPTION_RE.match(current.text)
        if m and m.group("rest").lstrip().startswith(DELIMS):
            return False
        current = _line_above(current, lines)
    return True


def caption_block(cap: Caption, lines: list[Line], band: tuple[float, float]) -> None:
    """Extend the caption's first line down through the lines that continue it (same size, tight pitch)."""
    box = cap.first.box
    members = [cap.first]
    taken = {id(cap.first)}
    h = cap.first.height
    changed = True
    while changed:
        changed = False
        best: Line | None = None
        for other in lines:
            if id(other) in taken:
                continue
            gap = other.box.top - box.bottom
            hh = max(h, other.height)
            if not (-0.4 * hh <= gap <= 0.75 * hh):
                continue
            if other.box.cx < band[0] or other.box.cx > band[1]:
                continue
            if other.box.x0 < band[0] - 6 or other.box.x1 > band[1] + 6:
                continue
            if abs(other.height - h) > 0.35 * hh and other.box.width > 3 * h:
                continue
            if CAPTION_RE.match(other.text) and other.box.top > box.bottom - 0.2 * h:
                continue
            if best is None or other.box.top < best.box.top:
                best = other
        if best is not None:
            # pull in every line at the same height as ``best`` (split runs, math)
            row = [
                o
                for o in lines
                if id(o) not in taken
                and min(o.box.bottom, best.box.bottom) - max(o.box.top, best.box.top)
                > 0.4 * min(o.height, best.height)
                and band[0] - 6 <= o.box.x0
                and o.box.x1 <= band[1] + 6
            ]
            for o in row:
                members.append(o)
                taken.add(id(o))
                box = box.union(o.box)
            changed = True
    # same-row fragments of the first line (e.g. a bold label split from the text by pdfium's order)
    for o in lines:
        if id(o) in taken:
            continue
        if (
            min(o.box.bottom, cap.first.box.bottom) - max(o.box.top, cap.first.box.top)
            > 0.5 * min(o.height, h)
            and band[0] - 6 <= o.box.x0
            and o.box.x1 <= band[1] + 6
            and o.box.x0 >= cap.first.box.x0 - 1
        ):
            members.append(o)
            box = box.union(o.box)
    members.sort(key=lambda ln: (round((ln.box.top + ln.box.bottom) / 2 / max(h * 0.6, 1)), ln.box.x0))
    cap.box = box
    cap.text = re.sub(r"\s+", " ", " ".join(m.text for m in members)).strip()


def assign_bands(caps: list[Caption], layout: Layout, page_w: float) -> None:
    """Which horizontal strip each caption's figure lives in: its column, the page, or its half."""
    mid = layout.mid
    for cap in caps:
        b = cap.first.box
        crosses = b.x0 < mid - 12 and b.x1 > mid + 12
        full = (max(0.0, min(layout.frame_x0, b.x0) - 4), min(page_w, max(layout.frame_x1, b.x1) + 4))
        left = b.cx < mid
        neighbours = [
            o
            for o in caps
            if o is not cap
            and min(o.first.box.bottom, b.bottom) - max(o.first.box.top, b.top) > 0
            and ((o.first.box.x0 >= b.x1 - 2) if left else (o.first.box.x1 <= b.x0 + 2))
        ]
        if neighbours:
            # side by side (minipages): split between this caption and the nearest one beside it
            if left:
                split = min((b.x1 + o.first.box.x0) / 2 for o in neighbours)
                cap.band = (full[0], split)
            else:
                split = max((b.x0 + o.first.box.x1) / 2 for o in neighbours)
                cap.band = (split, full[1])
        elif crosses:
            cap.band = full
        elif layout.two_col:
            cap.band = (full[0], mid) if left else (mid, full[1])
        else:
            cap.band = full


# ---- page objects -----------------------------------------------------------------------------------


_TYPES = {
    pdfium_c.FPDF_PAGEOBJ_PATH: "path",
    pdfium_c.FPDF_PAGEOBJ_IMAGE: "image",
    pdfium_c.FPDF_PAGEOBJ_SHADING: "shading",
    pdfium_c.FPDF_PAGEOBJ_FORM: "form",
}


Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    """Apply ``inner`` then ``outer`` (PDF row-vector convention)."""
    a, b, c, d, e, f = inner
    A, B, C, D, E, F = outer
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


def _transform_box(
    m: Matrix, x0: float, y0: float, x1: float, y1: float
) -> tuple[float, float, float, float]:
    """The page-space bounds of a box given in a form XObject's space."""
    if m == IDENTITY:
        return x0, y0, x1, y1
    a, b, c, d, e, f = m
    xs, ys = [], []
    for x, y in ((x0, y0), (x0, y1), (x1, y0), (x1, y1)):
        xs.append(a * x + c * y + e)
        ys.append(b * x + d * y + f)
    return min(xs), min(ys), max(xs), max(ys)


def page_graphics(page: pdfium.PdfPage, width: float, height: float, ox: float, oy: float) -> list[Item]:
    """Images, visible vector paths, shadings and small form XObjects, as boxes.

    A form XObject covering much of the page is a wrapper (some producers put the whole page in
    one), so we look inside it; a smaller one is an included figure and counts as one piece.
    Raises :class:`BombError` for an image too large to decode.
    """
    out: list[Item] = []
    page_area = width * height
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    fillmode, stroke = ctypes.c_int(), ctypes.c_int()
    iw, ih = ctypes.c_uint(), ctypes.c_uint()

    matrix = pdfium_c.FS_MATRIX()

    def visit(count: int, get: Callable[[int], Any], depth: int, m: Matrix, clip: Box) -> None:
        for i in range(count):
            obj = get(i)
            if not obj:
                continue
            typ = pdfium_c.FPDFPageObj_GetType(obj)
            kind = _TYPES.get(typ)
            if kind is None:
                continue
            if not pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
                continue
            x0, y0, x1, y1 = _transform_box(m, left.value, bottom.value, right.value, top.value)
            box = Box(x0 - ox, oy - y1, x1 - ox, oy - y0)
            box = Box(
                max(box.x0, clip.x0),
                max(box.top, clip.top),
                min(box.x1, clip.x1),
                min(box.bottom, clip.bottom),
            )
            if box.x1 < box.x0 or box.bottom < box.top or (box.x1 == box.x0 and box.bottom == box.top):
                continue  # off the page
            if (
                kind == "image"
                and pdfium_c.FPDFImageObj_GetImagePixelSize(obj, iw, ih)
                and iw.value * ih.value > MAX_IMAGE_PIXELS
            ):
                raise BombError(f"an embedded image of {iw.value}x{ih.value} pixels")
            if kind == "form" and depth < 6 and pdfium_c.FPDFPageObj_GetMatrix(obj, matrix):
                # look inside: children are in the form's space, clipped to the form's box
                inner = _compose((matrix.a, matrix.b, matrix.c, matrix.d, matrix.e, matrix.f), m)
                n = pdfium_c.FPDFFormObj_CountObjects(obj)
                visit(n, lambda k, o=obj: pdfium_c.FPDFFormObj_GetObject(o, k), depth + 1, inner, box)
                continue
            if (
                kind == "path"
                and pdfium_c.FPDFPath_GetDrawMode(obj, fillmode, stroke)
                and fillmode.value == 0
                and not stroke.value
            ):
                continue  # a clipping path: draws nothing
            if kind == "path" and box.area > 0.9 * page_area:
                continue  # page background
            out.append(Item(box=box, kind=kind))

    visit(
        pdfium_c.FPDFPage_CountObjects(page),
        lambda k: pdfium_c.FPDFPage_GetObject(page, k),
        0,
        IDENTITY,
        Box(0.0, 0.0, width, height),
    )
    return out


# ---- growing a caption into its figure -----------------------------------------------------------------


@dataclass(slots=True)
class Walk:
    items: list[Item]
    box: Box | None
    first_gap: float
    hit: str  # what stopped it
    graphics: int = 0
    texts: int = 0
    span: tuple[float, float] = (-math.inf, math.inf)  # the free vertical space (barrier to barrier)
    pieces: list[Box] = field(default_factory=list)  # what was taken, clipped


def _is_barrier(it: Item, cap: Caption, layout: Layout, prose: Callable[[Line], bool]) -> bool:
    """Things a figure never reaches past: other captions, body text, running heads and feet,
    and text that sticks out of a column band into the other column (titles, wide abstracts)."""
    bx0, bx1 = cap.band
    overlap = it.box.x_overlap(bx0, bx1)
    if overlap <= 0:
        return False
    if it.kind == "caption":
        return overlap > 0.2 * min(bx1 - bx0, it.box.width)
    if it.kind != "text" or it.line is None:
        return False
    if it.box.bottom < layout.frame_top - 1 or it.box.top > layout.frame_bottom + 1:
        return True
    if overlap > 0.3 * min(bx1 - bx0, it.box.width) and prose(it.line):
        return True
    if bx1 - bx0 > 0.75 * (layout.frame_x1 - layout.frame_x0):
        return False
    # a half band: text reaching well into the other half is not part of this figure
    left_half = (bx0 + bx1) / 2 < layout.mid
    sticks_out = it.box.x1 > bx1 + 10 if left_half else it.box.x0 < bx0 - 10
    return sticks_out and it.box.width > 2 * it.box.height


def walk(
    cap: Caption,
    items: list[Item],
    layout: Layout,
    direction: int,
    barrier: Callable[[int], bool],
) -> Walk:
    """Collect what lies between the caption and the nearest barrier, going up (-1) or down (+1).

    Boxes are clipped to the band and to the span between the caption and the barrier: images
    often carry invisible margins that reach over the caption or into the body text. Text is
    taken when it touches what is already taken, or when graphics follow it (labels between
    rows of a figure), not when it leads nowhere (a title block above a teaser).
    """
    bx0, bx1 = cap.band
    h = layout.body_h
    table = cap.kind == "table"
    graphic_gap = (1.6 if table else 3.0) * h
    text_gap = (1.5 if table else 2.5) * h
    tight = (1.5 if table else 0.8) * h
    if bx1 - bx0 > 0.75 * (layout.frame_x1 - layout.frame_x0):
        lo, hi = 0.0, math.inf  # the whole width: figures may reach into the margins
    elif (bx0 + bx1) / 2 < layout.mid:
        lo, hi = 0.0, bx1 + 6
    else:
        lo, hi = bx0 - 6, math.inf
    # the nearest barrier: items are asked (see figure_box) nearest first, only until one is
    if direction < 0:
        edge = cap.box.top + 0.3 * h
        nearest = sorted((i for i, it in enumerate(items) if it.box.bottom <= edge), key=lambda i: -items[i].box.bottom)
        limit = next((items[i].box.bottom for i in nearest if barrier(i)), -math.inf)
        span = (limit, cap.box.top)
    else:
        edge = cap.box.bottom - 0.3 * h
        nearest = sorted((i for i, it in enumerate(items) if it.box.top >= edge), key=lambda i: items[i].box.top)
        limit = next((items[i].box.top for i in nearest if barrier(i)), math.inf)
        span = (cap.box.bottom, limit)
    cands: list[tuple[Box, Item]] = []
    for i, it in enumerate(items):
        if it.kind == "caption":
            continue
        b = it.box
        if not (bx0 - 2 <= b.cx <= bx1 + 2) and b.x_overlap(bx0, bx1) < 0.6 * b.width:
            continue
        clipped = Box(max(b.x0, lo), max(b.top, span[0]), min(b.x1, hi), min(b.bottom, span[1]))
        if clipped.width <= 0.5 or (clipped.height <= 0.3 and it.kind == "text"):
            continue
        if clipped.height < 0 or (clipped.height < 0.5 and b.height > 2):
            continue
        if it.kind == "text" and clipped.height < 0.6 * b.height:
            continue  # a text line cut by the caption or a barrier is not ours
        if it.kind == "text" and barrier(i):
            continue
        cands.append((clipped, it))
    if direction < 0:
        cands.sort(key=lambda c: -c[0].bottom)
        edge = cap.box.top
    else:
        cands.sort(key=lambda c: c[0].top)
        edge = cap.box.bottom
    box: Box | None = None
    first_gap = math.inf
    pending: list[Box] = []
    pending_edge = edge
    graphics = texts = 0
    taken: list[Item] = []
    pieces: list[Box] = []
    hit = "barrier" if math.isfinite(limit) else "end"
    for clipped, it in cands:
        ref = pending_edge if pending else edge
        gap = (ref - clipped.bottom) if direction < 0 else (clipped.top - ref)
        is_text = it.kind == "text"
        allowed = text_gap if is_text else graphic_gap
        if box is None and not pending:
            allowed = max(allowed, 3.0 * h)  # captions of short side-by-side floats sit farther off
        if gap > allowed:
            hit = "gap"
            break
        if first_gap == math.inf:
            first_gap = gap
        if is_text and (pending or gap > tight) and not table:
            pending.append(clipped)
            pending_edge = (
                min(pending_edge, clipped.top) if direction < 0 else max(pending_edge, clipped.bottom)
            )
            continue
        for p in pending:
            box = p if box is None else box.union(p)
            pieces.append(p)
            texts += 1
        pending = []
        box = clipped if box is None else box.union(clipped)
        pieces.append(clipped)
        taken.append(it)
        if is_text:
            texts += 1
        else:
            graphics += 1
        edge = min(edge, clipped.top) if direction < 0 else max(edge, clipped.bottom)
        pending_edge = edge
    if box is None and pending and len(pending) >= 3:
        # a figure made of text only (a listing, a prompt): take it if it is compact
        for p in pending:
            box = p if box is None else box.union(p)
        pieces = list(pending)
        texts = len(pending)
    return Walk(taken, box, first_gap, hit, graphics, texts, span, pieces)


def _substantial(w: Walk, kind: str) -> bool:
    """Did the walk find a figure (some graphics or several text lines), not just a stray line?"""
    if w.box is None:
        return False
    if kind == "table":
        return w.texts >= 2 or (w.graphics > 0 and w.box.height > 15)
    return (w.graphics > 0 and w.box.height > 12) or w.texts >= 3


@dataclass(slots=True)
class Found:
    """A caption grown into its figure: the region, how far padding may reach, which way it went."""

    cap: Caption
    box: Box
    allowed: tuple[float, float]
    walked_up: bool
    pieces: list[Box]
    other_way: Found | None = None  # the walk the other way, when it found something too


def figure_box(
    cap: Caption, items: list[Item], layout: Layout, prose: Callable[[Line], bool]
) -> Found | None:
    """The caption plus its figure: walk the preferred way first, the other way if that is empty."""
    preferred = 1 if cap.kind == "table" else -1
    bx0, bx1 = cap.band
    # what lies wholly beside the band is neither taken nor a barrier (see walk, _is_barrier)
    items = [it for it in items if it.box.x0 <= bx1 + 2 and it.box.x1 >= bx0 - 2]
    known: dict[int, bool] = {}

    def barrier(i: int) -> bool:
        """Asked lazily (judging a line as body text reads its glyphs) and once for both walks."""
        got = known.get(i)
        if got is None:
            got = known[i] = _is_barrier(items[i], cap, layout, prose)
        return got

    first = walk(cap, items, layout, preferred, barrier)
    second = walk(cap, items, layout, -preferred, barrier)
    ok1, ok2 = _substantial(first, cap.kind), _substantial(second, cap.kind)
    chosen: Walk | None
    if ok1 and ok2 and cap.kind == "table" and first.graphics == 0 and second.graphics > 0:
        # the table is above its caption: below it are only lines of text (the body resuming)
        # while ruled lines are above (a float below that ends at its own caption: split_facing)
        chosen = second
    elif ok1 and ok2:
        # both sides hold something: the caption sits closer to its own figure than to its neighbour
        chosen = second if second.first_gap < 0.5 * first.first_gap - 2 else first
    elif ok1:
        chosen = first
    elif ok2:
        chosen = second
    else:
        chosen = None
    if chosen is None or chosen.box is None:
        return None
    found = _found(cap, chosen)
    if ok1 and ok2:
        found.other_way = _found(cap, second if chosen is first else first)
    return found


def _found(cap: Caption, chosen: Walk) -> Found:
    assert chosen.box is not None
    # the padding may grow into the caption's own side, never over the barrier on the far side
    far_top, far_bottom = chosen.span
    walked_up = far_bottom <= cap.box.top + 1
    allowed = (far_top + 0.5, math.inf) if walked_up else (-math.inf, far_bottom - 0.5)
    return Found(cap, chosen.box.union(cap.box), allowed, walked_up, chosen.pieces)


def split_facing(found: list[Found]) -> None:
    """A table captioned above, then a figure captioned below it: both walks take the whole span
    between the two captions. Cut it at the widest empty gap (the float separation). Unless the
    upper caption found something above it too that nobody else claims: then that is its float
    (two floats, each captioned below), and the span is all the lower caption's."""
    for k, a in enumerate(found):
        for b in found:
            if a is b or a.walked_up or not b.walked_up or a.cap.box.bottom > b.cap.box.top:
                continue
            ba, bb = a.cap.band, b.cap.band
            if min(ba[1], bb[1]) - max(ba[0], bb[0]) < 0.5 * min(ba[1] - ba[0], bb[1] - bb[0]):
                continue
            if a.box.bottom <= b.box.top:
                continue  # they do not overlap
            up = a.other_way
            if up is not None and up.walked_up and not any(
                _overlaps(up.box, c.box) for c in found if c is not a
            ):
                found[k] = a = up
                break
            lo, hi = a.cap.box.bottom, b.cap.box.top
            spans = sorted(
                (max(p.top, lo), min(p.bottom, hi))
                for p in a.pieces + b.pieces
                if p.bottom > lo and p.top < hi
            )
            best: tuple[float, float] | None = None
            reach = lo
            for top, bottom in spans:
                if top - reach > 2 and (best is None or top - reach > best[1] - best[0]):
                    best = (reach, top)
                reach = max(reach, bottom)
            if best is None:
                continue
            cut = (best[0] + best[1]) / 2
            a.box = _union_all([a.cap.box] + [p for p in a.pieces if p.bottom <= best[0] + 0.5])
            b.box = _union_all([b.cap.box] + [p for p in b.pieces if p.top >= best[1] - 0.5])
            a.allowed = (a.allowed[0], min(a.allowed[1], cut))
            b.allowed = (max(b.allowed[0], cut), b.allowed[1])


def _overlaps(a: Box, b: Box) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.bottom, b.bottom) - max(a.top, b.top) > 1


def _union_all(boxes: list[Box]) -> Box:
    out = boxes[0]
    for b in boxes[1:]:
        out = out.union(b)
    return out


# ---- rendering -----------------------------------------------------------------------------------------


def crop_scale(box: Box) -> float:
    """At least MIN_WIDTH_PX wide (up to MAX_SCALE), within Telegram's and our pixel limits."""
    w, h = max(box.width, 1.0), max(box.height, 1.0)
    scale = min(MAX_SCALE, max(1.0, (MIN_WIDTH_PX + 1.0) / w))
    scale = min(scale, MAX_SIDE_SUM / (w + h), math.sqrt(MAX_PIXELS / (w * h)))
    return max(scale, 0.05)


def crop_box(
    box: Box, page_w: float, page_h: float, allowed: tuple[float, float] = (-math.inf, math.inf)
) -> Box:
    """The region a crop shows: the figure padded with a little white, kept on the page and off
    the far side's barrier (``allowed``), rounded to 0.1 pt (the box stored and shown, so a crop
    rendered later from the cache is the crop rendered now)."""
    box = _clamp(_pad(box, PAD), page_w, page_h)
    box = Box(
        box.x0,
        max(box.top, min(allowed[0], box.top + PAD)),
        box.x1,
        min(box.bottom, max(allowed[1], box.bottom - PAD)),
    )
    return Box(round(box.x0, 1), round(box.top, 1), round(box.x1, 1), round(box.bottom, 1))


def crop_size(box: Box, page_w: float, page_h: float) -> tuple[int, int]:
    """The pixel size :func:`draw_crop` will give, without drawing (pypdfium2's arithmetic)."""
    scale = crop_scale(box)
    crop = [math.ceil(c * scale) for c in (box.x0, page_h - box.bottom, page_w - box.x1, box.top)]
    w = math.ceil(page_w * scale) - crop[0] - crop[2]
    h = math.ceil(page_h * scale) - crop[1] - crop[3]
    if w > MAX_ASPECT * h or h > MAX_ASPECT * w:
        w, h = max(w, math.ceil(h / MAX_ASPECT)), max(h, math.ceil(w / MAX_ASPECT))
    return w, h


def draw_crop(page: pdfium.PdfPage, box: Box, page_w: float, page_h: float) -> Any:
    """Render a region (not the whole page) to an RGB image, padded to Telegram's aspect limit.

    One render per crop, of the crop only: decoding and resampling the embedded images is most
    of the cost, and pdfium skips what lies outside the crop.
    """
    from PIL import Image

    image = _render(page, box, crop_scale(box), page_w, page_h)
    w, h = image.size
    if w > MAX_ASPECT * h or h > MAX_ASPECT * w:
        nw, nh = max(w, math.ceil(h / MAX_ASPECT)), max(h, math.ceil(w / MAX_ASPECT))
        canvas = Image.new("RGB", (nw, nh), "white")
        canvas.paste(image, ((nw - w) // 2, (nh - h) // 2))
        image = canvas
    return image


def _render(page: pdfium.PdfPage, box: Box, scale: float, page_w: float, page_h: float) -> Any:
    crop = (box.x0, page_h - box.bottom, page_w - box.x1, box.top)
    bitmap = page.render(scale=scale, crop=crop, draw_annots=False, may_draw_forms=False)
    image = bitmap.to_pil()  # a copy (pdfium's BGR becomes RGB), so the bitmap may go
    return image if image.mode == "RGB" else image.convert("RGB")


def _pad(box: Box, pad: float) -> Box:
    return Box(box.x0 - pad, box.top - pad, box.x1 + pad, box.bottom + pad)


def _clamp(box: Box, page_w: float, page_h: float) -> Box:
    return Box(max(0.0, box.x0), max(0.0, box.top), min(page_w, box.x1), min(page_h, box.bottom))


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _deflate(data: bytes, level: int) -> bytes:
    """A zlib stream of ``data``: ISA-L's deflate when installed (``isal``: ~4x faster than zlib's
    fastest level on the crops, and smaller), else zlib's run-length strategy (the filtered rows
    of a figure are mostly runs of zeros)."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - a platform without isal's wheels
        deflate = zlib.compressobj(level, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
        return deflate.compress(data) + deflate.flush()
    return isal_zlib.compress(data, min(level, isal_zlib.ISAL_BEST_COMPRESSION))


def encode_png(image: Any, level: int = 1) -> bytes:
    """A PNG of an RGB image, written here rather than by PIL: every row gets PNG's "Up" filter
    (a difference with the row above, done by PIL's C code), then one fast deflate pass
    (:func:`_deflate`). PIL's own writer spends about a third of its time choosing a filter per
    row, then deflates with zlib; this is ~5x faster on the bench's crops, and as lossless. A grey
    image (R = G = B everywhere: tables, black-and-white plots) is stored as one channel."""
    from PIL import ImageChops

    if image.mode != "RGB":
        image = image.convert("RGB")
    r, g, b = image.split()
    if ImageChops.difference(r, g).getbbox() is None and ImageChops.difference(g, b).getbbox() is None:
        image, colour_type, channels = r, 0, 1
    else:
        colour_type, channels = 2, 3
    w, h = image.size
    above = ImageChops.offset(image, 0, 1)
    above.paste(0 if channels == 1 else (0, 0, 0), (0, 0, w, 1))  # the first row has none above
    data = ImageChops.subtract_modulo(image, above).tobytes()
    stride = w * channels
    up = b"\x02"
    view = memoryview(data)  # rows joined without copying each one first
    rows = up + up.join([view[i : i + stride] for i in range(0, len(data), stride)])
    del view
    del data
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)),
            _png_chunk(b"IDAT", _deflate(rows, level)),
            _png_chunk(b"IEND", b""),
        )
    )


def save_png(image: Any, path: Path) -> tuple[int, int]:
    """Fast zlib level: encoding dominates the cost otherwise. Re-encode harder if over Telegram's
    limit, smaller if need be; returns the size saved."""
    path.write_bytes(encode_png(image))
    if path.stat().st_size > MAX_PNG_BYTES:
        image.save(path, "PNG", compress_level=9)
    while path.stat().st_size > MAX_PNG_BYTES and min(image.size) > 200:
        image = image.resize((image.size[0] * 3 // 4, image.size[1] * 3 // 4))
        image.save(path, "PNG", compress_level=9)
    return image.size


def crop_file(kind: str, number: str | None, page: int) -> str:
    """``figure-3.png``, ``table-II.png``, ``page-1.png``."""
    if number is None:
        return f"{kind}-{page}.png"
    return f"{kind}-{re.sub(r'[^A-Za-z0-9._-]+', '_', number)[:40] or 'x'}.png"


# ---- the whole document --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Page:
    page: pdfium.PdfPage
    textpage: pdfium.PdfTextPage
    text: PageText
    ox: float
    oy: float


class TruncatedError(Exception):
    """The file stops before its end-of-file marker (an interrupted download)."""


def open_pdf(path: Path) -> pdfium.PdfDocument:
    """The PDF, read into memory (pdfium parses ~10% faster from memory than from a file), once
    it is known to be whole: a PDF ends with ``%%EOF``, and pdfium would recover a cut file and
    show half a paper. A file over 64 MB is read from disk instead, within the memory cap."""
    with path.open("rb") as fh:
        head = fh.read(1024)
        size = fh.seek(0, 2)
        fh.seek(max(0, size - 2048))
        tail = fh.read()
        if size <= 64 * 1024 * 1024:
            fh.seek(0)
            data = fh.read()
    if b"%PDF-" not in head:
        raise TruncatedError("not a PDF (no %PDF- header)")
    if b"%%EOF" not in tail:
        raise TruncatedError("truncated PDF (no %%EOF at the end)")
    return pdfium.PdfDocument(data if size <= 64 * 1024 * 1024 else str(path))


def _open_page(pdf: pdfium.PdfDocument, index: int) -> _Page | None:
    page = pdf[index]
    if page.get_rotation() % 360:
        log.debug("page %d is rotated; skipped", index + 1)
        return None
    cx0, cy0, cx1, cy1 = page.get_cropbox()
    width, height = cx1 - cx0, cy1 - cy0
    if width <= 0 or height <= 0:
        return None
    textpage = page.get_textpage()
    return _Page(page, textpage, PageText(index, width, height, []), cx0, cy1)


class Part:
    """One process's share of a PDF: the pages it reads and analyses, kept open to render from.

    With a :class:`Helper`, the server and the helper take pages from a shared :class:`Tickets`
    counter until none are left (the server always has page 1, for the teaser), so both of the
    machine's cores stay busy however uneven the pages are; alone, a part reads every page.
    """

    def __init__(self, pdf_path: Path, tickets: Tickets | None = None, max_pages: int = MAX_PAGES, *, first: bool = True) -> None:
        self.pdf = open_pdf(pdf_path)
        try:
            self.n_pages = len(self.pdf)
            self.examined = min(self.n_pages, max_pages)
            self.pages: list[_Page] = []  # the pages with a caption, and page 1
            self.first: _Page | None = None
            if tickets is None:
                indices: Iterable[int] = range(self.examined)
            else:
                indices = itertools.chain([0] if first else [], iter(tickets.take, -1))
            for i in indices:
                if i >= self.examined:
                    break
                self._read(i)
        except BaseException:
            self.close()
            raise

    def _read(self, i: int) -> None:
        pg = _open_page(self.pdf, i)
        if pg is None:
            return
        if i == 0:
            self.first = pg
        text = _page_text(pg.textpage, pdfium_c.FPDFText_CountChars(pg.textpage))
        if i == 0 or QUICK_RE.search(text):
            pg.text.lines = read_lines(pg.textpage, pg.text.height, pg.ox, pg.oy, text)
            self.pages.append(pg)

    def layout_pages(self) -> list[tuple[int, LayoutPage]]:
        return [(pg.text.index, layout_page(pg.text)) for pg in self.pages]

    def plan(self, layout: Layout) -> list[dict[str, Any]]:
        """Every figure and table on this part's pages, in page order, as rows (nothing drawn)."""
        rows: list[dict[str, Any]] = []
        for pg in self.pages:
            rows.extend(_page_plan(pg, layout))
        if self.first is not None and not any(r["page"] == 1 and r["kind"] == "figure" for r in rows):
            teaser = _page_one(self.first)
            if teaser:
                rows.insert(0, teaser)
        return rows

    def render(self, rows: list[dict[str, Any]], out_dir: Path, tickets: Tickets | None = None) -> list[dict[str, Any]]:
        """Draw these rows to PNG files in ``out_dir``, from any page; with ``tickets``, only the
        rows this process takes (the other takes the rest). Returns the rows drawn here."""
        pages = {pg.text.index + 1: (pg.page, pg.text.width, pg.text.height) for pg in self.pages}
        if self.first is not None:
            pages[1] = (self.first.page, self.first.text.width, self.first.text.height)

        def page_of(number: int) -> tuple[pdfium.PdfPage, float, float]:
            if number not in pages:
                pages[number] = _page_and_size(self.pdf, number)
            return pages[number]

        if tickets is None:
            return render_rows(page_of, rows, out_dir)
        taken = itertools.takewhile(lambda i: i < len(rows), iter(tickets.take, -1))
        return render_rows(page_of, (rows[i] for i in taken), out_dir)  # one at a time, as drawn

    def close(self) -> None:
        self.pages, self.first = [], None
        self.pdf.close()


def render_rows(
    page_of: Callable[[int], tuple[pdfium.PdfPage, float, float]], rows: Iterable[dict[str, Any]], out_dir: Path
) -> list[dict[str, Any]]:
    """Draw each row's box to ``out_dir/<file>``; PNG encoding overlaps the next render (the
    deflate releases the GIL). Sets each row's pixel size and ``rendered``; returns the rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=2) as writer:
        pending: list[tuple[dict[str, Any], Future[tuple[int, int]]]] = []
        for row in rows:
            page, width, height = page_of(int(row["page"]))
            image = draw_crop(page, Box(*row["bbox"]), width, height)
            pending.append((row, writer.submit(save_png, image, out_dir / row["file"])))
        for row, fut in pending:
            row["width"], row["height"] = fut.result()
            row["rendered"] = True
            done.append(row)
    return done


def _row_key(row: dict[str, Any]) -> tuple[str, str | None, float]:
    x0, top, x1, bottom = row["bbox"]
    return row["kind"], row["number"], max(0.0, x1 - x0) * max(0.0, bottom - top)


def extract(
    pdf_path: Path,
    out_dir: Path,
    *,
    render: int | None = None,
    max_pages: int = MAX_PAGES,
    helper: Helper | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Every captioned figure and table in the PDF as dicts, PNGs for the ``render`` best of them
    (a digest's, :func:`digest_order`; all when None) written to ``out_dir``, and a note saying
    why when there are none. The rest are drawn when asked (:func:`render_pdf_rows`).

    Raises for broken input (pdfium's errors, :class:`BombError`, a truncated file, the
    helper's failure); the caller turns that into a reason.
    """
    if helper is not None:
        helper.start(pdf_path, max_pages)  # it takes pages while this process does too
    part: Part | None = None
    try:
        part = Part(pdf_path, helper.tickets if helper is not None else None, max_pages)
        pages = part.layout_pages()
        if helper is not None:
            pages = sorted(pages + helper.pages(), key=lambda p: p[0])
        layout = compute_layout([p for _, p in pages]) if pages else None
        if layout is None:
            return [], f"no body text in the first {part.examined} of {part.n_pages} pages"
        if helper is not None:
            helper.plan(layout)
        mine = part.plan(layout)
        if helper is not None and (render is None or render > 0):
            # Figure 1 on page 1 leads any digest (no page comes before it): draw it while the
            # helper is still planning its pages
            part.render([r for r in mine if r["page"] == 1 and (r["kind"], r["number"]) == ("figure", "1")], out_dir)
        theirs = helper.rows() if helper is not None else []
        rows: list[dict[str, Any]] = []
        seen: set[tuple[str, str | None]] = set()
        for row in sorted(mine + theirs, key=lambda r: r["page"]):  # stable: the teaser stays first
            key = (row["kind"], row["number"])
            if key not in seen:  # a number already taken on an earlier page is a reference, not a caption
                seen.add(key)
                rows.append(row)
        wanted = rows if render is None else digest_order(rows, _row_key)[: max(0, render)]
        wanted = biggest_first([r for r in wanted if not r["rendered"]])
        if helper is None:
            part.render(wanted, out_dir)
        else:
            helper.render(wanted, out_dir)
            part.render(wanted, out_dir, helper.tickets)
            drawn = {(r["kind"], r["number"]): r for r in helper.rendered()}
            for row in rows:
                got = drawn.get((row["kind"], row["number"]))
                if got is not None:
                    row.update(width=got["width"], height=got["height"], rendered=True)
        note = "" if rows else f"no captioned figure or table in the first {part.examined} of {part.n_pages} pages"
        return rows, note
    except BaseException:
        if helper is not None:
            helper.reset()
        raise
    finally:
        if part is not None:
            part.close()


def render_pdf_rows(pdf_path: Path, rows: list[dict[str, Any]], out_dir: Path) -> list[dict[str, Any]]:
    """Draw rows found earlier (the cache's), for a figure first wanted after its extraction."""
    pdf = open_pdf(pdf_path)
    try:
        opened: dict[int, tuple[pdfium.PdfPage, float, float]] = {}

        def page_of(number: int) -> tuple[pdfium.PdfPage, float, float]:
            if number not in opened:
                opened[number] = _page_and_size(pdf, number)
            return opened[number]

        for row in rows:
            row["file"] = crop_file(str(row["kind"]), row["number"], int(row["page"]))
        return render_rows(page_of, rows, out_dir)
    finally:
        pdf.close()


def _page_and_size(pdf: pdfium.PdfDocument, number: int) -> tuple[pdfium.PdfPage, float, float]:
    page = pdf[number - 1]
    cx0, cy0, cx1, cy1 = page.get_cropbox()
    return page, cx1 - cx0, cy1 - cy0


def biggest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order two processes take crops to draw in: the costliest (most pixels) first, so the
    last one taken is small and neither waits long for the other."""
    return sorted(rows, key=lambda r: r["width"] * r["height"], reverse=True)


def _page_plan(pg: _Page, layout: Layout) -> list[dict[str, Any]]:
    """Find and grow the captions of one page, into rows with the box each crop will show."""
    mark_prose(pg.text.lines, layout)
    caps = find_captions(pg.text, layout, pg.textpage, pg.ox, pg.oy)
    if not caps:
        return []
    assign_bands(caps, layout, pg.text.width)
    for cap in caps:
        caption_block(cap, pg.text.lines, cap.band)
    graphics = page_graphics(pg.page, pg.text.width, pg.text.height, pg.ox, pg.oy)
    unmark_framed(pg.text.lines, graphics, caps)
    items: list[Item] = list(graphics)
    for cap in caps:
        items.append(Item(box=cap.box, kind="caption"))
    margin_text: list[Box] = []
    for line in pg.text.lines:
        if line.box.height > 2.5 * line.box.width and (
            line.box.x1 < layout.frame_x0 or line.box.x0 > layout.frame_x1
        ):
            margin_text.append(line.box)  # the arXiv stamp in the margin
            continue
        if any(_inside(line.box, cap.box) for cap in caps):
            continue
        items.append(Item(box=line.box, kind="text", line=line))

    def prose(line: Line) -> bool:
        return is_prose(line, layout, pg.textpage, pg.ox, pg.oy)

    found: list[Found] = []
    seen: set[tuple[str, str]] = set()
    for cap in caps:
        key = (cap.kind, cap.number)
        if key in seen:
            continue
        got = figure_box(cap, items, layout, prose)
        if got is None:
            log.debug("page %d: %s %s has no content", cap.page, cap.kind, cap.number)
            continue
        seen.add(key)
        found.append(got)
    split_facing(found)
    out: list[dict[str, Any]] = []
    for got in found:
        cap, box = got.cap, got.box
        for m in margin_text:  # keep the arXiv stamp out of a figure that reaches into the margin
            if min(m.bottom, box.bottom) > max(m.top, box.top):
                if m.x1 < layout.frame_x0 and box.x0 < m.x1:
                    box = Box(m.x1 + 1, box.top, box.x1, box.bottom)
                elif m.x0 > layout.frame_x1 and box.x1 > m.x0:
                    box = Box(box.x0, box.top, m.x0 - 1, box.bottom)
        out.append(_row(cap.kind, cap.number, cap.text, cap.page, crop_box(box, pg.text.width, pg.text.height, got.allowed), pg))
    return out


def _row(kind: str, number: str | None, caption: str, page: int, box: Box, pg: _Page) -> dict[str, Any]:
    width, height = crop_size(box, pg.text.width, pg.text.height)
    return {
        "kind": kind,
        "number": number,
        "caption": caption,
        "page": page,
        "bbox": [box.x0, box.top, box.x1, box.bottom],
        "file": crop_file(kind, number, page),
        "width": width,
        "height": height,
        "rendered": False,
    }


def unmark_framed(lines: list[Line], graphics: list[Item], caps: list[Caption]) -> None:
    """Text drawn inside a frame (a boxed prompt, a listing) is part of a figure, however prose-like."""
    frames = [
        g.box
        for g in graphics
        if g.kind == "path"
        and g.box.width > 40
        and g.box.height > 20
        and not any(_inside(c.box, g.box) for c in caps)
    ]
    if not frames:
        return
    for line in lines:
        if line.prose and any(_inside(line.box, f) for f in frames):
            line.prose = False


def _inside(inner: Box, outer: Box) -> bool:
    return (
        inner.x0 >= outer.x0 - 1
        and inner.x1 <= outer.x1 + 1
        and inner.top >= outer.top - 1
        and inner.bottom <= outer.bottom + 1
    )


def _page_one(pg: _Page) -> dict[str, Any] | None:
    """An uncaptioned teaser: when page 1 is largely graphics, the page itself is the picture."""
    graphics = page_graphics(pg.page, pg.text.width, pg.text.height, pg.ox, pg.oy)
    big = [g for g in graphics if g.kind in ("image", "form", "shading") or g.box.area > 2000]
    area = sum(g.box.area for g in big)
    if area < 0.12 * pg.text.width * pg.text.height:
        return None
    return _row("page", None, "", 1, Box(0.0, 0.0, pg.text.width, pg.text.height), pg)


# ---- the figure server ---------------------------------------------------------------------------------------
#
# :mod:`bot.figures` starts a Python process running :func:`serve` once and keeps it: PDFium loaded and
# warmed up, extracting one PDF per request in the process itself, with its address space capped
# (``RLIMIT_AS``). A PDF that crashes it or overruns its time takes only this process down: the bot
# kills it and starts another. At start the server forks a :class:`Helper` that reads and analyses
# the odd pages of each PDF while the server does the even ones, so one paper uses both cores.
# (Forking a fresh child per PDF instead cost ~10% more: every child starts with cold memory.)


def _send(sock: socket.socket, obj: Any) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def _recv(sock: socket.socket) -> Any:
    """One message, or None when the other side has gone."""
    head = _recv_exactly(sock, 4)
    if head is None:
        return None
    body = _recv_exactly(sock, struct.unpack(">I", head)[0])
    return None if body is None else json.loads(body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class Tickets:
    """A counter in memory shared by the server and its helper (made before the fork): each
    :meth:`take` hands out the next number once, to whichever process asks first."""

    def __init__(self) -> None:
        import multiprocessing

        self._value = multiprocessing.RawValue("i", 0)
        self._lock = multiprocessing.Lock()

    def reset(self, start: int) -> None:
        with self._lock:
            self._value.value = start

    def take(self) -> int:
        with self._lock:
            n = self._value.value
            self._value.value = n + 1
            return n


class HelperError(Exception):
    """The helper failed on its pages (its reason is the message) or died."""


def _boxes_in(pages: list[Any]) -> list[tuple[int, LayoutPage]]:
    out: list[tuple[int, LayoutPage]] = []
    for index, width, height, packed in pages:
        v = array.array("d", base64.b64decode(packed))
        lines = [(Box(v[k], v[k + 1], v[k + 2], v[k + 3]), int(v[k + 4])) for k in range(0, len(v), 5)]
        out.append((int(index), (float(width), float(height), lines)))
    return out


def _boxes_out(pages: list[tuple[int, LayoutPage]]) -> list[Any]:
    """Pages' lines for :func:`compute_layout`, packed as doubles (exact, and ~10x quicker than
    JSON numbers for the thousands of lines of a long paper)."""
    return [
        (
            index,
            width,
            height,
            base64.b64encode(
                array.array("d", [v for b, n in lines for v in (b.x0, b.top, b.x1, b.bottom, n)]).tobytes()
            ).decode(),
        )
        for index, (width, height, lines) in pages
    ]


class Helper:
    """The server's second process: forked once, takes pages and crops of every PDF from the
    same :class:`Tickets` as the server.

    The server drives it through one PDF in steps (start, pages, plan, rows, render, rendered),
    each a message on a socket pair. It dies with the server (``PR_SET_PDEATHSIG``); after any
    failure the server kills it and forks a fresh one for the next PDF.
    """

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.pid = 0
        self.memory_mb = 0
        self.tickets = Tickets()

    def ensure_forked(self) -> socket.socket:
        if self.sock is None:
            mine, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # the helper: never returns
                code = 0
                try:
                    mine.close()
                    _die_with_parent()
                    _helper_loop(theirs, self.tickets)
                except BaseException:  # pragma: no cover - the server sees the socket close
                    code = 1
                finally:
                    os._exit(code)
            theirs.close()
            self.sock, self.pid = mine, pid
        return self.sock

    def _ask(self, msg: dict[str, Any]) -> Any:
        self._send(msg)
        return self._answer()

    def _send(self, msg: dict[str, Any]) -> None:
        try:
            _send(self.ensure_forked(), msg)
        except OSError as err:
            raise HelperError(f"the page helper is gone: {err}") from err

    def _answer(self) -> Any:
        assert self.sock is not None
        answer = _recv(self.sock)
        if answer is None:
            raise HelperError("the page helper died")
        if "error" in answer:
            raise HelperError(str(answer["error"]))
        return answer["result"]

    def start(self, pdf: Path, max_pages: int) -> None:
        self.tickets.reset(1)  # page 1 (index 0) is the server's
        self._send({"op": "read", "pdf": str(pdf), "max_pages": max_pages, "memory_mb": self.memory_mb})

    def pages(self) -> list[tuple[int, LayoutPage]]:
        return _boxes_in(self._answer())

    def plan(self, layout: Layout) -> None:
        self._send({"op": "plan", "layout": [getattr(layout, f) for f in Layout.__slots__]})

    def rows(self) -> list[dict[str, Any]]:
        return list(self._answer())

    def render(self, rows: list[dict[str, Any]], out_dir: Path) -> None:
        self.tickets.reset(0)
        self._send({"op": "render", "rows": rows, "out": str(out_dir)})

    def rendered(self) -> list[dict[str, Any]]:
        return list(self._answer())

    def reset(self) -> None:
        """Kill it (mid-PDF, after a failure); the next PDF forks a new one."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the server dies (killed for its time, say)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _cap_memory(memory_mb: int) -> None:
    """Cap this process's address space (the soft limit, so the next request may set another)."""
    if memory_mb <= 0:
        return
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_mb * 1024 * 1024
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError) as err:  # pragma: no cover - non-Linux
        log.debug("could not cap memory: %s", err)


def _helper_loop(sock: socket.socket, tickets: Tickets) -> None:
    """The helper's side of :class:`Helper`: one PDF at a time, the pages and crops it takes."""
    part: Part | None = None
    while True:
        msg = _recv(sock)
        if msg is None:
            return
        try:
            op = msg["op"]
            if op == "read":
                if part is not None:
                    part.close()
                    part = None
                _cap_memory(int(msg["memory_mb"]))
                part = Part(Path(msg["pdf"]), tickets, int(msg["max_pages"]), first=False)
                result: Any = _boxes_out(part.layout_pages())
            elif op == "plan" and part is not None:
                result = part.plan(Layout(*msg["layout"]))
            elif op == "render" and part is not None:
                result = part.render(list(msg["rows"]), Path(msg["out"]), tickets)
                part.close()
                part = None
            else:
                raise HelperError(f"unexpected {msg.get('op')!r}")
            _send(sock, {"result": result})
        except BaseException as err:
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
                part = None
            if isinstance(err, KeyboardInterrupt):
                raise
            _send(sock, {"error": f"{type(err).__name__}: {err}"[:300]})


def handle(request: dict[str, Any], helper: Helper | None) -> dict[str, Any]:
    """One request to the server, answered as a JSON-able dict; never raises.

    ``{"op": "extract", "pdf", "out", "memory_mb", "render": n | None}`` finds every figure and
    draws the ``render`` best; ``{"op": "render", "pdf", "out", "memory_mb", "rows"}`` draws rows
    found earlier.
    """
    memory_mb = int(request.get("memory_mb") or 0)
    try:
        _cap_memory(memory_mb)
        if helper is not None:
            helper.memory_mb = memory_mb
        pdf, out = Path(str(request["pdf"])), Path(str(request["out"]))
        if request.get("op", "extract") == "render":
            return {"status": "ok", "rows": render_pdf_rows(pdf, list(request["rows"]), out), "note": ""}
        render = request.get("render")
        rows, note = extract(pdf, out, render=None if render is None else int(render), helper=helper)
        return {"status": "ok", "rows": rows, "note": note}
    except MemoryError:
        return {"status": "failed", "reason": f"out of memory (FIGURE_MEMORY_MB={memory_mb})"}
    except HelperError as err:
        reason = str(err)
        if "MemoryError" in reason:
            reason = f"out of memory (FIGURE_MEMORY_MB={memory_mb})"
        return {"status": "failed", "reason": reason}
    except Exception as err:  # everything from a broken PDF must reach the bot as a reason
        return {"status": "failed", "reason": f"{type(err).__name__}: {err}"[:300]}


def _warm_up_pdf() -> bytes:
    """A one-page PDF with body text in a standard (non-embedded) font, a vector figure and its caption."""
    ops = ["BT /F1 10 Tf 12 TL 72 720 Td"]
    ops += ["(Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.) '"] * 12
    ops += ["ET", "0.2 0.4 0.8 rg 150 380 300 160 re f", "BT /F1 9 Tf 72 360 Td (Figure 1: Warm-up.) Tj ET"]
    content = "\n".join(ops).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def warm_up() -> None:
    """Do once in the server (before forking its helper) what every PDF would otherwise pay for
    first: import PIL and its PNG plugin, load PDFium's font mapping and codecs, by extracting
    from a tiny PDF."""
    import tempfile

    from PIL import Image, ImageChops, ImageOps, PngImagePlugin  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="figures-warm-up-") as tmp:
        pdf = Path(tmp) / "warm-up.pdf"
        pdf.write_bytes(_warm_up_pdf())
        try:
            extract(pdf, Path(tmp) / "out")
        except Exception as err:  # pragma: no cover - a warm-up, nothing depends on it
            log.debug("figure worker warm-up failed: %s", err)


def serve() -> None:
    """The server loop: one JSON request per line on stdin, one JSON answer per line on stdout.

    Runs until stdin closes (the bot exited or dropped it). Anything the extraction prints goes
    to stderr: stdout is the protocol.
    """
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the bot; we stop when stdin closes
    warm_up()
    helper: Helper | None = None
    if (os.cpu_count() or 1) > 1:
        try:
            helper = Helper()
            helper.ensure_forked()  # fork now, warm, rather than during the first paper
        except OSError as err:  # no shared semaphores here (no /dev/shm): one process does it all
            log.warning("figure helper unavailable, using one core: %s", err)
            helper = None
    for line in requests:
        try:
            answer = handle(json.loads(line), helper)
        except Exception as err:  # a bad request must not end the server
            answer = {"status": "failed", "reason": f"bad request: {type(err).__name__}: {err}"[:300]}
        answers.write(json.dumps(answer).encode() + b"\n")
        answers.flush()
