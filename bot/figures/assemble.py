"""Figure assembly: from each caption, walk away through the page objects and non-body text of its
band until body text, another caption or a wide gap (:func:`walk`, :func:`figure_box`), settle
two captions facing one float (:func:`split_facing`), and plan a page's crops (:func:`page_plan`)."""

from __future__ import annotations

import heapq
import logging
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .captions import assign_bands, caption_block, find_captions, is_prose, mark_prose
from .crop import crop_box, crop_file, crop_scale, crop_size
from .geometry import Box, Caption, Item, Layout, Line, inside
from .objects import image_ink, page_graphics
from .pdf import _Page

log = logging.getLogger(__name__)

TEXT_PX = 10.0  # the height a crop's text is drawn at, at least, when its images would allow less


_SOLID = ("image", "form", "shading")  # what a figure may hold past the text's edge


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
    owners: list[Item | None] = field(default_factory=list)  # each piece's item (None: text taken late)


def _is_barrier(it: Item, cap: Caption, layout: Layout, prose: Callable[[Line], bool]) -> bool:
    """Things a figure never reaches past: other captions, body text, running heads and feet,
    and text that sticks out of a column band into the other column (titles, wide abstracts)."""
    bx0, bx1 = cap.band
    overlap = it.box.x_overlap(bx0, bx1)
    if overlap <= 0:
        return False
    if it.kind == "caption":
        return overlap > 0.2 * min(bx1 - bx0, it.box.width)
    if it.kind == "path" and _head_rule(it.box, layout):
        return True
    if it.kind != "text" or it.line is None:
        return False
    if it.box.bottom <= layout.head_bottom + 1 or it.box.top > layout.frame_bottom + 1:
        return True
    if overlap > 0.3 * min(bx1 - bx0, it.box.width) and prose(it.line):
        return True
    if bx1 - bx0 > 0.75 * (layout.frame_x1 - layout.frame_x0):
        return False
    # a half band: text reaching well into the other half is not part of this figure
    left_half = (bx0 + bx1) / 2 < layout.mid
    sticks_out = it.box.x1 > bx1 + 10 if left_half else it.box.x0 < bx0 - 10
    return sticks_out and it.box.width > 2 * it.box.height


def _head_rule(box: Box, layout: Layout) -> bool:
    """The rule under a running head: a thin line across the text width, right below the head."""
    return (
        box.height <= 2.5
        and box.width >= 0.5 * (layout.frame_x1 - layout.frame_x0)
        and box.bottom < layout.frame_top - 1
        and box.top <= layout.head_bottom + 1.5 * layout.body_h
    )


