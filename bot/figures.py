"""Every captioned figure and table of a paper, cropped from its PDF, cached per paper version.

The PDF work (:mod:`bot.figures_worker`) runs in another process, never in the bot's: PDFium is
not thread-safe, and a hostile or broken PDF must neither hang nor crash the bot. A small server
process (PDFium loaded, started on first use and kept, with a helper process for the second
core) does one PDF per request under a memory cap (``RLIMIT_AS``); when it overruns
``FIGURE_TIMEOUT`` or dies, it is killed and the next PDF gets a new one. Only paths and JSON
cross the pipes (the PNGs are files). Any failure becomes "no figures" plus a logged reason.

Every figure is found at once, but only the crops a digest posts (``DIGEST_FIGURES``, the
teaser first, then the biggest) are drawn then; the others are drawn the first time they are
wanted (:func:`render_figures`: the CLI, a bigger ``DIGEST_FIGURES``). Results are cached: the
PNGs under ``DATA_DIR/figures/<id>v<version>/`` and rows in two tables, ``figure_runs`` (one per
extracted version, so a paper without figures is cached too) and ``figures`` (one per figure or
table, its ``path`` empty until drawn). The async core calls :func:`cached_figures` /
:func:`save_figures` / :func:`save_drawn` on its database thread and :func:`run_extraction` /
:func:`render_figures` in a worker thread, one request at a time.
"""

from __future__ import annotations

import contextlib
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

