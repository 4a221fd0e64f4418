"""The `paperbot` command line, run as a real subprocess against the fake arXiv."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.harvest import listing_day_for
from tests.conftest import shared_path
from tests.fakes.arxiv import load_listing

KEYS = ("PAPERBOT_", "ARXIV_", "GEMINI_", "OPENAI_", "LLM_", "TELEGRAM_", "DISCORD_", "FIGURE_", "DIGEST_", "PDF_")


def paperbot(tmp_path: Path, fake_url: str | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(KEYS)}
    clean.update(
        {
            "PAPERBOT_DATA_DIR": str(tmp_path / "data"),
            "ARXIV_DELAY_SECONDS": "0",
            "ARXIV_TIMEOUT": "3",
            "LLM_PROVIDER": "none",
            **env,
        }
    )
    if fake_url:
        clean.update(
            {
                "ARXIV_API_URL": f"{fake_url}/api/query",
                "ARXIV_RSS_URL": f"{fake_url}/rss/",
                "ARXIV_PDF_URL": f"{fake_url}/pdf/{{id}}",
            }
        )
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def test_topics_lists_the_catalogue(tmp_path: Path) -> None:
    result = paperbot(tmp_path, None, "topics", "--json")
    assert result.returncode == 0, result.stderr
    names = [json.loads(line)["name"] for line in result.stdout.splitlines() if line.startswith("{")]
    assert "元宇宙/虚拟人" in names and "3DGS" in names


def test_digest_of_a_real_day_twice_stores_each_paper_once(tmp_path: Path, fake_arxiv) -> None:
    listing = load_listing(shared_path("listings", "dw-dengwei_2026-06-30.jsonl"))
    today = listing_day_for(datetime.now(UTC))
    fake_arxiv.add_day(today, listing)  # the real 2026-06-30 papers, announced as today's listing
    fake_arxiv.rss_day = today
    first = paperbot(tmp_path, fake_arxiv.url, "digest", "虚拟人", "--format", "json", "--no-figures")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    ids = [p["id"] for p in data["papers"]]
    assert data["topic"] == "元宇宙/虚拟人"
    assert {"2606.30347", "2606.30145", "2606.29329"} <= set(ids)  # FFAvatar, FacePlex, RAGA
    assert len(ids) <= 25  # a busy day for virtual humans: labels.tsv has 14 wanted and 8 borderline
    ffavatar = next(p for p in data["papers"] if p["id"] == "2606.30347")
    assert ffavatar["title"].startswith("FFAvatar") and ffavatar["authors"] and ffavatar["abs_url"].endswith("2606.30347")
    assert ffavatar["source"] == "extractive"  # no LLM key: marked
    requests_after_first = len(fake_arxiv.log)
    second = paperbot(tmp_path, fake_arxiv.url, "digest", "虚拟人", "--format", "json", "--no-figures")
    assert second.returncode == 0, second.stderr
    assert [p["id"] for p in json.loads(second.stdout)["papers"]] == ids
    assert len(fake_arxiv.log) == requests_after_first  # stored: nothing fetched again
    db = sqlite3.connect(tmp_path / "data" / "paperbot.db")
    dupes = db.execute("select id, count(*) from papers group by id having count(*) > 1").fetchall()
    assert dupes == []
    assert db.execute("select count(*) from announcements").fetchone()[0] == 1
    text = paperbot(tmp_path, fake_arxiv.url, "digest", "avatar", "--no-figures", "--lang", "en")
    assert "FFAvatar" in text.stdout and "https://arxiv.org/abs/2606.30347" in text.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["digest", "虚拟任"], "no topic named"),
        (["digest", "NeRFF"], "did you mean NeRF"),
        (["digest", 'ti:"broken'], "unclosed quote"),
        (["digest", "虚拟人", "--date", "2026-13-01"], "YYYY-MM-DD"),
        (["summarize", "not-an-id"], "is not an arXiv id"),
        (["search", "ti:(avatar"], "never closed"),
    ],
)
def test_bad_arguments_fail_with_one_line_and_a_hint(tmp_path: Path, args: list[str], expected: str) -> None:
    result = paperbot(tmp_path, "http://127.0.0.1:9", *args)
    assert result.returncode != 0
    assert expected in result.stderr
    no_traceback(result)


def test_arxiv_down_is_one_line(tmp_path: Path, fake_arxiv) -> None:
    fake_arxiv.faults["rss"] = [503] * 10
    fake_arxiv.faults["api"] = [503] * 10
    result = paperbot(tmp_path, fake_arxiv.url, "harvest", ARXIV_RETRIES="1")
    assert result.returncode == 1
    assert "arXiv did not answer" in result.stderr
    no_traceback(result)


def test_bad_setting_is_one_line(tmp_path: Path) -> None:
    result = paperbot(tmp_path, None, "topics", PAPERBOT_TIMEZONE="Mars/Olympus")
    assert result.returncode == 1 and "PAPERBOT_TIMEZONE" in result.stderr.upper()
    no_traceback(result)


def test_search_and_summarize_via_the_api(tmp_path: Path, fake_arxiv) -> None:
    fake_arxiv.add_paper(
        {
            "id": "2309.07125",
            "title": "Text-Guided Generation and Editing of Compositional 3D Avatars",
            "summary": "Our goal is to create a realistic 3D facial avatar with hair and accessories using only a "
            "text description. While this challenge has attracted significant recent interest, existing methods "
            "either lack realism, produce unrealistic shapes, or do not support editing. We propose TECA. "
            "Our method produces more realistic avatars than recent methods.",
            "authors": ["Hao Zhang", "Yao Feng", "Peter Kulits"],
            "categories": ["cs.CV", "cs.GR"],
            "comment": "Project page: https://yfeng95.github.io/teca",
        }
    )
    found = paperbot(tmp_path, fake_arxiv.url, "search", 'ti:"3D avatars"')
    assert found.returncode == 0 and "2309.07125v1" in found.stdout
    result = paperbot(tmp_path, fake_arxiv.url, "summarize", "https://arxiv.org/abs/2309.07125", "--format", "json", "--no-figures")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("id", "version", "title", "authors", "published", "categories", "comment", "abs_url", "pdf_url",
                "license", "language", "summary", "key_takeaways", "background", "past_methods", "method",
                "results", "conclusion", "keywords", "source", "figures"):
        assert key in data, key
    assert data["source"] == "extractive" and data["comment"].startswith("Project page")
    missing = paperbot(tmp_path, fake_arxiv.url, "summarize", "2401.99999")
    assert missing.returncode == 1 and "no paper 2401.99999" in missing.stderr
    no_traceback(missing)


def test_summarize_with_gemini_prints_every_field_and_calls_once(tmp_path: Path, fake_arxiv) -> None:
    """`paperbot summarize 2309.07125 --format json` against the fake arXiv and the fake Gemini."""
    from tests.fakes.gemini import FakeGemini
    from tests.fakes.server import serve

    pdf = shared_path("pdfs", "2309.07125v1_TECA_3D_avatars.pdf")
    fake_arxiv.add_paper(
        {
            "id": "2309.07125",
            "title": "Text-Guided Generation and Editing of Compositional 3D Avatars",
            "summary": "Our goal is to create a realistic 3D facial avatar with hair and accessories using only a "
            "text description. We propose TECA.",
            "authors": ["Hao Zhang", "Yao Feng", "Peter Kulits"],
            "categories": ["cs.CV", "cs.GR"],
            "comment": "Project page: https://yfeng95.github.io/teca",
        }
    )
    fake_arxiv.pdfs["2309.07125"] = pdf.read_bytes()
    gemini = FakeGemini()
    with serve(gemini.app()) as llm:
        env = {"LLM_PROVIDER": "gemini", "GEMINI_API_KEY": "test-key", "GEMINI_BASE_URL": llm.url}
        args = ("summarize", "2309.07125", "--format", "json", "--lang", "zh", "--no-figures")
        result = paperbot(tmp_path, fake_arxiv.url, *args, **env)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["model"].startswith("gemini:") and data["source"] == "pdf"
        for key in ("summary", "key_takeaways", "background", "past_methods", "method", "results", "conclusion", "keywords"):
            assert data[key], key
        assert 3 <= len(data["key_takeaways"]) <= 7 and len(data["summary"]) <= 100
        assert data["title"].startswith("Text-Guided")  # metadata from arXiv, not the model
        assert len(gemini.generate_calls) == 1
        again = paperbot(tmp_path, fake_arxiv.url, *args, **env)
        assert json.loads(again.stdout)["summary"] == data["summary"]
        assert len(gemini.generate_calls) == 1  # cached: no second call
        assert "test-key" not in result.stderr + again.stderr


def test_summarize_and_figures_include_the_crops(tmp_path: Path, fake_arxiv) -> None:
    pdf = shared_path("pdfs", "2309.07125v1_TECA_3D_avatars.pdf")
    fake_arxiv.add_paper(
        {"id": "2309.07125", "title": "Text-Guided Generation and Editing of Compositional 3D Avatars",
         "summary": "We create 3D avatars from text. Existing methods lack realism. We propose TECA.",
         "authors": ["Hao Zhang"], "categories": ["cs.CV"]}
    )
    fake_arxiv.pdfs["2309.07125"] = pdf.read_bytes()
    result = paperbot(tmp_path, fake_arxiv.url, "summarize", "2309.07125", "--format", "json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["figures"]
    assert len(figures) >= 10
    first = figures[0]
    assert {"kind", "number", "caption", "page", "path"} <= set(first) and Path(first["path"]).is_file()
    assert any(f["kind"] == "table" for f in figures)
    md = paperbot(tmp_path, fake_arxiv.url, "summarize", "2309.07125", "--format", "md", "--lang", "en")
    assert "![figure 1](" in md.stdout and "**Key takeaways**" in md.stdout
    assert len(fake_arxiv.requests("pdf")) == 1  # the PDF was fetched and cropped once
    out = tmp_path / "crops"
    listing = paperbot(tmp_path, None, "figures", str(pdf), "--out", str(out))
    assert listing.returncode == 0 and (out / "figure-1.png").is_file()
    assert listing.stdout.splitlines()[0].startswith("figure\t1\tp.1\t")


def test_search_warns_and_sends_straight_quotes(tmp_path: Path, fake_arxiv) -> None:
    result = paperbot(tmp_path, fake_arxiv.url, "search", "abs:“talking head” or ti:avatar")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        'Warning: ℹ️ curly quotes (“ ” ‘ ’) were read as straight quotes: abs:"talking head" or ti:avatar',
        "Warning: ⚠️ lowercase “or” is read as a word to search for, not an operator "
        '(read as: abs:"talking head" AND all:or AND ti:avatar); operators are in capitals: abs:"talking head" OR ti:avatar',
    ]
    sent = [params.get("search_query") for kind, params in fake_arxiv.log if kind == "api"]
    assert sent == ['abs:"talking head" or ti:avatar']  # as typed but for the quotes: a warning changes nothing
