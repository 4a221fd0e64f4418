"""The chat teaches the bot (issue 12): votes, per-chat ranking, per-chat settings, roundup.

Telegram tests drive the real python-telegram-bot Application against ``tests/fakes/telegram.py``
(fixtures and helpers from ``tests/test_telegram.py``); the ranking tests use real Papers and the
real store. Assertions are on what a person sees (buttons and their counts, the order of the
cards, the "N more" list) and on the store (votes, settings).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
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
    AVATAR_IDS,
    DAY,
    GROUP,
    MEMBER,
    listing,
    paper_messages,
    replies,
    reply_to,
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


@contextmanager
def model_behind(cfg: Settings) -> Iterator[tuple[Any, Settings]]:
    """The fake Gemini serving, and English settings that use it (no retries): for tests that
    count what reaches the model."""
    gemini = pytest.importorskip("tests.fakes.gemini")
    llm = gemini.FakeGemini()
    with serve(llm.app()) as server:
        yield llm, cfg.model_copy(update={
            "default_lang": "en", "llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"),
            "gemini_base_url": server.url, "llm_retries": 0,
        })  # fmt: skip


async def test_votes_on_telegram_one_per_person_changeable_counts_on_the_buttons(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv
) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER, MEMBER + 1))
    with model_behind(cfg) as (llm, settings):
        subscribe_directly(settings, GROUP)
        async with telegram(settings) as (core, bot):
            await core.harvest()
            result = await deliver_digest(core, bot, str(GROUP))
            assert result.sent == 4
            (card,) = paper_messages(tg, GROUP, "2606.30001")
            assert _labels(card) == ["👍", "👎", "📖 Full summary", "📄 Abstract"]
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
    """A chat that likes talking faces and dislikes body motion, twenty papers voted (enough for
    its model to set papers aside: ranking.SET_ASIDE_VOTES)."""
    papers = [_paper(f"2601.0{i:04d}", f"{FACE} variant {i}") for i in range(10)]
    papers += [_paper(f"2601.1{i:04d}", f"{BODY} variant {i}") for i in range(10)]
    return papers, {p.id: (1 if p.id.startswith("2601.0") else -1) for p in papers}


def test_a_chat_model_orders_sets_aside_and_adds_near_misses() -> None:
    papers, net = _voted()
    model = ranking.train(papers, net, epoch=3)
    assert model is not None and model.voted == 20 and model.epoch == 3
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


def _splats(n: int, what: str, start: int, *, heavy: bool) -> list[Paper]:
    """3DGS papers on ``what``; ``heavy`` ones say "Gaussian" as often as most of the topic does."""
    how = "with Gaussian primitives, Gaussian densification and Gaussian rasterization" if heavy else "with Gaussian splatting"
    return [_paper(f"2602.{start + i:05d}", f"{what.capitalize()} {i}", f"We propose {what} {how}. Case {i}.") for i in range(n)]


def test_rarity_lets_a_narrow_interest_outweigh_the_words_every_paper_shares() -> None:
    """A 3DGS chat that wants SLAM and driving: the Gaussian words are in nearly every paper of
    the day and weigh least; "lidar" is in three and weighs most. So a new LiDAR paper written like
    the chat's usual 👎 papers is predicted nearer what the chat likes than when every word weighs
    alike (on the real days of bench.feedback: the SLAM chat's LiDAR and urban papers)."""
    liked = _splats(3, "lidar SLAM for autonomous driving", 0, heavy=False)
    disliked = _splats(8, "relightable avatars", 100, heavy=True) + _splats(8, "scene editing", 200, heavy=True)
    net = {p.id: 1 for p in liked} | {p.id: -1 for p in disliked}
    day = [*_splats(30, "assorted subjects", 300, heavy=True), *liked, *disliked]
    rarity = ranking.Rarity.of(ranking.counts(day), ("2026-06-30",))
    vec = ranking._vectorizer()
    idf = {t: float(rarity.idf[vec.transform([t]).indices[0]]) for t in ("gaussian", "lidar", "relightable", "unseen")}
    assert idf["gaussian"] == pytest.approx(1.0)  # in every paper: weighs least
    assert 1.0 < idf["relightable"] < idf["lidar"] < idf["unseen"]  # the rarer, the more

    new = _paper("2603.00001", "Gaussian splatting of lidar sweeps",
                 "We propose Gaussian splatting of lidar sweeps with Gaussian primitives, Gaussian densification and "
                 "Gaussian rasterization.")  # fmt: skip
    usual = _paper("2603.00002", "Relightable avatars 99", disliked[0].abstract)
    model = ranking.train([*liked, *disliked], net, rarity=rarity)
    plain = ranking.train([*liked, *disliked], net)  # the same votes, every word weighing alike
    assert model is not None and model.rarity is rarity and plain is not None and plain.rarity is None
    rare_new, rare_usual = model.predict(ranking.features([new, usual], rarity))
    plain_new, plain_usual = plain.predict(ranking.features([new, usual]))
    assert rare_new > rare_usual and plain_new > plain_usual
    assert rare_new - rare_usual > (plain_new - plain_usual) + 0.1  # the LiDAR word carries further
    picks = ranking.compose([ranking.Pick(usual, ["3DGS"], 0.9), ranking.Pick(new, ["3DGS"], 0.8)], [], model)
    assert [p.paper.id for p in picks.shown] == ["2603.00001", "2603.00002"]  # predicted under its own rarity


def test_a_word_in_a_liked_title_counts_for_more_than_in_an_abstract() -> None:
    """A chat votes on cards, judged by their titles: its model reads a title's words also as words
    of their own, so a new paper with "urban" in its title is predicted nearer what the chat likes
    than one with "urban" as often (twice: a title is read twice), but only in its abstract; without
    the title's own words the two are predicted alike."""
    text = ranking.text_of(_paper("2604.00001", "Gaussian splatting for urban scenes", "We study the city."))
    assert text.endswith("title-gaussian title-splatting title-urban title-scenes")  # no stop words ("for")
    liked = [_paper(f"2604.1{i:04d}", f"Urban scene reconstruction {i}", "We reconstruct street blocks.") for i in range(4)]
    disliked = [_paper(f"2604.2{i:04d}", f"Relightable avatars {i}", "We relight human heads.") for i in range(8)]
    net = {p.id: 1 for p in liked} | {p.id: -1 for p in disliked}
    model = ranking.train([*liked, *disliked], net)
    assert model is not None
    in_title = _paper("2605.00001", "Urban facades from video", "We fit shells to video frames of facades.")
    in_abstract = _paper("2605.00002", "Facades from video", "We fit shells to video frames of urban facades in urban areas.")
    title_pref, abstract_pref = model.predict(ranking.features([in_title, in_abstract]))
    assert title_pref > abstract_pref + 0.01
    weights = model.weights.toarray().ravel()
    vec = ranking._vectorizer()
    assert weights[vec.transform(["title-urban"]).indices[0]] > 0  # its own feature, learnt from the liked titles


def test_one_liked_title_word_lifts_a_paper_whose_other_words_the_chat_dislikes() -> None:
    """The "SLAM and driving" chat of bench.feedback: one paper it liked had "urban" in its title.
    A new urban paper written like the chat's 👎 papers is predicted by its model about as low as
    they are; its title words' record (one liked, one disliked word) lifts it above an ordinary
    paper with a higher topic score, which the model's prediction alone would not."""
    liked = [_paper("2604.30000", "Urban driving scenes from lidar", "We reconstruct street blocks from lidar sweeps."),
             *[_paper(f"2604.3000{i}", f"Lidar SLAM for autonomous driving {i}", "We track a car with lidar.") for i in (1, 2, 3)]]  # fmt: skip
    disliked = _splats(8, "relightable facades", 100, heavy=True)
    net = {p.id: 1 for p in liked} | {p.id: -1 for p in disliked}
    model = ranking.train([*liked, *disliked], net)
    assert model is not None and model.keywords is not None
    rate = 4 / 12  # the chat's 👍 rate: each word starts as one vote at it (KEYWORD_PRIOR)
    record = model.keywords.toarray().ravel()
    vec = ranking._title_vectorizer()
    word = {w: float(record[vec.transform([w]).indices[0]]) for w in ("urban", "driving", "facades", "indoor")}
    assert word["urban"] == pytest.approx((1 + rate) / 2 - rate)  # one title, liked
    assert word["driving"] == pytest.approx((4 + rate) / 5 - rate)  # four titles, all liked
    assert word["facades"] == pytest.approx(rate / 9 - rate) and word["indoor"] == 0  # eight disliked; never voted

    how = "We propose relightable facades with Gaussian primitives, Gaussian densification and Gaussian rasterization."
    new = _paper("2605.00001", "Urban facades with Gaussian primitives", how)
    usual = _paper("2605.00002", "Indoor facades with Gaussian primitives", how)
    pref_new, pref_usual = model.predict(ranking.features([new, usual]))
    lift_new, lift_usual = model.lift(ranking.title_words([new, usual]))
    assert lift_new == pytest.approx(word["urban"] + word["facades"]) and lift_usual == pytest.approx(word["facades"])
    assert 0.95 + model.trust * pref_usual > 0.8 + model.trust * pref_new  # the model alone keeps the usual one first
    picks = ranking.compose([ranking.Pick(usual, ["3DGS"], 0.95), ranking.Pick(new, ["3DGS"], 0.8)], [], model)
    assert [p.paper.id for p in picks.shown] == ["2605.00001", "2605.00002"] and not picks.below

    one_way = ranking.train(liked, {p.id: 1 for p in liked})  # a chat that only ever liked: no word tells apart
    assert one_way is not None and one_way.keywords is not None and one_way.keywords.nnz == 0
    assert not one_way.lift(ranking.title_words([new, usual])).any()


async def test_the_ranker_trains_only_when_the_votes_changed(settings: Settings) -> None:
    papers, net = _voted()
    async with Paperbot(settings) as core:
        await core.store.run(Store.upsert_papers, papers)
        assert await core.ranker.model(core, "telegram", "-5") is None  # no votes: no model
        for p in papers:
            await core.store.run(feedback.cast, "telegram", "-5", p.id, "7", net[p.id])
        first = await core.ranker.model(core, "telegram", "-5")
        assert first is not None and first.voted == len(papers)
        assert await core.ranker.model(core, "telegram", "-5") is first  # cached: same epoch
        await core.store.run(feedback.cast, "telegram", "-5", papers[0].id, "8", 1)
        again = await core.ranker.model(core, "telegram", "-5")
        assert again is not first and again is not None and again.epoch == first.epoch + 1
        assert again.rarity is None  # no listing day yet: every word weighs alike

        # a listing day arrives: the words' rarity is counted once, and the model trained again under it
        first_day, second_day = date(2026, 7, 1), date(2026, 7, 2)
        await core.import_days({first_day: papers[:12]})  # as `paperbot harvest --from` stores a day
        await core.ranker.day(first_day.isoformat(), await core.papers_for_day(first_day))  # a digest read it
        under = await core.ranker.model(core, "telegram", "-5")
        assert under is not None and under is not again and under.epoch == again.epoch
        assert under.rarity is not None and under.rarity.key == ((first_day, 12),)
        # twelve papers' words come from that digest day, eight are read anew: the same model as from scratch
        alone = ranking.train(await core.store.run(Store.get_papers, sorted(net)), net, under.epoch, under.rarity)
        assert alone is not None and (alone.weights != under.weights).nnz == 0 and alone.below == under.below
        assert alone.keywords is not None and under.keywords is not None and (alone.keywords != under.keywords).nnz == 0
        assert await core.ranker.model(core, "telegram", "-5") is under  # same votes, same rarity: cached
        assert await core.ranker.rarity(core) is under.rarity  # not counted again
        await core.import_days({second_day: papers[12:]})
        later = await core.ranker.model(core, "telegram", "-5")
        assert later is not None and later is not under and later.rarity is not None
        assert later.rarity.key == ((first_day, 12), (second_day, 8))


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


async def test_settings_on_telegram_admins_change_members_look(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY)  # with PDFs: figures would go out
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER,))
    settings = cfg.model_copy(update={"default_lang": "en"})
    subscribe_directly(settings, GROUP)
    async with telegram(settings) as (core, bot):
        (shown,) = await reply_to(tg, GROUP, MEMBER, "/settings")  # anyone may look
        assert "Papers per digest: 10" in shown.visible and "Weekly roundup: off" in shown.visible
        assert "✅ 10" in [b["text"] for b in shown.buttons]
        tg.press(GROUP, MEMBER, shown.message_id, "set:papers:5")  # a member's tap changes nothing
        await until(lambda: tg.count("answerCallbackQuery") == 1)
        assert "administrators" in next(c for c in tg.calls if c.method == "answercallbackquery").params["text"]
        assert (await core.store.run(Store.get_chat, "telegram", str(GROUP)))["digest_papers"] is None
        tg.press(GROUP, ADMIN, shown.message_id, "set:papers:3")
        await until(lambda: shown.edits == 1)
        assert "Papers per digest: 3" in shown.visible
        assert "✅ 3" in [b["text"] for b in shown.buttons] and "✅ 10" not in [b["text"] for b in shown.buttons]
        (refused,) = await reply_to(tg, GROUP, MEMBER, "/settings figures 0")
        assert "only the chat's administrators" in refused.visible
        (bad,) = await reply_to(tg, GROUP, ADMIN, "/settings papers 99")
        assert bad.visible.startswith("Usage: /settings papers 1-20")
        (changed,) = await reply_to(tg, GROUP, ADMIN, "/settings figures 0")
        assert "Figures per paper: 0" in changed.visible
        (two,) = await reply_to(tg, GROUP, ADMIN, "/settings papers 2")
        assert "Papers per digest: 2" in two.visible
        (weekly,) = await reply_to(tg, GROUP, ADMIN, "/settings days fri")
        assert "Digest days: weekly on Friday" in weekly.visible
        await reply_to(tg, GROUP, ADMIN, "/settings days daily")
        await core.harvest()
        count = len(tg.in_chat(GROUP))
        assert (await deliver_digest(core, bot, str(GROUP))).sent == 4
        digest = tg.in_chat(GROUP)[count:]
        assert len(digest) == 4  # header, 2 cards, the list of the other 2
        assert not any(m.photo for m in digest) and tg.uploads == 0  # figures per paper: 0
        assert digest[-1].visible.startswith("2 more papers")
        await reply_to(tg, GROUP, ADMIN, "/lang zh")
        (in_zh,) = await reply_to(tg, GROUP, MEMBER, "/settings")
        assert "每次推送的论文卡片：2 篇" in in_zh.visible and "每篇论文的截图：0 张" in in_zh.visible


