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
5. Render the union of the caption and what was collected.
"""

from __future__ import annotations

import ctypes
import logging
import math
import re
import statistics
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

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
            min(self.x0, other.x0), min(self.top, other.top), max(self.x1, other.x1), max(self.bottom, other.bottom)
        )

    def x_overlap(self, x0: float, x1: float) -> float:
        return max(0.0, min(self.x1, x1) - max(self.x0, x0))


@dataclass(slots=True)
class Line:
    """A visual text line: pdfium text rectangles on one baseline with no wide gap between them."""

    box: Box
    text: str
    rects: list[Box]
    prose: bool | None = None  # filled lazily: body text of the paper?

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


@dataclass(slots=True)
class PageText:
    index: int  # 0-based
    width: float
    height: float
    lines: list[Line]


# ---- reading text ------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """pdfium marks soft hyphens as \\x02 (and sometimes \\ufffe); drop them and control chars."""
    text = text.replace("\x02", "").replace("\ufffe", "").replace("\u00ad", "")
    return "".join(ch for ch in text if ch >= " " or ch in "\t\n")


def read_lines(textpage: pdfium.PdfTextPage, page_h: float, ox: float, oy: float) -> list[Line]:
    """pdfium's text rectangles (one per run of text in one font on one line), merged into lines.

    Rectangles come in reading order; consecutive ones on the same baseline with a gap no wider
    than about a character join one line. Columns never merge (the gap between them is wide).
    """
    lines: list[Line] = []
    n = textpage.count_rects()
    for i in range(n):
        left, bottom, right, top = textpage.get_rect(i)
        raw = textpage.get_text_bounded(left, bottom, right, top)
        text = _clean(raw).strip()
        if not text:
            continue
        box = Box(left - ox, oy - top, right - ox, oy - bottom)
        if box.height <= 0 or box.width <= 0:
            continue
        prev = lines[-1] if lines else None
        if prev is not None:
            pb = prev.rects[-1]
            overlap = min(pb.bottom, box.bottom) - max(pb.top, box.top)
            h = max(min(pb.height, box.height), 1.0)
            gap = box.x0 - pb.x1
            if overlap >= 0.5 * h and -2.0 <= gap <= max(1.2 * max(pb.height, box.height), 4.0):
                prev.rects.append(box)
                prev.box = prev.box.union(box)
                prev.text += ("" if gap < 0.12 * h or prev.text.endswith(" ") else " ") + text
                continue
        lines.append(Line(box=box, text=text, rects=[box]))
    # Tall narrow rectangles (rotated text, e.g. the arXiv stamp) are not lines of the page's text.
    for line in lines:
        line.text = re.sub(r"\s+", " ", line.text).strip()
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


def compute_layout(pages: list[PageText]) -> Layout | None:
    """Body line height, text frame and column count from the lines of the pages read.

    Body text is the most common line height (weighted by characters); its lines give the frame.
    Two columns when most long body lines stop short of, or start after, the frame's middle.
    """
    all_lines = [ln for p in pages for ln in p.lines if ln.box.width > ln.box.height]
    body_h = _weighted_mode(((ln.height, len(ln.text)) for ln in all_lines if len(ln.text) >= 15), 0.25)
    if not body_h:
        return None
    page_w = statistics.median(p.width for p in pages)
    body = [ln for ln in all_lines if abs(ln.height - body_h) <= 0.2 * body_h and ln.box.width >= 0.25 * page_w]
    if len(body) < 5:
        return None
    x0 = _percentile([ln.box.x0 for ln in body], 0.05)
    x1 = _percentile([ln.box.x1 for ln in body], 0.95)
    mid = (x0 + x1) / 2
    halves = [ln for ln in body if ln.box.x1 < mid + 8 or ln.box.x0 > mid - 8]
    two_col = len(halves) > 0.6 * len(body)
    if two_col:
        col_w = _percentile([ln.box.width for ln in halves], 0.8)
    else:
        col_w = x1 - x0
    prose_min = 0.7 * col_w
    tops, bottoms = [], []
    for p in pages:
        prose = [ln for ln in p.lines if abs(ln.height - body_h) <= 0.2 * body_h and ln.box.width >= prose_min]
        if len(prose) >= 3:
            tops.append(min(ln.box.top for ln in prose))
            bottoms.append(max(ln.box.bottom for ln in prose))
    page_h = statistics.median(p.height for p in pages)
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


def is_prose(line: Line, layout: Layout, textpage: pdfium.PdfTextPage | None, ox: float, oy: float) -> bool:
    """Body text: a long line at the body size whose words are evenly spaced (no table-cell gaps)."""
    if line.prose is not None:
        return line.prose
    ok = abs(line.height - layout.body_h) <= 0.22 * layout.body_h and line.box.width >= 0.7 * layout.col_w
    if ok and textpage is not None:
        ok = _max_char_gap(line, textpage, ox, oy) <= 1.1 * line.height
    line.prose = ok
    return ok


def _max_char_gap(line: Line, textpage: pdfium.PdfTextPage, ox: float, oy: float) -> float:
    """The widest horizontal gap between neighbouring glyphs of a line (table cells are far apart)."""
    worst = 0.0
    for rect in line.rects:
        cy = oy - (rect.top + rect.bottom) / 2
        idx = textpage.get_index(rect.x0 + ox + 0.5, cy, 1.5, rect.height / 2 + 0.5)
        if idx is None or idx < 0:
            continue
        last_x1: float | None = None
        n = textpage.count_chars()
        for k in range(idx, min(n, idx + 400)):
            left, bottom, right, top = textpage.get_charbox(k)
            if right - left <= 0.01:
                continue  # generated spaces have no width
            if left - ox > rect.x1 + 1 or (oy - top) > rect.bottom + 1 or (oy - bottom) < rect.top - 1:
                break
            if last_x1 is not None:
                worst = max(worst, (left - ox) - last_x1)
            last_x1 = right - ox
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
            if not label.isupper():
                # "Figure 3" alone on a line: a caption only if the label is bold and text follows
                if _font_weight_at(textpage, line.box.x0 + ox + 1, oy - (line.box.top + line.box.bottom) / 2) < 600:
                    continue
        elif label.isupper() and stripped[:1].isupper():
            pass  # "FIGURE 3 Overview", "TABLE II Results"
        else:
            # "Figure 3 Overview" is a caption only when the label is set apart by a bold font
            weight = _font_weight_at(textpage, line.box.x0 + ox + 1, oy - (line.box.top + line.box.bottom) / 2)
            if weight < 600 or not stripped[:1].isupper():
                continue
        if _continues_paragraph(line, page.lines, layout, textpage, ox, oy):
            continue
        found.append(Caption(kind=_kind_of(label), number=num, page=page.index + 1, first=line))
    return found


def _continues_paragraph(
    line: Line, lines: list[Line], layout: Layout, textpage: pdfium.PdfTextPage, ox: float, oy: float
) -> bool:
    """True when a body line sits right above at normal line pitch: a reference that wrapped."""
    for other in lines:
        if other is line:
            continue
        gap = line.box.top - other.box.bottom
        if -0.3 * line.height <= gap <= 0.6 * line.height and other.box.x_overlap(line.box.x0, line.box.x1) > 0.5 * min(
            other.box.width, line.box.width
        ):
            if is_prose(other, layout, textpage, ox, oy) and abs(other.height - line.height) <= 0.2 * line.height:
                return True
    return False


def caption_block(cap: Caption, lines: list[Line], band: tuple[float, float]) -> None:
    """Extend the caption's first line down through the lines that continue it (same size, tight pitch)."""
    box = cap.first.box
    members = [cap.first]
    h = cap.first.height
    changed = True
    while changed:
        changed = False
        best: Line | None = None
        for other in lines:
            if any(other is m for m in members):
                continue
            gap = other.box.top - box.bottom
            if not (-0.4 * h <= gap <= 0.75 * h):
                continue
            if other.box.cx < band[0] or other.box.cx > band[1]:
                continue
            if other.box.x0 < band[0] - 6 or other.box.x1 > band[1] + 6:
                continue
            if abs(other.height - h) > 0.3 * h and other.box.width > 3 * h:
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
                if not any(o is m for m in members)
                and min(o.box.bottom, best.box.bottom) - max(o.box.top, best.box.top) > 0.4 * min(o.height, best.height)
                and band[0] - 6 <= o.box.x0
                and o.box.x1 <= band[1] + 6
            ]
            for o in row:
                members.append(o)
                box = box.union(o.box)
            changed = True
    # same-row fragments of the first line (e.g. a bold label split from the text by pdfium's order)
    for o in lines:
        if any(o is m for m in members):
            continue
        if (
            min(o.box.bottom, cap.first.box.bottom) - max(o.box.top, cap.first.box.top) > 0.5 * min(o.height, h)
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
        if crosses:
            cap.band = full
            continue
        left = b.x1 <= mid + 12
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

    def visit(count: int, get: Callable[[int], Any], depth: int) -> None:
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
            box = Box(left.value - ox, oy - top.value, right.value - ox, oy - bottom.value)
            box = Box(max(box.x0, 0.0), max(box.top, 0.0), min(box.x1, width), min(box.bottom, height))
            if box.x1 <= box.x0 and box.bottom <= box.top:
                continue
            if box.x1 < box.x0 or box.bottom < box.top:
                continue  # off the page
            if kind == "image":
                if pdfium_c.FPDFImageObj_GetImagePixelSize(obj, iw, ih) and iw.value * ih.value > MAX_IMAGE_PIXELS:
                    raise BombError(f"an embedded image of {iw.value}x{ih.value} pixels")
            if kind == "form":
                if box.area > 0.3 * page_area and depth < 4:
                    n = pdfium_c.FPDFFormObj_CountObjects(obj)
                    visit(n, lambda k, o=obj: pdfium_c.FPDFFormObj_GetObject(o, k), depth + 1)
                    continue
            elif kind == "path":
                if pdfium_c.FPDFPath_GetDrawMode(obj, fillmode, stroke) and fillmode.value == 0 and not stroke.value:
                    continue  # a clipping path: draws nothing
            if box.area > 0.85 * page_area:
                continue  # page background
            out.append(Item(box=box, kind=kind))

    visit(pdfium_c.FPDFPage_CountObjects(page), lambda k: pdfium_c.FPDFPage_GetObject(page, k), 0)
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
    sticks_out = it.box.width - overlap > max(0.25 * it.box.width, 6.0)
    return sticks_out and it.box.width > 2 * it.box.height


def walk(
    cap: Caption,
    items: list[Item],
    layout: Layout,
    direction: int,
    prose: Callable[[Line], bool],
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
    margin = 12.0
    lo, hi = bx0 - margin, bx1 + margin
    if direction < 0:
        limit = -math.inf
        for it in items:
            if it.box.bottom <= cap.box.top + 0.3 * h and _is_barrier(it, cap, layout, prose):
                limit = max(limit, it.box.bottom)
        span = (limit, cap.box.top)
    else:
        limit = math.inf
        for it in items:
            if it.box.top >= cap.box.bottom - 0.3 * h and _is_barrier(it, cap, layout, prose):
                limit = min(limit, it.box.top)
        span = (cap.box.bottom, limit)
    cands: list[tuple[Box, Item]] = []
    for it in items:
        if it.kind == "caption" or (it.kind == "text" and _is_barrier(it, cap, layout, prose)):
            continue
        b = it.box
        if not (bx0 - 2 <= b.cx <= bx1 + 2) and b.x_overlap(bx0, bx1) < 0.6 * b.width:
            continue
        clipped = Box(max(b.x0, lo), max(b.top, span[0]), min(b.x1, hi), min(b.bottom, span[1]))
        if clipped.width <= 0.5 or clipped.height <= 0.3 and it.kind == "text":
            continue
        if clipped.height < 0 or (clipped.height < 0.5 and b.height > 2):
            continue
        if it.kind == "text" and clipped.height < 0.6 * b.height:
            continue  # a text line cut by the caption or a barrier is not ours
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
    hit = "barrier" if math.isfinite(limit) else "end"
    for clipped, it in cands:
        ref = pending_edge if pending else edge
        gap = (ref - clipped.bottom) if direction < 0 else (clipped.top - ref)
        is_text = it.kind == "text"
        if gap > (text_gap if is_text else graphic_gap):
            hit = "gap"
            break
        if first_gap == math.inf:
            first_gap = gap
        if is_text and (pending or gap > tight) and not table:
            pending.append(clipped)
            pending_edge = min(pending_edge, clipped.top) if direction < 0 else max(pending_edge, clipped.bottom)
            continue
        for p in pending:
            box = p if box is None else box.union(p)
            texts += 1
        pending = []
        box = clipped if box is None else box.union(clipped)
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
        texts = len(pending)
    return Walk(taken, box, first_gap, hit, graphics, texts)


def _substantial(w: Walk, kind: str) -> bool:
    """Did the walk find a figure (some graphics or several text lines), not just a stray line?"""
    if w.box is None:
        return False
    if kind == "table":
        return w.texts >= 2 or (w.graphics > 0 and w.box.height > 15)
    return (w.graphics > 0 and w.box.height > 12) or w.texts >= 3


def figure_box(cap: Caption, items: list[Item], layout: Layout, prose: Callable[[Line], bool]) -> Box | None:
    """The caption plus its figure: walk the preferred way first, the other way if that is empty."""
    preferred = 1 if cap.kind == "table" else -1
    first = walk(cap, items, layout, preferred, prose)
    second = walk(cap, items, layout, -preferred, prose)
    ok1, ok2 = _substantial(first, cap.kind), _substantial(second, cap.kind)
    chosen: Walk | None
    if ok1 and ok2:
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
    return chosen.box.union(cap.box)


# ---- rendering -----------------------------------------------------------------------------------------


def crop_scale(box: Box) -> float:
    """At least MIN_WIDTH_PX wide (up to MAX_SCALE), within Telegram's and our pixel limits."""
    w, h = max(box.width, 1.0), max(box.height, 1.0)
    scale = min(MAX_SCALE, max(1.0, (MIN_WIDTH_PX + 0.5) / w))
    scale = min(scale, MAX_SIDE_SUM / (w + h), math.sqrt(MAX_PIXELS / (w * h)))
    return max(scale, 0.05)


def render_box(page: pdfium.PdfPage, box: Box, page_w: float, page_h: float) -> Any:
    """Render one region of the page (not the whole page) to a PIL image, padded to Telegram's ratio."""
    from PIL import Image

    scale = crop_scale(box)
    crop = (box.x0, page_h - box.bottom, page_w - box.x1, box.top)
    bitmap = page.render(scale=scale, crop=crop, draw_annots=False, may_draw_forms=False)
    image = bitmap.to_pil().convert("RGB")
    w, h = image.size
    if w > MAX_ASPECT * h or h > MAX_ASPECT * w:
        nw, nh = max(w, math.ceil(h / MAX_ASPECT)), max(h, math.ceil(w / MAX_ASPECT))
        canvas = Image.new("RGB", (nw, nh), "white")
        canvas.paste(image, ((nw - w) // 2, (nh - h) // 2))
        image = canvas
    return image


def save_png(image: Any, path: Path) -> None:
    """Fast zlib level: encoding dominates the cost otherwise. Re-encode harder if over Telegram's limit."""
    image.save(path, "PNG", compress_level=1)
    if path.stat().st_size > MAX_PNG_BYTES:
        image.save(path, "PNG", compress_level=9)
    while path.stat().st_size > MAX_PNG_BYTES and min(image.size) > 200:
        image = image.resize((image.size[0] * 3 // 4, image.size[1] * 3 // 4))
        image.save(path, "PNG", compress_level=9)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:40] or "x"


# ---- the whole document --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Page:
    page: pdfium.PdfPage
    textpage: pdfium.PdfTextPage
    text: PageText
    ox: float
    oy: float


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


def extract(pdf_path: Path, out_dir: Path, *, max_pages: int = MAX_PAGES) -> list[dict[str, Any]]:
    """Every captioned figure and table in the PDF as dicts, with their PNGs written to ``out_dir``.

    Raises for broken input (pdfium's errors, :class:`BombError`); the caller turns that into a reason.
    """
    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        n_pages = min(len(pdf), max_pages)
        pages: list[_Page] = []
        first_page: _Page | None = None
        for i in range(n_pages):
            pg = _open_page(pdf, i)
            if pg is None:
                continue
            full = pg.textpage.get_text_range()
            if i == 0:
                first_page = pg
            if i == 0 or QUICK_RE.search(full):
                pg.text.lines = read_lines(pg.textpage, pg.text.height, pg.ox, pg.oy)
                pages.append(pg)
        layout = compute_layout([p.text for p in pages]) if pages else None
        if layout is None:
            log.info("%s: no body text found in %d pages", pdf_path.name, n_pages)
            return []
        out_dir.mkdir(parents=True, exist_ok=True)
        results: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending: list[Future[None]] = []
            for pg in pages:
                results.extend(_page_figures(pg, layout, seen, out_dir, writer, pending))
            if first_page is not None and not any(r["page"] == 1 and r["kind"] == "figure" for r in results):
                teaser = _page_one(first_page, layout, out_dir, writer, pending)
                if teaser:
                    results.insert(0, teaser)
            for fut in pending:
                fut.result()
        return results
    finally:
        pdf.close()


def _page_figures(
    pg: _Page,
    layout: Layout,
    seen: set[tuple[str, str]],
    out_dir: Path,
    writer: ThreadPoolExecutor,
    pending: list[Future[None]],
) -> list[dict[str, Any]]:
    """Find, grow and render the captions of one page."""
    caps = find_captions(pg.text, layout, pg.textpage, pg.ox, pg.oy)
    if not caps:
        return []
    assign_bands(caps, layout, pg.text.width)
    for cap in caps:
        caption_block(cap, pg.text.lines, cap.band)
    graphics = page_graphics(pg.page, pg.text.width, pg.text.height, pg.ox, pg.oy)
    cap_lines = set()
    items: list[Item] = list(graphics)
    for cap in caps:
        items.append(Item(box=cap.box, kind="caption"))
    for line in pg.text.lines:
        if line.box.height > 2.5 * line.box.width and line.box.x1 < layout.frame_x0:
            continue  # the arXiv stamp in the margin
        if any(_inside(line.box, cap.box) for cap in caps):
            cap_lines.add(id(line))
            continue
        items.append(Item(box=line.box, kind="text", line=line))

    def prose(line: Line) -> bool:
        return is_prose(line, layout, pg.textpage, pg.ox, pg.oy)

    out: list[dict[str, Any]] = []
    for cap in caps:
        key = (cap.kind, cap.number)
        if key in seen:
            continue
        box = figure_box(cap, items, layout, prose)
        if box is None:
            log.debug("page %d: %s %s has no content", cap.page, cap.kind, cap.number)
            continue
        seen.add(key)
        box = Box(
            max(0.0, box.x0 - PAD), max(0.0, box.top - PAD), min(pg.text.width, box.x1 + PAD), min(pg.text.height, box.bottom + PAD)
        )
        image = render_box(pg.page, box, pg.text.width, pg.text.height)
        name = f"{cap.kind}-{_safe_name(cap.number)}.png"
        pending.append(writer.submit(save_png, image, out_dir / name))
        out.append(
            {
                "kind": cap.kind,
                "number": cap.number,
                "caption": cap.text,
                "page": cap.page,
                "bbox": (round(box.x0, 1), round(box.top, 1), round(box.x1, 1), round(box.bottom, 1)),
                "file": name,
                "width": image.size[0],
                "height": image.size[1],
            }
        )
    return out


def _inside(inner: Box, outer: Box) -> bool:
    return (
        inner.x0 >= outer.x0 - 1 and inner.x1 <= outer.x1 + 1 and inner.top >= outer.top - 1 and inner.bottom <= outer.bottom + 1
    )


def _page_one(
    pg: _Page, layout: Layout, out_dir: Path, writer: ThreadPoolExecutor, pending: list[Future[None]]
) -> dict[str, Any] | None:
    """An uncaptioned teaser: when page 1 is largely graphics, the page itself is the picture."""
    graphics = page_graphics(pg.page, pg.text.width, pg.text.height, pg.ox, pg.oy)
    big = [g for g in graphics if g.kind in ("image", "form", "shading") or g.box.area > 2000]
    area = sum(g.box.area for g in big)
    if area < 0.12 * pg.text.width * pg.text.height:
        return None
    box = Box(0.0, 0.0, pg.text.width, pg.text.height)
    image = render_box(pg.page, box, pg.text.width, pg.text.height)
    pending.append(writer.submit(save_png, image, out_dir / "page-1.png"))
    return {
        "kind": "page",
        "number": None,
        "caption": "",
        "page": 1,
        "bbox": (0.0, 0.0, round(pg.text.width, 1), round(pg.text.height, 1)),
        "file": "page-1.png",
        "width": image.size[0],
        "height": image.size[1],
    }
