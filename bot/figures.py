"""Every captioned figure and table of a paper, cropped from its PDF, cached per paper version.

The PDF work (:mod:`bot.figures_worker`) runs in a child process started from a
``forkserver`` context: PDFium is not thread-safe, and a hostile or broken PDF must neither hang
nor crash the bot. The child gets a memory cap (``RLIMIT_AS``) and the parent kills it when it
overruns ``FIGURE_TIMEOUT``. Any failure becomes "no figures" plus a logged reason.

Results are cached: the PNGs under ``DATA_DIR/figures/<id>v<version>/`` and rows in two tables,
``figure_runs`` (one per extracted version, so a paper without figures is cached too) and
``figures`` (one per crop). The async core calls :func:`cached_figures` / :func:`save_figures` on
its database thread and :func:`extract_figures` in a worker thread; the CLI uses
:func:`figures_for_pdf`, which does all three.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models import Paper
from .settings import Settings
from .store import Store, utcnow

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
        }


@dataclass
class Extraction:
    """What one run of the worker produced, with the reason when it produced nothing."""

    figures: list[Figure]
    status: str  # ok | empty | failed | timeout
    reason: str = ""


# ---- the worker process ------------------------------------------------------------------------------


def _child(pdf: str, out_dir: str, memory_mb: int, conn: Any) -> None:
    """Entry point in the child: cap memory, run the extraction, send back dicts or a reason."""
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError) as err:  # pragma: no cover - non-Linux
        log.debug("could not cap memory: %s", err)
    try:
        from . import figures_worker

        rows, note = figures_worker.extract(Path(pdf), Path(out_dir))
        conn.send(("ok", (rows, note)))
    except MemoryError:
        conn.send(("failed", f"out of memory (FIGURE_MEMORY_MB={memory_mb})"))
    except BaseException as err:  # everything from a broken PDF must reach the parent as a reason
        name = type(err).__name__
        conn.send(("failed", f"{name}: {err}"[:300]))
    finally:
        conn.close()


def _context() -> multiprocessing.context.BaseContext:
    """forkserver: cheap to start per PDF and safe from a threaded parent (the bot's event loop,
    its DB thread); spawn where forkserver does not exist."""
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:  # pragma: no cover - Windows
        return multiprocessing.get_context("spawn")
    # Import PDFium once in the fork server, not in every child (it only matters before it starts).
    ctx.set_forkserver_preload(["bot.figures_worker"])
    return ctx


def run_extraction(pdf: Path, out_dir: Path, *, timeout: float = 90.0, memory_mb: int = 1536) -> Extraction:
    """Extract in a child process; never raises for bad input. Keeps the reason for the cache."""
    pdf = Path(pdf)
    out_dir = Path(out_dir)
    if not pdf.is_file():
        return _failed(pdf, "failed", "no such file")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".figures-", dir=out_dir))
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(str(pdf), str(tmp), memory_mb, send), daemon=True)
    started = time.monotonic()
    try:
        proc.start()
        send.close()
        status, payload = "failed", "the worker exited without an answer"
        if recv.poll(timeout):
            try:
                status, payload = recv.recv()
            except (EOFError, OSError):
                proc.join(5)
                code = proc.exitcode
                payload = f"the worker died ({_describe_exit(code)})"
        else:
            status, payload = "timeout", f"took longer than FIGURE_TIMEOUT={timeout:g}s"
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        if status != "ok":
            return _failed(pdf, status, str(payload))
        rows, note = payload
        figures = _move_results(rows, tmp, out_dir)
        if not figures:
            reason = note or "no captioned figure or table found"
            log.info("no figures from %s: %s", pdf.name, reason)
            return Extraction([], "empty", reason)
        log.info("%s: %d figures/tables in %.1fs", pdf.name, len(figures), time.monotonic() - started)
        return Extraction(figures, "ok")
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        recv.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"signal {-code}"
    return f"exit code {code}"


def _failed(pdf: Path, status: str, reason: str) -> Extraction:
    log.warning("no figures from %s: %s", pdf.name, reason)
    return Extraction([], status, reason)


def _move_results(rows: list[dict[str, Any]], tmp: Path, out_dir: Path) -> list[Figure]:
    """Move the child's PNGs into place (only after it succeeded) and build the Figures."""
    figures: list[Figure] = []
    for row in rows:
        src = tmp / row["file"]
        if not src.is_file():
            continue
        dest = out_dir / row["file"]
        os.replace(src, dest)
        figures.append(
            Figure(
                kind=row["kind"],
                number=row["number"],
                caption=row["caption"],
                page=int(row["page"]),
                bbox=tuple(float(v) for v in row["bbox"]),  # type: ignore[arg-type]
                path=dest,
                width=int(row["width"]),
                height=int(row["height"]),
            )
        )
    return figures


def extract_figures(
    pdf: Path, out_dir: Path, *, timeout: float = 90.0, memory_mb: int = 1536
) -> list[Figure]:
    """Runs in a worker process; writes figure-<n>.png, table-<n>.png, page-1.png into out_dir;
    never raises for bad input (returns [] and logs why)."""
    return run_extraction(pdf, out_dir, timeout=timeout, memory_mb=memory_mb).figures


# ---- cache ----------------------------------------------------------------------------------------------


def _ensure_tables(store: Store) -> None:
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
    _ensure_tables(store)
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
    )


def save_figures(
    store: Store, paper_id: str, version: int, figures: list[Figure], status: str = "ok", reason: str = ""
) -> None:
    """Replace the cached crops of this version and record the run (also when there are none)."""
    _ensure_tables(store)
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


def figures_for_pdf(store: Store, settings: Settings, paper_id: str, version: int, pdf: Path) -> list[Figure]:
    """Cache check, extraction, save: all in the calling thread (for the CLI)."""
    cached = cached_figures(store, paper_id, version)
    if cached is not None:
        return cached
    result = run_extraction(
        pdf,
        figures_dir(settings, paper_id, version),
        timeout=settings.figure_timeout,
        memory_mb=settings.figure_memory_mb,
    )
    save_figures(store, paper_id, version, result.figures, result.status, result.reason)
    return result.figures


# ---- choosing and posting ---------------------------------------------------------------------------------


def pick_for_digest(figures: list[Figure], n: int) -> list[Figure]:
    """The N to show under a paper: the teaser (Figure 1, or the page-1 render) first, then by size."""
    usable = [f for f in figures if f.path is not None]
    if n <= 0 or not usable:
        return []
    lead = next((f for f in usable if f.kind == "figure" and f.number == "1"), None)
    if lead is None:
        lead = next((f for f in usable if f.kind == "page"), None)
    rest = sorted((f for f in usable if f is not lead), key=lambda f: f.area, reverse=True)
    ordered = ([lead] if lead else []) + rest
    return ordered[:n]


def may_post_figures(settings: Settings, paper: Paper) -> bool:
    """FIGURE_POLICY: all (default), open (CC-licensed papers only) or none."""
    policy = settings.figure_policy
    if policy == "none":
        return False
    if policy == "open":
        return paper.is_open_license
    return True