async def test_top_and_the_weekly_roundup_on_telegram(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER, MEMBER + 1))
    settings = cfg.model_copy(update={"default_lang": "en"})
    # 16:00 UTC on Tuesday 30 June is Wednesday in Shanghai (the default zone): weekly on Wednesday
    subscribe_directly(settings, GROUP, digest_days="wed")
    async with telegram(settings, scheduler=True) as (core, bot):
        assert bot.scheduler is not None
        (empty,) = await reply_to(tg, GROUP, MEMBER, "/top")
        assert empty.visible.startswith("Nobody here has voted 👍")
        result = await bot.scheduler.digest("telegram", str(GROUP))
        assert result is not None and result.sent == 4
        assert not [m for m in tg.in_chat(GROUP) if "🏆" in m.visible]  # the roundup is opt-in
        cards = {pid: paper_messages(tg, GROUP, pid)[-1] for pid in AVATAR_IDS}
        answers = 0
        for user, pid in ((MEMBER, "2606.30003"), (MEMBER + 1, "2606.30003"), (MEMBER, "2606.30001")):
            answers += 1
            await _press(tg, GROUP, user, cards[pid], f"v+:{pid}", answers)
        answers += 1
        await _press(tg, GROUP, MEMBER + 1, cards["2606.30001"], "v-:2606.30001", answers)
        (top,) = await reply_to(tg, GROUP, MEMBER, "/top week")
        assert top.visible.startswith("🏆 This chat's most-liked papers of the week")
        lines = top.visible.split("\n")[2:]
        assert lines[0].startswith("1. Codec Avatar Compression") and lines[0].endswith("👍 2")
        assert len(lines) == 1  # 2606.30001 is at one each way: not liked
        (bad,) = await reply_to(tg, GROUP, MEMBER, "/top year")
        assert bad.visible == "Use /top week or /top month."
        await core.store.run(Store.update_chat, "telegram", str(GROUP), {"roundup": 1})
        await bot.scheduler.digest("telegram", str(GROUP))  # Wednesday: the roundup follows the digest
        roundups = await until(lambda: [m for m in tg.in_chat(GROUP) if m.visible.startswith("🏆") and m.message_id > top.message_id])
        assert len(roundups) == 1 and "Codec Avatar Compression" in roundups[0].visible
        await bot.scheduler.digest("telegram", str(GROUP))  # again the same week: not repeated
        assert len([m for m in tg.in_chat(GROUP) if m.visible.startswith("🏆") and m.message_id > top.message_id]) == 1


