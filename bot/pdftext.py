"""A paper's text for a model that cannot read PDFs, cut by section to a token budget.

OpenAI-compatible endpoints (DeepSeek, Qwen, GLM, Ollama, vLLM) get text, not the PDF. A whole
paper with its references and appendix often exceeds what is worth paying for, so the text is
split into sections (abstract, introduction, related work, method, experiments, conclusion)
and the sections that say what the paper does (abstract, introduction, method, conclusion)
are kept first; experiments and related work fill what budget is left; references,
acknowledgements and appendices are dropped.

Gemini reads the PDF itself (about 258 tokens a page); :func:`pdf_within_pages` cuts a PDF
that would exceed the budget to its first pages plus the conclusion page.

pdfium is not thread-safe (not even across documents), and a broken PDF can crash it, so
:class:`PdfWorker` runs these functions in a separate process: the event loop never blocks
and a crash costs a worker, not the bot.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Gemini bills a PDF page as about this many input tokens (ai.google.dev, document understanding).
GEMINI_TOKENS_PER_PAGE = 258

#: The rule for estimating tokens without a tokenizer: one per CJK character, one per
#: 3.5 other characters (English prose is ~4 characters a token; PDF text with math,
#: numbers and odd glyphs is denser, so 3.5 errs on the side of staying within budget).
CHARS_PER_TOKEN = 3.5

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")


def estimate_tokens(text: str) -> int:
    """Tokens ``text`` will cost, by the :data:`CHARS_PER_TOKEN` rule (no tokenizer needed)."""
    if not text:
        return 0
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / CHARS_PER_TOKEN)


# ---- sections ---------------------------------------------------------------------------------

#: Section kinds in the order their text is kept when the budget is short.
PRIORITY = ("abstract", "introduction", "method", "conclusion", "experiments", "related", "other", "front")

#: Share of the budget each kind may take in the first pass, so one long method section
#: cannot starve the conclusion; the second pass hands out what is left in priority order.
_FIRST_PASS_SHARE = {
    "abstract": 0.15,
    "introduction": 0.25,
    "method": 0.30,
    "conclusion": 0.12,
    "experiments": 0.25,
    "related": 0.10,
    "other": 0.10,
    "front": 0.03,
}

_KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("abstract", re.compile(r"^abstract\b", re.I)),
    ("introduction", re.compile(r"^(introduction|motivation)\b", re.I)),
    (
        "related",
        re.compile(r"^(related\s+works?|background|prior\s+work|literature|previous\s+work)\b", re.I),
    ),
    (
        "conclusion",
        re.compile(r"^(conclusions?|discussion|limitations?|concluding|future\s+work|summary)\b", re.I),
    ),
    (
        "experiments",
        re.compile(
            r"^(experiments?|experimental|evaluation|results|benchmark|ablation|empirical|analysis)", re.I
        ),
    ),
    (
        "method",
        re.compile(
            r"^(methods?|methodology|approach|our\s+(method|approach|model)|proposed|model|framework|"
            r"architecture|preliminar|problem|formulation|algorithm|overview|technical|system)",
            re.I,
        ),
    ),
    ("refs", re.compile(r"^(references|bibliography)\b", re.I)),
    ("skip", re.compile(r"^(acknowledge?ments?|appendi(x|ces)|supplementary)\b", re.I)),
]

_HEADING = re.compile(r"^(?P<num>\d{1,2}|[IVX]{1,5})(?:\.|\s)\s*(?P<title>[A-Z][A-Za-z][^.!?]{1,60})$")
_BARE_HEADING = re.compile(r"^(?P<title>[A-Z][A-Za-z ]{2,40}?)[:.]?$")
_INLINE_ABSTRACT = re.compile(r"^(?:abstract)\s*[—–\-.:]\s*(?P<rest>\S.*)$", re.I)
_ARXIV_STAMP = re.compile(r"arXiv:\s*\S+\s+\[[^\]]+\]\s+\d{1,2}\s+\w{3}\s+\d{4}")
_AFFILIATION = re.compile(r"(,\s*\d|\s\d\s|@)")
#: Unnumbered names that are headings even in papers with numbered ones.
_ALWAYS_BARE = {"abstract", "introduction", "conclusion", "refs", "skip"}
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10}


@dataclass
class Section:
    """One section of the paper: its heading as printed, its kind and its text."""

    kind: str
    heading: str
    text: str = ""

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)


@dataclass
class PaperText:
    """What the OpenAI-compatible path sends: the trimmed text and how it was made."""

    text: str
    tokens: int
    pages: int
    full_tokens: int
    kept: list[str] = field(default_factory=list)  # "kind:heading" of sections kept (maybe cut)


def _kind_of(title: str) -> str | None:
    for kind, pattern in _KINDS:
        if pattern.search(title.strip()):
            return kind
    return None


def _number(num: str) -> int | None:
    return int(num) if num.isdigit() else _ROMAN.get(num.upper())


def clean_page(text: str) -> str:
    """A page's text with pdfium's CRLFs, the arXiv margin stamp and line-end hyphens fixed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _ARXIV_STAMP.sub("", text)
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    return text


