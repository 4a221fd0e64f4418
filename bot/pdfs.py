"""Fetching a paper's PDF once, into the data dir, with a size cap checked while downloading.

arxiv 4.x has no download helper, so this is ours. One file per paper version
(``DATA_DIR/pdfs/2407.21047v2.pdf``): summaries and figures of the same version share it, and
a second request reads the disk instead of arXiv.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

import httpx

from .errors import PdfError
from .settings import Settings

log = logging.getLogger(__name__)


def pdf_path(settings: Settings, paper_id: str, version: int) -> Path:
    return settings.data_dir / "pdfs" / f"{paper_id.replace('/', '_')}v{version}.pdf"


def pdf_url_for(settings: Settings, paper_id: str, version: int | None) -> str:
    versioned = f"{paper_id}v{version}" if version else paper_id
    return settings.arxiv_pdf_url.format(id=versioned)


#: Seconds a download runs before its average speed is held to ``PDF_MIN_KBPS``.
STALL_GRACE = 10.0


def fetch_pdf(settings: Settings, paper_id: str, version: int) -> Path:
    """:func:`download_pdf` for callers without an event loop (tools, tests)."""
    return asyncio.run(download_pdf(settings, paper_id, version))


async def download_pdf(settings: Settings, paper_id: str, version: int) -> Path:
    """The local path of the paper's PDF, downloading it if needed.

    Raises :class:`PdfError` when arXiv has no PDF, the download fails, the body is not a
    PDF, or it is larger than ``PDF_MAX_MB`` (checked while streaming, so a huge file is
    never held in memory or on disk); and when it is too slow: ``ARXIV_TIMEOUT`` bounds each
    read, ``PDF_DEADLINE`` the whole download, and after ``STALL_GRACE`` seconds the average
    speed must stay above ``PDF_MIN_KBPS``. A server trickling a few bytes now and then would
    otherwise hold one of the core's two download slots (and every digest waiting on it) for
    as long as it likes; now it is given up and the PDF counted as missing.
    """
    target = pdf_path(settings, paper_id, version)
    if target.exists() and target.stat().st_size > 0:
        return target
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    url = pdf_url_for(settings, paper_id, version)
    limit = settings.pdf_max_mb * 1024 * 1024
    loop = asyncio.get_running_loop()
    started = loop.time()
    hard = started + settings.pdf_deadline
    floor = settings.pdf_min_kbps * 1024  # bytes a second; 0: no floor

    def due(size: int) -> float:
        """When the download fails if no more bytes come: the deadline, or the moment its
        average speed drops below the floor."""
        if floor <= 0:
            return hard
        return min(hard, started + max(STALL_GRACE, size / floor))

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        async with (
            httpx.AsyncClient(timeout=settings.arxiv_timeout, follow_redirects=True) as http,
            asyncio.timeout_at(due(0)) as clock,
        ):
            with os.fdopen(fd, "wb") as out:
                async with http.stream("GET", url) as resp:
                    if resp.status_code == 404:
                        raise PdfError(paper_id, "arXiv has no PDF for it")
                    if resp.status_code != 200:
                        raise PdfError(paper_id, f"HTTP {resp.status_code}")
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limit:
                        raise PdfError(paper_id, f"larger than PDF_MAX_MB={settings.pdf_max_mb}")
                    size = 0
                    first = b""
                    async for chunk in resp.aiter_bytes(64 * 1024):
                        if not first:
                            first = chunk[:5]
                        size += len(chunk)
                        if size > limit:
                            raise PdfError(paper_id, f"larger than PDF_MAX_MB={settings.pdf_max_mb}")
                        out.write(chunk)
                        clock.reschedule(due(size))
                    if not first.startswith(b"%PDF"):
                        raise PdfError(paper_id, "the download is not a PDF")
        os.replace(tmp_name, target)
        return target
    except TimeoutError as err:
        took = loop.time() - started
        if loop.time() >= hard:
            reason = f"not done after PDF_DEADLINE={settings.pdf_deadline:g} s"
        else:
            reason = f"slower than PDF_MIN_KBPS={settings.pdf_min_kbps:g} after {took:.0f} s"
        raise PdfError(paper_id, reason) from err
    except httpx.HTTPError as err:
        raise PdfError(paper_id, f"download failed ({type(err).__name__})") from err
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
