"""Bench: a 10-paper digest's summaries while the model's endpoint is dead (every request hangs).

    .venv/bin/python -m bench.dead_model [--papers 10] [--timeout 2] [--retries 3]

The core (``Paperbot``) with the real google-genai client against the fake Gemini, which
answers nothing (each request hangs past ``LLM_TIMEOUT=--timeout``), and the fake arXiv for
the papers' metadata. Each paper is enriched in turn, as a digest to one chat does
(``bot.deliver``: summary, no figures), and the seconds per paper until its extractive fallback
are printed with the model requests sent. Uses only the core's public calls, so it runs on any
version of the code: the before/after figures come from the same reproduction.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from bot.core import Paperbot
from bot.settings import Settings
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import serve

NOON = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)


async def bench(papers: int, timeout: float, retries: int) -> dict[str, object]:
    arxiv = FakeArxiv()
    ids = [f"2606.{80001 + i}" for i in range(papers)]
    for pid in ids:
        arxiv.add_paper({"id": pid, "title": f"Paper {pid}", "summary": "We build avatars. They are fast. They beat prior work.",
                         "authors": ["Ada Lovelace"], "categories": ["cs.CV"]})  # fmt: skip
    llm = FakeGemini()
    llm.delay = 3600.0  # dead: never answers
    with tempfile.TemporaryDirectory() as tmp, serve(arxiv.app()) as a, serve(llm.app()) as g:
        settings = Settings(
            _env_file=None, data_dir=Path(tmp), arxiv_api_url=f"{a.url}/api/query", arxiv_rss_url=f"{a.url}/rss/",
            arxiv_pdf_url=f"{a.url}/pdf/{{id}}", arxiv_delay_seconds=0, llm_provider="gemini",
            gemini_api_key=SecretStr("test-key"), gemini_base_url=g.url, llm_timeout=timeout, llm_retries=retries,
            figure_policy="none",
        )  # fmt: skip
        async with Paperbot(settings, clock=lambda: NOON) as core:
            found = [await core.lookup(pid) for pid in ids]
            per_paper = []
            for paper in found:
                started = time.monotonic()
                item = await core.enrich(paper, "en", figures=False)
                per_paper.append(time.monotonic() - started)
                assert item.summary is not None and item.summary.extractive
    return {
        "papers": papers,
        "total_s": round(sum(per_paper), 2),
        "mean_s_per_paper": round(statistics.fmean(per_paper), 2),
        "max_s_per_paper": round(max(per_paper), 2),
        "per_paper_s": [round(x, 2) for x in per_paper],
        "model_requests": len(llm.generate_calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=2.0, help="LLM_TIMEOUT (the default is 120)")
    parser.add_argument("--retries", type=int, default=3, help="LLM_RETRIES")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    for k, v in asyncio.run(bench(args.papers, args.timeout, args.retries)).items():
        print(f"{k:<18} {v}")


if __name__ == "__main__":
    main()
