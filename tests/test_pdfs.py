"""Fetching PDFs: once per version, the size cap checked while downloading, junk refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core import Paperbot
from bot.errors import PdfError
from bot.pdfs import fetch_pdf
from bot.settings import Settings

PAPER = {
    "id": "2309.07125",
    "title": "Text-Guided Generation and Editing of Compositional 3D Avatars",
    "summary": "Our goal is to create a realistic 3D facial avatar. Existing methods lack realism. We propose TECA.",
    "authors": ["Hao Zhang"],
    "categories": ["cs.CV"],
}


def test_fetch_once_then_from_disk(fake_arxiv, arxiv_settings: Settings) -> None:
    fake_arxiv.pdfs["2309.07125"] = b"%PDF-1.4\n" + b"0" * 1000
    path = fetch_pdf(arxiv_settings, "2309.07125", 1)
    assert path.read_bytes().startswith(b"%PDF")
    assert fetch_pdf(arxiv_settings, "2309.07125", 1) == path
    assert len(fake_arxiv.requests("pdf")) == 1
    assert fake_arxiv.requests("pdf")[0]["id"] == "2309.07125v1"


def test_size_cap_while_downloading(fake_arxiv, arxiv_settings: Settings) -> None:
    fake_arxiv.pdfs["2309.07125"] = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)
    small = arxiv_settings.model_copy(update={"pdf_max_mb": 1})
    with pytest.raises(PdfError, match="PDF_MAX_MB"):
        fetch_pdf(small, "2309.07125", 1)
    assert not list((small.data_dir / "pdfs").glob("*"))  # nothing left behind


@pytest.mark.parametrize(("body", "reason"), [(b"<html>captcha</html>", "not a PDF"), (None, "no PDF")])
def test_junk_and_missing(fake_arxiv, arxiv_settings: Settings, body: bytes | None, reason: str) -> None:
    if body is not None:
        fake_arxiv.pdfs["2309.07125"] = body
    with pytest.raises(PdfError, match=reason):
        fetch_pdf(arxiv_settings, "2309.07125", 1)


async def test_summary_still_goes_out_without_figures(fake_arxiv, arxiv_settings: Settings) -> None:
    """An oversized PDF: no figures, the (extractive) summary still there, nothing raised."""
    fake_arxiv.add_paper(PAPER)
    fake_arxiv.pdfs["2309.07125"] = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)
    settings = arxiv_settings.model_copy(update={"pdf_max_mb": 1})
    async with Paperbot(settings, clock=lambda: datetime(2026, 6, 30, tzinfo=UTC)) as bot:
        paper = await bot.lookup("2309.07125")
        item = await bot.enrich(paper, "en")
    assert item.figures == []
    assert item.summary is not None and item.summary.extractive and item.summary.summary
