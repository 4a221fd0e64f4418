"""What summaries cost: input tokens per shared PDF, and LLM calls per digest as chats grow.

Run: ``.venv/bin/python -m bench.llm_tokens [--papers N] [--chats 1,10,1000] [--budget TOKENS]``

Part 1, for each PDF in ../shared/data/pdfs:
  pages, PDF bytes, the Gemini input estimate (258 tokens a page, as Google documents
  for PDFs, plus our prompt; Gemini reports the real count only after a call, so this is
  an estimate), the OpenAI-path input after trimming by section (system prompt + prompt +
  trimmed text, estimated at 1 token per CJK character and 3.5 other characters, the rule
  of :func:`bot.pdftext.estimate_tokens`; no tokenizer is installed) and the budget.
Part 2: one digest of N papers sent to 1, 10 and 1,000 chats. Each chat calls
  ``Summarizer.summarize`` for every paper against the fake Gemini server on 127.0.0.1;
  the server counts the generateContent requests it actually received.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bot.models import Paper
from bot.pdftext import GEMINI_TOKENS_PER_PAGE, estimate_tokens, sync_paper_text
from bot.settings import Settings
from bot.store import AsyncStore, Store
from bot.summarize import Summarizer, stats, summary_prompt, summary_system
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import serve

SHARED_PDFS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "pdfs"


def load_papers(folder: Path) -> list[tuple[Paper, Path]]:
    """The shared PDFs as papers: id and version from the file name, title from PDF_NOTES.tsv.

    The abstract is the PDF's own abstract section (these files have no arXiv record here).
    """
    notes: dict[str, str] = {}
    notes_file = folder / "PDF_NOTES.tsv"
    if notes_file.exists():
        with notes_file.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                notes[row["file"]] = row.get("title_first_lines", "").split(" / ")[0]
    out = []
    for path in sorted(folder.glob("*.pdf")):
        m = re.match(r"(\d{4}\.\d{4,5})(?:v(\d+))?", path.name)
        pid, version = (m.group(1), int(m.group(2) or 1)) if m else (path.stem, 1)
        text = sync_paper_text(path, 2000)
        abstract = next(
            (s.split("\n", 1)[1] for s in text.text.split("\n\n## ") if s.lower().startswith("abstract")), ""
        )
        out.append(
            (Paper(id=pid, version=version, title=notes.get(path.name, path.stem), abstract=abstract), path)
        )
    return out


def token_table(papers: list[tuple[Paper, Path]], budget: int) -> None:
    """Part 1: per-PDF input sizes on both paths."""
    print(f"Input tokens per paper (budget LLM_INPUT_TOKEN_BUDGET={budget}; all numbers are estimates)")
    header = f"{'pdf':44} {'pages':>5} {'bytes':>10} {'gemini_in':>9} {'text_full':>9} {'openai_in':>9} {'fits':>4}"
    print(header)
    print("-" * len(header))
    totals = [0, 0, 0, 0]
    for paper, path in papers:
        system_g = summary_system("zh", json_shape=False)
        system_o = summary_system("zh", json_shape=True)
        prompt = summary_prompt(paper, "zh", True)
        text = sync_paper_text(path, 10**9)  # for the page count and the untrimmed size
        overhead_o = estimate_tokens(system_o) + estimate_tokens(prompt) + 40
        trimmed = sync_paper_text(path, budget - overhead_o)
        gemini_pages = min(
            text.pages, max((budget - estimate_tokens(system_g) - estimate_tokens(prompt)) // 258, 1)
        )
        gemini_in = (
            gemini_pages * GEMINI_TOKENS_PER_PAGE + estimate_tokens(system_g) + estimate_tokens(prompt)
        )
        openai_in = overhead_o + trimmed.tokens
        fits = "yes" if gemini_in <= budget and openai_in <= budget else "NO"
        cut = "*" if gemini_pages < text.pages else " "
        print(
            f"{path.name[:44]:44} {text.pages:>5} {path.stat().st_size:>10,} {gemini_in:>8,}{cut} "
            f"{text.full_tokens:>9,} {openai_in:>9,} {fits:>4}"
        )
        for i, v in enumerate((text.pages, path.stat().st_size, gemini_in, openai_in)):
            totals[i] += v
    print("-" * len(header))
    print(f"{'total':44} {totals[0]:>5} {totals[1]:>10,} {totals[2]:>9,} {'':>9} {totals[3]:>9,}")
    print(
        "gemini_in = 258 tokens/page (Google's figure for PDF pages) + system prompt + title/abstract prompt "
        "(* = PDF cut to fit the budget);\n"
        "text_full = the paper's text before references, openai_in = system + prompt + text trimmed by section; "
        "tokens estimated as 1 per CJK char + 1 per 3.5 other chars."
    )


async def digest_calls(papers: list[tuple[Paper, Path]], chat_counts: list[int]) -> None:
    """Part 2: summarize the same N papers once per chat and count what reached the model."""
    print(f"\nLLM calls for one digest of N={len(papers)} papers (fake Gemini server, one language)")
    print(
        f"{'chats':>6} {'summarize() calls':>18} {'generateContent requests':>25} {'cache hits':>11} {'seconds':>8}"
    )
    for chats in chat_counts:
        fake = FakeGemini()
        with tempfile.TemporaryDirectory() as tmp, serve(fake.app()) as server:
            fake.url = server.url
            settings = Settings(
                _env_file=None,
                data_dir=Path(tmp),
                llm_provider="gemini",
                gemini_api_key=SecretStr("test-key"),
                gemini_base_url=server.url,
            )
            astore = AsyncStore(settings.db_path)
            summarizer = Summarizer(settings, astore, retry_base_delay=0.01)
            started = time.monotonic()
            try:
                for _chat in range(chats):  # each chat's digest asks for every paper
                    await asyncio.gather(*(summarizer.summarize(p, "zh", pdf) for p, pdf in papers))
            finally:
                await summarizer.aclose()
                await astore.close()
            elapsed = time.monotonic() - started
            sync = Store(settings.db_path)
            hits = stats(sync)["cache_hits"]
            sync.close()
            print(
                f"{chats:>6,} {chats * len(papers):>18,} {len(fake.generate_calls):>25,} {hits:>11,} {elapsed:>8.1f}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pdfs", type=Path, default=SHARED_PDFS, help="folder of PDFs (default: shared data)"
    )
    parser.add_argument("--papers", type=int, default=0, help="papers in the digest (default: all PDFs)")
    parser.add_argument("--chats", default="1,10,1000", help="comma-separated chat counts")
    parser.add_argument("--budget", type=int, default=0, help="input token budget (default: the setting)")
    args = parser.parse_args(argv)
    if not args.pdfs.is_dir():
        print(f"no PDFs at {args.pdfs}", file=sys.stderr)
        return 1
    budget = args.budget or Settings(_env_file=None).llm_input_token_budget
    papers = load_papers(args.pdfs)
    token_table(papers, budget)
    digest = papers[: args.papers] if args.papers else papers
    asyncio.run(digest_calls(digest, [int(x) for x in args.chats.split(",") if x.strip()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
