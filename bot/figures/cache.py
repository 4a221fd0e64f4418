"""The figure cache: PNGs under ``DATA_DIR/figures/<id>v<version>/`` and rows in two tables,
``figure_runs`` (one per extracted version) and ``figures`` (one per crop, its path empty until drawn)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..settings import Settings
from ..store import Store, utcnow
from .model import Figure

log = logging.getLogger(__name__)


FIGURES_TABLE = "figures"
RUNS_TABLE = "figure_runs"

_FIGURE_COLUMNS: dict[str, Any] = {
    "paper_id": str,
    "version": int,
    "idx": int,
    "kind": str,
    "number": str,
    "caption": str,
    "page": int,
    "bbox": str,  # JSON [left, top, right, bottom] in PDF points, origin top-left
    "path": str,
    "width": int,
    "height": int,
    "rank": int,  # the worker's digest choice (bot.figures.pick.digest_rank), 0 first
}
_RUN_COLUMNS: dict[str, Any] = {
    "paper_id": str,
    "version": int,
    "status": str,  # ok | empty | failed | timeout
    "reason": str,
    "count": int,
    "runs": int,  # how many extractions this version has had (a second request must not add one)
    "extracted_at": str,
}


def ensure_tables(store: Store) -> None:
    store.ensure_table(FIGURES_TABLE, _FIGURE_COLUMNS, pk=("paper_id", "version", "idx"))
    store.ensure_table(RUNS_TABLE, _RUN_COLUMNS, pk=("paper_id", "version"))


def figures_dir(settings: Settings, paper_id: str, version: int) -> Path:
    """``DATA_DIR/figures/2407.21047v2`` (old-style ids get their slash replaced)."""
    safe_id = paper_id.replace("/", "_")
    return settings.data_dir / "figures" / f"{safe_id}v{version}"


def cached_figures(store: Store, paper_id: str, version: int) -> list[Figure] | None:
    """None when this version was never extracted; [] when it was and had none.

    Also None when a cached PNG has gone from disk (someone cleaned the data dir), so the
    caller extracts again instead of posting a missing file.
    """
    ensure_tables(store)
    runs = list(
        store.db.query(f"select * from {RUNS_TABLE} where paper_id = ? and version = ?", [paper_id, version])
    )
    if not runs:
        return None
    rows = store.db.query(
        f"select * from {FIGURES_TABLE} where paper_id = ? and version = ? order by idx", [paper_id, version]
    )
    figures = [_from_row(r) for r in rows]
    if any(f.path is not None and not f.path.is_file() for f in figures):
        log.info("cached figures of %sv%d are missing on disk; extracting again", paper_id, version)
        return None
    return figures


def _from_row(row: dict[str, Any]) -> Figure:
    return Figure(
        kind=row["kind"],
        number=row["number"],
        caption=row["caption"] or "",
        page=row["page"],
        bbox=tuple(json.loads(row["bbox"])),  # type: ignore[arg-type]
        path=Path(row["path"]) if row["path"] else None,
        width=row["width"],
        height=row["height"],
        rank=row.get("rank"),
    )


def save_figures(
    store: Store, paper_id: str, version: int, figures: list[Figure], status: str = "ok", reason: str = ""
) -> None:
    """Replace the cached crops of this version and record the run (also when there are none)."""
    ensure_tables(store)
    old = list(
        store.db.query(
            f"select runs from {RUNS_TABLE} where paper_id = ? and version = ?", [paper_id, version]
        )
    )
    runs = (old[0]["runs"] or 0) + 1 if old else 1
    with store.db.conn:
        store.db.execute(
            f"delete from {FIGURES_TABLE} where paper_id = ? and version = ?", [paper_id, version]
        )
        store.db[FIGURES_TABLE].insert_all(
            [
                {
                    "paper_id": paper_id,
                    "version": version,
                    "idx": i,
                    "kind": f.kind,
                    "number": f.number,
                    "caption": f.caption,
                    "page": f.page,
                    "bbox": json.dumps(list(f.bbox)),
                    "path": str(f.path) if f.path else None,
                    "width": f.width,
                    "height": f.height,
                    "rank": f.rank,
                }
                for i, f in enumerate(figures)
            ]
        )
        store.db[RUNS_TABLE].upsert(
            {
                "paper_id": paper_id,
                "version": version,
                "status": status,
                "reason": reason,
                "count": len(figures),
                "runs": runs,
                "extracted_at": utcnow(),
            },
            pk=("paper_id", "version"),
        )


def save_drawn(store: Store, paper_id: str, version: int, figures: list[Figure]) -> None:
    """Record the PNGs of figures drawn after their extraction (see :func:`render_figures`)."""
    ensure_tables(store)
    with store.db.conn:
        for f in figures:
            if f.path is None:
                continue
            store.db.execute(
                f"update {FIGURES_TABLE} set path = ?, width = ?, height = ?, bbox = ?"
                " where paper_id = ? and version = ? and kind = ? and number is ?",
                [str(f.path), f.width, f.height, json.dumps(list(f.bbox)), paper_id, version, f.kind, f.number],
            )
