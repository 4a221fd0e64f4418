"""The chat teaches the bot (issue 12): votes, per-chat ranking, per-chat settings, roundup.

Telegram tests drive the real python-telegram-bot Application against ``tests/fakes/telegram.py``
(fixtures and helpers from ``tests/test_telegram.py``); the ranking tests use real Papers and the
real store. Assertions are on what a person sees (buttons and their counts, the order of the
cards, the "N more" list) and on the store (votes, settings).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from bot import feedback, ranking
from bot.chat_settings import ChatSettings
from bot.core import Paperbot
from bot.deliver import deliver_digest
from bot.models import Paper
from bot.settings import Settings
from bot.store import Store
from tests import test_telegram
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.server import serve
from tests.fakes.telegram import FakeTelegram, Posted
from tests.test_telegram import (
    ADMIN,
    DAY,
    GROUP,
    MEMBER,
    listing,
    paper_messages,
    subscribe_directly,
    telegram,
    until,
)

tg, arxiv, cfg = test_telegram.tg, test_telegram.arxiv, test_telegram.cfg  # the Telegram tests' fixtures

# ---- votes ------------------------------------------------------------------------------------------


def _labels(message: Posted) -> list[str]:
    return [b["text"] for b in message.buttons]


async def _press(tg: FakeTelegram, chat: int, user: int, message: Posted, data: str, answers: int) -> str:
    """Tap a button; wait for the bot's answer (the toast) and return its text."""
    tg.press(chat, user, message.message_id, data)
    await until(lambda: tg.count("answerCallbackQuery") >= answers)
    return [c for c in tg.calls if c.method == "answercallbackquery"][answers - 1].params.get("text", "")


async def test_votes_on_telegram_one_per_person_changeable_counts_on_the_buttons(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv
) -> None:
    gemini = pytest.importorskip("tests.fakes.gemini")
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER, MEMBER + 1))
    llm = gemini.FakeGemini()
    with serve(llm.app()) as server:
        settings = cfg.model_copy(update={
            "default_lang": "en", "llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"),
            "gemini_base_url": server.url, "llm_retries": 0,
        })  # fmt: skip
        subscribe_directly(settings, GROUP)
        async with telegram(settings) as (core, bot):
            await core.harvest()
            result = await deliver_digest(core, bot, str(GROUP))
            assert result.sent == 4
            (card,) = paper_messages(tg, GROUP, "2606.30001")
            assert _labels(card) == ["👍", "👎", "📖 Full summary"]
            calls = len(llm.generate_calls)
            # a member votes 👍: the count shows on the button, the toast says so
            assert await _press(tg, GROUP, MEMBER, card, "v+:2606.30001", 1) == "👍 noted"
            await until(lambda: _labels(card)[0] == "👍 1")
            # another member too; then the first switches to 👎
            await _press(tg, GROUP, MEMBER + 1, card, "v+:2606.30001", 2)
            await until(lambda: _labels(card)[0] == "👍 2")
            assert (await _press(tg, GROUP, MEMBER, card, "v-:2606.30001", 3)).startswith("👎 noted")
            await until(lambda: _labels(card)[:2] == ["👍 1", "👎 1"])
            # the same button again takes the vote back
            assert await _press(tg, GROUP, MEMBER, card, "v-:2606.30001", 4) == "Your vote is withdrawn"
            await until(lambda: _labels(card)[:2] == ["👍 1", "👎"])
            net = await core.store.run(feedback.net_votes, "telegram", str(GROUP))
            assert net == {"2606.30001": 1}
            assert await core.store.run(feedback.epoch, "telegram", str(GROUP)) == 4
            # votes are per chat: the same paper in another chat has none
            assert await core.store.run(feedback.tally, "telegram", str(GROUP - 1), "2606.30001") == feedback.Tally()
            assert len(llm.generate_calls) == calls  # a vote never costs a model call
            assert tg.count("editMessageReplyMarkup", 400) == 0


# ---- ranking ------------------------------------------------------------------------------------------

FACE = "Audio-driven talking face generation with lip sync and facial expression for portrait video"
BODY = "Human motion generation of full-body dance and locomotion sequences from music"


def _paper(pid: str, title: str, abstract: str = "") -> Paper:
    return Paper(id=pid, title=title, abstract=abstract or f"{title}. We propose a method and evaluate it.")


def _voted() -> tuple[list[Paper], dict[str, int]]:
    """A chat that likes talking faces and dislikes body motion, ten papers voted."""
    papers = [_paper(f"2601.0{i:04d}", f"{FACE} variant {i}") for i in range(5)]
    papers += [_paper(f"2601.1{i:04d}", f"{BODY} variant {i}") for i in range(5)]
    return papers, {p.id: (1 if p.id.startswith("2601.0") else -1) for p in papers}