# ---- /digest during a harvest, inline mode ----------------------------------------------------------------


async def test_digest_during_a_harvest_waits_for_it_and_says_so(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:

    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, admins=(ADMIN,))
    settings = cfg.model_copy(update={"default_lang": "en", "arxiv_retries": 2})
    subscribe_directly(settings, GROUP)
    arxiv.timeout_seconds = 1.5
    arxiv.faults["rss"].append("timeout")  # arXiv is slow to answer: the harvest takes a while
    async with telegram(settings) as (core, _bot):
        harvest = asyncio.create_task(core.harvest())
        await until(lambda: core.harvesting and arxiv.requests("rss"))
        mid = tg.send_text(GROUP, ADMIN, "/digest")
        first = await until(lambda: replies(tg, GROUP, mid))
        assert first[0].visible.startswith("⏳ Fetching today's papers from arXiv")
        await harvest
        papers = await until(lambda: [pid for pid in AVATAR_IDS if paper_messages(tg, GROUP, pid)] == AVATAR_IDS)
        assert papers and not any(m.visible.startswith("Nothing new") for m in tg.in_chat(GROUP))


async def test_inline_mode_offers_the_papers_card_without_a_model(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    with model_behind(cfg) as (llm, settings):
        async with telegram(settings):
            tg.add_user(MEMBER, "Ada", lang="en")
            qid = tg.inline(MEMBER, "https://arxiv.org/abs/2606.30003")  # not stored yet: the API has it
            await until(lambda: qid in tg.inline_answers)
            (result,) = tg.inline_answers[qid]
            assert result["title"] == "Codec Avatar Compression for Telepresence"
            assert result["description"] == "We compress codec avatars for telepresence."  # the abstract's first sentence
            card = result["input_message_content"]["visible"]
            assert card.startswith("Codec Avatar Compression for Telepresence\nAda Lovelace") and "💡 We compress" in card
            assert "arXiv:2606.30003v1" in card
            nothing = tg.inline(MEMBER, "hello")
            await until(lambda: nothing in tg.inline_answers)
            assert tg.inline_answers[nothing] == []
            assert llm.generate_calls == []  # never a model call from an inline query


# ---- Telegram forum topics --------------------------------------------------------------------------------

FORUM = -1005550001


async def test_forum_topics_are_chats_of_their_own(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_forum(FORUM, topics=(7, 9, 11), admins=(ADMIN,), members=(MEMBER,))
    settings = cfg.model_copy(update={"default_lang": "en"})
    async with telegram(settings, scheduler=True) as (core, bot):
        assert bot.scheduler is not None
        for thread, topic in ((7, "虚拟人"), (9, "Talking Head Generation"), (11, "虚拟人"), (None, "Talking Head Generation")):
            mid = tg.send_text(FORUM, ADMIN, f"/subscribe {topic}", thread=thread)
            (ok,) = await until(lambda mid=mid: replies(tg, FORUM, mid))
            assert ok.visible.startswith("✅ Subscribed") and ok.thread == thread  # answered in the topic
        assert [s["topic"] for s in await core.store.run(Store.subscriptions, "telegram", f"{FORUM}:9")] == ["Talking Head Generation"]
        # the General topic is the group itself; a topic speaks the group's language unless set
        mid = tg.send_text(FORUM, ADMIN, "/lang zh")
        await until(lambda: replies(tg, FORUM, mid))
        mid = tg.send_text(FORUM, MEMBER, "/subscriptions", thread=9)
        (listed,) = await until(lambda: replies(tg, FORUM, mid))
        assert listed.visible.startswith("本群订阅的主题") and listed.thread == 9
        await core.harvest()
        for key in (f"{FORUM}:7", f"{FORUM}:9", str(FORUM)):
            assert (await deliver_digest(core, bot, key)).status == "done"
        by_thread = {t: [m for m in tg.in_chat(FORUM) if m.thread == t and m.visible.startswith("📚")] for t in (7, 9, None)}
        assert all(len(h) == 1 for h in by_thread.values())  # each topic got its own digest
        assert "篇新论文" in by_thread[7][0].visible  # in the group's language
        assert len([m for m in tg.in_chat(FORUM) if m.thread == 7 and m.buttons]) == 4  # 元宇宙/虚拟人: four papers
        assert len([m for m in tg.in_chat(FORUM) if m.thread == 9 and m.buttons]) == 1  # talking heads: one
        # votes in a topic are that topic's
        card = next(m for m in tg.in_chat(FORUM) if m.thread == 9 and m.buttons)
        await _press(tg, FORUM, MEMBER, card, card.buttons[0]["callback_data"], 1)
        assert await core.store.run(feedback.net_votes, "telegram", f"{FORUM}:9") == {"2606.30002": 1}
        assert await core.store.run(feedback.net_votes, "telegram", str(FORUM)) == {}
        # a deleted topic: its subscription is paused with a log line, not retried every day
        tg.delete_topic(FORUM, 11)
        gone = await bot.scheduler.digest("telegram", f"{FORUM}:11")
        assert gone is not None and gone.status == "gone" and "thread not found" in gone.detail
        row = await core.store.run(Store.get_chat, "telegram", f"{FORUM}:11")
        assert row["active"] == 0 and "forum topic" in row["inactive_reason"]
        assert bot.scheduler.aps.get_job(f"digest:telegram:{FORUM}:11") is None
        assert bot.scheduler.aps.get_job(f"digest:telegram:{FORUM}:7") is not None
        refused = [c for c in tg.calls if c.status == 400]
        assert len(refused) == 1 and "thread not found" in refused[0].description


def test_a_near_miss_is_marked_above_its_card() -> None:
    from bot.core import Enriched
    from bot.i18n import t
    from bot.telegram_render import paper_caption, paper_text

    item = Enriched(_paper("2607.00004", FACE), None, note=t("label.near_miss", "en"))
    assert paper_text(item, "en").startswith("<i>✨ Outside this chat's topics, but like papers it voted 👍</i>\n<b>")
    assert (paper_caption(item, "zh") or "").startswith("<i>✨ Outside")  # the note is in the chat's language when made
    assert paper_text(Enriched(item.paper, None), "en").startswith("<b>")


async def test_print_one_telegram_digest_message_as_a_group_sees_it(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    """Run with ``-s`` to see one paper of a digest as Telegram shows it, buttons and counts included."""
    listing(arxiv, DAY)
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER,))
    settings = cfg.model_copy(update={"default_lang": "zh"})
    subscribe_directly(settings, GROUP)
    async with telegram(settings) as (core, bot):
        await core.harvest()
        await deliver_digest(core, bot, str(GROUP))
        (card,) = paper_messages(tg, GROUP, "2606.30001")
        await _press(tg, GROUP, MEMBER, card, "v+:2606.30001", 1)
        await until(lambda: card.buttons[0]["text"] == "👍 1")
        w, h, size = tg.files[card.photo]  # type: ignore[index]
        print(f"\n--- {card.method}: one photo {w}x{h} px ({size} bytes, the paper's figures stacked), caption:")
        print(card.visible)
        print("--- buttons:", " | ".join(f"[{b['text']}] ({b['callback_data']})" for b in card.buttons))
        assert card.method == "sendPhoto" and [b["text"] for b in card.buttons][:2] == ["👍 1", "👎"]


# ---- votes on a /summarize answer -----------------------------------------------------------------------


async def test_votes_on_a_summarize_answer_in_a_group_a_dm_and_a_forum_topic(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv
) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, members=(MEMBER, MEMBER + 1))
    tg.add_forum(FORUM, topics=(9,), members=(MEMBER,))
    tg.add_user(MEMBER, "Ada", lang="en")
    with model_behind(cfg) as (llm, settings):
        async with telegram(settings) as (core, _bot):
            (answer,) = await reply_to(tg, GROUP, MEMBER, "/summarize 2606.30003", settle=lambda r: r[0].edits > 0)
            assert answer.visible.startswith("Codec Avatar Compression for Telepresence")
            # the same 👍 / 👎 as a digest card, next to the abstract (the whole summary is on screen)
            assert [(b["text"], b["callback_data"]) for b in answer.buttons] == [
                ("👍", "v+:2606.30003"), ("👎", "v-:2606.30003"), ("📄 Abstract", "abs:2606.30003")]  # fmt: skip
            (other,) = await reply_to(tg, MEMBER, MEMBER, "/summarize 2606.30004", settle=lambda r: r[0].edits > 0)
            requests = len(llm.requests)
            assert await _press(tg, GROUP, MEMBER, answer, "v+:2606.30003", 1) == "👍 noted"
            await until(lambda: _labels(answer)[:2] == ["👍 1", "👎"])
            await _press(tg, GROUP, MEMBER + 1, answer, "v+:2606.30003", 2)
            await until(lambda: _labels(answer)[:2] == ["👍 2", "👎"])
            assert (await _press(tg, GROUP, MEMBER, answer, "v-:2606.30003", 3)).startswith("👎 noted")  # changed
            await until(lambda: _labels(answer)[:2] == ["👍 1", "👎 1"])
            assert await core.store.run(feedback.tally, "telegram", str(GROUP), "2606.30003") == feedback.Tally(1, 1)
            # asked again in the group: the answer shows the chat's counts so far
            (again,) = await reply_to(tg, GROUP, MEMBER + 1, "/summarize 2606.30003")  # cached: one message
            assert _labels(again) == ["👍 1", "👎 1", "📄 Abstract"]
            # in a private chat the votes are that chat's own
            (private,) = await reply_to(tg, MEMBER, MEMBER, "/summarize 2606.30003")
            assert _labels(private) == ["👍", "👎", "📄 Abstract"]
            await _press(tg, MEMBER, MEMBER, private, "v+:2606.30003", 4)
            await until(lambda: _labels(private)[0] == "👍 1")
            # in a forum topic, the topic's
            mid = tg.send_text(FORUM, MEMBER, "/summarize 2606.30003", thread=9)
            (in_topic,) = await until(lambda: replies(tg, FORUM, mid))
            assert in_topic.thread == 9 and _labels(in_topic)[:2] == ["👍", "👎"]
            await _press(tg, FORUM, MEMBER, in_topic, "v-:2606.30003", 5)
            await until(lambda: _labels(in_topic)[:2] == ["👍", "👎 1"])
            await _press(tg, MEMBER, MEMBER, other, "v-:2606.30004", 6)
            assert await core.store.run(feedback.net_votes, "telegram", str(MEMBER)) == {"2606.30003": 1, "2606.30004": -1}
            # what the private chat asked about and voted on is what its ranking learns from
            model = await core.ranker.model(core, "telegram", str(MEMBER))
            assert (model is not None and model.voted == 2) == (ranking.MIN_VOTES <= 2)
            assert await core.store.run(feedback.net_votes, "telegram", f"{FORUM}:9") == {"2606.30003": -1}
            assert await core.store.run(feedback.net_votes, "telegram", str(FORUM)) == {}
            assert await core.store.run(feedback.net_votes, "telegram", str(GROUP)) == {}  # one each way
            assert len(llm.requests) == requests  # six votes, cached answers, a model trained: no model request


