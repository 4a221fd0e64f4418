"""What a crop shows and at what size: the padded box (:func:`crop_box`), its scale within
Telegram's limits (:func:`crop_scale`, :func:`crop_size`) and drawing it (:func:`draw_crop`)."""

from __future__ import annotations

import math
import re
from typing import Any

import pypdfium2 as pdfium

from .geometry import Box

LONG_SIDE_PX = 1280  # Telegram shows a photo at up to 1280 px on its longest side; more is thrown away
MAX_SCALE = 4.0  # a small crop is not blown up past 4 px per point (288 dpi)
MAX_PIXELS = 24_000_000  # per crop, whatever the page size says
MAX_SIDE_SUM = 9_900  # Telegram: width + height <= 10,000
MAX_ASPECT = 20.0  # Telegram: aspect ratio <= 20
MAX_PNG_BYTES = 9_500_000  # Telegram: photos <= 10 MB


PAD = 3.0  # points of white around a crop


def crop_scale(box: Box, native: float | None = None) -> float:
    """Pixels per point: the longest side at LONG_SIDE_PX (up to MAX_SCALE), so a full-width
    figure or a dense table is as sharp as Telegram shows it; a crop that is mostly raster images
    no finer than their own resolution (``native``, pixels per point: drawing past it adds pixels,
    not detail), though never below 1; always within Telegram's and our pixel limits."""
    w, h = max(box.width, 1.0), max(box.height, 1.0)
    scale = min(MAX_SCALE, LONG_SIDE_PX / max(w, h))
    if native is not None:
        scale = min(scale, max(native, 1.0))
    scale = min(scale, MAX_SIDE_SUM / (w + h), math.sqrt(MAX_PIXELS / (w * h)))
    return max(scale, 0.05)


def scale_of(box: Box, page_w: float, page_h: float, width: int, height: int) -> float:
    """The scale a crop of this box was sized at (:func:`crop_size`), from its pixel size: a crop
    drawn later from the cache (which keeps the size, not the scale) gets the very same pixels."""
    bw, bh = max(box.width, 1e-3), max(box.height, 1e-3)
    guesses = [width / bw, height / bh]
    guesses += [g + d for g in guesses[:2] for d in (-0.5 / bw, 0.5 / bw, -0.5 / bh, 0.5 / bh, -1 / bw, -1 / bh)]
    for scale in guesses:
        if scale > 0 and crop_size(box, page_w, page_h, scale) == (width, height):
            return scale
    return min(guesses[:2])


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


def crop_size(box: Box, page_w: float, page_h: float, scale: float) -> tuple[int, int]:
    """The pixel size :func:`draw_crop` will give at ``scale``, without drawing (pypdfium2's arithmetic)."""
    crop = [math.ceil(c * scale) for c in (box.x0, page_h - box.bottom, page_w - box.x1, box.top)]
    w = math.ceil(page_w * scale) - crop[0] - crop[2]
    h = math.ceil(page_h * scale) - crop[1] - crop[3]
    if w > MAX_ASPECT * h or h > MAX_ASPECT * w:
        w, h = max(w, math.ceil(h / MAX_ASPECT)), max(h, math.ceil(w / MAX_ASPECT))
    return w, h


def draw_crop(page: pdfium.PdfPage, box: Box, page_w: float, page_h: float, scale: float) -> tuple[Any, Box]:
    """Render a region (not the whole page) to an RGB image, its blank margins trimmed, padded
    to Telegram's aspect limit; and the region it shows once trimmed (0.1 pt).

    One render per crop, of the crop only: decoding and resampling the embedded images is most
    of the cost, and pdfium skips what lies outside the crop.
    """
    from PIL import Image

    image = _render(page, box, scale, page_w, page_h)
    image, (left, top, right, bottom) = trim_blank(image, round(PAD * scale))
    shown = Box(
        round(box.x0 + left / scale, 1),
        round(box.top + top / scale, 1),
        round(box.x0 + right / scale, 1),
        round(box.top + bottom / scale, 1),
    )
    w, h = image.size
    if w > MAX_ASPECT * h or h > MAX_ASPECT * w:
        nw, nh = max(w, math.ceil(h / MAX_ASPECT)), max(h, math.ceil(w / MAX_ASPECT))
        canvas = Image.new("RGB", (nw, nh), "white")
        canvas.paste(image, ((nw - w) // 2, (nh - h) // 2))
        image = canvas
    return image, shown


def trim_blank(image: Any, pad: int) -> tuple[Any, tuple[int, int, int, int]]:
    """The image without blank margins wider than ``pad`` pixels, and the pixel box kept: a box
    reaches further than its ink when an image or a form carries white margins, or a figure is
    narrower than the band it was found in. Near-white (above 245 in every channel) is blank."""
    w, h = image.size
    ink = image.convert("L").point(lambda v: 255 if v < 246 else 0).getbbox()
    if ink is None:
        return image, (0, 0, w, h)
    kept = (max(0, ink[0] - pad), max(0, ink[1] - pad), min(w, ink[2] + pad), min(h, ink[3] + pad))
    if kept == (0, 0, w, h):
        return image, kept
    return image.crop(kept), kept


def _render(page: pdfium.PdfPage, box: Box, scale: float, page_w: float, page_h: float) -> Any:
    crop = (box.x0, page_h - box.bottom, page_w - box.x1, box.top)
    # pdfium writes RGB rather than its BGR (rev_byteorder: the same pixels, in PIL's order, so
    # the copy to PIL is a plain one, not a channel swap: ~40% quicker)
    bitmap = page.render(scale=scale, crop=crop, draw_annots=False, may_draw_forms=False, rev_byteorder=True)
    image = bitmap.to_pil()  # a copy, so the bitmap may go
    return image if image.mode == "RGB" else image.convert("RGB")


def _pad(box: Box, pad: float) -> Box:
    return Box(box.x0 - pad, box.top - pad, box.x1 + pad, box.bottom + pad)


def _clamp(box: Box, page_w: float, page_h: float) -> Box:
    return Box(max(0.0, box.x0), max(0.0, box.top), min(page_w, box.x1), min(page_h, box.bottom))


def crop_file(kind: str, number: str | None, page: int) -> str:
    """``figure-3.png``, ``table-II.png``, ``page-1.png``."""
    if number is None:
        return f"{kind}-{page}.png"
    return f"{kind}-{re.sub(r'[^A-Za-z0-9._-]+', '_', number)[:40] or 'x'}.png"
