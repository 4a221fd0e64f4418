"""arXiv's bulk metadata (the JSON-lines snapshot) → papers grouped by announcement day.

Operators backfill history and tune topics offline with ``paperbot harvest --from FILE``: the
public arXiv metadata snapshot (Kaggle "arxiv-metadata-oai-snapshot") has one JSON object per
paper with everything the API would give (comment, all categories, every version's date), so
an import never asks arXiv. The whole file is validated first: one bad line refuses the file
before anything is stored, so a half-imported day cannot pass for a complete one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .arxiv_api import _WITHDRAWN
from .errors import BadArxivId, BadSnapshot
from .harvest import HarvestReport
from .ids import parse_arxiv_id
from .models import Paper

_AUTHOR_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")


class SnapshotVersion(BaseModel):
    version: str = Field(pattern=r"^v\d{1,3}$")
    created: datetime

    @field_validator("created", mode="before")
    @classmethod
    def _rfc2822(cls, value: object) -> object:
        """The snapshot writes dates as e-mail headers do: 'Mon, 2 Apr 2007 19:18:42 GMT'."""
        if isinstance(value, str):
            try:
                return parsedate_to_datetime(value).astimezone(UTC)
            except (TypeError, ValueError):
                raise ValueError(f"{value!r} is not a date like 'Mon, 2 Apr 2007 19:18:42 GMT'") from None
        return value

    @property
    def number(self) -> int:
        return int(self.version[1:])


class SnapshotRecord(BaseModel):
    """One line of the snapshot; unknown fields are ignored, the ones we store are checked."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    title: str = Field(min_length=1)
    abstract: str = ""
    authors: str = ""
    authors_parsed: list[list[str]] | None = None
    categories: str = Field(pattern=r"\S")
    comments: str | None = None
    license: str | None = None
    versions: list[SnapshotVersion] = Field(min_length=1)
    update_date: date
    journal_ref: str | None = Field(default=None, alias="journal-ref")
    doi: str | None = None
    submitter: str | None = None
    report_no: str | None = Field(default=None, alias="report-no")

    @field_validator("id")
    @classmethod
    def _arxiv_id(cls, value: str) -> str:
        try:
            aid = parse_arxiv_id(value)
        except BadArxivId:
            raise ValueError(f"{value!r} is not an arXiv id") from None
        return aid.id

    def to_paper(self) -> Paper:
        """The record as a Paper with full metadata: version and dates from ``versions``."""
        versions = sorted(self.versions, key=lambda v: v.number)
        last = versions[-1]
        first = next((v for v in versions if v.number == 1), versions[0])
        comment = _one_line(self.comments) or None
        return Paper(
            id=self.id,
            version=last.number,
            title=_one_line(self.title),
            abstract=_one_line(self.abstract),
            authors=self.author_names(),
            categories=list(dict.fromkeys(self.categories.split())),
            comment=comment,
            journal_ref=_one_line(self.journal_ref) or None,
            doi=_one_line(self.doi) or None,
            license=(self.license or "").strip() or None,
            published=first.created,
            updated=last.created,
            pdf_url=f"https://arxiv.org/pdf/{self.id}v{last.number}",
            has_full_metadata=True,
            withdrawn=bool(comment and _WITHDRAWN.search(comment)),
        )

    def author_names(self) -> list[str]:
        """'First Last Suffix' from ``authors_parsed`` ([last, first, suffix]); else the string split."""
        if self.authors_parsed:
            names = []
            for parts in self.authors_parsed:
                last, first, suffix = [*parts, "", ""][:3]
                name = _one_line(" ".join(p for p in (first, last, suffix) if p and p.strip()))
                if name:
                    names.append(name)
            if names:
                return names
        return [n for n in (_one_line(a) for a in _AUTHOR_SPLIT.split(_one_line(self.authors))) if n]


def _one_line(text: str | None) -> str:
    """The snapshot hard-wraps titles and abstracts with newlines and indents."""
    return " ".join((text or "").split())


def read_snapshot(path: Path) -> list[SnapshotRecord]:
    """Every record of a JSON-lines file, or :class:`BadSnapshot` naming the first bad line."""
    try:
        handle = path.open("rb")
    except OSError as err:
        raise BadSnapshot(str(path), None, f"cannot be read ({err.strerror or type(err).__name__})") from None
    records: list[SnapshotRecord] = []
    with handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                records.append(SnapshotRecord.model_validate_json(line))
            except ValidationError as err:
                raise BadSnapshot(str(path), n, _problem(err)) from None
    if not records:
        raise BadSnapshot(str(path), None, "has no records")
    return records


def _problem(err: ValidationError) -> str:
    first = err.errors()[0]
    if first["type"] == "json_invalid":
        return f"is not valid JSON ({first['msg']})"
    where = ".".join(str(x) for x in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def by_day(records: Iterable[SnapshotRecord], day: date | None = None) -> dict[date, list[Paper]]:
    """Papers per announcement day: ``day`` for all, or else each record's ``update_date``."""
    days: dict[date, list[Paper]] = {}
    for r in records:
        days.setdefault(day or r.update_date, []).append(r.to_paper())
    return dict(sorted(days.items()))


def import_line(path: Path, reports: list[HarvestReport]) -> str:
    """The one-line report of an import: days, papers, inserted/updated."""
    days = [r.day for r in reports if r.day is not None]
    span = ", ".join(map(str, days)) if len(days) <= 3 else f"{days[0]} … {days[-1]}"
    papers = sum(r.papers for r in reports)
    inserted = sum(r.inserted for r in reports)
    updated = sum(r.updated for r in reports)
    return (
        f"imported {path.name}: {len(days)} day{'s' if len(days) != 1 else ''} ({span}), {papers} paper{'s' if papers != 1 else ''} "
        f"({inserted} new, {updated} updated); no arXiv requests"
    )
