"""The data dir is the owner's alone: 0700, and the database (with its WAL and SHM), the PDFs
and the figure PNGs 0600, whatever the umask (issue 14, item 14). Run as `paperbot` would be:
a real subprocess under umask 022, against the fake arXiv."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.fakes.telegram import tiny_pdf
from tests.test_cli import KEYS


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_and_every_file_in_it_are_private_under_umask_022(tmp_path: Path, fake_arxiv) -> None:
    fake_arxiv.add_paper({"id": "2606.30001", "title": "Animatable Gaussian Avatars", "summary": "We build avatars. They are fast.",
                          "authors": ["Ada Lovelace"], "categories": ["cs.CV"]})  # fmt: skip
    fake_arxiv.pdfs["2606.30001"] = tiny_pdf(2)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(KEYS)}
    env.update({
        "PAPERBOT_DATA_DIR": str(data), "ARXIV_DELAY_SECONDS": "0", "ARXIV_TIMEOUT": "3", "LLM_PROVIDER": "none",
        "ARXIV_API_URL": f"{fake_arxiv.url}/api/query", "ARXIV_RSS_URL": f"{fake_arxiv.url}/rss/",
        "ARXIV_PDF_URL": f"{fake_arxiv.url}/pdf/{{id}}",
    })  # fmt: skip

    def paperbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120, umask=0o022)  # fmt: skip

    result = paperbot("summarize", "2606.30001", "--format", "md")
    assert result.returncode == 0, result.stderr
    backup = tmp_path / "copy.db"
    assert paperbot("backup", str(backup)).returncode == 0
    assert _mode(data) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    pngs = [p for p in files if p.suffix == ".png"]
    pdfs = [p for p in files if p.suffix == ".pdf"]
    assert len(pngs) == 2 and len(pdfs) == 1 and (data / "paperbot.db") in files
    assert {str(p.relative_to(data)): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}
    assert _mode(backup) == 0o600
    # a database made by an older version under umask 022, with its WAL: tightened when opened
    for name in ("paperbot.db", "paperbot.db-wal", "paperbot.db-shm"):
        if (data / name).exists():
            os.chmod(data / name, 0o644)
    os.chmod(data, 0o755)
    assert paperbot("summarize", "2606.30001").returncode == 0
    assert _mode(data) == 0o700 and _mode(data / "paperbot.db") == 0o600
    assert all(_mode(p) == 0o600 for p in data.glob("paperbot.db*"))
