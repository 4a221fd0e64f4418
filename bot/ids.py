"""arXiv identifiers: parsing what people paste, and the versionless key papers are stored under.

Papers are keyed by their versionless id (``2407.21047``, ``hep-th/9901001``) so that v2 of a
paper updates the row v1 made instead of becoming a second paper: the old blog posted one
paper four times, once per version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadArxivId

_NEW = r"(?P<new>\d{4}\.\d{4,5})"
_OLD = r"(?P<old>[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})"
_VERSION = r"(?:v(?P<version>\d{1,3}))?"
_ID = rf"(?:{_NEW}|{_OLD}){_VERSION}"

_BARE = re.compile(rf"^\s*(?:arxiv\s*:\s*)?{_ID}\s*$", re.IGNORECASE)
_URL = re.compile(
    rf"^\s*(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/{_ID}(?:\.pdf)?/?(?:[?#].*)?\s*$",
    re.IGNORECASE,
)
_FIND = re.compile(
    rf"(?:(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/|\barxiv\s*:\s*|(?<![\w./-])){_ID}(?![\w/])",
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
    version = int(m.group("version")) if m.group("version") else None
    if m.group("new"):
        yymm, number = base.split(".")
        if not (1 <= int(yymm[2:]) <= 12) or len(number) != (5 if yymm >= "1501" else 4):
            raise BadArxivId(base)  # 5-digit numbers since 2015-01, 4 before
    return ArxivId(base, version or None)


def parse_arxiv_id(text: str) -> ArxivId:
    """Parse one id or link: ``2407.21047``, ``2407.21047v2``, ``arXiv:2407.21047``,
    ``https://arxiv.org/abs/…``, ``/pdf/…``, ``/html/…``, old style ``hep-th/9901001``.

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