def split_sections(text: str) -> list[Section]:
    """Cut a paper's text into sections by its top-level headings.

    A numbered heading counts when its number follows the previous one (1, 2, 3 or I, II,
    III), which rejects numbered lists, table rows and figure labels; a numbered heading
    with a known name ("5. Conclusion") also counts when the numbering went astray
    (an affiliation line read as "1 ...", a figure's "7. Agree"). Unnumbered headings count
    only when they are a known section name, and names like "Model" or "Results" (common
    figure labels) only in papers whose headings are not numbered.
    """
    sections = [Section("front", "")]
    last_num = 0
    lines: list[str] = []

    def close() -> None:
        sections[-1].text = _join(lines)
        lines.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        heading, inline_rest = _heading(line, last_num, sections)
        if heading is None:
            lines.append(line)
            continue
        kind, title, num = heading
        if num is not None:
            last_num = num
        close()
        sections.append(Section(kind, title))
        if inline_rest:
            lines.append(inline_rest)
    close()
    return [s for s in sections if s.text or s.kind in ("refs", "skip")]


def _heading(
    line: str, last_num: int, sections: list[Section]
) -> tuple[tuple[str, str, int | None] | None, str]:
    """``((kind, heading, number), inline text)`` if ``line`` starts a section, else ``(None, "")``."""
    if len(line) <= 70 and (m := _HEADING.match(line)):
        num = _number(m.group("num"))
        title = m.group("title").strip()
        if num is None or _AFFILIATION.search(title):
            return None, ""
        known = _kind_of(title)
        follows = num == last_num + 1 or (last_num == 0 and num <= 2)
        if follows or (known and known != "abstract" and num <= last_num):
            kind = known or ("experiments" if _seen(sections, "experiments") else "method")
            return (("other" if kind == "abstract" else kind), line, num), ""
        return None, ""
    if len(line) <= 45 and (b := _BARE_HEADING.match(line)):
        kind = _kind_of(b.group("title"))
        if kind and len(b.group("title").split()) <= 4 and (kind in _ALWAYS_BARE or last_num == 0):
            return (kind, line, None), ""
        return None, ""
    if (ia := _INLINE_ABSTRACT.match(line)) and not _seen(sections, "abstract"):
        return ("abstract", "Abstract", None), ia.group("rest")
    return None, ""


def _seen(sections: list[Section], kind: str) -> bool:
    return any(s.kind == kind for s in sections)


def _join(lines: list[str]) -> str:
    return re.sub(r"\s+", " ", " ".join(x for x in lines if x)).strip()


def body_sections(sections: list[Section]) -> list[Section]:
    """The sections worth tokens: up to the references, without acknowledgements or appendices."""
    out = []
    for s in sections:
        if s.kind == "refs":
            break
        if s.kind != "skip":
            out.append(s)
    return out


def cut_text(text: str, max_tokens: int) -> str:
    """The start of ``text`` within ``max_tokens``, ending at a sentence when one is near."""
    if estimate_tokens(text) <= max_tokens:
        return text
    if max_tokens <= 0:
        return ""
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix within budget (estimate_tokens is monotone in length)
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= max_tokens - 2:
            lo = mid
        else:
            hi = mid - 1
    head = text[:lo]
    stop = max(head.rfind(". "), head.rfind("。"), head.rfind("? "), head.rfind("! "))
    if stop > len(head) * 0.6:
        head = head[: stop + 1]
    return head.rstrip() + " […]"


