"""The figure server: the process :mod:`bot.figures.client` starts, answering one request per line,
with a forked :class:`Helper` process that takes pages and crops of the same PDF on the second core.
No geometry here: the work itself is :func:`bot.figures.document.extract`."""

from __future__ import annotations

import array
import base64
import contextlib
import ctypes
import gc
import json
import logging
import os
import select
import signal
import socket
import struct
from pathlib import Path
from typing import Any

from .document import Part, extract, render_pdf_rows
from .geometry import Box, Layout
from .layout import LayoutPage

log = logging.getLogger(__name__)


# ---- the figure server ---------------------------------------------------------------------------------------
#
# :mod:`bot.figures` starts a Python process running :func:`serve` once and keeps it: PDFium loaded and
# warmed up, extracting one PDF per request in the process itself, with its address space capped
# (``RLIMIT_AS``). A PDF that crashes it or overruns its time takes only this process down: the bot
# kills it and starts another. At start the server forks a :class:`Helper` that shares each PDF's
# work with it through :class:`Tickets`: the pages to read, then the pages to plan, then the crops
# to draw (each process its own pages' first), so one paper uses both cores.
# (Forking a fresh child per PDF instead cost ~10% more: every child starts with cold memory.)


def _send(sock: socket.socket, obj: Any) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def _recv(sock: socket.socket) -> Any:
    """One message, or None when the other side has gone."""
    head = _recv_exactly(sock, 4)
    if head is None:
        return None
    body = _recv_exactly(sock, struct.unpack(">I", head)[0])
    return None if body is None else json.loads(body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class Tickets:
    """Counters in memory shared by the server and its helper (made before the fork), each number
    handed out once, to whichever process asks first: :meth:`take` counts pages to read;
    :meth:`own`, :meth:`steal` and :meth:`take_row` share out two queues, one per process
    (0: the server, 1: the helper), each process taking from the front of its own."""

    def __init__(self) -> None:
        import multiprocessing

        self._value = multiprocessing.RawArray("i", 4)  # the queues' fronts, then their ends
        self._lock = multiprocessing.Lock()

    def reset(self, start: int, sizes: tuple[int, int] = (0, 0)) -> None:
        with self._lock:
            self._value[0], self._value[1] = start, 0
            self._value[2], self._value[3] = sizes

    def take(self) -> int:
        with self._lock:
            n = self._value[0]
            self._value[0] = n + 1
            return n

    def own(self, mine: int) -> int | None:
        """The front of queue ``mine``; None when it is done."""
        with self._lock:
            n = self._value[mine]
            if n >= self._value[2 + mine]:
                return None
            self._value[mine] = n + 1
            return n

    def steal(self, other: int) -> int | None:
        """The back of queue ``other`` while two or more are left in it (its owner keeps the
        last: it may be done with the one in hand before this process is with a stolen one)."""
        with self._lock:
            end = self._value[2 + other]
            if end - self._value[other] < 2:
                return None
            self._value[2 + other] = end - 1
            return end - 1

    def take_row(self, mine: int) -> tuple[int, int] | None:
        """The front of queue ``mine`` while it lasts, then the other's front, as (queue, index);
        None when both are done."""
        for q in (mine, 1 - mine):
            n = self.own(q)
            if n is not None:
                return q, n
        return None


class HelperError(Exception):
    """The helper failed on its pages (its reason is the message) or died."""


def _boxes_in(pages: list[Any]) -> list[tuple[int, LayoutPage]]:
    out: list[tuple[int, LayoutPage]] = []
    for index, width, height, packed in pages:
        v = array.array("d", base64.b64decode(packed))
        lines = [(Box(v[k], v[k + 1], v[k + 2], v[k + 3]), int(v[k + 4])) for k in range(0, len(v), 5)]
        out.append((int(index), (float(width), float(height), lines)))
    return out


def _boxes_out(pages: list[tuple[int, LayoutPage]]) -> list[Any]:
    """Pages' lines for :func:`compute_layout`, packed as doubles (exact, and ~10x quicker than
    JSON numbers for the thousands of lines of a long paper)."""
    return [
        (
            index,
            width,
            height,
            base64.b64encode(
                array.array("d", [v for b, n in lines for v in (b.x0, b.top, b.x1, b.bottom, n)]).tobytes()
            ).decode(),
        )
        for index, (width, height, lines) in pages
    ]


class Helper:
    """The server's second process: forked once, takes pages and crops of every PDF from the
    same :class:`Tickets` as the server.

    The server drives it through one PDF in steps (start, pages, plan, rows, render, rendered),
    each a message on a socket pair. It dies with the server (``PR_SET_PDEATHSIG``); after any
    failure the server kills it and forks a fresh one for the next PDF.
    """

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.pid = 0
        self.memory_mb = 0
        self.tickets = Tickets()

    def ensure_forked(self) -> socket.socket:
        if self.sock is None:
            mine, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # the helper: never returns
                code = 0
                try:
                    mine.close()
                    _die_with_parent()
                    _helper_loop(theirs, self.tickets)
                except BaseException:  # pragma: no cover - the server sees the socket close
                    code = 1
                finally:
                    os._exit(code)
            theirs.close()
            self.sock, self.pid = mine, pid
        return self.sock

    def _ask(self, msg: dict[str, Any]) -> Any:
        self._send(msg)
        return self._answer()

    def _send(self, msg: dict[str, Any]) -> None:
        try:
            _send(self.ensure_forked(), msg)
        except OSError as err:
            raise HelperError(f"the page helper is gone: {err}") from err

    def _answer(self) -> Any:
        assert self.sock is not None
        answer = _recv(self.sock)
        if answer is None:
            raise HelperError("the page helper died")
        if "error" in answer:
            raise HelperError(str(answer["error"]))
        return answer["result"]

    def start(self, pdf: Path, max_pages: int) -> None:
        self.tickets.reset(1)  # page 1 (index 0) is the server's
        self._send({"op": "read", "pdf": str(pdf), "max_pages": max_pages, "memory_mb": self.memory_mb})

    def pages(self) -> list[tuple[int, LayoutPage]]:
        return _boxes_in(self._answer())

    def plan(self, layout: Layout, queues: tuple[list[int], list[int]]) -> None:
        self.tickets.reset(0, (len(queues[0]), len(queues[1])))
        self._send({"op": "plan", "layout": [getattr(layout, f) for f in Layout.__slots__], "queues": queues})

    def has_answer(self) -> bool:
        """Has the helper sent its next answer (or gone), so that asking for it will not wait?"""
        return self.sock is None or _readable(self.sock)

    def rows(self) -> tuple[list[dict[str, Any]], int | None]:
        """The helper's rows, and the page its references start on (None: not on its pages)."""
        answer = self._answer()
        return list(answer["rows"]), answer["back"]

    def render(self, rows: list[dict[str, Any]], out_dir: Path, owners: list[int]) -> None:
        self.tickets.reset(0, (owners.count(0), len(owners) - owners.count(0)))
        self._send({"op": "render", "rows": rows, "out": str(out_dir), "owners": owners})

    def rendered(self) -> list[dict[str, Any]]:
        return list(self._answer())

    def reset(self) -> None:
        """Kill it (mid-PDF, after a failure); the next PDF forks a new one."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the server dies (killed for its time, say)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _cap_memory(memory_mb: int) -> None:
    """Cap this process's address space (the soft limit, so the next request may set another)."""
    if memory_mb <= 0:
        return
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_mb * 1024 * 1024
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError) as err:  # pragma: no cover - non-Linux
        log.debug("could not cap memory: %s", err)


