"""arXiv identifiers: parsing what people paste, and the versionless key papers are stored under.

Papers are keyed by their versionless id (``2407.21047``, ``hep-th/9901001``) so that v2 of a
paper updates the row v1 made instead of becoming a second paper: the old blog posted one
paper four times, once per version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import BadArxivId

_NEW = r"(?P<new>\d{4}\.\d{4,5})"
_OLD = r"(?P<old>[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})"
_VERSION = r"(?:v(?P<version>\d{1,3}))?"
_ID = rf"(?:{_NEW}|{_OLD}){_VERSION}"

# the pages people paste: arXiv's own, its HTML renderings (ar5iv), and the sites that show a
# paper under its arXiv id (alphaXiv, Hugging Face's daily papers)
_HOSTS = (
    r"(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/"
    r"|ar5iv\.(?:labs\.arxiv\.)?org/(?:abs|html)/"
    r"|(?:www\.)?alphaxiv\.org/(?:abs|overview|pdf)/"
    r"|(?:www\.)?huggingface\.co/papers/"
)
_BARE = re.compile(rf"^\s*(?:arxiv\s*:\s*)?{_ID}\s*$", re.IGNORECASE)
_URL = re.compile(
    rf"^\s*(?:https?://)?(?:{_HOSTS}){_ID}(?:\.pdf)?/?(?:[?#].*)?\s*$",
    re.IGNORECASE,
)
_FIND = re.compile(
    rf"(?:(?:https?://)?(?:{_HOSTS})|\barxiv\s*:\s*|(?<![\w./-])){_ID}(?![\w/])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ArxivId:
    """A parsed identifier: ``id`` is versionless, ``version`` is None when not given."""

    id: str
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.id}v{self.version}" if self.version else self.id


def _from_match(m: re.Match[str]) -> ArxivId:
    base = m.group("new") or m.group("old")
    if m.group("old"):
        archive, number = base.split("/")
        base = f"{archive.split('.')[0].lower()}/{number}"  # math.GT/0309136 is math/0309136
    version = int(m.group("version")) if m.group("version") is not None else None
    if version == 0:
        raise BadArxivId(m.group(0).strip())  # versions count from 1
    if m.group("new") and not _new_style_ok(base):
        raise BadArxivId(base)
    return ArxivId(base, version)


def _new_style_ok(base: str) -> bool:
    """Whether a YYMM.NNNNN id can exist: new-style ids began with 0704 (April 2007), the month
    is 01–12, numbers have 4 digits before 2015-01 and 5 since, and the month is not in the
    future (one month of slack for time zones): ``9912.12345`` would be December 2099."""
    yymm, number = base.split(".")
    yy, mm = int(yymm[:2]), int(yymm[2:])
    if not (1 <= mm <= 12) or yymm < "0704":
        return False
    if len(number) != (5 if yymm >= "1501" else 4):
        return False
    now = datetime.now(UTC)
    latest = (now.year - 2000) * 12 + now.month  # months since 2000, this month
    return yy * 12 + mm <= latest + 1


def parse_arxiv_id(text: str) -> ArxivId:
    """Parse one id or link: ``2407.21047``, ``2407.21047v2``, ``arXiv:2407.21047``,
    ``https://arxiv.org/abs/…``, ``/pdf/…``, ``/html/…``, old style ``hep-th/9901001``, and the
    same paper on ar5iv.org, ar5iv.labs.arxiv.org, alphaxiv.org or huggingface.co/papers.

    Raises :class:`BadArxivId` for anything else.
    """
    if not isinstance(text, str) or len(text) > 300:
        raise BadArxivId(str(text)[:40])
    m = _BARE.match(text) or _URL.match(text)
    if not m:
        raise BadArxivId(text.strip()[:80])
    return _from_match(m)


def find_arxiv_ids(text: str, limit: int = 5) -> list[ArxivId]:
    """Every arXiv id or link mentioned in free text (a DM), in order, without repeats."""
    found: list[ArxivId] = []
    for m in _FIND.finditer(text[:5000]):
        try:
            aid = _from_match(m)
        except BadArxivId:
            continue
        if all(a.id != aid.id for a in found):
            found.append(aid)
        if len(found) >= limit:
            break
    return found


def split_version(versioned: str) -> tuple[str, int]:
    """``"2407.21047v3"`` → ``("2407.21047", 3)``; a missing version counts as 1."""
    aid = parse_arxiv_id(versioned)
    return aid.id, aid.version or 1


def abs_url(paper_id: str) -> str:
    return f"https://arxiv.org/abs/{paper_id}"