def walk(
    cap: Caption,
    items: list[Item],
    layout: Layout,
    direction: int,
    barrier: Callable[[int], bool],
    ink: Callable[[Item], Box] | None = None,
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
    wide = bx1 - bx0 > 0.75 * (layout.frame_x1 - layout.frame_x0)
    if wide:
        lo, hi = 0.0, math.inf  # the whole width: figures may reach into the margins
    elif (bx0 + bx1) / 2 < layout.mid:
        lo, hi = 0.0, bx1 + 6
    else:
        lo, hi = bx0 - 6, math.inf
    # the nearest barrier: items are asked (see figure_box) nearest first, only until one is; a
    # heap, not a sort: usually one of the first few is a barrier
    if direction < 0:
        edge = cap.box.top + 0.3 * h
        nearest = [(-it.box.bottom, i) for i, it in enumerate(items) if it.box.bottom <= edge]
        limit = -math.inf
    else:
        edge = cap.box.bottom - 0.3 * h
        nearest = [(it.box.top, i) for i, it in enumerate(items) if it.box.top >= edge]
        limit = math.inf
    heapq.heapify(nearest)
    while nearest:
        i = heapq.heappop(nearest)[1]
        if barrier(i):
            limit = items[i].box.bottom if direction < 0 else items[i].box.top
            break
    span = (limit, cap.box.top) if direction < 0 else (cap.box.bottom, limit)
    cands = _candidates(items, cap.band, span, lo, hi, wide, direction, barrier)
    edge = start = cap.box.top if direction < 0 else cap.box.bottom
    box: Box | None = None
    first_gap = math.inf
    pending: list[Box] = []
    pending_edge = edge
    graphics = texts = 0
    taken: list[Item] = []
    pieces: list[Box] = []
    owners: list[Item | None] = []
    hit = "barrier" if math.isfinite(limit) else "end"
    for clipped, it in cands:
        ref = pending_edge if pending else edge
        gap = (ref - clipped.bottom) if direction < 0 else (clipped.top - ref)
        is_text = it.kind == "text"
        allowed = text_gap if is_text else graphic_gap
        if not pieces and not pending:
            allowed = max(allowed, 3.0 * h)  # captions of short side-by-side floats sit farther off
        if gap > allowed:
            hit = "gap"
            break
        if first_gap == math.inf:
            first_gap = gap
        if is_text and not table and not pending and gap <= tight and ink is not None and clipped.width > 0.25 * (bx1 - bx0):
            # a wide line (a title, the authors, an address: not a panel's label) that an image's
            # box reaches: is it the image, or only its blank margin?
            touching, inked = _touching(clipped, pieces, owners, direction, tight, ink)
            if inked:  # an image's piece became what it shows: the edge moves back
                ends = [p.top if direction < 0 else p.bottom for p in pieces]
                edge = min([start, *ends]) if direction < 0 else max([start, *ends])
                pending_edge = edge
            if not touching:
                gap = tight + 1  # only an image's blank margin reached the line
        if is_text and (pending or gap > tight) and not table:
            pending.append(clipped)
            pending_edge = (
                min(pending_edge, clipped.top) if direction < 0 else max(pending_edge, clipped.bottom)
            )
            continue
        for p in pending:
            pieces.append(p)
            owners.append(None)
            texts += 1
        pending = []
        pieces.append(clipped)
        owners.append(it)
        taken.append(it)
        if is_text:
            texts += 1
        else:
            graphics += 1
        edge = min(edge, clipped.top) if direction < 0 else max(edge, clipped.bottom)
        pending_edge = edge
    if pieces:
        box = _union_all(pieces)
    elif len(pending) >= 3:
        # a figure made of text only (a listing, a prompt): take it if it is compact
        box = _union_all(pending)
        pieces = list(pending)
        owners = [None] * len(pending)
        texts = len(pending)
    return Walk(taken, box, first_gap, hit, graphics, texts, span, pieces, owners)


def _candidates(
    items: list[Item],
    band: tuple[float, float],
    span: tuple[float, float],
    lo: float,
    hi: float,
    wide: bool,
    direction: int,
    barrier: Callable[[int], bool],
) -> list[tuple[Box, Item]]:
    """What a walk may take, clipped to the band's reach (``lo``, ``hi``) and the span, nearest
    the caption first. The page's items are many (every path of a plot) and most lie on the other
    side of the caption, so each is judged from its four numbers before a box is made for it."""
    bx0, bx1 = band
    near_lo, near_hi = bx0 - 2, bx1 + 2
    s0, s1 = span
    out: list[tuple[float, int, Box, Item]] = []
    for i, it in enumerate(items):
        kind = it.kind
        if kind == "caption":
            continue
        b = it.box
        x0, top, x1, bottom = b.x0, b.top, b.x1, b.bottom
        ctop = s0 if s0 > top else top  # max(top, s0), min(bottom, s1), max(x0, lo), min(x1, hi)
        cbottom = s1 if s1 < bottom else bottom
        height = cbottom - ctop
        if height < 0:
            continue  # on the other side of the caption or of the barrier
        if (
            not (near_lo <= (x0 + x1) / 2 <= near_hi)
            and b.x_overlap(bx0, bx1) < 0.6 * (x1 - x0)
            and (kind not in _SOLID or not wide)
        ):
            # beside the band; but a figure as wide as the page may reach into the margins with
            # its pictures (not its paths: a plot's lines run on, clipped, past its axes)
            continue
        cx0 = lo if lo > x0 else x0
        cx1 = hi if hi < x1 else x1
        if cx1 - cx0 <= 0.5 or (height <= 0.3 and kind == "text"):
            continue
        if height < 0.5 and bottom - top > 2:
            continue
        if kind == "text" and height < 0.6 * (bottom - top):
            continue  # a text line cut by the caption or a barrier is not ours
        if (kind == "text" or kind == "path") and barrier(i):
            continue
        out.append((-cbottom if direction < 0 else ctop, len(out), Box(cx0, ctop, cx1, cbottom), it))
    out.sort()  # by distance, then in page order (the index breaks ties; boxes are never compared)
    return [(clipped, it) for _, _, clipped, it in out]


def _touching(
    line: Box, pieces: list[Box], owners: list[Item | None], direction: int, tight: float, ink: Callable[[Item], Box]
) -> tuple[bool, bool]:
    """Does a text line touch what the walk took (within ``tight``), counting an image by what it
    shows? An image's box may carry a blank margin up to a line that is not the figure's (the
    title and authors over a teaser, a project page's address). Whether the line touches, and
    whether an image's piece was narrowed to what it shows (``pieces`` changed in place).
    Images are decoded only when nothing else touches the line."""

    def gap(piece: Box) -> float:
        return (piece.top - line.bottom) if direction < 0 else (line.top - piece.bottom)

    unseen: list[int] = []
    for k in range(len(pieces) - 1, -1, -1):  # the latest taken lie nearest the line
        piece = pieces[k]
        if gap(piece) > tight:
            continue
        owner = owners[k]
        beyond = (  # the line lies past the piece's edge, where only a margin could reach it
            (line.top + line.bottom) / 2 < piece.top + 0.5 * line.height
            if direction < 0
            else (line.top + line.bottom) / 2 > piece.bottom - 0.5 * line.height
        )
        if beyond and owner is not None and owner.kind == "image" and owner.source is not None and owner.ink is None:
            unseen.append(k)
            continue
        return True, False
    inked = False
    for k in sorted(unseen, key=lambda k: gap(pieces[k])):  # the likeliest to touch first
        piece, seen = pieces[k], ink(owners[k])  # type: ignore[arg-type]
        shown = Box(max(seen.x0, piece.x0), max(seen.top, piece.top), min(seen.x1, piece.x1), min(seen.bottom, piece.bottom))
        if shown.width <= 0 or shown.height <= 0:
            continue  # blank where the walk sees it
        if shown != piece:
            pieces[k] = shown
            inked = True
        if gap(shown) <= tight:
            return True, inked
    return False, inked


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
    owners: list[Item | None]
    other_way: Found | None = None  # the walk the other way, when it found something too


def figure_box(
    cap: Caption,
    items: list[Item],
    layout: Layout,
    prose: Callable[[Line], bool],
    ink: Callable[[Item], Box] | None = None,
) -> Found | None:
    """The caption plus its figure: walk the preferred way first, the other way if that is empty."""
    preferred = 1 if cap.kind == "table" else -1
    bx0, bx1 = cap.band
    # what lies wholly beside the band is neither taken nor a barrier (see walk, _is_barrier)
    wide = bx1 - bx0 > 0.75 * (layout.frame_x1 - layout.frame_x0)
    items = [it for it in items if (it.box.x0 <= bx1 + 2 and it.box.x1 >= bx0 - 2) or (wide and it.kind in _SOLID)]
    known: dict[int, bool] = {}

    def barrier(i: int) -> bool:
        """Asked lazily (judging a line as body text reads its glyphs) and once for both walks."""
        got = known.get(i)
        if got is None:
            got = known[i] = _is_barrier(items[i], cap, layout, prose)
        return got

    first = walk(cap, items, layout, preferred, barrier, ink)
    second = walk(cap, items, layout, -preferred, barrier, ink)
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
    return Found(cap, chosen.box.union(cap.box), allowed, walked_up, chosen.pieces, chosen.owners)


def split_facing(found: list[Found], ink: Callable[[Item], Box] | None = None, sure: float = math.inf) -> None:
    """A table captioned above, then a figure captioned below it: both walks take the whole span
    between the two captions. Cut it at the widest empty gap (the float separation); when that
    is narrower than ``sure`` (half a body line), look again with images counted by what they
    show (``ink``: a cut-out's blank margin may reach over the table's rows), and with none at
    all, cut where the photos start. Unless the upper caption found something above it too that
    nobody else claims: then that is its float (two floats, each captioned below), and the span
    is all the lower caption's."""
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
            pieces = [p for p in a.pieces + b.pieces if p.bottom > lo and p.top < hi]
            best = _float_gap(pieces, lo, hi)
            if ink is not None and (best is None or best[1] - best[0] < sure):
                # no clear separation: a blank margin of an image may be hiding it (decoding the
                # images costs, so only here)
                _show_images(a, ink)
                _show_images(b, ink)
                pieces = [p for p in a.pieces + b.pieces if p.bottom > lo and p.top < hi]
                best = _float_gap(pieces, lo, hi)
            if best is None and a.cap.kind == "table" and b.cap.kind == "figure":
                images = [p for f in (a, b) for p, o in zip(f.pieces, f.owners, strict=True) if o is not None and o.kind == "image"]
                best = _photo_edge(pieces, images, lo)
            if best is None:
                continue
            cut = (best[0] + best[1]) / 2
            a.box = _union_all([a.cap.box] + [p for p in a.pieces if p.bottom <= best[0] + 0.5])
            b.box = _union_all([b.cap.box] + [p for p in b.pieces if p.top >= best[1] - 0.5])
            a.allowed = (a.allowed[0], min(a.allowed[1], cut))
            b.allowed = (max(b.allowed[0], cut), b.allowed[1])


def _show_images(found: Found, ink: Callable[[Item], Box]) -> None:
    """Each image's piece narrowed to what the image shows (blank ones left as they are)."""
    for k, (piece, owner) in enumerate(zip(found.pieces, found.owners, strict=True)):
        if owner is None or owner.kind != "image" or owner.source is None:
            continue
        seen = ink(owner)
        shown = Box(max(seen.x0, piece.x0), max(seen.top, piece.top), min(seen.x1, piece.x1), min(seen.bottom, piece.bottom))
        if shown.width > 0 and shown.height > 0:
            found.pieces[k] = shown


def _float_gap(pieces: list[Box], lo: float, hi: float) -> tuple[float, float] | None:
    """The widest empty band (over 2 pt) between pieces, from ``lo`` down to ``hi``: not the
    one above the first piece (cutting there would leave the upper float nothing)."""
    best: tuple[float, float] | None = None
    reach: float | None = None
    for top, bottom in sorted((max(p.top, lo), min(p.bottom, hi)) for p in pieces):
        if reach is not None and top - reach > 2 and (best is None or top - reach > best[1] - best[0]):
            best = (reach, top)
        reach = bottom if reach is None else max(reach, bottom)
    return best


def _photo_edge(pieces: list[Box], images: list[Box], lo: float) -> tuple[float, float] | None:
    """A table set right on top of a figure of photos, with no gap between: the cut is where the
    photos start, if no piece crosses it and table pieces (text, rules) lie above it."""
    if not images:
        return None
    edge = min(im.top for im in images)
    if any(p.top < edge - 0.5 and p.bottom > edge + 0.5 for p in pieces):
        return None
    above = [p for p in pieces if p.bottom <= edge + 0.5]
    if not above:
        return None
    return max(p.bottom for p in above), edge


def _overlaps(a: Box, b: Box) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.bottom, b.bottom) - max(a.top, b.top) > 1