def _helper_loop(sock: socket.socket, tickets: Tickets) -> None:
    """The helper's side of :class:`Helper`: one PDF at a time, the pages and crops it takes."""
    part: Part | None = None
    while True:
        msg = _recv(sock)
        if msg is None:
            return
        try:
            op = msg["op"]
            if op == "read":
                if part is not None:  # the last PDF ended early (no body text): never drawn from
                    part.close()
                    part = None
                    _collect()
                gc.disable()  # until this PDF is done (see _collect)
                _cap_memory(int(msg["memory_mb"]))
                part = Part(Path(msg["pdf"]), tickets, int(msg["max_pages"]), first=False)
                result: Any = _boxes_out(part.layout_pages())
            elif op == "plan" and part is not None:
                queues = ([int(i) for i in msg["queues"][0]], [int(i) for i in msg["queues"][1]])
                result = {"rows": part.plan(Layout(*msg["layout"]), tickets, queues), "back": part.back}
            elif op == "render" and part is not None:
                result = part.render(list(msg["rows"]), Path(msg["out"]), tickets, list(msg["owners"]))
            else:
                raise HelperError(f"unexpected {msg.get('op')!r}")
            _send(sock, {"result": result})
            if op == "read" and part is not None:  # while the server makes the layout
                part.read_ahead(lambda: _readable(sock))
        except BaseException as err:
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
                part = None
            if isinstance(err, KeyboardInterrupt):
                raise
            _send(sock, {"error": f"{type(err).__name__}: {err}"[:300]})
            _collect()
            continue
        if op == "render" and part is not None:  # the PDF is done: closed once the server has its answer
            with contextlib.suppress(Exception):
                part.close()
            part = None
            _collect()


