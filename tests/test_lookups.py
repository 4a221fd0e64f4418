# ruff: noqa: F811  (the fixtures tg, arxiv and cfg come from tests.test_telegram)
"""/summarize lookups through the real Telegram adapter: the allowance before arXiv, remembered
misses, one person's flood never standing in front of everyone, exact versions and the links
people paste (issue 14, items 2 and 12)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.errors import BadArxivId
from bot.ids import find_arxiv_ids, parse_arxiv_id
from bot.settings import Settings
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.server import serve
from tests.fakes.telegram import FakeTelegram
from tests.test_telegram import (  # noqa: F401 (fixtures)
    DAY,
    GROUP,
    MEMBER,
    arxiv,
    cfg,
    listing,
    replies,
    reply_to,
    telegram,
    tg,
    until,
)

FLOODER, OTHER = 31, 32


def _final(tg: FakeTelegram, chat: int, after: int) -> list[str]:
    """What the bot finally said in ``chat`` after message ``after`` (status lines once edited)."""
    return [p.visible for p in replies(tg, chat, after) if p.edits or "⏳" not in p.visible]


async def test_a_flood_of_missing_ids_is_charged_up_front_and_never_blocks_another_user(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv
) -> None:
    gemini = pytest.importorskip("tests.fakes.gemini")
    listing(arxiv, DAY, pdfs=False)
    tg.add_user(FLOODER)
    tg.add_user(OTHER)
    missing = [f"2606.{70001 + i}" for i in range(8)]
    llm = gemini.FakeGemini()
    with serve(llm.app()) as server:
        settings = cfg.model_copy(update={
            "default_lang": "en", "llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"),
            "gemini_base_url": server.url, "summarize_per_user_per_hour": 4, "llm_retries": 0,
            "arxiv_delay_seconds": 0.3, "figure_policy": "none",
            "commands_per_user_per_minute": 0,  # the flood is about lookups, not the command limit
        })  # fmt: skip
        async with telegram(settings):
            first = tg.send_text(FLOODER, FLOODER, "/help")
            for i in range(24):  # 8 missing ids, three times each, all at once
                tg.send_text(FLOODER, FLOODER, f"/summarize {missing[i % 8]}")
            await until(lambda: arxiv.requests("api"))  # the flood has reached arXiv
            mid = tg.send_text(OTHER, OTHER, "/summarize 2606.30003")
            (summary,) = await until(lambda: _final(tg, OTHER, mid))
            assert summary.startswith("Codec Avatar Compression for Telepresence") and "AI summary" in summary
            # the other person's lookup stood behind at most the flood's request in flight and the
            # one that was waiting its turn, not behind the whole flood
            asked = [r["id_list"] for r in arxiv.requests("api")]
            assert asked.index("2606.30003") <= 2, asked
            answers = await until(lambda: (a := _final(tg, FLOODER, first)) and len(a) == 25 and a)
        # the allowance (4) was charged before arXiv was asked: 4 lookups, each id at most once;
        # the rest were refused without a request or answered from the remembered misses
        flood = [r["id_list"] for r in arxiv.requests("api") if r["id_list"] != "2606.30003"]
        assert len(flood) == 4 and len(set(flood)) == 4
        assert all(a.startswith(("arXiv has no paper", "You have used this hour's summaries")) for a in answers[1:])
        assert sum(a.startswith("arXiv has no paper") for a in answers) >= 4
        assert len(arxiv.requests("api")) == 5
        assert llm.generate_calls  # the other person's summary came from the model


async def test_a_missing_id_asked_again_is_answered_without_arxiv(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_user(OTHER)
    async with telegram(cfg.model_copy(update={"default_lang": "en"})):
        for _ in range(3):
            (missing,) = await reply_to(tg, OTHER, OTHER, "/summarize 2606.99999", settle=lambda r: r[0].edits > 0)
            assert missing.visible.startswith("arXiv has no paper 2606.99999")
        assert len(arxiv.requests("api")) == 1
        # a version arXiv lacks is an error, never silently another version, and is remembered too
        for _ in range(2):
            (wrong,) = await reply_to(tg, OTHER, OTHER, "/summarize 2606.30003v99", settle=lambda r: r[0].edits > 0)
            assert wrong.visible == "arXiv paper 2606.30003 has no version 99; the latest is v1. Leave the version out to get it."
        assert len(arxiv.requests("api")) == 2


async def test_links_from_ar5iv_alphaxiv_and_hugging_face_in_a_group(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, members=(MEMBER,))
    async with telegram(cfg.model_copy(update={"default_lang": "en", "figure_policy": "none"})):
        for link in (
            "https://ar5iv.labs.arxiv.org/html/2606.30003",
            "ar5iv.org/abs/2606.30004v1",
            "https://www.alphaxiv.org/abs/2606.30001",
            "https://huggingface.co/papers/2606.30002",
        ):
            (summary,) = await reply_to(tg, GROUP, MEMBER, f"/summarize {link}", settle=lambda r: r[0].edits > 0)
            assert f"arxiv.org/abs/{link.rsplit('/', 1)[1][:10]}" in tg.message(GROUP, summary.message_id).html
        (bad,) = await reply_to(tg, GROUP, MEMBER, "/summarize 9912.12345")
        assert bad.visible.startswith("“9912.12345” is not an arXiv id or link")
    assert not [r for r in arxiv.requests("api") if "9912" in r["id_list"]]


@pytest.mark.parametrize(
    "text",
    ["9912.12345", "0703.0001", "2313.00001", "1412.12345", "1501.0001", "2309.04247v0", "ar5iv.org/abs/99"],
)
def test_ids_that_cannot_exist_are_refused(text: str) -> None:
    with pytest.raises(BadArxivId):
        parse_arxiv_id(text)


def test_ids_at_the_edges_and_links_in_free_text() -> None:
    assert str(parse_arxiv_id("0704.0001")) == "0704.0001"
    assert str(parse_arxiv_id("1412.9999v3")) == "1412.9999v3"
    assert str(parse_arxiv_id("1501.00001")) == "1501.00001"
    assert str(parse_arxiv_id("https://alphaxiv.org/overview/2309.04247v2")) == "2309.04247v2"
    found = find_arxiv_ids("see https://huggingface.co/papers/2309.04247 and ar5iv.org/html/2407.21047v2, 9912.12345")
    assert [str(a) for a in found] == ["2309.04247", "2407.21047v2"]


# ---- queries too long to be useful (item 10) ------------------------------------------------------


def _depth(node: object) -> int:
    from bot.query import Op

    return 1 + max((_depth(i) for i in node.items), default=0) if isinstance(node, Op) else 1


def test_long_and_deep_queries_stay_shallow() -> None:
    from bot.models import Paper
    from bot.query import MAX_TERMS, parse_query

    words = [f"w{i}" for i in range(MAX_TERMS)]
    flat = parse_query(" ".join(words))
    assert _depth(flat.root) == 2 and flat.api == " AND ".join(f"all:{w}" for w in words)
    paper = Paper(id="2606.30001", version=1, title=" ".join(words), abstract="", authors=[], categories=["cs.CV"])
    assert flat.matches(paper)
    nested = parse_query("(" * 20 + " OR ".join(words[:30]) + ")" * 20 + " ANDNOT w999")
    assert _depth(nested.root) == 3 and nested.matches(paper)
    assert nested.api == "(" + " OR ".join(f"all:{w}" for w in words[:30]) + ") ANDNOT all:w999"
    assert parse_query("a ANDNOT (b AND c) d").api == "all:a ANDNOT (all:b AND all:c) AND all:d"
    assert parse_query("a ANDNOT (b AND c)").matches(Paper(id="2606.30002", version=1, title="a b", abstract="", authors=[], categories=[]))


async def test_a_query_of_hundreds_of_words_is_refused_by_search_and_subscribe(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    from bot.store import Store

    tg.add_user(OTHER)
    query = " ".join("abcdefghijklmnopqrstuvwxyz"[i % 26] for i in range(490))
    async with telegram(cfg.model_copy(update={"default_lang": "en"})) as (core, _bot):
        (searched,) = await reply_to(tg, OTHER, OTHER, f"/search {query}")
        assert searched.visible.startswith("The query has a problem: the query has 490 search terms; at most 50 are allowed")
        (subscribed,) = await reply_to(tg, OTHER, OTHER, f"/subscribe {query}")
        assert subscribed.visible.startswith("The description is longer than 300 characters")  # plain words: an interest
        (subscribed,) = await reply_to(tg, OTHER, OTHER, f"/subscribe ti:x OR {query}")
        assert "491 search terms" in subscribed.visible
        assert await core.store.run(Store.subscriptions, "telegram", str(OTHER)) == []
        (ok,) = await reply_to(tg, OTHER, OTHER, "/search " + " ".join(f"w{i}" for i in range(50)))
        assert "problem" not in ok.visible
    assert arxiv.requests("api") and len(arxiv.requests("api")) == 1  # only the 50-word search went out
