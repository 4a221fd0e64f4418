"""What a reader gets from the command line, as a real `paperbot` subprocess against the fakes:
an abstract-only summary redone once its PDF appears, an unreachable model that costs seconds,
a Hexo post that publishes (its images fetched over HTTP), exits that say when nothing was done."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import pytest
from pydantic import SecretStr

from bot.harvest import listing_day_for
from bot.models import Paper
from bot.settings import Settings
from bot.store import AsyncStore
from bot.summarize import Summarizer
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import serve
from tests.fakes.telegram import tiny_pdf
from tests.test_cli import no_traceback, paperbot

TECA = {
    "id": "2309.07125",
    "title": "Text-Guided Generation and Editing of Compositional 3D Avatars",
    "summary": "Our goal is to create a realistic 3D facial avatar with hair and accessories using only a text "
    "description. Existing methods either lack realism or do not support editing. We propose TECA, which "
    "represents the face with a mesh and the hair, clothing and accessories with NeRFs. Experiments show avatars "
    "more realistic than recent methods, and editable. Code: https://github.com/HaoZhang990127/TECA",
    "authors": ["Hao Zhang", "Yao Feng", "Peter Kulits"],
    "categories": ["cs.CV", "cs.GR"],
    "comment": "Project page: https://yfeng95.github.io/teca",
}


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port on 127.0.0.1 whose listening socket never accepts and whose backlog is full, so a
    new connection is never completed: what a firewalled or dead host looks like to a client."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue; the kernel then drops further SYNs
            c = socket.socket()
            c.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                c.connect(("127.0.0.1", port))
            fillers.append(c)
        probe = socket.socket()
        probe.settimeout(0.5)
        with pytest.raises(OSError):  # really a black hole (TimeoutError is an OSError)
            probe.connect(("127.0.0.1", port))
        probe.close()
        yield port
    finally:
        for c in fillers:
            c.close()
        server.close()


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_an_unreachable_model_costs_seconds_then_the_extractive_fallback(tmp_path: Path, fake_arxiv, provider: str) -> None:
    fake_arxiv.add_paper(TECA)
    fake_arxiv.pdfs["2309.07125"] = tiny_pdf(1)
    with blackhole() as port:
        url = f"http://127.0.0.1:{port}"
        env = (
            {"LLM_PROVIDER": "gemini", "GEMINI_API_KEY": "test-key", "GEMINI_BASE_URL": url}
            if provider == "gemini"
            else {"LLM_PROVIDER": "openai", "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{url}/v1"}
        )
        started = time.monotonic()
        result = paperbot(tmp_path, fake_arxiv.url, "summarize", "2309.07125", "--format", "json", "--no-figures", **env)
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    no_traceback(result)
    # the whole process (start-up, imports, arXiv, the PDF) on a loaded CI machine; the model's own
    # cost is measured alone in test_an_unreachable_model_costs_the_summarizer_seconds
    assert elapsed <= 40, elapsed
    data = json.loads(result.stdout)
    assert data["source"] == "extractive" and data["summary"].startswith("We propose TECA")
    notes = [line for line in result.stderr.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1 and "did not accept a connection within 3 s" in notes[0], result.stderr
    assert "test-key" not in result.stderr


@pytest.mark.parametrize("provider", ["gemini", "openai"])
async def test_an_unreachable_model_costs_the_summarizer_seconds(settings: Settings, tmp_path: Path, provider: str) -> None:
    """The real google-genai / openai clients pointed at a black hole: the fallback comes after the
    connect timeout, not after every retry's read timeout (LLM_TIMEOUT=120, LLM_RETRIES=3)."""
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(tiny_pdf(1))
    paper = Paper(id="2309.07125", title=TECA["title"], abstract=TECA["summary"])
    store = AsyncStore(settings.db_path)
    with blackhole() as port:
        url = f"http://127.0.0.1:{port}"
        update = (
            {"llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"), "gemini_base_url": url}
            if provider == "gemini"
            else {"llm_provider": "openai", "openai_api_key": SecretStr("test-key"), "openai_base_url": f"{url}/v1"}
        )
        summarizer = Summarizer(settings.model_copy(update=update), store)
        try:
            started = time.monotonic()
            s = await summarizer.summarize(paper, "en", pdf)
            elapsed = time.monotonic() - started
        finally:
            await summarizer.aclose()
            await store.close()
    assert s.extractive and elapsed <= 15, elapsed
    assert summarizer.last_error is not None and "did not accept a connection within 3 s" in summarizer.last_error


