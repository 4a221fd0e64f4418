"""The bot's side of the figure server: start it, send it one PDF per request under a time limit,
kill it when it overruns or dies, and turn its answer into :class:`Figure` rows."""

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
from pathlib import Path
from typing import Any

from .model import Extraction, Figure
from .pick import wanted

log = logging.getLogger(__name__)


class _Server:
    """A long-lived ``python -c 'serve()'`` process (see :func:`bot.figures.server.serve`) that
    extracts one PDF per request. Started on first use and kept: the bot pays for Python and
    PDFium once. Killed when it overruns a request's time; a new one is started after that."""

    def __init__(self) -> None:
        # a bare environment: the process that reads untrusted PDFs gets no tokens or keys
        root = str(Path(__file__).resolve().parents[2])  # so the server imports this very ``bot``
        env = {"PYTHONPATH": root, "LC_ALL": "C.UTF-8"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from bot.figures.server import serve; serve()"],
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
                rank=None if row.get("rank") is None else int(row["rank"]),
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
