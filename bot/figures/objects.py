"""Page objects: images, vector paths, shadings and form XObjects as boxes, looking inside forms
that wrap a whole page, refusing decompression bombs."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .geometry import Box, Item

MAX_IMAGE_PIXELS = 150_000_000  # an embedded image bigger than this is a decompression bomb


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
            density = 0.0
            if kind == "image" and pdfium_c.FPDFImageObj_GetImagePixelSize(obj, iw, ih):
                if iw.value * ih.value > MAX_IMAGE_PIXELS:
                    raise BombError(f"an embedded image of {iw.value}x{ih.value} pixels")
                placed = max(x1 - x0, 1e-3) * max(y1 - y0, 1e-3)
                density = math.sqrt(iw.value * ih.value / placed)
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
            out.append(Item(box=box, kind=kind, density=density))

    visit(
        pdfium_c.FPDFPage_CountObjects(page),
        lambda k: pdfium_c.FPDFPage_GetObject(page, k),
        0,
        IDENTITY,
        Box(0.0, 0.0, width, height),
    )
    return out