def test_an_abstract_only_summary_is_marked_and_redone_once_the_pdf_appears(tmp_path: Path, fake_arxiv) -> None:
    fake_arxiv.add_paper(TECA)  # arXiv has no PDF for it yet
    gemini = FakeGemini()
    with serve(gemini.app()) as llm:
        env = {"LLM_PROVIDER": "gemini", "GEMINI_API_KEY": "test-key", "GEMINI_BASE_URL": llm.url}
        args = ("summarize", "2309.07125", "--format", "json", "--lang", "zh", "--no-figures")
        first = paperbot(tmp_path, fake_arxiv.url, *args, **env)
        assert first.returncode == 0, first.stderr
        data = json.loads(first.stdout)
        assert (data["source"], data["model"]) == ("abstract", "gemini:gemini-2.5-flash")
        assert data["title_zh"]  # the Chinese title, from the same request
        [call] = gemini.generate_calls
        assert call.inline_pdfs() == [] and "not available" in call.text_parts()
        md = paperbot(tmp_path, fake_arxiv.url, "summarize", "2309.07125", "--lang", "zh", "--no-figures", **env)
        assert "AI 总结 · gemini-2.5-flash · 仅依据摘要" in md.stdout and len(gemini.generate_calls) == 1  # cached
        # the PDF appears: the next request writes the summary again, from the paper
        fake_arxiv.pdfs["2309.07125"] = tiny_pdf(1)
        second = paperbot(tmp_path, fake_arxiv.url, *args, **env)
        data = json.loads(second.stdout)
        assert (data["source"], data["model"]) == ("pdf", "gemini:gemini-2.5-flash")
        assert len(gemini.generate_calls) == 2 and gemini.generate_calls[1].inline_pdfs()
        # and from then on it is cached
        third = paperbot(tmp_path, fake_arxiv.url, *args, **env)
        assert json.loads(third.stdout)["source"] == "pdf" and len(gemini.generate_calls) == 2
        links = {(x["kind"], x["url"]) for x in data["links"]}
        assert links == {("code", "https://github.com/HaoZhang990127/TECA"), ("project", "https://yfeng95.github.io/teca")}


@contextlib.contextmanager
def http_folder(root: Path) -> Iterator[str]:
    """``root`` served over HTTP on 127.0.0.1, as a static site host would."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_hexo_post_publishes_with_its_figures(tmp_path: Path, fake_arxiv) -> None:
    today = listing_day_for(datetime.now(UTC))
    papers = [
        dict(TECA, id="2606.40001", title="Gaussian Avatars from Text", comment=None),
        dict(TECA, id="2606.40002", title="Relightable Head Avatars", comment="CVPR 2026"),
    ]
    fake_arxiv.add_day(today, papers)
    fake_arxiv.rss_day = today
    fake_arxiv.pdfs["2606.40001"] = tiny_pdf(6)
    fake_arxiv.pdfs["2606.40002"] = tiny_pdf(2)
    site = tmp_path / "site" / "2026" / "avatar"
    result = paperbot(
        tmp_path, fake_arxiv.url, "digest", "虚拟人", "--format", "hexo", "--lang", "zh",
        "--assets", str(site / "assets"), "--out", str(site / "index.md"), DIGEST_FIGURES="4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    post = (site / "index.md").read_text()
    front, body = post.split("\n---\n", 1)
    assert front.startswith("---\ntitle: \"元宇宙/虚拟人\"")
    assert "\ntoc: true" in front and "\nmathjax: true" in front
    cover = re.search(r"^cover: (.+)$", front, re.M).group(1)  # type: ignore[union-attr]
    assert cover == "assets/2606.40001v1/figure-1.png"  # the first figure of the first paper
    assert body.lstrip().startswith("> ⚠️ 注意：论文总结由 AI 生成")
    assert body.count("<summary>点此查看论文截图</summary>") == 2
    images = re.findall(r'<img src="([^"]+)" align="middle">', body)
    assert len(images) == 4 + 2  # the digest's pick (DIGEST_FIGURES), not every crop
    assert "[代码](https://github.com/HaoZhang990127/TECA)" in body  # the abstract's code link, labelled in zh
    assert all(not Path(src).is_absolute() and "/data/" not in src for src in [cover, *images])
    with http_folder(tmp_path / "site") as host:
        page = f"{host}/2026/avatar/index.html"  # where Hexo puts the post, beside its assets folder
        for src in {cover, *images}:
            with urllib.request.urlopen(urljoin(page, src), timeout=10) as resp:
                assert resp.status == 200 and resp.read(8) == b"\x89PNG\r\n\x1a\n", src


def test_nothing_done_is_a_non_zero_exit(tmp_path: Path, fake_arxiv) -> None:
    fake_arxiv.faults["rss"] = [503] * 20
    fake_arxiv.faults["api"] = [503] * 20
    offline = paperbot(tmp_path, fake_arxiv.url, "digest", "虚拟人", "--date", "2026-06-30", ARXIV_RETRIES="0")
    assert offline.returncode == 1 and "nothing is stored for 2026-06-30" in offline.stderr, offline.stderr
    no_traceback(offline)
    not_pdf = tmp_path / "notes.pdf"
    not_pdf.write_text("just text")
    figures = paperbot(tmp_path, None, "figures", str(not_pdf))
    assert figures.returncode == 1 and "is not a PDF" in figures.stderr
    no_traceback(figures)


def test_every_option_has_help_and_the_readme_lists_every_command() -> None:
    import click

    from bot.cli import cli

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name, command in cli.commands.items():
        assert command.help, name
        assert f"`paperbot {name}" in readme, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"
                if param.opts[0].startswith("--") and not param.is_flag:
                    assert param.opts[0] in readme or name in ("search",), f"{name} {param.opts} not in the README"
