"""The scored matcher: the right papers on hand-labelled days, reasons, interests and the judge."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from bench.relevance import load_labels, recall_precision, store_day
from bot.core import Paperbot
from bot.errors import BadInterest, UnknownTopic
from bot.match import judge, score_papers
from bot.models import Paper
from bot.settings import Settings
from bot.topics import Catalogue
from tests.conftest import shared_path
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import serve

TARGETS = {  # (CRITERIA.md topic, catalogue topic): (recall, precision) without a key
    ("virtual_human", "元宇宙/虚拟人"): (0.90, 0.85),
    ("talking_head", "Talking Head Generation"): (0.90, 0.90),
    ("3dgs", "3DGS"): (0.90, 0.90),
}


@pytest.fixture(scope="module")
def labelled() -> tuple[dict[str, list[Paper]], dict[tuple[str, str, str], str]]:
    return load_labels(shared_path("relevance", "labels.tsv"))


@pytest.mark.parametrize(("key", "name"), list(TARGETS))
def test_topics_find_what_their_readers_want_on_labelled_days(labelled, key: str, name: str) -> None:
    days, labels = labelled
    matcher = Catalogue.load().resolve(name).matcher()
    taken = {day: {v.paper_id for v in score_papers(ps, [matcher])[name] if v.taken} for day, ps in days.items()}
    recall, precision, wanted = recall_precision(days, labels, key, lambda d, p: p.id in taken[d])
    want_r, want_p = TARGETS[(key, name)]
    assert wanted > 0
    assert recall >= want_r and precision >= want_p, (recall, precision)


def paper(pid: str, title: str, abstract: str = "") -> Paper:
    return Paper(id=pid, title=title, abstract=abstract, categories=["cs.CV"])


def test_a_verdict_says_why() -> None:
    topic = Catalogue.load().resolve("虚拟人")
    m = topic.matcher()
    [yes, no, against] = score_papers(
        [
            paper("2606.00001", "Text-to-Motion Diffusion for Human Motion Generation", "We generate human motion."),
            paper("2606.00002", "Sparse Attention for Long Documents", "We speed up transformers."),
            paper("2606.00003", "Deepfake Detection of Talking Heads", "We detect forged talking head videos."),
        ],
        [m],
    )[topic.name]
    assert yes.taken and yes.score > 0.5 and "text-to-motion" in yes.why and yes.why.startswith("taken")
    assert not no.taken and no.score < 0.5 and no.why == "nothing in the title or abstract is about this topic"
    assert not against.taken and "against: " in against.why


def test_custom_query_means_what_it_says() -> None:
    cat = Catalogue.load()
    sub = cat.subscription('ti:"hair"')
    assert sub.kind == "query"
    [hit, miss] = score_papers(
        [paper("2606.00001", "Strand-level hair capture"), paper("2606.00002", "Hair in the abstract only", "")],
        [cat.matcher(sub.topic, sub.query)],
    )[sub.topic]
    assert hit.taken and miss.taken  # both titles name hair
    assert cat.subscription("avatar").kind == "topic"


def test_plain_text_interests() -> None:
    cat = Catalogue.load()
    sub = cat.subscription("about: 3D hair modelling and hairstyle generation")
    assert sub.kind == "about" and sub.topic == "about: 3D hair modelling and hairstyle generation"
    assert cat.subscription("strand based hair reconstruction from video").kind == "about"  # 4+ plain words
    m = cat.matcher(sub.topic, sub.query)
    papers = [
        paper("2606.00001", "HairGen: Strand-Based Hairstyle Generation", "We model 3D hair strands and hairstyles."),
        paper("2606.00002", "Efficient Video Transformers", "Video modelling with transformers."),
        *[paper(f"2606.1{i:04d}", f"Unrelated paper {i} on graphs", "Graph learning.") for i in range(30)],
    ]
    verdicts = {v.paper_id: v for v in score_papers(papers, [m])[sub.topic]}
    assert verdicts["2606.00001"].taken and "hair" in verdicts["2606.00001"].why
    assert not verdicts["2606.00002"].taken
    with pytest.raises(BadInterest) as vague:
        cat.subscription("about: new methods")
    assert vague.value.reason == "too_vague"
    with pytest.raises(BadInterest) as chinese:
        cat.subscription("about: 三维头发建模与发型生成的方法")
    assert chinese.value.reason == "not_english"
    with pytest.raises(UnknownTopic):
        cat.subscription("虚拟人类")  # a short Chinese name is a topic typo, not an interest


async def test_the_model_judges_near_the_line_in_bounded_cached_batches(settings: Settings, labelled) -> None:
    """Real google-genai against the fake Gemini: ⌈candidates/20⌉ requests per topic however many
    chats ask, none again (cached per paper, topic and model), verdicts applied."""
    days, _ = labelled
    day = date(2026, 6, 30)
    papers = days[day.isoformat()]
    fake = FakeGemini()
    with serve(fake.app()) as server:
        s = settings.model_copy(
            update={"llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"),
                    "gemini_base_url": server.url, "gemini_model": "gemini-test-flash"}
        )  # fmt: skip
        store_day(s, day, [Paper(**vars(p)) for p in papers])
        topic = Catalogue.load().resolve("虚拟人")
        local = score_papers(papers, [topic.matcher()])[topic.name]
        cands = judge.candidates(topic.matcher(), local)
        assert len(cands) > 0
        async with Paperbot(s) as core:
            lists = await asyncio.gather(*(core.verdicts(day, topic.name, topic.query) for _ in range(50)))
        calls = fake.generate_calls
        assert 1 <= len(calls) <= judge.requests_needed(len(cands))
        asked = calls[0].text_parts()
        assert "relevance judge" in asked and "What subscribers want: Papers whose main object" in asked
        assert all(lst == lists[0] for lst in lists)
        judged = [v for v in lists[0] if v.judged]
        assert {v.paper_id for v in judged} == {v.paper_id for v in cands}
        for v in judged:
            assert v.taken == (v.judged == "yes") and "the model's verdict (gemini:gemini-test-flash)" in v.why
        async with Paperbot(s) as core:  # another process, same database: no new request
            await core.verdicts(day, topic.name, topic.query)
        assert len(fake.generate_calls) == len(calls)


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PAPERBOT_DATA_DIR": str(tmp_path / "data"), "LLM_PROVIDER": "none", "PATH": "/usr/bin:/bin",
           "ARXIV_API_URL": "http://127.0.0.1:9/api/query", "ARXIV_RSS_URL": "http://127.0.0.1:9/rss/"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_paperbot_match_json_and_explain(tmp_path: Path, settings: Settings, labelled) -> None:
    days, _ = labelled
    day = date(2026, 6, 24)
    s = settings.model_copy(update={"data_dir": tmp_path / "data"})
    s.data_dir.mkdir(parents=True)
    store_day(s, day, [Paper(**vars(p)) for p in days[day.isoformat()]])
    result = run_cli(tmp_path, "match", "虚拟人", "--date", "2026-06-24", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(days[day.isoformat()])  # every paper considered
    assert all({"id", "title", "score", "taken", "why"} <= set(r) for r in rows)
    fica = next(r for r in rows if r["id"] == "2606.24232")
    assert fica["taken"] and fica["score"] > 0.9 and "avatar" in fica["why"]
    text = run_cli(tmp_path, "match", "虚拟人", "--date", "2026-06-24")
    assert text.returncode == 0 and "2606.24232" in text.stdout and "papers taken" in text.stdout
    explain = run_cli(tmp_path, "match", "虚拟人", "--date", "2026-06-24", "--explain", "2606.24232")
    assert explain.returncode == 0, explain.stderr
    assert "FiCA" in explain.stdout and "taken (" in explain.stdout
    warned = run_cli(tmp_path, "match", "nerf or 3dgs", "--date", "2026-06-24")
    assert warned.returncode == 0 and "Warning:" in warned.stderr and "OR" in warned.stderr
    quiet = run_cli(tmp_path, "match", "about: hair and hairstyle modelling", "--date", "2026-06-24")
    assert quiet.returncode == 0 and "Warning:" not in quiet.stderr  # an interest is words, not a query
    bad = run_cli(tmp_path, "match", "about: things", "--date", "2026-06-24")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "too vague" in bad.stderr
