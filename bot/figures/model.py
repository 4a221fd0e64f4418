"""What the bot knows of a figure: one crop (:class:`Figure`) and one extraction's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One crop: a numbered figure or table with its caption, or the first page as a teaser."""

    kind: str  # "figure" | "table" | "page"
    number: str | None  # "3", "II", "S1"; None for kind "page"
    caption: str  # full caption text, whitespace-normalised
    page: int  # 1-based
    bbox: tuple[float, float, float, float]  # PDF points, (left, top, right, bottom), origin top-left
    path: Path | None  # the PNG
    width: int  # PNG pixels
    height: int
    rank: int | None = None  # place in a digest's choice, 0 first (see bot.figures.pick); None: not known

    @property
    def area(self) -> float:
        """Size on the page, in square points (what the digest ranks by)."""
        left, top, right, bottom = self.bbox
        return max(0.0, right - left) * max(0.0, bottom - top)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "number": self.number,
            "caption": self.caption,
            "page": self.page,
            "bbox": list(self.bbox),
            "path": str(self.path) if self.path else None,
            "width": self.width,
            "height": self.height,
            "rank": self.rank,
        }


@dataclass
class Extraction:
    """What one run of the worker produced, with the reason when it produced nothing."""

    figures: list[Figure]
    status: str  # ok | empty | failed | timeout
    reason: str = ""