def _union_all(boxes: list[Box]) -> Box:
    out = boxes[0]
    for b in boxes[1:]:
        out = out.union(b)
    return out


def page_plan(pg: _Page, layout: Layout) -> list[dict[str, Any]]:
    """Find and grow the captions of one page, into rows with the box each crop will show."""
    mark_prose(pg.text.lines, layout)
    caps = find_captions(pg.text, layout, pg.textpage, pg.ox, pg.oy)
    if not caps:
        return []
    assign_bands(caps, layout, pg.text.width)
    graphics = pg.graphics if pg.graphics is not None else page_graphics(pg.page, pg.text.width, pg.text.height, pg.ox, pg.oy)
    pg.graphics = None  # its items are this plan's now (image_ink marks them)
    rules = [g.box for g in graphics if g.kind == "path" and g.box.height <= 2 and g.box.width >= 30]
    for cap in caps:
        caption_block(cap, pg.text.lines, cap.band, rules)
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
        if any(inside(line.box, cap.box, 1) for cap in caps):
            continue
        items.append(Item(box=line.box, kind="text", line=line))

    def prose(line: Line) -> bool:
        return is_prose(line, layout, pg.textpage, pg.ox, pg.oy)

    def ink(item: Item) -> Box:
        return image_ink(item, pg.page)

    found: list[Found] = []
    seen: set[tuple[str, str]] = set()
    for cap in caps:
        key = (cap.kind, cap.number)
        if key in seen:
            continue
        got = figure_box(cap, items, layout, prose, ink)
        if got is None:
            log.debug("page %d: %s %s has no content", cap.page, cap.kind, cap.number)
            continue
        seen.add(key)
        found.append(got)
    split_facing(found, ink, 0.5 * layout.body_h)
    out: list[dict[str, Any]] = []
    for got in found:
        cap, box = got.cap, got.box
        for m in margin_text:  # keep the arXiv stamp out of a figure that reaches into the margin
            if min(m.bottom, box.bottom) > max(m.top, box.top):
                if m.x1 < layout.frame_x0 and box.x0 < m.x1:
                    box = Box(m.x1 + 1, box.top, box.x1, box.bottom)
                elif m.x0 > layout.frame_x1 and box.x1 > m.x0:
                    box = Box(box.x0, box.top, m.x0 - 1, box.bottom)
        crop = crop_box(box, pg.text.width, pg.text.height, got.allowed)
        out.append(_row(cap.kind, cap.number, cap.text, cap.page, crop, pg, raster_resolution(crop, graphics, pg.text.lines, cap.box)))
    return out


