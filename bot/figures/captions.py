"""Finding captions: which lines are body text (:func:`mark_prose`, :func:`is_prose`), which lines
start a caption rather than refer to a figure (:func:`find_captions`), the caption's whole text
(:func:`caption_block`) and the horizontal band its figure lives in (:func:`assign_bands`)."""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .geometry import Box, Caption, Layout, Line, PageText
from .text import _space_runs

_LABEL = r"(?P<label>Figure|Fig\.?|FIGURE|FIG\.?|Table|TABLE|Tab\.?|TAB\.?|Supplementary\s+Figure|Supplementary\s+Table)"
_NUMBER = r"(?P<num>[A-Z]?\d{1,3}(?:\.\d{1,2})?|[IVXL]{1,6})"
CAPTION_RE = re.compile(rf"^\s*{_LABEL}\s*{_NUMBER}(?P<rest>.*)$", re.S)
QUICK_RE = re.compile(r"(?m)^\s*(?:Fig|FIG|Tab|TAB|Supplementary)")
DELIMS = (":", ".", "|", "：", "—", "–")


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
        col = cols[0] if len(cols) == 1 else max(cols, key=lambda c: b.x_overlap(c[0], c[1]))
        if b.x_overlap(col[0], col[1]) < 0.9 * b.width:
            continue
        left_ok = col[0] - 4 <= b.x0 <= col[0] + 25
        if left_ok and abs(b.x1 - col[1]) <= 4 and b.width >= 0.7 * (col[1] - col[0]):
            line.prose = True
        elif abs(b.x0 - col[0]) <= 4:
            candidates.append((line, col))
    prose = [o for o in lines if o.prose]  # and each candidate found prose, as it is found
    for line, col in candidates:  # last lines of paragraphs
        top = line.box.top
        for other in prose:
            if 0 <= top - other.box.bottom <= 0.6 * h and other.box.x_overlap(col[0], col[1]) > 0:
                line.prose = True
                prose.append(line)
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


def caption_block(cap: Caption, lines: list[Line], band: tuple[float, float], rules: Sequence[Box] = ()) -> None:
    """Extend the caption's first line down through the lines that continue it (same size, tight
    pitch), never past a rule (``rules``: thin horizontal lines, a table's top rule under its
    caption: the header row below it may follow as closely as a caption's own lines)."""
    box = cap.first.box
    members = [cap.first]
    taken = {id(cap.first)}
    h = cap.first.height
    near = [o for o in lines if band[0] - 6 <= o.box.x0 and o.box.x1 <= band[1] + 6]  # all that may join
    # each line's top and the height its gap is judged by, once (the loop below runs per line taken)
    judged = [(o, o.box.top, max(h, o.height)) for o in near]
    changed = True
    while changed:
        changed = False
        best: Line | None = None
        end = box.bottom
        for other, top, hh in judged:
            gap = top - end
            if not (-0.4 * hh <= gap <= 0.75 * hh):
                continue
            if id(other) in taken:
                continue
            if other.box.cx < band[0] or other.box.cx > band[1]:
                continue
            if other.box.x0 < band[0] - 6 or other.box.x1 > band[1] + 6:
                continue
            if abs(other.height - h) > 0.35 * hh and (other.box.width > 3 * h or gap > 0.1 * h):
                continue
            if CAPTION_RE.match(other.text) and other.box.top > box.bottom - 0.2 * h:
                continue
            if gap > 0 and any(
                box.bottom <= r.top
                and r.bottom <= other.box.top
                and r.x_overlap(other.box.x0, other.box.x1) >= 0.5 * min(box.width, other.box.width)
                for r in rules
            ):
                continue
            if best is None or other.box.top < best.box.top:
                best = other
        if best is not None:
            # pull in every line at the same height as ``best`` (split runs, math)
            level = [
                o
                for o in near
                if min(o.box.bottom, best.box.bottom) - max(o.box.top, best.box.top) > 0.4 * min(o.height, best.height)
            ]
            if _cells(level, h):
                break  # a table's row (its header, right under the caption), not the caption's
            row = [o for o in level if id(o) not in taken]
            for o in row:
                members.append(o)
                taken.add(id(o))
                box = box.union(o.box)
            changed = True
    # same-row fragments of the first line (e.g. a bold label split from the text by pdfium's order)
    for o in near:
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
    cap.text = re.sub(r"\s+", " ", join_lines(members, lines)).strip()


def _cells(row: list[Line], h: float) -> bool:
    """Three or more pieces of one row set apart by gaps far wider than a word space (``h``: the
    caption's line height): a table's cells. A caption's line is one piece, or pieces a space
    apart (accents and sub- and superscripts, too small to count, may sit anywhere)."""
    pieces = sorted((ln for ln in row if ln.height >= 0.5 * h), key=lambda ln: ln.box.x0)
    if len(pieces) < 3:
        return False
    wide = 0
    reach = pieces[0].box.x1
    for piece in pieces[1:]:
        if piece.box.x0 - reach > 1.5 * h:
            wide += 1
        reach = max(reach, piece.box.x1)
    return wide >= 2


_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _page_words(lines: list[Line]) -> set[str]:
    """The page's words, lower-cased, without the halves of hyphenated ones: a line's first
    word (it may be the end of one) and the last word of a line that ends hyphenated."""
    words: set[str] = set()
    for ln in lines:
        found = _WORD.findall(ln.text)
        if ln.hyphen and found:
            found.pop()
        words.update(w.lower() for w in found[1:])
    return words


def join_lines(members: list[Line], page_lines: list[Line]) -> str:
    """Caption lines' text in order with a space between them, joining a word hyphenated
    across a line break ("indi-" + "cates" is "indicates", not "indi cates").

    pdfium marks every hyphen at a line's end alike, the hyphenation's and a compound's
    ("object-" + "level"), so the page's other words decide: the joined word used elsewhere on
    the page joins; both halves used as words keep the hyphen; a continuation that is not a
    lower-case word (a label, a formula) stays apart; otherwise it joins.
    """
    words: set[str] | None = None
    out = ""
    for k, line in enumerate(members):
        if k == 0:
            out = line.text
            continue
        prev = members[k - 1]
        left = re.search(r"([^\W\d_]+)$", out)
        right = re.match(r"([^\W\d_]+)", line.text)
        if not (prev.hyphen and left and right and line.text[:1].islower() and line.box.top > prev.box.top + 0.5 * prev.height):
            out += " " + line.text
            continue
        if words is None:
            words = _page_words(page_lines)
        a, b = left.group(1).lower(), right.group(1).lower()
        if re.match(r"[^\W\d_]+-", line.text):
            out += "-" + line.text  # "text-" + "to-image"
        elif a + b in words:
            out += line.text
        elif (a in words and b in words) or f"{a}-{b}" in words:
            out += "-" + line.text
        elif len(b) < 3:
            out += " " + line.text
        else:
            out += line.text
    return out


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
        elif b.x0 > mid + 12:
            # one column, and the caption starts right of its middle: a float set beside the
            # text (wrapfigure, wraptable), whose lines beside it are not the float's
            cap.band = (b.x0 - 6, full[1])
        else:
            cap.band = full
