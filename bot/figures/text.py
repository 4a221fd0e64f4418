"""Reading a page's text: pdfium's text rectangles, read as slices of the page text and merged
into visual lines (:func:`read_lines`)."""

from __future__ import annotations

import array
import ctypes
import math
import re

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .geometry import Box, Line

_DROP = dict.fromkeys([c for c in range(32) if chr(c) not in "\t\n"] + [0xFFFE, 0xAD])


_SOFT_HYPHENS = ("\x02", "\ufffe", "\xad")  # how pdfium marks a word hyphenated at a line's end


def _clean(text: str) -> str:
    """pdfium marks soft hyphens as \\x02 (and sometimes \\ufffe); drop them and control chars."""
    return text.translate(_DROP)


_BREAK = re.compile(r"\r\n|\r|\n")
_SPACES = re.compile(r"\s+")


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
    textpage = getattr(textpage, "raw", textpage)  # the handle: ctypes takes it as it is
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
            if k == 1:  # most lines: one rectangle, pdfium's rectangles already this line's
                idx = len(spans)
                if idx >= len(rects) or not pdfium_c.FPDFText_GetRect(textpage, 0, l_, t_, r_, b_):
                    return None
                if (l_.value, t_.value, r_.value, b_.value) != rects[idx]:
                    return None
                spans.append((start, end))
                start = m.end()
                continue
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
    raw_page = textpage.raw
    n = pdfium_c.FPDFText_CountRects(raw_page, 0, -1)
    l_, b_, r_, t_ = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    rects: list[tuple[float, float, float, float]] = []
    get_rect = pdfium_c.FPDFText_GetRect
    for i in range(n):
        if get_rect(raw_page, i, l_, t_, r_, b_):
            rects.append((l_.value, t_.value, r_.value, b_.value))
        else:
            rects.append((math.nan, math.nan, math.nan, math.nan))
    spans = _rect_spans(textpage, rects, text)
    page_text, page_spans = spans if spans is not None else ("", [])
    # the slow way: pdfium's raw calls with a reused buffer
    size = 2 * pdfium_c.FPDFText_CountChars(raw_page) + 64
    buf = (ctypes.c_ushort * size)() if spans is None else None
    # The line being joined is kept in locals (its bounds, its text's pieces) and written to its
    # Line when the next one starts: a page has thousands of rectangles. min() and max() are
    # spelled out as comparisons picking the same one of two numbers.
    prev: Line | None = None
    parts: list[str] = []
    lx0 = ltop = lx1 = lbottom = 0.0  # the line's bounds, once it has more than one rectangle
    grown = False
    pb_top = pb_bottom = pb_x1 = pb_h = 0.0  # the previous rectangle, in page space
    for i, (left, top, right, bottom) in enumerate(rects):
        if left != left:  # NaN: pdfium had no rectangle
            continue
        if spans is not None:
            s, e = page_spans[i]
            raw = page_text[s:e]
        else:
            got = pdfium_c.FPDFText_GetBoundedText(raw_page, left, top, right, bottom, buf, size)
            raw = ctypes.string_at(buf, 2 * min(got, size)).decode("utf-16-le", "ignore") if got > 0 else ""
        text = _clean(raw).strip()
        hyphen = raw.rstrip().endswith(_SOFT_HYPHENS)
        if not text:
            continue
        x0, y0, x1, y1 = left - ox, oy - top, right - ox, oy - bottom
        h = y1 - y0
        if h <= 0 or x1 <= x0:
            continue
        if prev is not None:
            overlap = (y1 if y1 < pb_bottom else pb_bottom) - (y0 if y0 > pb_top else pb_top)
            small = h if h < pb_h else pb_h
            if small < 1.0:
                small = 1.0
            reach = 0.7 * (h if h > pb_h else pb_h)
            gap = x0 - pb_x1
            if overlap >= 0.5 * small and -2.0 <= gap <= (3.0 if reach < 3.0 else reach):
                box = Box(x0, y0, x1, y1)
                prev.rects.append(box)
                if prev.chars is not None and spans is not None:
                    prev.chars[1].append(page_spans[i])
                else:
                    prev.chars = None
                if not grown:
                    lx0, ltop, lx1, lbottom = prev.box.x0, prev.box.top, prev.box.x1, prev.box.bottom
                    grown = True
                if x0 < lx0:
                    lx0 = x0
                if y0 < ltop:
                    ltop = y0
                if x1 > lx1:
                    lx1 = x1
                if y1 > lbottom:
                    lbottom = y1
                parts.append(("" if gap < 0.12 * small or parts[-1].endswith(" ") else " ") + text)
                prev.hyphen = hyphen
                pb_top, pb_bottom, pb_x1, pb_h = y0, y1, x1, h
                continue
            if grown:
                prev.box = Box(lx0, ltop, lx1, lbottom)
            prev.text = "".join(parts)
        box = Box(x0, y0, x1, y1)
        prev = Line(box=box, text=text, rects=[box], chars=(page_text, [page_spans[i]]) if spans is not None else None)
        prev.hyphen = hyphen
        parts = [text]
        grown = False
        lines.append(prev)
        pb_top, pb_bottom, pb_x1, pb_h = y0, y1, x1, h
    if prev is not None:
        if grown:
            prev.box = Box(lx0, ltop, lx1, lbottom)
        prev.text = "".join(parts)
    for line in lines:
        line.text = _whole(_SPACES.sub(" ", line.text).strip())
    return lines