def trim_sections(sections: list[Section], budget: int, *, skip_abstract: bool = False) -> list[Section]:
    """Sections cut to ``budget`` tokens in total, by priority, in document order.

    First pass: each kind gets up to its share of the budget, in :data:`PRIORITY` order.
    Second pass: what is left goes to the sections that were cut, again in priority order.
    """
    body = [s for s in body_sections(sections) if not (skip_abstract and s.kind == "abstract")]
    # headings cost tokens too: reserve them up front
    overhead = sum(estimate_tokens(f"## {s.heading or s.kind}\n\n") for s in body)
    remaining = max(budget - overhead, 0)
    grant = [0] * len(body)
    order = sorted(range(len(body)), key=lambda i: (PRIORITY.index(body[i].kind), i))
    kind_used: dict[str, int] = {}
    for i in order:
        kind = body[i].kind
        cap = int(budget * _FIRST_PASS_SHARE[kind]) - kind_used.get(kind, 0)
        take = max(min(body[i].tokens, cap, remaining), 0)
        grant[i] = take
        kind_used[kind] = kind_used.get(kind, 0) + take
        remaining -= take
    for i in order:
        extra = min(body[i].tokens - grant[i], remaining)
        if extra > 0:
            grant[i] += extra
            remaining -= extra
    out = []
    for s, g in zip(body, grant, strict=True):
        if g > 0 and (g >= s.tokens or g >= 40):  # a few words cut from a long section are noise
            out.append(Section(s.kind, s.heading, cut_text(s.text, g)))
    return out


def render_sections(sections: list[Section]) -> str:
    """The trimmed sections as the text block the prompt carries."""
    return "\n\n".join(f"## {s.heading or s.kind.title()}\n{s.text}" for s in sections)


# ---- functions run in the worker process --------------------------------------------------------


def _page_texts(path: str) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        out = []
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            out.append(clean_page(textpage.get_text_range()))
            textpage.close()
            page.close()
        return out
    finally:
        pdf.close()


def paper_text(path: str, budget_tokens: int, skip_abstract: bool = False) -> PaperText:
    """The paper's text cut to ``budget_tokens`` (the OpenAI-compatible path). Runs in the worker."""
    pages = _page_texts(path)
    sections = split_sections("\n".join(pages))
    full = sum(s.tokens for s in body_sections(sections))
    kept = trim_sections(sections, budget_tokens, skip_abstract=skip_abstract)
    text = render_sections(kept)
    return PaperText(text, estimate_tokens(text), len(pages), full, [f"{s.kind}:{s.heading}" for s in kept])


def page_count(path: str) -> int:
    """Pages in the PDF. Runs in the worker."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        return len(pdf)
    finally:
        pdf.close()


def pdf_within_pages(path: str, max_pages: int) -> tuple[bytes | None, int, int]:
    """``(bytes, pages, kept)``: the PDF cut to ``max_pages`` pages, or None bytes if it fits.

    Cutting keeps the pages before the references and, when still too long, the first
    pages plus the page where the conclusion starts: what a reader needs to summarize it.
    Runs in the worker.
    """
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        total = len(pdf)
        if total <= max_pages:
            return None, total, total
        texts = _page_texts(path)
        conclusion_page = refs_page = None
        for i, text in enumerate(texts):
            for s in split_sections(text)[1:]:
                if s.kind == "conclusion" and conclusion_page is None and i > 0:
                    conclusion_page = i
                if s.kind == "refs" and refs_page is None and i > 0:
                    refs_page = i
        last = refs_page if refs_page is not None else total - 1
        keep = list(range(min(last + 1, max(max_pages, 1))))
        if conclusion_page is not None and conclusion_page not in keep and len(keep) >= 2:
            keep = [*keep[:-1], conclusion_page]
        out = pdfium.PdfDocument.new()
        try:
            out.import_pages(pdf, keep)
            import io

            buf = io.BytesIO()
            out.save(buf)
            return buf.getvalue(), total, len(keep)
        finally:
            out.close()
    finally:
        pdf.close()


PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def die_with_parent(parent: int) -> None:
    """Process-pool initializer: end this worker when the bot that started it is gone.

    A SIGKILLed bot runs no cleanup, and a pool worker would live on, re-parented to init (and
    with it multiprocessing's resource tracker, which waits for every holder of its pipe). On
    Linux the kernel sends the worker SIGKILL when its parent dies (``PR_SET_PDEATHSIG``);
    elsewhere a daemon thread notices the parent changed. The parent may already be gone by the
    time either is in place, so that is checked once more after.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:
        os._exit(0)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="paperbot-parent-watch").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


class PdfWorker:
    """Runs pdfium work in one separate process, started on first use.

    The process is spawned (not forked: the bot has threads), recreated once if a PDF
    crashed it, shut down by :meth:`close`, and dies with the bot even when the bot is
    SIGKILLed (:func:`die_with_parent`).
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the worker process; a crashed worker is replaced for the next call."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), fn, *args)
        except BrokenProcessPool:
            log.warning("the PDF worker process died (a broken PDF?); starting a new one next time")
            self.close()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def sync_paper_text(path: Path, budget_tokens: int) -> PaperText:
    """:func:`paper_text` in this process, for tools (the bench) that own their thread."""
    return paper_text(str(path), budget_tokens)