def test_a_chat_model_orders_sets_aside_and_adds_near_misses() -> None:
    papers, net = _voted()
    model = ranking.train(papers, net, epoch=3)
    assert model is not None and model.voted == 10 and model.epoch == 3
    assert ranking.train(papers[:1], net) is None  # one vote is not a model
    face, body, other = _paper("2607.00001", FACE), _paper("2607.00002", BODY), _paper("2607.00003", "Avatar benchmark")
    taken = [ranking.Pick(body, ["t"], 0.95), ranking.Pick(other, ["t"], 0.84), ranking.Pick(face, ["t"], 0.82)]
    near = [ranking.Pick(_paper("2607.00004", f"{FACE} in the wild"), ["t"], 0.4, near_miss=True),
            ranking.Pick(_paper("2607.00005", "Protein folding with transformers"), ["t"], 0.45, near_miss=True)]  # fmt: skip
    plain = ranking.compose(taken, near, None)
    assert [p.paper.id for p in plain.shown] == ["2607.00002", "2607.00003", "2607.00001"] and not plain.below
    mine = ranking.compose([ranking.Pick(p.paper, p.topics, p.score) for p in taken], near, model)
    ids = [p.paper.id for p in mine.shown]
    assert ids[0] in ("2607.00001", "2607.00004") and "2607.00002" not in ids  # faces first, body motion set aside
    assert [p.paper.id for p in mine.below] == ["2607.00002"]
    assert [p.paper.id for p in mine.shown if p.near_miss] == ["2607.00004"]  # the face paper, not the protein one


async def test_the_ranker_trains_only_when_the_votes_changed(settings: Settings) -> None:
    papers, net = _voted()
    async with Paperbot(settings) as core:
        await core.store.run(Store.upsert_papers, papers)
        assert await core.ranker.model(core, "telegram", "-5") is None  # no votes: no model
        for p in papers:
            await core.store.run(feedback.cast, "telegram", "-5", p.id, "7", net[p.id])
        first = await core.ranker.model(core, "telegram", "-5")
        assert first is not None and first.voted == 10
        assert await core.ranker.model(core, "telegram", "-5") is first  # cached: same epoch
        await core.store.run(feedback.cast, "telegram", "-5", papers[0].id, "8", 1)
        again = await core.ranker.model(core, "telegram", "-5")
        assert again is not first and again is not None and again.epoch == first.epoch + 1


LISTING: list[dict[str, Any]] = [
    {"id": "2606.40001", "title": "Talking Face Avatars with Lip Sync from Audio",
     "summary": "An audio-driven talking face avatar with lip sync and facial expression for portrait video."},
    {"id": "2606.40002", "title": "Avatar Human Motion Generation of Full-Body Dance from Music",
     "summary": f"{BODY} for avatars. We propose a method and evaluate it."},
    {"id": "2606.40003", "title": "Avatar Human Motion Generation of Full-Body Dance and Locomotion",
     "summary": f"{BODY} for virtual humans. We propose a method and evaluate it."},
    {"id": "2606.40004", "title": "Portrait Relighting of Talking Faces",
     "summary": "Facial relighting of talking face portrait video with lip sync preserved and facial expression."},
]  # fmt: skip


async def test_a_chats_votes_reorder_its_telegram_digest_and_set_aside_what_it_dislikes(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv
) -> None:
    arxiv.add_day(DAY, [e | {"authors": ["A B"], "categories": ["cs.CV"]} for e in LISTING])
    arxiv.rss_day = DAY
    settings = cfg.model_copy(update={"default_lang": "en", "figure_policy": "none"})
    subscribe_directly(settings, GROUP)
    subscribe_directly(settings, GROUP - 1)  # the same topic, no votes
    papers, net = _voted()
    store = Store(settings.db_path)
    store.upsert_papers(papers)
    feedback.ensure_tables(store)
    for p in papers:
        feedback.cast(store, "telegram", str(GROUP), p.id, "7", net[p.id])
    store.close()
    async with telegram(settings) as (core, bot):
        await core.harvest()
        for chat in (GROUP, GROUP - 1):
            assert (await deliver_digest(core, bot, str(chat))).status == "done"
    order = {chat: [pid for p in tg.in_chat(chat)[1:] if (pid := _card_of(p))] for chat in (GROUP, GROUP - 1)}
    assert len(order[GROUP - 1]) == 4  # unvoted: every paper a card, in the topic's order
    # the voting chat: faces first, body motion out of the cards into the "N more" list
    assert set(order[GROUP]) == {"2606.40001", "2606.40004"}
    *_, more = tg.in_chat(GROUP)
    assert more.visible.startswith("2 more papers") and "2606.40002" in more.html and "2606.40003" in more.html


def _card_of(message: Posted) -> str | None:
    if message.visible.startswith(("📚", "2 more")):
        return None
    for b in message.buttons:
        if b.get("callback_data", "").startswith("v+:"):
            return b["callback_data"][3:]
    return None


# ---- settings -----------------------------------------------------------------------------------------


def test_chat_settings_defaults_and_days(settings: Settings) -> None:
    from datetime import date

    from bot.chat_settings import change
    from bot.errors import BadSetting

    plain = ChatSettings.of({}, settings)
    assert (plain.papers, plain.figures, plain.sections, plain.days, plain.roundup) == (10, 4, False, "daily", False)
    weekly = ChatSettings.of({"digest_days": "fri", "roundup": 1}, settings)
    friday, saturday = date(2026, 7, 3), date(2026, 7, 4)
    assert weekly.digest_today(friday) and not weekly.digest_today(saturday) and weekly.roundup_today(friday)
    assert ChatSettings.of({"digest_days": "weekdays"}, settings).digest_today(friday)
    assert not ChatSettings.of({"digest_days": "weekdays"}, settings).digest_today(saturday)
    assert change("days", "Friday") == {"digest_days": "fri"} and change("papers", "5") == {"digest_papers": 5}
    for bad in (("papers", "0"), ("papers", "21"), ("figures", "5"), ("days", "someday"), ("colour", "red")):
        with pytest.raises(BadSetting):
            change(*bad)
    assert "周五" in weekly.text("zh") and "weekly on Friday" in weekly.text("en")


def _now() -> datetime:
    return datetime.now(UTC)