from .figure_pick import digest_order
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
    extracts one PDF per request. Started on first use and kept: the bot pays for Python and
    PDFium once. Killed when it overruns a request's time; a new one is started after that."""

    def __init__(self) -> None:
        # a bare environment: the process that reads untrusted PDFs gets no tokens or keys
        root = str(Path(__file__).resolve().parent.parent)  # so the server imports this very ``bot``
        env = {"PYTHONPATH": root, "LC_ALL": "C.UTF-8"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from bot.figures_worker import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
            umask=0o077,  # its PNGs are the owner's alone (0600), whatever the bot's umask
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, request: dict[str, Any], wait: float) -> tuple[dict[str, Any] | None, str]:
        """Send one request; its answer, or None and why ("timeout" or "died: ...")."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return None, self._died()
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + wait
        buf = b""
        while not buf.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None, "timeout"
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None, self._died()
            buf += chunk
        answer = json.loads(buf)
        return (answer, "") if isinstance(answer, dict) else (None, "died: a garbled answer")

    def _died(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "died: it stopped answering"
        return f"died: signal {-code}" if code < 0 else f"died: exit code {code}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # unflushed bytes to a dead server
                    pipe.close()


class FigureWorkers:
    """The figure servers of one owner (the bot, the CLI, a bench): one per concurrent
    extraction, kept between papers (Python and PDFium start once), closed with the owner."""

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
    pdf: Path,
    out_dir: Path,
    *,
    timeout: float = 90.0,
    memory_mb: int = 1536,
    workers: FigureWorkers | None = None,
    render: int | None = None,
) -> Extraction:
    """Find every figure and table, drawing the ``render`` a digest shows first (all when None);
    in the figure server, never raising for bad input. Keeps the reason for the cache.

    ``workers`` keeps the figure server between calls; without it one is started and stopped.
    """
    request = {"op": "extract", "render": render}
    return _run(pdf, out_dir, request, timeout=timeout, memory_mb=memory_mb, workers=workers)


def render_figures(
    pdf: Path,
    figures: list[Figure],
    out_dir: Path,
    *,
    render: int | None = None,
    timeout: float = 90.0,
    memory_mb: int = 1536,
    workers: FigureWorkers | None = None,
) -> list[Figure]:
    """Draw what a digest of ``render`` shows (every figure when None) that was found earlier
    but not drawn; returns all the figures, the drawn ones with their paths. A failure leaves
    them undrawn (and logs why)."""
    todo = [f for f in wanted(figures, render) if f.path is None]
    if not todo:
        return list(figures)
    rows = [f.to_json() for f in todo]  # what the server needs to draw them (see render_pdf_rows)
    done = _run(pdf, out_dir, {"op": "render", "rows": rows}, timeout=timeout, memory_mb=memory_mb, workers=workers)
    drawn = {(f.kind, f.number): f for f in done.figures if f.path is not None}
    return [drawn.get((f.kind, f.number), f) if f.path is None else f for f in figures]


def _run(
    pdf: Path,
    out_dir: Path,
    request: dict[str, Any],
    *,
    timeout: float,
    memory_mb: int,
    workers: FigureWorkers | None,
) -> Extraction:
    if workers is None:
        with FigureWorkers() as own:
            return _run(pdf, out_dir, request, timeout=timeout, memory_mb=memory_mb, workers=own)
    pdf = Path(pdf)
    out_dir = Path(out_dir)
    if not pdf.is_file():
        return _failed(pdf, "failed", "no such file")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".figures-", dir=out_dir))
    started = time.monotonic()
    request = {**request, "pdf": str(pdf.resolve()), "out": str(tmp), "memory_mb": memory_mb}
    server: _Server | None = None
    try:
        try:
            server = workers.take()
        except OSError as err:
            return _failed(pdf, "failed", f"could not start the figure worker: {err}")
        answer, why = server.ask(request, timeout)
        if answer is None:
            server.close()  # overran or died: the next PDF gets a fresh server
            server = None
            if why == "timeout":
                return _failed(pdf, "timeout", f"took longer than FIGURE_TIMEOUT={timeout:g}s")
            return _failed(pdf, "failed", f"the figure worker {why}")
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
        drawn = sum(1 for f in figures if f.path is not None)
        log.info(
            "%s: %d figures/tables, %d drawn, in %.2fs", pdf.name, len(figures), drawn, time.monotonic() - started
        )
        return Extraction(figures, "ok")
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _failed(pdf: Path, status: str, reason: str) -> Extraction:
    log.warning("no figures from %s: %s", pdf.name, reason)
    return Extraction([], status, reason)


def _move_results(rows: list[dict[str, Any]], tmp: Path, out_dir: Path) -> list[Figure]:
    """Move the server's PNGs into place (only after it succeeded) and build the Figures; a
    figure not drawn (or whose PNG is missing) has no path."""
    figures: list[Figure] = []
    for row in rows:
        dest: Path | None = None
        src = tmp / row["file"]
        if row.get("rendered") and src.is_file():
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
    pdf: Path,
    out_dir: Path,
    *,
    timeout: float = 90.0,
    memory_mb: int = 1536,
    workers: FigureWorkers | None = None,
    render: int | None = None,
) -> list[Figure]:
    """Runs in the figure server; writes figure-<n>.png, table-<n>.png, page-1.png into out_dir
    (every one, or the ``render`` a digest shows); never raises for bad input (returns [] and
    logs why)."""
    return run_extraction(pdf, out_dir, timeout=timeout, memory_mb=memory_mb, workers=workers, render=render).figures


# ---- cache ----------------------------------------------------------------------------------------------


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
                f"update {FIGURES_TABLE} set path = ?, width = ?, height = ?"
                " where paper_id = ? and version = ? and kind = ? and number is ?",
                [str(f.path), f.width, f.height, paper_id, version, f.kind, f.number],
            )


# ---- choosing and posting ---------------------------------------------------------------------------------


def _order_key(f: Figure) -> tuple[str, str | None, float]:
    return f.kind, f.number, f.area


def pick_for_digest(figures: list[Figure], n: int) -> list[Figure]:
    """The N to show under a paper: the teaser (Figure 1, or the page-1 render) first, then by
    size. Only drawn figures (with a PNG) are shown."""
    if n <= 0:
        return []
    return digest_order([f for f in figures if f.path is not None], _order_key)[:n]


def wanted(figures: list[Figure], n: int | None) -> list[Figure]:
    """The figures that must be drawn for a digest of ``n`` (all when None)."""
    return list(figures) if n is None else digest_order(list(figures), _order_key)[: max(0, n)]


def may_post_figures(settings: Settings, paper: Paper) -> bool:
    """FIGURE_POLICY: all (default), open (CC-licensed papers only) or none."""
    policy = settings.figure_policy
    if policy == "none":
        return False
    if policy == "open":
        return paper.is_open_license
    return True