# ---- a group becomes a supergroup -------------------------------------------------------------------------


@pytest.mark.parametrize("from_first", [False, True])
async def test_a_group_that_becomes_a_supergroup_keeps_everything_under_its_new_id(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv, caplog: pytest.LogCaptureFixture, from_first: bool
) -> None:
    caplog.set_level(logging.INFO, logger="bot.store")
    caplog.set_level(logging.DEBUG, logger="bot.telegram_bot")
    listing(arxiv, DAY, pdfs=False)
    old, new = -4343, -1004343
    tg.add_group(old, admins=(ADMIN,), members=(MEMBER,))
    settings = cfg.model_copy(update={"default_lang": "en"})
    subscribe_directly(settings, old)
    subscribe_directly(settings, f"{old}:5", "Talking Head Generation", parent_id=str(old))  # type: ignore[arg-type]
    async with telegram(settings, scheduler=True) as (core, bot):
        assert bot.scheduler is not None
        for key in (str(old), f"{old}:5"):
            await bot.scheduler.sync_chat("telegram", key)
        await reply_to(tg, old, ADMIN, "/settings papers 2")
        await reply_to(tg, old, ADMIN, "/lang zh")
        await core.harvest()
        assert (await deliver_digest(core, bot, str(old))).sent == 4
        cards = [m for m in tg.in_chat(old) if _card_of(m)]
        assert len(cards) == 2  # two cards, the other two in the list
        await _press(tg, old, MEMBER, cards[0], f"v+:{_card_of(cards[0])}", 1)
        liked = _card_of(cards[0])
        await core.store.run(Store.set_kv, f"roundup.telegram.{old}.2026-W27", "1")  # this week's roundup is out

        tg.migrate(old, new, from_first=from_first)  # Telegram tells it in both chats
        said = await until(lambda: (found := _migration_lines(caplog)) and found["already"] and found)
        assert len(said["moved"]) == 1 and len(said["already"]) == 1  # moved once, one log line
        line = said["moved"][0]
        assert re.fullmatch(rf"telegram chat {old} moved to {new} \(a supergroup now\): \d+ rows", line), line
        assert await core.store.run(Store.get_chat, "telegram", str(old)) is None
        # everything keyed by the chat is under the new id: subscriptions, settings, language, votes, ledger
        (subs,) = await reply_to(tg, new, MEMBER, "/subscriptions")
        assert subs.visible.startswith("本群订阅的主题") and "元宇宙/虚拟人" in subs.visible
        row = await core.store.run(Store.get_chat, "telegram", str(new))
        assert (row["digest_papers"], row["lang"]) == (2, "zh")
        assert await core.store.run(feedback.net_votes, "telegram", str(new)) == {liked: 1}
        assert await core.store.run(Store.delivered_ids, "telegram", str(new), AVATAR_IDS) == set(AVATAR_IDS)
        before = len(tg.in_chat(new))
        assert (await deliver_digest(core, bot, str(new))).sent == 0  # the ledger moved: nothing again
        assert len(tg.in_chat(new)) == before
        assert await core.store.run(Store.get_kv, f"roundup.telegram.{new}.2026-W27") == "1"
        assert await core.store.run(Store.get_kv, f"roundup.telegram.{old}.2026-W27") is None
        # its forum-topic chat moved with it, and speaks its language
        topic = await core.store.run(Store.get_chat, "telegram", f"{new}:5")
        assert topic is not None and topic["parent_id"] == str(new)
        assert [s["topic"] for s in await core.store.run(Store.subscriptions, "telegram", f"{new}:5")] == ["Talking Head Generation"]
        for table in ("chats", "subscriptions", "deliveries", "digest_runs", "votes", "vote_epochs", "telegram_messages"):
            left = await core.store.run(lambda s, table=table: s.db.execute(
                f"select count(*) from {table} where chat_id = ? or chat_id like ?", [str(old), f"{old}:%"]
            ).fetchone()[0])  # fmt: skip
            assert left == 0, table
        # the digests are scheduled under the new ids only
        jobs = sorted(j.id for j in bot.scheduler.aps.get_jobs())
        assert jobs == [f"digest:telegram:{new}", f"digest:telegram:{new}:5"]
        # /top in the new supergroup counts the votes cast before the move
        (top,) = await reply_to(tg, new, MEMBER, "/top")
        assert top.visible.startswith("🏆") and "👍 1" in top.visible
    assert len(_migration_lines(caplog)["moved"]) == 1


