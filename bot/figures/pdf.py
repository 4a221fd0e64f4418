"""Opening a PDF and its pages for the worker: whole files only, pages with their crop box origin."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .geometry import Item, PageText

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Page:
    page: pdfium.PdfPage
    textpage: pdfium.PdfTextPage
    text: PageText
    ox: float
    oy: float
    graphics: list[Item] | None = None  # its page objects, when read ahead (document.Part.read_ahead)


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
    page, textpage = upright(pdf[index])
    cx0, cy0, cx1, cy1 = page.get_cropbox()
    width, height = cx1 - cx0, cy1 - cy0
    if width <= 0 or height <= 0:
        return None
    return _Page(page, textpage, PageText(index, width, height, []), cx0, cy1)


def _page_and_size(pdf: pdfium.PdfDocument, number: int) -> tuple[pdfium.PdfPage, float, float]:
    page, _ = upright(pdf[number - 1])
    cx0, cy0, cx1, cy1 = page.get_cropbox()
    return page, cx1 - cx0, cy1 - cy0


def upright(page: pdfium.PdfPage) -> tuple[pdfium.PdfPage, pdfium.PdfTextPage]:
    """The page turned so its text reads left to right, in memory, and its text: a page with
    ``/Rotate`` (how pdflscape marks a landscape table) and a page whose content is set sideways
    on a portrait sheet (a landscape figure with its caption along the long side) are read, cut
    and drawn as the reader sees them once turned. The rest of the extractor knows only upright
    pages.
    """
    turns = (page.get_rotation() // 90) % 4  # quarter turns clockwise to show the page
    if turns:
        _turn(page, turns)
    textpage = page.get_textpage()
    sideways = _text_turns(textpage)
    if sideways:
        textpage.close()
        _turn(page, sideways)
        textpage = page.get_textpage()
    if turns or sideways:
        log.debug("page turned by %d quarter turns", (turns + sideways) % 4)
    return page, textpage


def _text_turns(textpage: pdfium.PdfTextPage) -> int:
    """Quarter turns clockwise that set most of the page's text upright (0 when it already is),
    from the baseline angles of up to 40 glyphs spread over the page."""
    raw = textpage.raw
    n = pdfium_c.FPDFText_CountChars(raw)
    if n < 20:
        return 0
    votes = [0, 0, 0, 0]
    for k in range(0, n, max(1, n // 40)):
        if pdfium_c.FPDFText_GetUnicode(raw, k) in (32, 10, 13):
            continue
        angle = pdfium_c.FPDFText_GetCharAngle(raw, k)
        if angle < 0:
            continue
        votes[round(angle / (math.pi / 2)) % 4] += 1  # quarter turns clockwise, as pdfium measures
    best = max(range(4), key=lambda q: votes[q])
    if best == 0 or votes[best] < 0.6 * sum(votes):
        return 0
    return 4 - best  # text turned q quarters clockwise reads upright after 4 - q more


def _turn(page: pdfium.PdfPage, turns: int) -> None:
    """Turn the page's content ``turns`` quarter turns clockwise, in place: every page object is
    transformed and the boxes swapped, so text, objects and drawing all see the turned page."""
    cx0, cy0, cx1, cy1 = page.get_cropbox()
    w, h = cx1 - cx0, cy1 - cy0
    # (a, b, c, d, e, f): x' = a x + c y + e, y' = b x + d y + f, the crop box's corner to the origin
    matrix = {
        1: (0.0, -1.0, 1.0, 0.0, -cy0, cx1),
        2: (-1.0, 0.0, 0.0, -1.0, cx1, cy1),
        3: (0.0, 1.0, -1.0, 0.0, cy1, -cx0),
    }[turns % 4]
    raw = page.raw
    for k in range(pdfium_c.FPDFPage_CountObjects(raw)):
        pdfium_c.FPDFPageObj_Transform(pdfium_c.FPDFPage_GetObject(raw, k), *matrix)
    nw, nh = (h, w) if turns % 2 else (w, h)
    pdfium_c.FPDFPage_SetMediaBox(raw, 0.0, 0.0, nw, nh)
    pdfium_c.FPDFPage_SetCropBox(raw, 0.0, 0.0, nw, nh)
    pdfium_c.FPDFPage_SetRotation(raw, 0)
