"""Every captioned figure and table of a paper, cropped from its PDF, cached per paper version.

The PDF work (:mod:`bot.figures_worker`) runs in a child process, never in the bot's: PDFium is
not thread-safe, and a hostile or broken PDF must neither hang nor crash the bot. A small server
process (PDFium loaded, started on first use and kept) forks one child per PDF; the child gets a
memory cap (``RLIMIT_AS``) and is killed when it overruns ``FIGURE_TIMEOUT``. Only paths and
JSON cross the pipes (the PNGs are files). Any failure becomes "no figures" plus a logged reason.

Results are cached: the PNGs under ``DATA_DIR/figures/<id>v<version>/`` and rows in two tables,
``figure_runs`` (one per extracted version, so a paper without figures is cached too) and
``figures`` (one per crop). The async core calls :func:`cached_figures` / :func:`save_figures` on
its database thread and :func:`extract_figures` in a worker thread; the CLI uses
:func:`figures_for_pdf`, which does all three.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
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


class _Server:
    """A long-lived ``python -c 'serve()'`` process (see :func:`bot.figures_worker.serve`) that
    forks one child per PDF. Started on first use and kept: the bot pays for Python and PDFium
    once, and each PDF costs a fork instead of a fresh interpreter."""

    def __init__(self) -> None:
        # a bare environment: the process that reads untrusted PDFs gets no tokens or keys
        root = str(Path(__file__).resolve().parent.parent)  # so the child imports this very ``bot``
        env = {"PYTHONPATH": root, "LC_ALL": "C.UTF-8"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from bot.figures_worker import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, request: dict[str, Any], wait: float) -> dict[str, Any] | None:
        """Send one request and wait up to ``wait`` seconds for its answer; None if there is none."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + wait
        buf = b""
        while not buf.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            buf += chunk
        answer = json.loads(buf)
        return answer if isinstance(answer, dict) else None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class FigureWorkers:
    """The figure servers of one owner (the bot, the CLI, a bench): one per concurrent
    extraction, kept between papers so each PDF costs a fork, closed with the owner."""

    def __init__(self) -> None:
        self._idle: list[_Server] = []
        self._lock = threading.Lock()

    def take(self) -> _Server:
        with self._lock:
            while self._idle:
                server = self._idle.pop()
                if server.alive():
                    return server
                server.close()
        return _Server()

    def give_back(self, server: _Server) -> None:
        with self._lock:
            self._idle.append(server)

    @property
    def idle(self) -> list[_Server]:
        with self._lock:
            return list(self._idle)

    def start(self) -> None:
        """Start a server now (optional: the first extraction does it otherwise)."""
        self.give_back(self.take())

    def close(self) -> None:
        with self._lock:
            servers, self._idle = self._idle, []
        for server in servers:
            server.close()

    def __enter__(self) -> FigureWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_extraction(
    pdf: Path, out_dir: Path, *, timeout: float = 90.0, memory_mb: int = 1536, workers: FigureWorkers | None = None
) -> Extraction:
    """Extract in a child process; never raises for bad input. Keeps the reason for the cache.

    ``workers`` keeps the figure server between calls; without it one is started and stopped.
    """
    if workers is None:
        with FigureWorkers() as own:
            return run_extraction(pdf, out_dir, timeout=timeout, memory_mb=memory_mb, workers=own)
    pdf = Path(pdf)
    out_dir = Path(out_dir)
    if not pdf.is_file():
        return _failed(pdf, "failed", "no such file")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".figures-", dir=out_dir))
    started = time.monotonic()
    request = {"pdf": str(pdf.resolve()), "out": str(tmp), "memory_mb": memory_mb, "timeout": timeout}
    server: _Server | None = None
    try:
        try:
            server = workers.take()
        except OSError as err:
            return _failed(pdf, "failed", f"could not start the figure worker: {err}")
        # the server enforces the time limit on its child; this guards against the server itself hanging
        answer = server.ask(request, timeout + 30.0)
        if answer is None:
            server.close()
            server = None
            return _failed(pdf, "failed", "the figure worker stopped answering")
        workers.give_back(server)
        server = None
        status = str(answer.get("status", "failed"))
        if status != "ok":
            return _failed(pdf, status, str(answer.get("reason", "no reason given")))
        figures = _move_results(answer.get("rows") or [], tmp, out_dir)
        if not figures:
            reason = answer.get("note") or "no captioned figure or table found"
            log.info("no figures from %s: %s", pdf.name, reason)
            return Extraction([], "empty", reason)
        log.info("%s: %d figures/tables in %.1fs", pdf.name, len(figures), time.monotonic() - started)
        return Extraction(figures, "ok")
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(tmp, ignore_errors=True)


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
    pdf: Path, out_dir: Path, *, timeout: float = 90.0, memory_mb: int = 1536, workers: FigureWorkers | None = None
) -> list[Figure]:
    """Runs in a worker process; writes figure-<n>.png, table-<n>.png, page-1.png into out_dir;
    never raises for bad input (returns [] and logs why)."""
    return run_extraction(pdf, out_dir, timeout=timeout, memory_mb=memory_mb, workers=workers).figures


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
