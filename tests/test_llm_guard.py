# ruff: noqa: F811  (the fixtures come from tests.test_summaries)
"""The model's guard rails, through the real google-genai and openai clients against the fakes
(issue 14, items 4 and 6): a circuit breaker that stops asking a dead endpoint, and a cap on
every reply's length."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bot.llm import OPENAI_MAX_TOKENS
from bot.models import Paper
from bot.store import Store
from bot.summarize import ANSWER_TOKENS, SUMMARY_TOKENS
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_api import FakeOpenAI
from tests.test_summaries import (  # noqa: F401 (fixtures)
    PAPER,
    Factory,
    astore,
    calls,
    gemini,
    make,
    oai,
    pdf,
    with_gemini,
    with_openai,
)


@dataclasses.dataclass
class _Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _manual_clock(summarizer: Any) -> _Clock:
    """The breaker's clock, moved by the test: its cool-down passes when the test says so."""
    clock = _Clock()
    summarizer._provider.breaker.clock = clock
    return clock


def _papers(n: int) -> list[Paper]:
    return [dataclasses.replace(PAPER, id=f"1803.{8500 + i}") for i in range(n)]


async def test_a_dead_gemini_costs_the_breaker_threshold_not_every_paper(
    make: Factory, gemini: FakeGemini, pdf: Path, store: Store
) -> None:
    gemini.delay = 60.0  # every request hangs past LLM_TIMEOUT
    summarizer = make(**with_gemini(gemini, llm_timeout=0.5, llm_retries=3, llm_breaker_failures=3,
                                    llm_breaker_cooldown=1.0))  # fmt: skip
    clock = _manual_clock(summarizer)
    summaries = [await summarizer.summarize(p, "en", pdf) for p in _papers(10)]
    assert all(s.extractive for s in summaries)
    # three timed-out requests opened the breaker; the other papers fell back without a request
    assert len(gemini.generate_calls) == 3
    assert [c["ok"] for c in calls(store)] == [0]  # one failed call recorded; the refused ones are not calls
    # after the cool-down one request probes; the model is back, so it answers and the breaker closes
    gemini.delay = 0.0
    clock.advance(1.0)  # the cool-down passes (a clock of the test's: a loaded machine is no race)
    back = [await summarizer.summarize(p, "en", pdf) for p in _papers(12)[10:]]
    assert [s.extractive for s in back] == [False, False]
    assert len(gemini.generate_calls) == 5


async def test_a_failing_probe_opens_the_breaker_again(make: Factory, oai: FakeOpenAI, pdf: Path) -> None:
    oai.queue += [FakeOpenAI.error(500, retry_after_ms=1)] * 3
    summarizer = make(**with_openai(oai, llm_retries=2, llm_breaker_failures=3, llm_breaker_cooldown=0.5))
    clock = _manual_clock(summarizer)
    first, second = [await summarizer.summarize(p, "en", pdf) for p in _papers(2)]
    assert first.extractive and second.extractive and len(oai.chat_calls) == 3
    clock.advance(0.5)  # the cool-down
    oai.queue.append(FakeOpenAI.error(503, retry_after_ms=1))
    probe, after = [await summarizer.summarize(p, "en", pdf) for p in _papers(4)[2:]]
    assert probe.extractive and after.extractive and len(oai.chat_calls) == 4  # one probe, then closed again
    clock.advance(0.5)
    healthy = await summarizer.summarize(_papers(5)[4], "en", pdf)
    assert not healthy.extractive and len(oai.chat_calls) == 5


async def test_a_bad_request_is_about_the_request_and_never_opens_the_breaker(
    make: Factory, gemini: FakeGemini, pdf: Path
) -> None:
    gemini.queue += [FakeGemini.error(400)] * 3
    summarizer = make(**with_gemini(gemini, llm_breaker_failures=2))
    for p in _papers(3):
        assert (await summarizer.summarize(p, "en", pdf)).extractive  # a 400 is not retried
    assert not (await summarizer.summarize(_papers(4)[3], "en", pdf)).extractive
    assert len(gemini.generate_calls) == 4 and not summarizer._provider.breaker.is_open


async def test_every_request_carries_an_output_cap(make: Factory, gemini: FakeGemini, oai: FakeOpenAI, pdf: Path) -> None:
    g = make(**with_gemini(gemini))
    await g.summarize(PAPER, "zh", pdf)
    await g.ask(PAPER, "Which datasets?", "en", pdf)
    summary_req, ask_req = gemini.generate_calls
    assert summary_req.json["generationConfig"]["maxOutputTokens"] == SUMMARY_TOKENS + 8192
    assert ask_req.json["generationConfig"]["maxOutputTokens"] == ANSWER_TOKENS + 8192
    o = make(**with_openai(oai))
    await o.summarize(PAPER, "en", pdf)
    await o.ask(PAPER, "Which datasets?", "en", pdf)
    summary_req, ask_req = oai.chat_calls
    assert summary_req.json["max_tokens"] == min(SUMMARY_TOKENS + 2048, OPENAI_MAX_TOKENS) <= 8192
    assert ask_req.json["max_tokens"] == ANSWER_TOKENS + 2048
    # LLM_MAX_OUTPUT_TOKENS overrides the derived caps on both
    await make(**with_gemini(gemini, llm_max_output_tokens=1234)).summarize(_papers(1)[0], "en", pdf)
    await make(**with_openai(oai, llm_max_output_tokens=1234)).summarize(_papers(1)[0], "en", pdf)
    assert gemini.generate_calls[-1].json["generationConfig"]["maxOutputTokens"] == 1234
    assert oai.chat_calls[-1].json["max_tokens"] == 1234
