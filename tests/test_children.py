"""A SIGKILLed bot leaves no process behind: the PDF-text pool worker and multiprocessing's
resource tracker die with it (issue 14, item 5). The bot's own PdfWorker runs in a real
subprocess, which is then killed; the test polls /proc until its children are gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

SCRIPT = """
import asyncio, os, sys
from bot.pdftext import PdfWorker

async def main():
    worker = PdfWorker()
    child = await worker.run(os.getpid)  # the pool worker's pid, from inside it
    print(child, flush=True)
    await asyncio.sleep(3600)  # until killed

asyncio.run(main())
"""


def _children(pid: int) -> set[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie is dead; only its parent (now init) has not reaped it yet


def test_sigkill_leaves_no_pool_worker_or_resource_tracker() -> None:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=root, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        worker = int(proc.stdout.readline())
        children = _children(proc.pid)
        assert worker in children and len(children) == 2  # the pool worker and the resource tracker
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while (left := [pid for pid in children if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling what is compared: the processes themselves
    for pid in left:  # do not leave them behind for the next test run
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"still running after the bot was SIGKILLed: {left}"
