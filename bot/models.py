"""The records that flow between the stages: a paper, an announcement.

Plain dataclasses: the store turns them into rows, the query evaluator reads their fields, the
renderers format them. Metadata always comes from arXiv, never from a model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from .ids import abs_url


@dataclass
class Paper:
    id: str  # versionless: 2407.21047 or hep-th/9901001
    version: int = 1
    title: str = ""
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # primary first
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    published: datetime | None = None  # v1 submission time (UTC)
    updated: datetime | None = None  # this version's time (UTC)
    announced: date | None = None  # the listing day it first appeared on
    announce_type: str | None = None  # new | cross (RSS), or api (backfill, lookup)
    pdf_url: str | None = None
    has_full_metadata: bool = False  # filled from the API (comment, dates, all categories)
    withdrawn: bool = False

    @property
    def versioned_id(self) -> str:
        return f"{self.id}v{self.version}"

    @property
    def abs_url(self) -> str:
        return abs_url(self.id)

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def is_open_license(self) -> bool:
        """CC-licensed (the FIGURE_POLICY=open test)."""
        return bool(self.license and "creativecommons.org" in self.license)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["authors"] = json.dumps(self.authors, ensure_ascii=False)
        row["categories"] = json.dumps(self.categories)
        for key in ("published", "updated", "announced"):
            row[key] = row[key].isoformat() if row[key] else None
        row["has_full_metadata"] = int(self.has_full_metadata)
        row["withdrawn"] = int(self.withdrawn)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Paper:
        return cls(
            id=row["id"],
            version=row["version"] or 1,
            title=row["title"] or "",
            abstract=row["abstract"] or "",
            authors=json.loads(row["authors"] or "[]"),
            categories=json.loads(row["categories"] or "[]"),
            comment=row["comment"],
            journal_ref=row.get("journal_ref"),
            doi=row.get("doi"),
            license=row["license"],
            published=datetime.fromisoformat(row["published"]) if row["published"] else None,
            updated=datetime.fromisoformat(row["updated"]) if row["updated"] else None,
            announced=date.fromisoformat(row["announced"]) if row["announced"] else None,
            announce_type=row["announce_type"],
            pdf_url=row["pdf_url"],
            has_full_metadata=bool(row["has_full_metadata"]),
            withdrawn=bool(row.get("withdrawn")),
        )

    def to_json(self) -> dict[str, Any]:
        """The metadata part of the JSON the CLI prints."""
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "authors": self.authors,
            "published": self.published.isoformat() if self.published else None,
            "updated": self.updated.isoformat() if self.updated else None,
            "announced": self.announced.isoformat() if self.announced else None,
            "categories": self.categories,
            "comment": self.comment,
            "abs_url": self.abs_url,
            "pdf_url": self.pdf_url,
            "license": self.license,
        }


@dataclass(frozen=True)
class Announcement:
    """One arXiv listing day as harvested: ``day`` is the listing date (Mon–Fri)."""

    day: date
    categories: tuple[str, ...]
    count: int
    source: str  # rss | backfill | search