def _collect() -> None:
    """Python's cycle collector is off while a PDF is worked on and runs once when it is
    answered. Left on, it walks the young objects every 700 allocations, and the geometry makes
    hundreds of thousands of small boxes, all freed by reference counting: ~5% of a paper's
    time. The cycles one PDF leaves are a few hundred small objects, collected here, while the
    bot reads the answer; what the warm-up loaded is frozen (:func:`serve`), never walked."""
    gc.enable()
    gc.collect()


def handle(request: dict[str, Any], helper: Helper | None, later: contextlib.ExitStack | None = None) -> dict[str, Any]:
    """One request to the server, answered as a JSON-able dict; never raises.

    ``{"op": "extract", "pdf", "out", "memory_mb", "render": n | None}`` finds every figure and
    draws the ``render`` best; ``{"op": "render", "pdf", "out", "memory_mb", "rows"}`` draws rows
    found earlier.
    """
    memory_mb = int(request.get("memory_mb") or 0)
    try:
        _cap_memory(memory_mb)
        if helper is not None:
            helper.memory_mb = memory_mb
        pdf, out = Path(str(request["pdf"])), Path(str(request["out"]))
        if request.get("op", "extract") == "render":
            return {"status": "ok", "rows": render_pdf_rows(pdf, list(request["rows"]), out), "note": ""}
        render = request.get("render")
        rows, note = extract(pdf, out, render=None if render is None else int(render), helper=helper, later=later)
        return {"status": "ok", "rows": rows, "note": note}
    except MemoryError:
        return {"status": "failed", "reason": f"out of memory (FIGURE_MEMORY_MB={memory_mb})"}
    except HelperError as err:
        reason = str(err)
        if "MemoryError" in reason:
            reason = f"out of memory (FIGURE_MEMORY_MB={memory_mb})"
        return {"status": "failed", "reason": reason}
    except Exception as err:  # everything from a broken PDF must reach the bot as a reason
        return {"status": "failed", "reason": f"{type(err).__name__}: {err}"[:300]}


def _warm_up_pdf() -> bytes:
    """A one-page PDF with body text in a standard (non-embedded) font, a vector figure and its caption."""
    ops = ["BT /F1 10 Tf 12 TL 72 720 Td"]
    ops += ["(Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.) '"] * 12
    ops += ["ET", "0.2 0.4 0.8 rg 150 380 300 160 re f", "BT /F1 9 Tf 72 360 Td (Figure 1: Warm-up.) Tj ET"]
    content = "\n".join(ops).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def warm_up() -> None:
    """Do once in the server (before forking its helper) what every PDF would otherwise pay for
    first: import PIL and its PNG plugin, load PDFium's font mapping and codecs, by extracting
    from a tiny PDF."""
    import tempfile

    from PIL import Image, ImageChops, ImageOps, PngImagePlugin  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="figures-warm-up-") as tmp:
        pdf = Path(tmp) / "warm-up.pdf"
        pdf.write_bytes(_warm_up_pdf())
        try:
            extract(pdf, Path(tmp) / "out")
        except Exception as err:  # pragma: no cover - a warm-up, nothing depends on it
            log.debug("figure worker warm-up failed: %s", err)


def serve() -> None:
    """The server loop: one JSON request per line on stdin, one JSON answer per line on stdout.

    Runs until stdin closes (the bot exited or dropped it). Anything the extraction prints goes
    to stderr: stdout is the protocol.
    """
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the bot; we stop when stdin closes
    warm_up()
    gc.freeze()  # the modules and PDFium state loaded so far live as long as the server (see _collect)
    helper: Helper | None = None
    if (os.cpu_count() or 1) > 1:
        try:
            helper = Helper()
            helper.ensure_forked()  # fork now, warm, rather than during the first paper
        except OSError as err:  # no shared semaphores here (no /dev/shm): one process does it all
            log.warning("figure helper unavailable, using one core: %s", err)
            helper = None
    for line in requests:
        gc.disable()
        with contextlib.ExitStack() as later:  # closing the PDF: after the answer is sent
            try:
                answer = handle(json.loads(line), helper, later)
            except Exception as err:  # a bad request must not end the server
                answer = {"status": "failed", "reason": f"bad request: {type(err).__name__}: {err}"[:300]}
            answers.write(json.dumps(answer).encode() + b"\n")
            answers.flush()
        _collect()
