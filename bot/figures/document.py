"""The whole document: one process's share of a PDF's pages (:class:`Part`), the extraction that
joins both processes' pages into rows (:func:`extract`) and drawing rows to PNG files."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .assemble import _page_one, page_plan
from .captions import QUICK_RE
from .crop import crop_file, draw_crop, scale_of
from .geometry import Box, Layout
from .layout import LayoutPage, compute_layout, layout_page
from .objects import page_graphics
from .pdf import _open_page, _Page, _page_and_size, open_pdf
from .pick import digest_order, rank_rows
from .png import save_png
from .text import _page_text, read_lines

if TYPE_CHECKING:
    from .server import Helper, Tickets

MAX_PAGES = 60  # pages examined: a 2,000-page PDF costs no more than a 60-page one
# the heading of the references or the appendix, alone on its line: later pages are the back matter
REFERENCES_RE = re.compile(
    r"(?m)^[ \t]*(?:[A-Z]?\d{0,2}\.?[ \t]+)?"
    r"(?:References|REFERENCES|Bibliography|BIBLIOGRAPHY|Appendix|APPENDIX|Appendices|Supplementary Materials?)[ \t]*\r?$"
)


class Part:
    """One process's share of a PDF: the pages it reads and analyses, kept open to render from.

    With a :class:`Helper`, the server and the helper take pages from a shared :class:`Tickets`
    counter until none are left (the server always has page 1, for the teaser), so both of the
    machine's cores stay busy however uneven the pages are; alone, a part reads every page.
    """

    def __init__(self, pdf_path: Path, tickets: Tickets | None = None, max_pages: int = MAX_PAGES, *, first: bool = True) -> None:
        self.pdf = open_pdf(pdf_path)
        self.side = 0 if first else 1  # which of the two processes (see render)
        self.drawable: dict[int, tuple[pdfium.PdfPage, float, float]] = {}  # pages to draw from (page_of)
        try:
            self.n_pages = len(self.pdf)
            self.examined = min(self.n_pages, max_pages)
            self.pages: list[_Page] = []  # the pages with a caption, and page 1
            self.first: _Page | None = None
            self.back: int | None = None  # the first page read where the back matter starts
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

    def _read(self, i: int, stolen: bool = False) -> _Page | None:
        pg = _open_page(self.pdf, i)
        if pg is None:
            return None
        if i == 0:
            self.first = pg
        text = _page_text(pg.textpage, pdfium_c.FPDFText_CountChars(pg.textpage))
        if not stolen and (self.back is None or i + 1 < self.back) and REFERENCES_RE.search(text):
            self.back = i + 1
        if stolen or i == 0 or QUICK_RE.search(text):
            pg.text.lines = read_lines(pg.textpage, pg.text.height, pg.ox, pg.oy, text)
            self.pages.append(pg)
            return pg
        return None

    def read_ahead(self, until: Callable[[], bool]) -> None:
        """Read the objects of this part's pages, in the order it will plan them, until ``until()``
        (the other process's answer is in): what planning a page with a caption starts with, done
        while this process would otherwise wait for the other to finish reading its pages or
        for the layout. A page whose objects cannot be read is left to the planning to fail on."""
        for pg in self.pages:
            if until():
                return
            if pg.graphics is None:
                try:
                    pg.graphics = page_graphics(pg.page, pg.text.width, pg.text.height, pg.ox, pg.oy)
                except Exception:
                    return

    def layout_pages(self) -> list[tuple[int, LayoutPage]]:
        return [(pg.text.index, layout_page(pg.text)) for pg in self.pages]

    def queue(self) -> list[int]:
        """The pages this part plans (with :class:`Tickets`): those it read with a caption, but
        page 1, which it plans first in any case (for the teaser)."""
        return [pg.text.index for pg in self.pages if pg.text.index != 0]

    def plan(
        self, layout: Layout, tickets: Tickets | None = None, queues: tuple[list[int], list[int]] | None = None
    ) -> list[dict[str, Any]]:
        """Every figure and table on this part's pages, as rows (nothing drawn).

        With ``tickets``, the pages of both processes (``queues``: the server's, the helper's,
        each in page order) are shared out: each plans its own from the front, and once they
        are done reads and plans the other's from the back while two or more are left there.
        A page's cost varies a hundredfold (one holding a large image to decode, a gallery of
        pictures, a page of plots), and the pages read by each process fall as they may: one
        process was often left planning alone for tens of milliseconds. Reading a page again
        costs ~5 ms, so only the work that would otherwise wait is taken."""
        rows: list[dict[str, Any]] = []
        if tickets is None or queues is None:
            for pg in self.pages:
                rows.extend(page_plan(pg, layout))
        else:
            held = {pg.text.index: pg for pg in self.pages}
            if self.first is not None:
                rows.extend(page_plan(self.first, layout))
            other = 1 - self.side
            for n in iter(lambda: tickets.own(self.side), None):
                rows.extend(page_plan(held[queues[self.side][n]], layout))
            for n in iter(lambda: tickets.steal(other), None):
                pg = self._read(queues[other][n], stolen=True)
                if pg is not None:
                    rows.extend(page_plan(pg, layout))
        if self.first is not None and not any(r["page"] == 1 and r["kind"] == "figure" for r in rows):
            teaser = _page_one(self.first)
            if teaser:
                rows.insert(0, teaser)
        return rows

    def holds(self, number: int) -> bool:
        """Is page ``number`` (1-based) one this part keeps open (read, with a caption; page 1)?"""
        return (number == 1 and self.first is not None) or any(pg.text.index + 1 == number for pg in self.pages)

    def page_of(self, number: int) -> tuple[pdfium.PdfPage, float, float]:
        """Page ``number`` (1-based) and its size, to draw from: one held open, else loaded (and
        kept) now."""
        if number not in self.drawable:
            self.drawable.update({pg.text.index + 1: (pg.page, pg.text.width, pg.text.height) for pg in self.pages})
            if self.first is not None:
                self.drawable[1] = (self.first.page, self.first.text.width, self.first.text.height)
            if number not in self.drawable:
                self.drawable[number] = _page_and_size(self.pdf, number)
        return self.drawable[number]

    def draw(self, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Any]]:
        """Draw these rows (PDFium's part: each row's image and its box as shown), to be encoded
        by :meth:`render` (``drawn``)."""
        return [(row, draw_row(self.page_of, row)) for row in rows]

    def render(
        self,
        rows: list[dict[str, Any]],
        out_dir: Path,
        tickets: Tickets | None = None,
        owners: list[int] | None = None,
        drawn: Iterable[tuple[dict[str, Any], Any]] = (),
    ) -> list[dict[str, Any]]:
        """Draw these rows to PNG files in ``out_dir``, from any page; with ``tickets``, only the
        rows this process takes (the other takes the rest). Returns the rows drawn here, those
        ``drawn`` already (by :meth:`draw`) first.

        ``owners`` says which process (0: the server, 1: the helper) holds each row's page open:
        each takes the rows on its own pages first, biggest first, then the other's that are
        left. A page held here is drawn from as it is (loaded, its images maybe decoded); the
        other process would load it again (~3 ms, and decode its images again)."""
        if tickets is None:
            return render_rows(self.page_of, rows, out_dir, drawn)
        owned = owners if owners is not None else [0] * len(rows)
        queues = ([i for i, o in enumerate(owned) if o == 0], [i for i, o in enumerate(owned) if o != 0])
        taken = iter(lambda: tickets.take_row(self.side), None)
        return render_rows(self.page_of, (rows[queues[q][n]] for q, n in taken), out_dir, drawn)  # one at a time

    def close(self) -> None:
        self.pages, self.first, self.drawable = [], None, {}
        self.pdf.close()


def draw_row(page_of: Callable[[int], tuple[pdfium.PdfPage, float, float]], row: dict[str, Any]) -> Any:
    """The row's crop as an image (blank margins trimmed); its ``bbox`` becomes the box shown."""
    page, width, height = page_of(int(row["page"]))
    box = Box(*row["bbox"])
    scale = row.get("scale") or scale_of(box, width, height, int(row["width"]), int(row["height"]))
    image, shown = draw_crop(page, box, width, height, float(scale))
    row["bbox"] = [shown.x0, shown.top, shown.x1, shown.bottom]
    return image


