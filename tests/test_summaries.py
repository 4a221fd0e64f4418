"""Summaries and questions, against the real google-genai and openai clients talking to fake servers.

The fakes (tests/fakes/gemini.py, tests/fakes/openai_api.py) speak the REST protocols on
127.0.0.1 and count what they receive, so these tests check what is actually sent: the
schema, the PDF, the trimmed text, the retries, the repair request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from pydantic import SecretStr

from bot.errors import BadSetting, LLMError, NeedsLLM
from bot.extractive import extract, split_sentences
from bot.llm import GEMINI_INLINE_MAX_BYTES, provider_kind
from bot.models import Paper
from bot.pdftext import GEMINI_TOKENS_PER_PAGE, estimate_tokens, sync_paper_text
from bot.settings import Settings
from bot.store import AsyncStore, Store
from bot.summarize import (
    PROMPT_VERSION,
    Summarizer,
    Summary,
    check,
    cjk_share,
    stats,
    summary_markdown,
)
from tests.conftest import shared_path
from tests.fakes.gemini import EN_SUMMARY, ZH_SUMMARY, FakeGemini, model_of
from tests.fakes.openai_api import FakeOpenAI, system_text, user_text
from tests.fakes.server import serve
from tests.pdfbytes import serialise

ABSTRACT = (
    "Batch Normalization (BN) is a milestone technique in the development of deep learning, enabling various "
    "networks to train. However, normalizing along the batch dimension introduces problems: BN's error "
    "increases rapidly when the batch size becomes smaller, caused by inaccurate batch statistics estimation. "
    "This limits BN's usage for training larger models and transferring features to computer vision tasks "
    "including detection, segmentation, and video, which require small batches constrained by memory "
    "consumption. In this paper, we present Group Normalization (GN) as a simple alternative to BN. GN divides "
    "the channels into groups and computes within each group the mean and variance for normalization. GN's "
    "computation is independent of batch sizes, and its accuracy is stable in a wide range of batch sizes. On "
    "ResNet-50 trained in ImageNet, GN has 10.6% lower error than its BN counterpart when using a batch size "
    "of 2; when using typical batch sizes, GN is comparably good with BN and outperforms other normalization "
    "variants. Moreover, GN can be naturally transferred from pre-training to fine-tuning. GN can outperform "
    "its BN-based counterparts for object detection and segmentation in COCO, and for video classification "
    "in Kinetics, showing that GN can effectively replace the powerful BN in a variety of tasks. GN can be "
    "easily implemented by a few lines of code in modern libraries."
)

PAPER = Paper(
    id="1803.08494",
    version=3,
    title="Group   Normalization",
    abstract=ABSTRACT,
    authors=["Yuxin Wu", "Kaiming He"],
    categories=["cs.CV", "cs.LG"],
    comment="v3: IJCV version",
    pdf_url="https://arxiv.org/pdf/1803.08494v3",
)

PAGES = [
    [
        "Group Normalization",
        "Yuxin Wu Kaiming He",
        "Abstract",
        "Batch Normalization is a milestone technique.",
    ],
    ["1. Introduction", "Normalizing along the batch dimension hurts small batches. MARKER_INTRO."],
    ["2. Related Work", "Layer Normalization and Instance Normalization avoid the batch. MARKER_RELATED."],
    ["3. Group Normalization", "GN divides channels into groups of 32. MARKER_METHOD."],
    ["4. Experiments", "On ImageNet GN has 10.6% lower error at batch size 2. MARKER_RESULTS."],
    [
        "5. Conclusion",
        "GN is an effective normalization layer. MARKER_CONCLUSION.",
        "References",
        "[1] S. Ioffe and C. Szegedy. Batch normalization. MARKER_REFS.",
    ],
]


def make_pdf(pages: list[list[str]]) -> bytes:
    """A small valid PDF with one text line per entry (Helvetica), so pdfium has text to extract."""
    objects: list[bytes] = []
    n = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 11 Tf", "72 740 Td", "14 TL"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return serialise(dict(enumerate(objects, start=1)))


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
async def astore(settings: Settings) -> AsyncIterator[AsyncStore]:
    s = AsyncStore(settings.db_path)
    yield s
    await s.close()


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini()
    with serve(fake.app()) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def oai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with serve(fake.app()) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "1803.08494v3.pdf"
    path.write_bytes(make_pdf(PAGES))
    return path


Factory = Callable[..., Summarizer]


@pytest.fixture
async def make(settings: Settings, astore: AsyncStore) -> AsyncIterator[Factory]:
    """Summarizers with tiny backoff delays; settings fields and constructor options as keywords."""
    made: list[Summarizer] = []

    def factory(**update: Any) -> Summarizer:
        options = {k: update.pop(k) for k in ("inline_max_bytes", "extractive_retry_minutes") if k in update}
        summarizer = Summarizer(settings.model_copy(update=update), astore, retry_base_delay=0.01, **options)
        made.append(summarizer)
        return summarizer

    yield factory
    for summarizer in made:
        await summarizer.aclose()


def with_gemini(fake: FakeGemini, **extra: Any) -> dict[str, Any]:
    return {
        "llm_provider": "gemini",
        "gemini_api_key": SecretStr("test-key"),
        "gemini_base_url": fake.url,
        "gemini_model": "gemini-test-flash",
        "llm_retries": 2,
        "llm_timeout": 10.0,
        **extra,
    }


def with_openai(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "llm_provider": "openai",
        "openai_api_key": SecretStr("test-key"),
        "openai_base_url": f"{fake.url}/v1",
        "openai_model": "deepseek-test",
        "llm_retries": 2,
        "llm_timeout": 10.0,
        **extra,
    }


def calls(store: Store) -> list[dict[str, Any]]:
    return list(store.db.query("select * from llm_calls order by id"))


# ---- Gemini ----------------------------------------------------------------------------------------


async def test_gemini_summary_sends_schema_and_inline_pdf(
    make: Factory, gemini: FakeGemini, pdf: Path, store: Store
) -> None:
    summarizer = make(**with_gemini(gemini))
    assert summarizer.provider_name == "gemini:gemini-test-flash"

    s = await summarizer.summarize(PAPER, "zh", pdf)

    assert s.model == "gemini:gemini-test-flash" and s.source == "pdf" and not s.extractive
    assert s.language == "zh" and s.summary == ZH_SUMMARY["summary"]
    assert 3 <= len(s.key_takeaways) <= 7
    [req] = gemini.generate_calls
    assert req.path == "/v1beta/models/gemini-test-flash:generateContent"
    assert req.headers["x-goog-api-key"] == "test-key"
    config = req.json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert schema["type"] == "OBJECT"
    assert set(schema["required"]) >= {"summary", "key_takeaways", "background", "past_methods", "results"}
    assert schema["properties"]["key_takeaways"]["type"] == "ARRAY"
    assert req.inline_pdfs() == [pdf.read_bytes()]
    assert "Group Normalization" in req.text_parts() and "简体中文" in req.text_parts()
    [row] = calls(store)
    assert (row["provider"], row["model"], row["kind"], row["ok"]) == (
        "gemini",
        "gemini-test-flash",
        "summarize",
        1,
    )
    assert row["paper_id"] == "1803.08494v3" and row["input_tokens"] > 258 and row["output_tokens"] == 350


async def test_gemini_large_pdf_goes_through_the_files_api_once(
    make: Factory, gemini: FakeGemini, pdf: Path
) -> None:
    summarizer = make(**with_gemini(gemini), inline_max_bytes=1000)  # the test PDF is ~2 KB
    assert GEMINI_INLINE_MAX_BYTES < 20 * 1024 * 1024

    zh = await summarizer.summarize(PAPER, "zh", pdf)
    en = await summarizer.summarize(PAPER, "en", pdf)
    answer = await summarizer.ask(PAPER, "How many groups?", "en", pdf)

    assert zh.language == "zh" and en.language == "en" and answer
    start, finish = gemini.upload_calls  # one upload serves both languages and the question
    assert start.path == "/upload/v1beta/files"
    assert start.headers["X-Goog-Upload-Protocol"] == "resumable"
    assert start.headers["X-Goog-Upload-Command"] == "start"
    assert start.headers["X-Goog-Upload-Header-Content-Length"] == str(pdf.stat().st_size)
    assert start.headers["X-Goog-Upload-Header-Content-Type"] == "application/pdf"
    assert finish.query["upload_id"] and "finalize" in finish.headers["X-Goog-Upload-Command"]
    assert list(gemini.files.values()) == [pdf.read_bytes()]
    assert len(gemini.generate_calls) == 3
    for req in gemini.generate_calls:
        assert req.inline_pdfs() == []
        [part] = req.file_parts()
        uri, mime = part.get("fileUri", part.get("file_uri")), part.get("mimeType", part.get("mime_type"))
        assert uri == f"{gemini.url}/v1beta/files/{next(iter(gemini.files))}" and mime == "application/pdf"


async def test_a_cached_summary_makes_no_call(
    make: Factory, gemini: FakeGemini, pdf: Path, store: Store
) -> None:
    first = make(**with_gemini(gemini))
    s1 = await first.summarize(PAPER, "en", pdf)
    s2 = await first.summarize(PAPER, "en", pdf)
    assert await first.cached(PAPER, "en") == s1
    # another process (a new Summarizer on the same database) gets it free too
    s3 = await make(**with_gemini(gemini)).summarize(PAPER, "en")

    assert s1 == s2 == s3 and len(gemini.generate_calls) == 1
    assert await first.cached(PAPER, "zh") is None  # another language is another summary
    assert await first.cached(Paper(**{**PAPER.__dict__, "version": 4}), "en") is None  # and another version
    assert stats(store) == {
        "calls": 1,
        "failed_calls": 0,
        "input_tokens": calls(store)[0]["input_tokens"],
        "output_tokens": 350,
        "cache_hits": 3,
        "cached_summaries": 1,
    }
    row = next(iter(store.db.query("select * from summaries")))
    assert (row["paper_id"], row["version"], row["lang"], row["prompt_version"]) == (
        "1803.08494",
        3,
        "en",
        PROMPT_VERSION,
    )
    assert row["provider"] == "gemini:gemini-test-flash" and row["extractive"] == 0


async def test_concurrent_requests_for_one_paper_make_one_call(
    make: Factory, gemini: FakeGemini, pdf: Path
) -> None:
    gemini.delay = 0.3
    summarizer = make(**with_gemini(gemini))

    results = await asyncio.gather(*(summarizer.summarize(PAPER, "zh", pdf) for _ in range(8)))

    assert len(gemini.generate_calls) == 1
    assert all(r == results[0] for r in results) and not results[0].extractive


async def test_calls_are_bounded_by_llm_concurrency(make: Factory, gemini: FakeGemini) -> None:
    gemini.delay = 0.2
    summarizer = make(**with_gemini(gemini, llm_concurrency=2))
    papers = [Paper(**{**PAPER.__dict__, "id": f"2401.0000{i}"}) for i in range(6)]

    results = await asyncio.gather(*(summarizer.summarize(p, "en") for p in papers))

    assert len(gemini.generate_calls) == 6 and not any(r.extractive for r in results)
    assert gemini.max_in_flight == 2


@pytest.mark.parametrize(
    "failure",
    [
        FakeGemini.error(429, retry_after="0"),
        FakeGemini.error(429, retry_delay="0.01s"),
        FakeGemini.error(503),
    ],
    ids=["429-retry-after", "429-retry-info", "503"],
)
async def test_gemini_retries_then_succeeds(
    make: Factory, gemini: FakeGemini, pdf: Path, failure: Any, store: Store
) -> None:
    gemini.queue.append(failure)
    s = await make(**with_gemini(gemini)).summarize(PAPER, "en", pdf)

    assert not s.extractive and s.summary == EN_SUMMARY["summary"]
    assert len(gemini.generate_calls) == 2
    assert [c["ok"] for c in calls(store)] == [1]  # retries are transport, one logical call


async def test_gemini_keeps_failing_falls_back_and_retries_the_model_later(
    make: Factory, gemini: FakeGemini, pdf: Path, store: Store
) -> None:
    gemini.queue += [FakeGemini.error(500), FakeGemini.error(500)]
    summarizer = make(**with_gemini(gemini, llm_retries=1))

    s = await summarizer.summarize(PAPER, "en", pdf)

    assert s.extractive and s.source == "extractive"
    assert len(gemini.generate_calls) == 2  # the first try and llm_retries=1
    assert [(c["kind"], c["ok"]) for c in calls(store)] == [("summarize", 0)]
    assert "500" in calls(store)[0]["error"]
    # within the retry interval the fallback is served from the cache without a call
    assert (await summarizer.summarize(PAPER, "en", pdf)).extractive
    assert len(gemini.generate_calls) == 2
    assert stats(store)["cached_summaries"] == 0  # fallbacks are not counted as summaries
    # once the interval has passed (0 minutes here), the model is asked again and wins
    later = make(**with_gemini(gemini), extractive_retry_minutes=0)
    s2 = await later.summarize(PAPER, "en", pdf)
    assert not s2.extractive and len(gemini.generate_calls) == 3
    assert (await later.cached(PAPER, "en")) == s2


async def test_invalid_json_gets_one_repair_request(
    make: Factory, gemini: FakeGemini, pdf: Path, store: Store
) -> None:
    gemini.queue.append(FakeGemini.reply('{"summary": "truncated'))
    s = await make(**with_gemini(gemini)).summarize(PAPER, "zh", pdf)

    assert not s.extractive and s.summary == ZH_SUMMARY["summary"]
    first, repair = gemini.generate_calls
    assert "not valid JSON" in repair.text_parts() and '{"summary": "truncated' in repair.text_parts()
    assert first.inline_pdfs() and repair.inline_pdfs() == first.inline_pdfs()  # the repair keeps the paper
    assert repair.json["generationConfig"]["responseMimeType"] == "application/json"
    assert [c["kind"] for c in calls(store)] == ["summarize", "repair"]


async def test_invalid_twice_falls_back_to_extractive(make: Factory, gemini: FakeGemini, pdf: Path) -> None:
    gemini.queue += [FakeGemini.reply("Sorry, I cannot do that."), FakeGemini.reply("[1, 2, 3]")]
    s = await make(**with_gemini(gemini)).summarize(PAPER, "en", pdf)

    assert s.extractive and len(gemini.generate_calls) == 2
    assert s.summary.startswith("We present Group Normalization")  # the contribution, not the background


async def test_an_answer_in_the_wrong_language_is_repaired(
    make: Factory, gemini: FakeGemini, pdf: Path
) -> None:
    gemini.queue.append(FakeGemini.reply(json.dumps(EN_SUMMARY)))  # English for a Chinese chat
    s = await make(**with_gemini(gemini)).summarize(PAPER, "zh", pdf)

    assert s.language == "zh" and s.summary == ZH_SUMMARY["summary"]
    _, repair = gemini.generate_calls
    assert "must be written in Simplified Chinese" in repair.text_parts()


async def test_too_long_fields_are_repaired(make: Factory, gemini: FakeGemini, pdf: Path) -> None:
    bad = {**EN_SUMMARY, "summary": "long" * 40, "key_takeaways": [f"Point {i}." for i in range(8)]}
    gemini.queue.append(FakeGemini.reply(json.dumps(bad)))
    s = await make(**with_gemini(gemini)).summarize(PAPER, "en", pdf)

    assert s.summary == EN_SUMMARY["summary"]
    _, repair = gemini.generate_calls
    assert "summary has 160 characters" in repair.text_parts()
    assert "key_takeaways has 8 non-empty items; give 3 to 7" in repair.text_parts()


async def test_a_timeout_falls_back_marked_extractive(make: Factory, gemini: FakeGemini, pdf: Path) -> None:
    gemini.queue.append(FakeGemini.sleep(1.5))
    summarizer = make(**with_gemini(gemini, llm_timeout=0.2, llm_retries=0))

    s = await summarizer.summarize(PAPER, "zh", pdf)

    assert s.extractive and s.source == "extractive"
    assert len(gemini.generate_calls) == 1
    md = summary_markdown(PAPER, s, "zh")
    assert "**Summary**（摘录自摘要，未经模型总结）" in md
    assert "(extractive" in summary_markdown(PAPER, s, "en")


async def test_a_paper_without_pdf_is_summarized_from_its_abstract(make: Factory, gemini: FakeGemini) -> None:
    s = await make(**with_gemini(gemini)).summarize(PAPER, "en", None)

    [req] = gemini.generate_calls
    assert not s.extractive and req.inline_pdfs() == [] and req.file_parts() == []
    assert (
        "work from the title and abstract" in req.text_parts() and "milestone technique" in req.text_parts()
    )


# ---- OpenAI-compatible -----------------------------------------------------------------------------


async def test_openai_summary_asks_for_json_and_sends_the_trimmed_text(
    make: Factory, oai: FakeOpenAI, pdf: Path, store: Store
) -> None:
    summarizer = make(**with_openai(oai))
    assert summarizer.provider_name == "openai:deepseek-test"

    s = await summarizer.summarize(PAPER, "en", pdf)

    assert s.model == "openai:deepseek-test" and s.source == "pdf" and s.summary == EN_SUMMARY["summary"]
    [req] = oai.chat_calls
    assert req.path == "/v1/chat/completions" and req.headers["Authorization"] == "Bearer test-key"
    assert req.json["model"] == "deepseek-test"
    assert req.json["response_format"] == {"type": "json_object"}
    assert '"key_takeaways": [' in system_text(req) and "JSON" in system_text(req)
    text = user_text(req)
    for marker in ("MARKER_INTRO", "MARKER_METHOD", "MARKER_RESULTS", "MARKER_CONCLUSION"):
        assert marker in text
    assert "MARKER_REFS" not in text  # references are never sent
    assert "Group Normalization" in text and "milestone technique" in text
    [row] = calls(store)
    assert (row["provider"], row["model"], row["ok"], row["output_tokens"]) == (
        "openai",
        "deepseek-test",
        1,
        300,
    )


async def test_openai_429_then_success(make: Factory, oai: FakeOpenAI, pdf: Path) -> None:
    oai.queue.append(FakeOpenAI.error(429, retry_after_ms=10))
    s = await make(**with_openai(oai)).summarize(PAPER, "zh", pdf)

    assert not s.extractive and s.language == "zh"
    assert len(oai.chat_calls) == 2


async def test_openai_500s_fall_back(make: Factory, oai: FakeOpenAI, pdf: Path, store: Store) -> None:
    oai.queue += [FakeOpenAI.error(500, retry_after_ms=1), FakeOpenAI.error(500, retry_after_ms=1)]
    s = await make(**with_openai(oai, llm_retries=1)).summarize(PAPER, "en", pdf)

    assert s.extractive and len(oai.chat_calls) == 2
    assert [c["ok"] for c in calls(store)] == [0]


async def test_openai_invalid_json_is_repaired_and_fenced_json_accepted(
    make: Factory, oai: FakeOpenAI, pdf: Path
) -> None:
    fenced = "```json\n" + json.dumps(ZH_SUMMARY, ensure_ascii=False) + "\n```"
    oai.queue += [FakeOpenAI.reply("<think>hmm</think> {not json"), FakeOpenAI.reply(fenced)]
    s = await make(**with_openai(oai)).summarize(PAPER, "zh", pdf)

    assert not s.extractive and s.summary == ZH_SUMMARY["summary"]
    _, repair = oai.chat_calls
    assert "not valid JSON" in user_text(repair) and "MARKER_INTRO" in user_text(repair)  # the repair keeps the paper


async def test_openai_gets_max_tokens_ollama_its_context_and_a_blank_answer_is_retried_with_the_paper(
    make: Factory, oai: FakeOpenAI, pdf: Path
) -> None:
    oai.queue += [FakeOpenAI.reply("")]  # DeepSeek documents blank answers in JSON mode
    ollama = make(**with_openai(oai, openai_base_url=f"{oai.url}/ollama/v1", llm_input_token_budget=8000))
    s = await ollama.summarize(PAPER, "en", pdf)

    assert not s.extractive and s.source == "pdf"
    blank, repair = oai.chat_calls
    for req in (blank, repair):
        assert req.json["max_tokens"] >= 4096  # room for every field at its limit: never cut
        sent = sum(estimate_tokens(m["content"]) for m in req.json["messages"])
        num_ctx = req.json["options"]["num_ctx"]
        assert num_ctx >= sent + req.json["max_tokens"] and num_ctx % 1024 == 0  # nothing of the input dropped
    assert "MARKER_METHOD" in user_text(repair)  # the repair has the paper, not only the blank answer
    await make(**with_openai(oai)).summarize(PAPER, "zh", pdf)
    assert "options" not in oai.chat_calls[-1].json and oai.chat_calls[-1].json["max_tokens"] >= 4096


async def test_an_unreadable_pdf_still_gets_a_model_summary(
    make: Factory, oai: FakeOpenAI, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really a pdf\n")
    s = await make(**with_openai(oai)).summarize(PAPER, "en", broken)

    [req] = oai.chat_calls
    assert not s.extractive and "<paper>" not in user_text(req) and "milestone technique" in user_text(req)


async def test_openai_timeout_falls_back(make: Factory, oai: FakeOpenAI, pdf: Path) -> None:
    oai.queue.append(FakeOpenAI.sleep(1.5))
    s = await make(**with_openai(oai, llm_timeout=0.2, llm_retries=0)).summarize(PAPER, "en", pdf)

    assert s.extractive and len(oai.chat_calls) == 1


# ---- questions ---------------------------------------------------------------------------------------


async def test_ask_gemini_is_grounded_in_the_pdf(
    make: Factory, gemini: FakeGemini, pdf: Path, store: Store
) -> None:
    answer = await make(**with_gemini(gemini)).ask(PAPER, "How many groups does GN use?", "zh", pdf)

    assert answer.startswith("论文指出") and len(answer) <= 800
    [req] = gemini.generate_calls
    assert req.inline_pdfs() == [pdf.read_bytes()]
    assert "How many groups does GN use?" in req.text_parts()
    assert "only the paper" in req.text_parts() and "论文没有回答这个问题" in req.text_parts()
    assert "responseMimeType" not in req.json.get("generationConfig", {})
    assert [c["kind"] for c in calls(store)] == ["ask"]


async def test_ask_openai_is_grounded_in_the_text(make: Factory, oai: FakeOpenAI, pdf: Path) -> None:
    long_answer = "The paper says GN uses 32 groups. " * 40
    oai.queue.append(FakeOpenAI.reply(long_answer))
    answer = await make(**with_openai(oai)).ask(PAPER, "How many groups?", "en", pdf)

    assert answer.startswith("The paper says GN uses 32 groups.") and len(answer) <= 800
    [req] = oai.chat_calls
    assert "MARKER_METHOD" in user_text(req) and "Question: How many groups?" in user_text(req)
    assert "response_format" not in req.json
    assert "The paper does not answer this." in system_text(req)


async def test_ask_failure_is_an_llm_error(make: Factory, gemini: FakeGemini, store: Store) -> None:
    gemini.queue.append(FakeGemini.error(400))  # not retryable
    with pytest.raises(LLMError, match="400"):
        await make(**with_gemini(gemini)).ask(PAPER, "What is GN?", "en")
    assert len(gemini.generate_calls) == 1
    assert [(c["kind"], c["ok"]) for c in calls(store)] == [("ask", 0)]


async def test_no_llm_ask_needs_llm_and_summaries_are_extractive(make: Factory, store: Store) -> None:
    summarizer = make(llm_provider="none")
    assert summarizer.provider_name == "none"

    with pytest.raises(NeedsLLM):
        await summarizer.ask(PAPER, "What is GN?", "en")
    s = await summarizer.summarize(PAPER, "zh")

    assert s.extractive and s.language == "en"  # the abstract's own sentences, not translated
    assert await summarizer.cached(PAPER, "zh") == s  # free: no model involved
    assert stats(store)["calls"] == 0


# ---- extractive ------------------------------------------------------------------------------------


def test_extractive_summary_from_a_real_looking_abstract() -> None:
    fields = extract("Group Normalization", ABSTRACT)
    s = Summary(**fields, language="en", source="extractive")

    assert s.extractive
    assert 0 < len(s.summary) <= 100 and "\n" not in s.summary
    assert s.summary == "We present Group Normalization (GN) as a simple alternative to BN."
    assert 3 <= len(s.key_takeaways) <= 7
    assert any("10.6%" in t for t in s.key_takeaways)  # numbers make strong sentences
    assert s.background.startswith("Batch Normalization (BN) is a milestone")
    assert "However" in s.past_methods
    assert all(
        len(getattr(s, k)) <= 600 for k in ("background", "past_methods", "method", "results", "conclusion")
    )
    assert s.keywords


def test_extractive_handles_abbreviations_and_short_abstracts() -> None:
    sentences = split_sentences(
        "We follow Wu et al. in using GN. Results e.g. on COCO improve by 1.2 points."
    )
    assert len(sentences) == 2
    short = extract(
        "A tiny paper", "We propose X, which is fast; it beats Y by 3%, and it is simple to implement."
    )
    assert 3 <= len(short["key_takeaways"]) <= 7
    empty = extract("Only a title", "")
    assert empty["summary"] == "Only a title"


@pytest.mark.shared
def test_extractive_on_real_abstracts() -> None:
    listing = sorted(shared_path("listings").glob("dw-dengwei_*.jsonl"))[0]
    rows = [json.loads(line) for line in listing.read_text().splitlines()[:60]]
    for row in rows:
        fields = extract(row["title"], row["summary"])
        assert 0 < len(fields["summary"]) <= 100
        if len(split_sentences(row["summary"])) >= 3:
            assert 3 <= len(fields["key_takeaways"]) <= 7, row["id"]


# ---- validation, markdown, settings -------------------------------------------------------------------


def test_check_reports_problems() -> None:
    ok, problems, _ = check(json.dumps(ZH_SUMMARY, ensure_ascii=False), "zh")
    assert ok is not None and problems == []
    _, problems, _ = check(json.dumps(ZH_SUMMARY, ensure_ascii=False), "en")
    assert problems and "English" in problems[0]
    _, problems, length_only = check(json.dumps({**EN_SUMMARY, "method": "m" * 700}), "en")
    assert problems == ["method has 700 characters; at most 600"] and length_only
    _, problems, _ = check(json.dumps({**EN_SUMMARY, "key_takeaways": ["one", "two"]}), "en")
    assert problems and "key_takeaways" in problems[0]
    _, problems, _ = check(json.dumps({**EN_SUMMARY, "results": ""}), "en")
    assert problems == ["results is empty"]
    fields, problems, _ = check(
        json.dumps({**EN_SUMMARY, "key_takeaways": ["- a one", "• b two", "3. c three"]}), "en"
    )
    assert problems == [] and fields is not None and fields.key_takeaways == ["a one", "b two", "c three"]
    assert cjk_share("在ImageNet上Top-1准确率达到76.3%，比BN高2.1%") > 0.5
    assert cjk_share("GroupNorm reduces error") == 0


def test_summary_markdown_follows_the_old_blog() -> None:
    s = Summary(**ZH_SUMMARY, language="zh", source="pdf", model="gemini:gemini-2.5-flash")
    md = summary_markdown(PAPER, s, "zh")

    assert md.startswith(
        "## Group Normalization\n\n**组归一化**\n\n**Authors:Yuxin Wu, Kaiming He**\n\nBatch Normalization (BN)"
    )  # the Chinese title under the English one
    assert md.endswith("*AI 总结 · gemini-2.5-flash*\n")
    assert "[PDF](https://arxiv.org/pdf/1803.08494v3) v3: IJCV version" in md
    assert f"**Summary**\n{ZH_SUMMARY['summary']}\n" in md
    assert "**Key Takeaways**\n- 批归一化" in md
    for heading in ("研究背景", "过去的方法及问题", "研究方法", "任务与性能", "结论"):
        assert f"- **{heading}**：" in md
    assert "摘录" not in md
    en = summary_markdown(PAPER, Summary(**EN_SUMMARY, language="en", source="pdf", model="openai:x"), "en")
    assert "- **Earlier methods and their problems**: " in en and "- **Tasks and performance**: " in en


def test_provider_selection(settings: Settings) -> None:
    unset = settings.model_copy(update={"llm_provider": None})
    assert provider_kind(unset) == "none"
    assert provider_kind(unset.model_copy(update={"openai_api_key": SecretStr("k")})) == "openai"
    both = unset.model_copy(update={"openai_api_key": SecretStr("k"), "gemini_api_key": SecretStr("g")})
    assert provider_kind(both) == "gemini"
    assert provider_kind(both.model_copy(update={"llm_provider": "openai"})) == "openai"
    assert provider_kind(both.model_copy(update={"llm_provider": "none"})) == "none"


async def test_misconfigured_provider_is_a_clear_error(settings: Settings, astore: AsyncStore) -> None:
    with pytest.raises(BadSetting, match="GEMINI_API_KEY"):
        Summarizer(settings.model_copy(update={"llm_provider": "gemini"}), astore)
    local = settings.model_copy(update={"llm_provider": "openai", "openai_base_url": "http://127.0.0.1:9/v1"})
    summarizer = Summarizer(local, astore)  # Ollama / vLLM need no key
    assert summarizer.provider_name == "openai:gpt-4o-mini"
    await summarizer.aclose()


# ---- real PDFs: what is sent stays within the budget ------------------------------------------------------


@pytest.mark.shared
def test_trimmed_text_of_every_shared_pdf_fits_the_budget() -> None:
    for path in sorted(shared_path("pdfs").glob("*.pdf")):
        text = sync_paper_text(path, 6000)
        assert text.tokens <= 6000, path.name
        assert "## " in text.text and text.tokens > 2000, path.name


@pytest.mark.shared
async def test_openai_request_for_a_real_paper_stays_within_budget(make: Factory, oai: FakeOpenAI) -> None:
    [survey] = shared_path("pdfs").glob("2402.17525*.pdf")  # 26 pages, ~30k tokens of text
    summarizer = make(**with_openai(oai, llm_input_token_budget=8000))
    await summarizer.summarize(PAPER, "en", survey)

    [req] = oai.chat_calls
    sent = sum(estimate_tokens(m["content"]) for m in req.json["messages"])
    assert 6000 < sent <= 8000
    text = user_text(req)
    assert "INTRODUCTION" in text and "CONCLUSION" in text and "REFERENCES" not in text


@pytest.mark.shared
async def test_gemini_request_for_a_real_paper_stays_within_budget(make: Factory, gemini: FakeGemini) -> None:
    [survey] = shared_path("pdfs").glob("2402.17525*.pdf")  # 26 pages ≈ 6.7k tokens as a PDF
    full = make(**with_gemini(gemini))
    await full.summarize(PAPER, "en", survey)
    cut = make(**with_gemini(gemini, llm_input_token_budget=4000))
    await cut.summarize(PAPER, "zh", survey)

    whole, trimmed = gemini.generate_calls
    assert whole.inline_pdfs() == [survey.read_bytes()]  # within budget: the PDF as published
    [data] = trimmed.inline_pdfs()
    pages = len(pdfium.PdfDocument(data))
    assert pages < 26
    assert pages * GEMINI_TOKENS_PER_PAGE + estimate_tokens(trimmed.text_parts()) <= 4000
    assert model_of(trimmed) == "gemini-test-flash"