def _migration_lines(caplog: pytest.LogCaptureFixture) -> dict[str, list[str]]:
    said = [r.getMessage() for r in caplog.records]
    return {"moved": [m for m in said if "a supergroup now" in m], "already": [m for m in said if m.endswith(" already")]}


def test_moving_a_chat_onto_an_id_that_spoke_first_keeps_both(settings: Settings) -> None:
    """The new supergroup may have a row already (someone ran /settings there before the move
    arrived): what it set stays, the rest is the old group's; a vote the new id had wins; the
    chat's vote epoch moves, so its model is trained again."""
    store = Store(settings.db_path)
    try:
        feedback.ensure_tables(store)
        store.subscribe("telegram", "-7", "3DGS", "ti:gaussian")
        store.update_chat("telegram", "-7", {"lang": "zh", "digest_papers": 3})
        store.update_chat("telegram", "-1007", {"digest_papers": 5})
        feedback.cast(store, "telegram", "-7", "2606.1", "u1", feedback.UP)
        feedback.cast(store, "telegram", "-7", "2606.2", "u1", feedback.UP)
        feedback.cast(store, "telegram", "-1007", "2606.2", "u1", feedback.DOWN)
        feedback.cast(store, "discord", "-7", "2606.1", "u1", feedback.DOWN)  # another platform's chat -7: stays
        epoch = feedback.epoch(store, "telegram", "-1007")
        assert store.migrate_chat("telegram", "-7", "-1007") > 0
        row = store.get_chat("telegram", "-1007")
        assert row is not None and (row["lang"], row["digest_papers"]) == ("zh", 5)
        assert store.get_chat("telegram", "-7") is None
        assert [s["topic"] for s in store.subscriptions("telegram", "-1007")] == ["3DGS"]
        assert feedback.net_votes(store, "telegram", "-1007") == {"2606.1": 1, "2606.2": -1}
        assert feedback.epoch(store, "telegram", "-1007") > epoch
        assert feedback.net_votes(store, "discord", "-7") == {"2606.1": -1}
        assert store.migrate_chat("telegram", "-7", "-1007") == 0  # told again: nothing to move
    finally:
        store.close()


