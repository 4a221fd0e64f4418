"""Page objects: images, vector paths, shadings and form XObjects as boxes, looking inside forms
that wrap a whole page, refusing decompression bombs."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .geometry import Box, Item, inside

MAX_IMAGE_PIXELS = 150_000_000  # an embedded image bigger than this is a decompression bomb
MAX_INK_PIXELS = 16_000_000  # image_ink draws an image at one pixel per unit of its container


class BombError(Exception):
    """The PDF holds an image too large to decode safely."""


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
    # the four corners, in the order (x0, y0), (x0, y1), (x1, y0), (x1, y1)
    xa, xb, xc, xd = a * x0 + c * y0 + e, a * x0 + c * y1 + e, a * x1 + c * y0 + e, a * x1 + c * y1 + e
    ya, yb, yc, yd = b * x0 + d * y0 + f, b * x0 + d * y1 + f, b * x1 + d * y0 + f, b * x1 + d * y1 + f
    return min(xa, xb, xc, xd), min(ya, yb, yc, yd), max(xa, xb, xc, xd), max(ya, yb, yc, yd)


def image_ink(item: Item, page: pdfium.PdfPage) -> Box:
    """The part of an image's box that shows something: not transparent, not near-white (as
    :func:`bot.figures.crop.trim_blank` judges it). Cut-outs and photos with rounded corners
    carry transparent or white margins that reach over a neighbour's rows or a title above.
    Decodes the image, so asked only where a margin may decide something; kept on the item."""
    if item.ink is not None:
        return item.ink
    item.ink = item.box
    if item.source is None:
        return item.box
    obj, whole = item.source
    bitmap = pdfium_c.FPDFImageObj_GetRenderedBitmap(page.pdf.raw, page.raw, obj)
    if not bitmap:
        return item.box
    try:
        w, h = pdfium_c.FPDFBitmap_GetWidth(bitmap), pdfium_c.FPDFBitmap_GetHeight(bitmap)
        stride = pdfium_c.FPDFBitmap_GetStride(bitmap)
        if w <= 0 or h <= 0 or pdfium_c.FPDFBitmap_GetFormat(bitmap) != pdfium_c.FPDFBitmap_BGRA:
            return item.box
        from PIL import Image, ImageChops

        data = ctypes.string_at(pdfium_c.FPDFBitmap_GetBuffer(bitmap), stride * h)
        image = Image.frombuffer("RGBA", (w, h), data, "raw", "BGRA", stride, 1)
    finally:
        pdfium_c.FPDFBitmap_Destroy(bitmap)
    if w * h > 250_000:  # a margin to a point or so is all that is asked
        k = math.ceil(math.sqrt(w * h / 250_000))
        image = image.resize((max(1, w // k), max(1, h // k)), Image.Resampling.NEAREST)
    r, g, b, a = image.split()
    dark = ImageChops.darker(ImageChops.darker(r, g), b).point(lambda v: 255 if v < 246 else 0)
    ink = ImageChops.multiply(dark, a.point(lambda v: 255 if v > 8 else 0)).getbbox()
    if ink is None:
        item.ink = Box(item.box.x0, item.box.top, item.box.x0, item.box.top)
        return item.ink
    iw_, ih_ = image.size
    sx, sy = whole.width / iw_, whole.height / ih_
    seen = Box(whole.x0 + ink[0] * sx, whole.top + ink[1] * sy, whole.x0 + ink[2] * sx, whole.top + ink[3] * sy)
    item.ink = Box(
        max(seen.x0, item.box.x0), max(seen.top, item.box.top), min(seen.x1, item.box.x1), min(seen.bottom, item.box.bottom)
    )
    if item.ink.width < 0 or item.ink.height < 0:
        item.ink = Box(item.box.x0, item.box.top, item.box.x0, item.box.top)
    return item.ink


def _blank_fill(obj: Any, rgba: list[ctypes.c_uint]) -> bool:
    """A fill that shows nothing on white paper: white (every channel 250 or more) or fully
    transparent. Such paths are the white backgrounds of plots and of included pages, often far
    bigger than what is drawn on them: counted as graphics, they make a figure reach over its
    neighbour's rows or the body text (and frame that text as the figure's own)."""
    if not pdfium_c.FPDFPageObj_GetFillColor(obj, *rgba):
        return False
    r, g, b, a = (c.value for c in rgba)
    return a == 0 or min(r, g, b) >= 250


def _is_rectangle(obj: Any) -> bool:
    """The path is one axis-aligned rectangle (so it covers its whole box)."""
    n = pdfium_c.FPDFPath_CountSegments(obj)
    if not 4 <= n <= 5:
        return False
    x, y = ctypes.c_float(), ctypes.c_float()
    xs, ys = set(), set()
    for k in range(n):
        seg = pdfium_c.FPDFPath_GetPathSegment(obj, k)
        if not seg or not pdfium_c.FPDFPathSegment_GetPoint(seg, x, y):
            return False
        if pdfium_c.FPDFPathSegment_GetType(seg) == pdfium_c.FPDF_SEGMENT_BEZIERTO:
            return False
        xs.add(round(x.value, 1))
        ys.add(round(y.value, 1))
    return len(xs) <= 2 and len(ys) <= 2


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

    rgba = [ctypes.c_uint() for _ in range(4)]

    # pdfium's functions bound once: a page of plots holds thousands of paths
    get_type, get_bounds = pdfium_c.FPDFPageObj_GetType, pdfium_c.FPDFPageObj_GetBounds
    get_draw_mode, types = pdfium_c.FPDFPath_GetDrawMode, _TYPES

    def visit(count: int, get: Callable[[Any, int], Any], parent: Any, depth: int, m: Matrix, clip: Box) -> None:
        mark = len(out)  # what this page or form drew before: a white fill here may cover it
        identity = m == IDENTITY
        cx0, ctop, cx1, cbottom = clip.x0, clip.top, clip.x1, clip.bottom
        for i in range(count):
            obj = get(parent, i)
            if not obj:
                continue
            kind = types.get(get_type(obj))
            if kind is None:
                continue
            if not get_bounds(obj, left, bottom, right, top):
                continue
            if identity:
                x0, y0, x1, y1 = left.value, bottom.value, right.value, top.value
            else:
                x0, y0, x1, y1 = _transform_box(m, left.value, bottom.value, right.value, top.value)
            # the box in page space, clipped (max and min spelled as comparisons picking the same number)
            bx0, btop, bx1, bbottom = x0 - ox, oy - y1, x1 - ox, oy - y0
            if cx0 > bx0:
                bx0 = cx0
            if ctop > btop:
                btop = ctop
            if cx1 < bx1:
                bx1 = cx1
            if cbottom < bbottom:
                bbottom = cbottom
            if bx1 < bx0 or bbottom < btop or (bx1 == bx0 and bbottom == btop):
                continue  # off the page
            box = Box(bx0, btop, bx1, bbottom)
            density = 0.0
            if kind == "image" and pdfium_c.FPDFImageObj_GetImagePixelSize(obj, iw, ih):
                if iw.value * ih.value > MAX_IMAGE_PIXELS:
                    raise BombError(f"an embedded image of {iw.value}x{ih.value} pixels")
                placed = max(x1 - x0, 1e-3) * max(y1 - y0, 1e-3)
                density = math.sqrt(iw.value * ih.value / placed)
                drawn = (right.value - left.value) * (top.value - bottom.value)  # image_ink's pixels
                if m[1] == 0 and m[2] == 0 and m[0] > 0 and m[3] > 0 and drawn <= MAX_INK_PIXELS:
                    # upright, so its pixels map to the box; and small enough to draw to look at
                    whole = Box(x0 - ox, oy - y1, x1 - ox, oy - y0)
                    out.append(Item(box=box, kind=kind, density=density, source=(obj, whole)))
                    continue
            if kind == "form" and depth < 6 and pdfium_c.FPDFPageObj_GetMatrix(obj, matrix):
                # look inside: children are in the form's space, clipped to the form's box
                inner = _compose((matrix.a, matrix.b, matrix.c, matrix.d, matrix.e, matrix.f), m)
                n = pdfium_c.FPDFFormObj_CountObjects(obj)
                visit(n, pdfium_c.FPDFFormObj_GetObject, obj, depth + 1, inner, box)
                continue
            if kind == "path":
                if not get_draw_mode(obj, fillmode, stroke):
                    fillmode.value, stroke.value = 1, 1  # not known: count it as drawn
                if fillmode.value == 0 and not stroke.value:
                    continue  # a clipping path: draws nothing
                if (bx1 - bx0) * (bbottom - btop) > 0.9 * page_area:
                    continue  # page background
                if not stroke.value and _blank_fill(obj, rgba):
                    if rgba[3].value == 255 and _is_rectangle(obj):
                        # what it covers is no longer seen
                        out[mark:] = [it for it in out[mark:] if not inside(it.box, box, 0.5)]
                    continue  # white on white paper (a plot's or an included page's background)
            out.append(Item(box=box, kind=kind, density=density))

    raw = page.raw
    visit(pdfium_c.FPDFPage_CountObjects(raw), pdfium_c.FPDFPage_GetObject, raw, 0, IDENTITY, Box(0.0, 0.0, width, height))
    return out