def raster_resolution(crop: Box, graphics: list[Item], lines: list[Line], caption: Box | None) -> float | None:
    """How fine (pixels per point) a crop that is mostly raster images may be drawn; None for
    any other crop (vector art, tables and text have detail at any scale).

    Mostly: the images cover half of what is not the caption. A photo has only its own pixels,
    and drawing it finer adds none, so the limit is the finest image's own resolution; unless
    the crop's text (its caption, labels set as text) would then be under TEXT_PX tall: text is
    drawn from outlines, and it is what a reader must read.
    """
    area = crop.area - (caption.area if caption is not None else 0.0)
    if area <= 0:
        return None
    covered = 0.0
    density = 0.0
    for g in graphics:
        if g.kind != "image" or g.density <= 0:
            continue
        shown = Box(
            max(g.box.x0, crop.x0), max(g.box.top, crop.top), min(g.box.x1, crop.x1), min(g.box.bottom, crop.bottom)
        )
        if shown.width <= 0 or shown.height <= 0:
            continue
        covered += shown.area
        density = max(density, g.density)
    if covered < 0.5 * area:
        return None
    # each run of text's own height (a label's, a subscript's: what must be read), not its line's;
    # under 1.5 pt it is a minus sign, an accent or a rule set as a glyph, not text
    heights = [
        r.height
        for ln in lines
        if crop.x0 <= ln.box.cx <= crop.x1 and crop.top <= (ln.box.top + ln.box.bottom) / 2 <= crop.bottom
        for r in ln.rects
        if r.height >= 1.5
    ]
    if heights:
        density = max(density, TEXT_PX / statistics.median(heights))
    return density