# ---- what a paper looks like with "card + sections" -----------------------------------------------------

CODEC_HEAD = (
    '<b><a href="https://arxiv.org/abs/2606.30003">Codec Avatar Compression for Telepresence</a></b>\n'
    "Ada Lovelace, Alan Turing, Grace Hopper et al.\n"
    '<code>arXiv:2606.30003</code> · <a href="https://arxiv.org/abs/2606.30003">abs</a> · '
    '<a href="https://arxiv.org/pdf/2606.30003v1">PDF</a>'
)
CODEC_CARD = (
    "💡[extract] We compress codec avatars for telepresence.\n"
    "1. The bitrate drops by half.\n"
    "2. Quality is unchanged.\n"
    "<i>(extracted from the abstract, not written by a model)</i>"
)


async def test_card_and_sections_on_telegram_the_figures_then_the_text_with_the_buttons(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv
) -> None:
    """``/settings sections on``: each paper with figures is its stacked figures as one photo under
    a short caption (no buttons), then the card and the summary's sections as the text message
    that replies to it and carries 👍 / 👎 (Full summary only when a section had to be cut); a
    paper without figures is that text alone. Card only: one photo whose caption is the card."""
    listing(arxiv, DAY)  # figures: 2606.30001 two, 2606.30002 two, 2606.30003 one, 2606.30004 none
    sections, plain = GROUP, GROUP - 1
    settings = cfg.model_copy(update={"default_lang": "en"})
    subscribe_directly(settings, sections, digest_sections=1)
    subscribe_directly(settings, plain)
    async with telegram(settings) as (core, bot):
        await core.harvest()
        for chat in (sections, plain):
            assert (await deliver_digest(core, bot, str(chat))).sent == 4
    header, *posts = tg.in_chat(sections)
    assert header.visible.startswith("📚 元宇宙/虚拟人 · 2026-06-30 · 4 new papers")
    shape = [(m.method, _card_of(m) or (m.html.split('abs/', 1)[1][:10] if m.photo else None)) for m in posts]
    assert shape == [
        ("sendPhoto", "2606.30001"), ("sendMessage", "2606.30001"),
        ("sendPhoto", "2606.30003"), ("sendMessage", "2606.30003"),
        ("sendPhoto", "2606.30002"), ("sendMessage", "2606.30002"),
        ("sendMessage", "2606.30004"),
    ]  # fmt: skip
    for photo, text in (posts[0:2], posts[2:4], posts[4:6]):
        assert not photo.buttons and text.reply_to == photo.message_id and text.photo is None
    photo, text = posts[2:4]
    assert photo.html == CODEC_HEAD  # the short caption: title, authors, links
    assert text.html == f"{CODEC_HEAD}\n\n{CODEC_CARD}\n\n<b>Keywords</b>\ncodec avatar compression"
    assert [(b["text"], b["callback_data"]) for b in text.buttons] == [
        ("👍", "v+:2606.30003"), ("👎", "v-:2606.30003"), ("📄 Abstract", "abs:2606.30003")]  # fmt: skip
    long_one = posts[5]  # every section is whole (the extractive Results ends in "…" itself): no Full summary
    assert "\n\n<b>Results</b>\nSentence 7 explains" in long_one.html and "…\n\n<b>Keywords</b>\n" in long_one.html
    assert _labels(long_one) == ["👍", "👎", "📄 Abstract"]
    assert posts[6].html.startswith('<b><a href="https://arxiv.org/abs/2606.30004">A Metaverse Avatar Benchmark</a></b>')
    assert posts[6].html.endswith("\n\n<b>Keywords</b>\nmetaverse avatar benchmark") and posts[6].reply_to is None
    # card only: one message per paper, the card as the photo's caption, with the buttons (a card too
    # long for a caption, 2606.30002's, keeps the key takeaways that fit)
    _, *cards = tg.in_chat(plain)
    assert [(m.method, _card_of(m)) for m in cards] == [
        ("sendPhoto", "2606.30001"), ("sendPhoto", "2606.30003"), ("sendPhoto", "2606.30002"),
        ("sendMessage", "2606.30004")]  # fmt: skip
    assert cards[1].html == f"{CODEC_HEAD}\n\n{CODEC_CARD}"
    assert _labels(cards[1]) == ["👍", "👎", "📖 Full summary", "📄 Abstract"]  # the sections are behind Full summary


