"""The shapes every stage of figure extraction passes on: boxes in PDF points (origin top-left),
text lines, page items, captions and the document's layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Box:
    """A rectangle in PDF points with the origin at the page's top-left corner."""

    x0: float
    top: float
    x1: float
    bottom: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x0, other.x0),
            min(self.top, other.top),
            max(self.x1, other.x1),
            max(self.bottom, other.bottom),
        )

    def x_overlap(self, x0: float, x1: float) -> float:
        return max(0.0, min(self.x1, x1) - max(self.x0, x0))


def inside(inner: Box, outer: Box, slack: float) -> bool:
    """``inner`` lies within ``outer`` grown by ``slack`` points on every side."""
    return (
        inner.x0 >= outer.x0 - slack
        and inner.x1 <= outer.x1 + slack
        and inner.top >= outer.top - slack
        and inner.bottom <= outer.bottom + slack
    )


@dataclass(slots=True)
class Line:
    """A visual text line: pdfium text rectangles on one baseline with no wide gap between them."""

    box: Box
    text: str
    rects: list[Box]
    # the page's text and each rect's char range in it (None: not known, see _rect_spans)
    chars: tuple[str, list[tuple[int, int]]] | None = None
    prose: bool | None = None  # body text of the paper? (mark_prose, then is_prose)
    checked: bool = False  # word spacing looked at
    hyphen: bool = False  # ends with a word hyphenated across the line break (the hyphen dropped)

    @property
    def height(self) -> float:
        return self.box.height


@dataclass(slots=True)
class Item:
    """Something a figure can be made of: a text line or a graphic page object."""

    box: Box
    kind: str  # "text" | "image" | "path" | "form" | "shading" | "caption"
    line: Line | None = None
    density: float = 0.0  # an image's own pixels per point as placed (its native resolution)
    source: Any = None  # an upright image: (its pdfium object, its whole box), for objects.image_ink
    ink: Box | None = None  # what of the box shows something (objects.image_ink), once asked


@dataclass(slots=True)
class Caption:
    kind: str  # "figure" | "table"
    number: str
    page: int
    first: Line
    box: Box = field(default_factory=lambda: Box(0, 0, 0, 0))
    text: str = ""
    band: tuple[float, float] = (0.0, 0.0)


@dataclass(slots=True)
class Layout:
    """Document-wide text geometry, so a page full of figures is judged by the paper's normal pages."""

    body_h: float  # height of a body text line
    frame_x0: float
    frame_x1: float
    two_col: bool
    col_w: float
    frame_top: float
    frame_bottom: float
    head_bottom: float = -1.0  # the running head ends here: text above it is never a figure's

    @property
    def mid(self) -> float:
        return (self.frame_x0 + self.frame_x1) / 2

    @property
    def columns(self) -> list[tuple[float, float]]:
        if self.two_col:
            return [(self.frame_x0, self.frame_x0 + self.col_w), (self.frame_x1 - self.col_w, self.frame_x1)]
        return [(self.frame_x0, self.frame_x1)]


@dataclass(slots=True)
class PageText:
    index: int  # 0-based
    width: float
    height: float
    lines: list[Line]