def _row(
    kind: str, number: str | None, caption: str, page: int, box: Box, pg: _Page, native: float | None = None
) -> dict[str, Any]:
    scale = crop_scale(box, native)
    width, height = crop_size(box, pg.text.width, pg.text.height, scale)
    return {
        "kind": kind,
        "number": number,
        "caption": caption,
        "page": page,
        "bbox": [box.x0, box.top, box.x1, box.bottom],
        "file": crop_file(kind, number, page),
        "width": width,
        "height": height,
        "scale": scale,
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
        and not any(inside(c.box, g.box, 1) for c in caps)
    ]
    if not frames:
        return
    for line in lines:
        if line.prose and any(inside(line.box, f, 1) for f in frames):
            line.prose = False


def _page_one(pg: _Page) -> dict[str, Any] | None:
    """An uncaptioned teaser: when page 1 is largely graphics, the page itself is the picture."""
    graphics = page_graphics(pg.page, pg.text.width, pg.text.height, pg.ox, pg.oy)
    big = [g for g in graphics if g.kind in ("image", "form", "shading") or g.box.area > 2000]
    area = sum(g.box.area for g in big)
    if area < 0.12 * pg.text.width * pg.text.height:
        return None
    page = Box(0.0, 0.0, pg.text.width, pg.text.height)
    return _row("page", None, "", 1, page, pg, raster_resolution(page, graphics, pg.text.lines, None))