def test_card_and_sections_offers_the_full_summary_only_when_a_section_was_cut() -> None:
    from bot.core import Enriched
    from bot.summarize import Summary
    from bot.telegram_render import SECTION_CHARS, paper_sections_text, sections_cut

    def item(results: str) -> Enriched:
        summary = Summary(summary="One line.", key_takeaways=["A."], background="Why.", past_methods="", method="How.",
                          results=results, conclusion="So.", keywords=["k"], language="en", source="pdf",
                          model="gemini:m")  # fmt: skip
        return Enriched(_paper("2607.00009", "A paper"), summary)

    whole = item("It works.")
    assert not sections_cut(whole, "en") and "<b>Results</b>\nIt works.\n\n<b>Conclusion</b>" in paper_sections_text(whole, "en")
    cut = item("Long. " * (SECTION_CHARS // 5))
    assert sections_cut(cut, "en")
    dropped = item(" ".join(f"Result {i}." for i in range(140)))  # each section fits; together they do not
    dropped.summary.method = dropped.summary.background = dropped.summary.conclusion = dropped.summary.results  # type: ignore[union-attr]
    assert "<b>Conclusion</b>" not in paper_sections_text(dropped, "en") and sections_cut(dropped, "en")


def test_a_card_too_long_for_a_caption_keeps_the_takeaways_that_fit() -> None:
    """A photo caption holds 1,024 characters: the card drops key takeaways from the last until it
    fits (Full summary shows them), and only when even its head and one line do not fit is it
    None (the photo under a short caption, then the card as text)."""
    from bot.core import Enriched
    from bot.summarize import Summary
    from bot.telegram_render import CAPTION_LIMIT, paper_caption, shows_takeaways, visible_len

    def item(title: str, n: int, one_line: str = "One line.") -> Enriched:
        summary = Summary(summary=one_line, key_takeaways=[f"Takeaway {i} " + "word " * 40 for i in range(1, n + 1)],
                          background="", past_methods="", method="", results="", conclusion="", keywords=[],
                          language="en", source="pdf", model="gemini:m")  # fmt: skip
        return Enriched(_paper("2607.00010", title), summary)

    short = item("A paper", 2)
    whole = paper_caption(short, "en")
    assert whole is not None and "\n2. Takeaway 2" in whole and shows_takeaways(whole, short.summary)  # type: ignore[arg-type]
    long = item("A paper", 7)
    fitted = paper_caption(long, "en")
    assert fitted is not None and visible_len(fitted) <= CAPTION_LIMIT
    assert "\n3. Takeaway 3" in fitted and "\n5. " not in fitted and fitted.endswith("</i>")  # who wrote it stays last
    assert not shows_takeaways(fitted, long.summary)  # type: ignore[arg-type]
    crowded = item("Title " * 50, 3, one_line="Word " * 80)  # the longest title, comment and one line
    crowded.paper.comment, crowded.paper.authors = "Comment " * 40, ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    assert paper_caption(crowded, "en") is None


async def test_telegram_settings_votes_and_top_never_reach_the_model(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER,))
    with model_behind(cfg) as (llm, settings):
        subscribe_directly(settings, GROUP)
        async with telegram(settings) as (core, bot):
            await core.harvest()
            assert (await deliver_digest(core, bot, str(GROUP))).sent == 4
            requests = len(llm.requests)
            assert requests > 0  # the digest's summaries were the model's
            (shown,) = await reply_to(tg, GROUP, ADMIN, "/settings")
            tg.press(GROUP, ADMIN, shown.message_id, "set:figures:1")
            await until(lambda: shown.edits == 1)
            tg.press(GROUP, MEMBER, shown.message_id, "set:roundup:on")  # refused: not an admin
            await until(lambda: tg.count("answerCallbackQuery") == 2)
            for command in ("/settings sections on", "/settings days weekdays", "/settings papers 3", "/top month"):
                await reply_to(tg, GROUP, ADMIN, command)
            row = await core.store.run(Store.get_chat, "telegram", str(GROUP))
            assert (row["digest_figures"], row["digest_sections"], row["digest_days"], row["digest_papers"], row["roundup"]) == (1, 1, "weekdays", 3, None)
            card = paper_messages(tg, GROUP, "2606.30003")[-1]
            await _press(tg, GROUP, MEMBER, card, "v+:2606.30003", 3)
            (top,) = await reply_to(tg, GROUP, MEMBER, "/top")
            assert "Codec Avatar Compression" in top.visible
            assert len(llm.requests) == requests  # settings, votes and /top: not one model request


async def test_a_forum_topic_answers_in_its_own_language_and_why_looks_at_its_own_topics(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv
) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_forum(FORUM, topics=(9,), admins=(ADMIN,), members=(MEMBER,))
    settings = cfg.model_copy(update={"default_lang": "zh"})
    subscribe_directly(settings, FORUM)  # the group (General): 元宇宙/虚拟人, in Chinese
    subscribe_directly(settings, f"{FORUM}:9", "Talking Head Generation", parent_id=str(FORUM), lang="en")  # type: ignore[arg-type]
    async with telegram(settings) as (_core, _bot):
        await _core.harvest()
        answers = {}
        for thread in (None, 9):
            for command in ("/help", "/why 2606.30004"):
                mid = tg.send_text(FORUM, MEMBER, command, thread=thread)
                (answers[thread, command],) = await until(lambda mid=mid: replies(tg, FORUM, mid))
                assert answers[thread, command].thread == thread
        assert "/subscribe" in answers[9, "/help"].visible and "订阅" not in answers[9, "/help"].visible
        assert "订阅" in answers[None, "/help"].visible
        assert "Talking Head Generation" in answers[9, "/why 2606.30004"].visible
        assert "虚拟人" not in answers[9, "/why 2606.30004"].visible
        assert "虚拟人" in answers[None, "/why 2606.30004"].visible


async def test_the_telegram_roundup_is_one_message_and_the_top_threes_figures(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv
) -> None:
    listing(arxiv, DAY)  # with PDFs: the digest extracts figures, the roundup reuses them (never extracts)
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER,))
    settings = cfg.model_copy(update={"default_lang": "en"})
    subscribe_directly(settings, GROUP)
    async with telegram(settings) as (core, bot):
        await core.harvest()
        assert (await deliver_digest(core, bot, str(GROUP))).sent == 4
        answers = 0
        for pid in ("2606.30002", "2606.30003", "2606.30001", "2606.30004"):
            answers += 1
            await _press(tg, GROUP, MEMBER, paper_messages(tg, GROUP, pid)[-1], f"v+:{pid}", answers)
        answers += 1
        await _press(tg, GROUP, ADMIN, paper_messages(tg, GROUP, "2606.30002")[-1], "v+:2606.30002", answers)
        uploads = tg.uploads
        mid = tg.send_text(GROUP, MEMBER, "/top")
        posts = await until(lambda: (r := replies(tg, GROUP, mid)) and len(r) == 4 and r)
    text, *album = posts
    assert text.visible.split("\n")[2:] == [
        "1. Avatars & <Faces>: Talking Avatar Synthesis at Scale — 👍 2",
        "2. Animatable Gaussian Avatars from Monocular Video — 👍 1",
        "3. Codec Avatar Compression for Telepresence — 👍 1",
        "4. A Metaverse Avatar Benchmark — 👍 1",
    ]  # ties in the order of their ids
    # the first three's teaser figures, as one album replying to the list
    assert [m.method for m in album] == ["sendMediaGroup"] * 3 and len({m.media_group_id for m in album}) == 1
    assert all(m.reply_to == text.message_id for m in album)
    assert [m.visible for m in album] == [  # which paper each figure is
        "1. Avatars & <Faces>: Talking Avatar Synthesis at Scale",
        "2. Animatable Gaussian Avatars from Monocular Video",
        "3. Codec Avatar Compression for Telepresence",
    ]
    assert tg.uploads - uploads <= 3  # each teaser uploaded at most once (a one-figure sheet is the figure itself)


