"""Code, data and project links of a paper, found in its own text, never written by a model.

Authors put them in the abstract ("Code is available at https://github.com/..."), in arXiv's
comment field ("Project page: https://...") or on the PDF's first page (a footnote or a line
under the title). PDF text breaks them in its own ways ("https: //ir1d.github.io/AGG/",
"github. com/x/y"), so the text is mended before the search. Each link gets a kind that the
chats label: code (GitHub, GitLab, Bitbucket, Codeberg), data and model (Hugging Face), or
project (a project page, a demo).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'`\]\[{}|\\^]+"
    r"|\b(?:[a-z0-9-]+\.)+(?:github\.io|gitlab\.io|github\.com|gitlab\.com|huggingface\.co|hf\.co)"
    r"(?:/[^\s<>\"'`\]\[{}|\\^]*)?",
    re.I,
)
_SKIP_HOSTS = ("arxiv.org", "doi.org", "creativecommons.org", "orcid.org", "acm.org/", "ieee.org", "openreview.net")
_CODE_HOSTS = ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org")
KINDS = ("code", "project", "data", "model")


@dataclass(frozen=True)
class Link:
    """One link of a paper: ``kind`` is code, project, data or model."""

    kind: str
    url: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "url": self.url}


def _mend(text: str) -> str:
    """URLs as PDF text and LaTeX-made abstracts break them, put back together."""
    text = text.replace("\ufffe", "").replace("\u00ad", "")
    text = re.sub(r"(https?):\s*/\s*/\s*", r"\1://", text, flags=re.I)
    text = re.sub(r"\b(github|gitlab|huggingface)\s*\.\s*(com|io|co)\b", r"\1.\2", text, flags=re.I)
    text = re.sub(r"(github\.(?:com|io)|gitlab\.com|huggingface\.co)\s+/\s*", r"\1/", text, flags=re.I)
    return re.sub(r"\\url\{([^}]*)\}|\\href\{([^}]*)\}\{[^}]*\}", lambda m: m.group(1) or m.group(2), text)


def _tidy(url: str) -> str | None:
    url = url.rstrip(".,;:!?)]}>'\"’”")
    if url.count("(") < url.count(")"):
        url = url[: url.rfind(")")]
    if not re.match(r"https?://", url, re.I):
        url = "https://" + url
    host = re.sub(r"^https?://", "", url, flags=re.I).split("/")[0].lower()
    if "." not in host or any(skip in url.lower() for skip in _SKIP_HOSTS):
        return None
    if host in _CODE_HOSTS and len([p for p in url.split("/")[3:] if p]) < 2:
        return None  # github.com/ alone or a user page: not a repository
    return url


def kind_of(url: str) -> str:
    host_path = re.sub(r"^https?://", "", url, flags=re.I).lower()
    host = host_path.split("/")[0].removeprefix("www.")
    if host in _CODE_HOSTS:
        return "code"
    if host in ("huggingface.co", "hf.co"):
        parts = host_path.split("/")[1:]
        if parts and parts[0] == "datasets":
            return "data"
        if parts and parts[0] == "spaces":
            return "project"
        return "model"
    return "project"


_CUE = re.compile(r"\b(project|code|codes|website|homepage|page|demo|data|dataset|available|released|github)\b", re.I)
_OWN_HOSTS = re.compile(r"\.(github|gitlab)\.io$|^(github\.com|gitlab\.com|huggingface\.co|hf\.co|bitbucket\.org)$")


def _paper_own(url: str, before: str) -> bool:
    """On a PDF's first page, a link is the paper's own when it is a repository, a github.io page,
    or follows words like "project page" or "code"; other links there are references (tools,
    sponsors, footnotes about someone else's work)."""
    host = re.sub(r"^https?://", "", url, flags=re.I).split("/")[0].lower().removeprefix("www.")
    return bool(_OWN_HOSTS.search(host)) or bool(_CUE.search(before[-60:]))


def find_links(*texts: str | None, first_page: str | None = None) -> list[Link]:
    """Every code, data and project link in ``texts`` (abstract, comment), then the paper's own
    links on its PDF's ``first_page``, in order of first appearance, each once; arXiv's own pages,
    DOIs and licences are left out."""
    seen: set[str] = set()
    out: list[Link] = []
    for text, strict in [*((t, False) for t in texts), (first_page, True)]:
        if not text:
            continue
        mended = _mend(text)
        for match in _URL.finditer(mended):
            url = _tidy(match.group(0))
            if url is None or (strict and not _paper_own(url, mended[: match.start()])):
                continue
            key = url.lower().rstrip("/").removesuffix(".git")
            key = re.sub(r"^https?://(www\.)?", "", key)
            if key in seen:
                continue
            seen.add(key)
            out.append(Link(kind_of(url), url))
    return out


def first_page_text(path: str) -> str:
    """The text of a PDF's first page (where authors put their project and code links).
    Runs in the PDF worker process (pdfium is not thread-safe)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        if len(pdf) == 0:
            return ""
        page = pdf[0]
        textpage = page.get_textpage()
        try:
            return textpage.get_text_range()
        finally:
            textpage.close()
            page.close()
    finally:
        pdf.close()