def render_rows(
    page_of: Callable[[int], tuple[pdfium.PdfPage, float, float]],
    rows: Iterable[dict[str, Any]],
    out_dir: Path,
    drawn: Iterable[tuple[dict[str, Any], Any]] = (),
) -> list[dict[str, Any]]:
    """Draw each row's box to ``out_dir/<file>`` (those ``drawn`` already: their images); PNG
    encoding overlaps the next render (the deflate releases the GIL). Sets each row's pixel size
    and ``rendered``; returns the rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=2) as writer:
        pending: list[tuple[dict[str, Any], Future[tuple[int, int]]]] = [
            (row, writer.submit(save_png, image, out_dir / row["file"])) for row, image in drawn
        ]
        for row in rows:
            image = draw_row(page_of, row)
            pending.append((row, writer.submit(save_png, image, out_dir / row["file"])))
        for row, fut in pending:
            row["width"], row["height"] = fut.result()
            row["rendered"] = True
            done.append(row)
    return done


def _row_key(row: dict[str, Any]) -> tuple[str, str | None, float, int | None]:
    x0, top, x1, bottom = row["bbox"]
    return row["kind"], row["number"], max(0.0, x1 - x0) * max(0.0, bottom - top), row.get("rank")


def extract(
    pdf_path: Path,
    out_dir: Path,
    *,
    render: int | None = None,
    max_pages: int = MAX_PAGES,
    helper: Helper | None = None,
    later: contextlib.ExitStack | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Every captioned figure and table in the PDF as dicts, PNGs for the ``render`` best of them
    (a digest's, :func:`digest_order`; all when None) written to ``out_dir``, and a note saying
    why when there are none. The rest are drawn when asked (:func:`render_pdf_rows`).

    With ``later``, closing the PDF (its pages and text pages: a few milliseconds a paper) is
    left to it, for the server to do once the answer is sent.

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
            part.read_ahead(helper.has_answer)
            pages = sorted(pages + helper.pages(), key=lambda p: p[0])
        layout = compute_layout([p for _, p in pages]) if pages else None
        if layout is None:
            return [], f"no body text in the first {part.examined} of {part.n_pages} pages"
        queues = (part.queue(), [i for i, _ in pages if not part.holds(i + 1)])
        if helper is not None:
            helper.plan(layout, queues)
        mine = part.plan(layout, helper.tickets if helper is not None else None, queues)
        # Figure 1 on page 1 leads any digest (no page comes before it): it is drawn at once, in a
        # thread, while this one waits for the helper's rows, ranks the rows and hands the helper
        # its crops (no PDFium call here meanwhile: PDFium is not thread-safe). Neither figure 1's
        # box nor its drawing changes which crops a digest takes (it leads whatever its size).
        early = [r for r in mine if r["page"] == 1 and (r["kind"], r["number"]) == ("figure", "1")]
        if helper is None or (render is not None and render <= 0):
            early = []
        with ThreadPoolExecutor(max_workers=1) as first:
            drawing = first.submit(part.draw, early) if early else None
            theirs, back = helper.rows() if helper is not None else ([], None)
            back = min((b for b in (back, part.back) if b is not None), default=None)
            rows: list[dict[str, Any]] = []
            seen: set[tuple[str, str | None]] = set()
            for row in sorted(mine + theirs, key=lambda r: r["page"]):  # stable: the teaser stays first
                key = (row["kind"], row["number"])
                if key not in seen:  # a number already taken on an earlier page is a reference, not a caption
                    seen.add(key)
                    rows.append(row)
            rank_rows(rows, back)
            wanted = rows if render is None else digest_order(rows, _row_key)[: max(0, render)]
            wanted = biggest_first([r for r in wanted if not r["rendered"] and all(r is not e for e in early)])
            owners = [0 if part.holds(int(r["page"])) else 1 for r in wanted]
            if helper is not None:
                helper.render(wanted, out_dir, owners)
        first_drawn = drawing.result() if drawing is not None else []  # its failure is the extraction's
        if helper is None:
            part.render(wanted, out_dir)
        else:
            part.render(wanted, out_dir, helper.tickets, owners, first_drawn)  # figure 1's PNG too
            drawn = {(r["kind"], r["number"]): r for r in helper.rendered()}
            for row in rows:
                got = drawn.get((row["kind"], row["number"]))
                if got is not None:
                    row.update(width=got["width"], height=got["height"], bbox=got["bbox"], rendered=True)
        note = "" if rows else f"no captioned figure or table in the first {part.examined} of {part.n_pages} pages"
        return rows, note
    except BaseException:
        if helper is not None:
            helper.reset()
        raise
    finally:
        if part is not None:
            if later is not None:
                later.callback(part.close)
            else:
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


def biggest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order two processes take crops to draw in: the costliest (most pixels) first, so the
    last one taken is small and neither waits long for the other."""
    return sorted(rows, key=lambda r: r["width"] * r["height"], reverse=True)