async def test_inline_mode_offers_a_cached_summarys_one_liner(cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv) -> None:
    from bot.render import clean

    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, members=(MEMBER,))
    with model_behind(cfg) as (llm, settings):
        async with telegram(settings) as (core, _bot):
            tg.add_user(MEMBER, "Ada", lang="en")
            await reply_to(tg, GROUP, MEMBER, "/summarize 2606.30003", settle=lambda r: r[0].edits > 0)
            paper = await core.store.run(Store.get_paper, "2606.30003")
            summary = await core.summarizer.cached(paper, "en")
            assert summary is not None and not summary.extractive
            requests = len(llm.requests)
            qid = tg.inline(MEMBER, "2606.30003")
            await until(lambda: qid in tg.inline_answers)
            (result,) = tg.inline_answers[qid]
            assert result["description"] == clean(summary.summary)  # the model's one-liner, from the cache
            assert f"💡 {clean(summary.summary)}" in result["input_message_content"]["visible"]
            assert len(llm.requests) == requests


async def test_a_digest_card_shows_the_votes_its_paper_already_has_in_the_chat(
    cfg: Settings, tg: FakeTelegram, arxiv: FakeArxiv
) -> None:
    listing(arxiv, DAY, pdfs=False)
    tg.add_group(GROUP, admins=(ADMIN,), members=(MEMBER,))
    settings = cfg.model_copy(update={"default_lang": "en"})
    subscribe_directly(settings, GROUP)
    async with telegram(settings) as (core, bot):
        await core.harvest()
        (answer,) = await reply_to(tg, GROUP, MEMBER, "/summarize 2606.30003", settle=lambda r: bool(r[0].buttons))
        await _press(tg, GROUP, MEMBER, answer, "v+:2606.30003", 1)  # liked before the digest came
        assert (await deliver_digest(core, bot, str(GROUP))).sent == 4
        assert _labels(paper_messages(tg, GROUP, "2606.30003")[-1])[:2] == ["👍 1", "👎"]
        assert _labels(paper_messages(tg, GROUP, "2606.30001")[-1])[:2] == ["👍", "👎"]
