"""Fetching a paper's PDF once, into the data dir, with a size cap checked while downloading.

arxiv 4.x has no download helper, so this is ours. One file per paper version
(``DATA_DIR/pdfs/2407.21047v2.pdf``): summaries and figures of the same version share it, and
a second request reads the disk instead of arXiv.
"""

from __future__ import annotations

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


def fetch_pdf(settings: Settings, paper_id: str, version: int, *, client: httpx.Client | None = None) -> Path:
    """The local path of the paper's PDF, downloading it if needed.

    Raises :class:`PdfError` when arXiv has no PDF, the download fails, the body is not a
    PDF, or it is larger than ``PDF_MAX_MB`` (checked while streaming, so a huge file is
    never held in memory or on disk).
    """
    target = pdf_path(settings, paper_id, version)
    if target.exists() and target.stat().st_size > 0:
        return target
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    url = pdf_url_for(settings, paper_id, version)
    limit = settings.pdf_max_mb * 1024 * 1024
    own = client is None
    http = client or httpx.Client(timeout=settings.arxiv_timeout, follow_redirects=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, http.stream("GET", url) as resp:
            if resp.status_code == 404:
                raise PdfError(paper_id, "arXiv has no PDF for it")
            if resp.status_code != 200:
                raise PdfError(paper_id, f"HTTP {resp.status_code}")
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise PdfError(paper_id, f"larger than PDF_MAX_MB={settings.pdf_max_mb}")
            size = 0
            first = b""
            for chunk in resp.iter_bytes(64 * 1024):
                if not first:
                    first = chunk[:5]
                size += len(chunk)
                if size > limit:
                    raise PdfError(paper_id, f"larger than PDF_MAX_MB={settings.pdf_max_mb}")
                out.write(chunk)
            if not first.startswith(b"%PDF"):
                raise PdfError(paper_id, "the download is not a PDF")
        os.replace(tmp_name, target)
        return target
    except httpx.HTTPError as err:
        raise PdfError(paper_id, f"download failed ({type(err).__name__})") from err
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        if own:
            http.close()
