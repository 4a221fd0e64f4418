"""Issue 12 on Discord: votes on the cards, /settings, /top, threads' language; the real
discord.py client against ``tests/fakes/discord.py`` (fixtures from ``tests/test_discord.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from bot import feedback
from bot.deliver import deliver_digest
from bot.settings import Settings
from bot.store import Store
from tests import test_discord
from tests.fakes.discord import MANAGE_CHANNELS, MEMBER_PERMISSIONS, FakeDiscord
from tests.fakes.server import serve
from tests.test_discord import running

fake, dsettings = test_discord.fake, test_discord.dsettings  # the Discord tests' fixtures
MANAGER = MEMBER_PERMISSIONS | MANAGE_CHANNELS


def _votes(message: dict[str, Any]) -> dict[str, str | None]:
    """The 👍 / 👎 buttons of a message as Discord stores it: {emoji: label}."""
    out = {}
    for row in message["components"]:
        for b in row["components"]:
            if str(b.get("custom_id", "")).startswith("paperbot:vote:"):
                out[b["emoji"]["name"]] = b.get("label")
    return out


async def test_votes_on_discord_cards(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    async with running(dsettings) as (core, bot):
        await core.harvest()
        await core.store.run(Store.subscribe, "discord", channel, "3DGS", core.catalogue.resolve("3DGS").query)
        result = await deliver_digest(core, bot, channel)
        assert result.status == "done"
        card = next(r for r in fake.sent(channel) if r.payload.get("components"))
        mid = card.response["id"]
        pid = card.payload["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1]
        assert _votes(fake.messages[mid]) == {"👍": None, "👎": None}
        alice, bob = fake.user("alice"), fake.user("bob")
        up = await fake.click(mid, f"paperbot:vote:up:{pid}", user=alice)
        await fake.wait_until(lambda: up.callback)
        assert up.callback["type"] == 7  # the card itself is updated
        assert _votes(fake.messages[mid]) == {"👍": "1", "👎": None}
        two = await fake.click(mid, f"paperbot:vote:up:{pid}", user=bob)
        await fake.wait_until(lambda: two.callback)
        assert _votes(fake.messages[mid]) == {"👍": "2", "👎": None}
        switch = await fake.click(mid, f"paperbot:vote:down:{pid}", user=alice)
        await fake.wait_until(lambda: switch.callback)
        assert _votes(fake.messages[mid]) == {"👍": "1", "👎": "1"}
        back = await fake.click(mid, f"paperbot:vote:down:{pid}", user=alice)
        await fake.wait_until(lambda: back.callback)
        assert _votes(fake.messages[mid]) == {"👍": "1", "👎": None}
        assert await core.store.run(feedback.net_votes, "discord", channel) == {pid: 1}


async def test_settings_and_top_on_discord(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    async with running(dsettings) as (core, bot):
        look = await fake.slash("settings", channel_id=channel)  # anyone may look, only to themselves
        await fake.wait_until(lambda: look.callback)
        assert look.callback["data"]["flags"] & 64 and "Papers per digest: 10" in look.callback["data"]["content"]
        refused = await fake.slash("settings", {"papers": 2}, channel_id=channel)
        await fake.wait_until(lambda: refused.callback)
        assert "Manage Channels" in refused.callback["data"]["content"]
        assert (await core.store.run(Store.get_chat, "discord", channel) or {}).get("digest_papers") is None
        ok = await fake.slash("settings", {"papers": 1, "figures": 0, "sections": "on", "days": "fri", "roundup": "on"},
                              channel_id=channel, permissions=MANAGER)  # fmt: skip
        await fake.wait_until(lambda: ok.callback)
        text = ok.callback["data"]["content"]
        assert text.startswith("✅ Updated.") and "Papers per digest: 1" in text and "weekly on Friday" in text
        assert "Weekly roundup: on (Friday)" in text and "card + summary sections" in text
        row = await core.store.run(Store.get_chat, "discord", channel)
        assert (row["digest_papers"], row["digest_figures"], row["digest_sections"], row["digest_days"], row["roundup"]) == (1, 0, 1, "fri", 1)
        # /top from the channel's votes: one message in the channel, ranked
        await core.harvest()
        await core.store.run(Store.subscribe, "discord", channel, "3DGS", core.catalogue.resolve("3DGS").query)
        result = await deliver_digest(core, bot, channel, manual=True)  # /digest: on any day
        assert result.status == "done"
        cards = [r for r in fake.sent(channel) if r.payload.get("components")]
        assert len(cards) == 1 and not cards[0].files  # one card, no figures
        assert len(cards[0].payload["embeds"][0].get("fields") or []) >= 1  # the summary's sections
        pid = cards[0].payload["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1]
        up = await fake.click(cards[0].response["id"], f"paperbot:vote:up:{pid}")
        await fake.wait_until(lambda: up.callback)
        top = await fake.slash("top", {"period": "week"}, channel_id=channel)
        await fake.wait_until(lambda: top.followups)
        embed = top.followups[0]["embeds"][0]
        assert embed["title"] == "🏆 This chat's most-liked papers of the week" and "👍 1" in embed["description"]
        # the weekly roundup on the channel's weekly day (08:00 UTC on 30 June is Tuesday in Shanghai)
        from bot import roundup as weekly

        await core.store.run(Store.update_chat, "discord", channel, {"digest_days": "tue"})
        assert await weekly.maybe_send(core, bot, channel)
        posted = fake.sent(channel)[-1].payload["embeds"][0]
        assert posted["title"] == "🏆 This chat's most-liked papers of the week" and "👍 1" in posted["description"]
        assert not await weekly.maybe_send(core, bot, channel)  # once a week


async def test_a_discord_thread_speaks_its_channels_language_unless_set(dsettings: Settings, fake: FakeDiscord) -> None:
    from tests.fakes.discord import CHANNEL_PUBLIC_THREAD

    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    thread = fake.add_channel(guild, "gs-thread", type=CHANNEL_PUBLIC_THREAD, parent_id=channel)
    other = fake.add_channel(guild, "en-thread", type=CHANNEL_PUBLIC_THREAD, parent_id=channel)
    async with running(dsettings) as (core, bot):
        zh = await fake.slash("lang", {"language": "zh"}, channel_id=channel, permissions=MANAGER)
        await fake.wait_until(lambda: zh.callback)
        for ch, lang in ((thread, None), (other, "en")):
            sub = await fake.slash("subscribe", {"topic": "3DGS"}, channel_id=ch, permissions=MANAGER)
            await fake.wait_until(lambda sub=sub: sub.callback)
            if lang:
                it = await fake.slash("lang", {"language": lang}, channel_id=ch, permissions=MANAGER)
                await fake.wait_until(lambda it=it: it.callback)
        assert sub.callback["data"]["content"] == "✅ 已订阅：3DGS"  # before its own /lang: the channel's Chinese
        await core.harvest()
        await deliver_digest(core, bot, thread)
        await deliver_digest(core, bot, other)
        assert fake.sent(thread)[0].payload["content"].startswith("📚 3DGS · 2026-06-30 · ") and "篇新论文" in fake.sent(thread)[0].payload["content"]
        assert "new papers" in fake.sent(other)[0].payload["content"]


async def _click(fake: FakeDiscord, message_id: str, custom_id: str, user: dict[str, Any]) -> dict[str, Any]:
    """Click a button and wait for the bot's answer to it; the message as it is now."""
    it = await fake.click(message_id, custom_id, user=user)
    await fake.wait_until(lambda: it.callback)
    assert it.callback["type"] == 7  # the message itself is updated
    return fake.messages[message_id]


async def test_votes_on_a_summarize_answer_and_no_model_call_for_a_vote_or_a_setting(
    dsettings: Settings, fake: FakeDiscord
) -> None:
    gemini = pytest.importorskip("tests.fakes.gemini")
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    alice, bob = fake.user("alice"), fake.user("bob")
    dm = fake.add_dm(alice)
    llm = gemini.FakeGemini()
    with serve(llm.app()) as server:
        settings = dsettings.model_copy(update={
            "llm_provider": "gemini", "gemini_api_key": SecretStr("test-key"), "gemini_base_url": server.url,
            "llm_retries": 0,
        })  # fmt: skip
        async with running(settings) as (core, _bot):
            it = await fake.slash("summarize", {"paper": "2409.00001"}, channel_id=channel, user=alice)
            await fake.wait_until(lambda: it.followups)
            answer = it.followups[0]
            assert answer["embeds"][0]["title"] == "A talking avatar from one photo" and not answer["flags"] & 64
            assert _votes(answer) == {"👍": None, "👎": None}  # next to Full summary and PDF, as on a card
            assert llm.generate_calls  # the summary was the model's
            requests = len(llm.requests)
            vote = "paperbot:vote:{}:2409.00001"
            assert _votes(await _click(fake, answer["id"], vote.format("up"), alice)) == {"👍": "1", "👎": None}
            assert _votes(await _click(fake, answer["id"], vote.format("up"), bob)) == {"👍": "2", "👎": None}
            assert _votes(await _click(fake, answer["id"], vote.format("down"), alice)) == {"👍": "1", "👎": "1"}
            assert await core.store.run(feedback.tally, "discord", channel, "2409.00001") == feedback.Tally(1, 1)
            # asked again: the channel's counts so far; in a DM, the DM's own votes
            again = await fake.slash("summarize", {"paper": "2409.00001"}, channel_id=channel, user=bob)
            await fake.wait_until(lambda: again.followups)
            assert _votes(again.followups[0]) == {"👍": "1", "👎": "1"}
            private = await fake.slash("summarize", {"paper": "2409.00001"}, channel_id=dm, user=alice)
            await fake.wait_until(lambda: private.followups)
            assert _votes(private.followups[0]) == {"👍": None, "👎": None}
            assert _votes(await _click(fake, private.followups[0]["id"], vote.format("up"), alice)) == {"👍": "1", "👎": None}
            assert await core.store.run(feedback.net_votes, "discord", dm) == {"2409.00001": 1}
            # a settings change, a look at the settings and /top: no model either
            ok = await fake.slash("settings", {"papers": 3, "sections": "on"}, channel_id=channel, permissions=MANAGER)
            await fake.wait_until(lambda: ok.callback)
            assert ok.callback["data"]["content"].startswith("✅ Updated.")
            look = await fake.slash("settings", channel_id=channel)
            await fake.wait_until(lambda: look.callback)
            top = await fake.slash("top", channel_id=dm, user=alice)
            await fake.wait_until(lambda: top.followups)
            assert "A talking avatar from one photo" in top.followups[0]["embeds"][0]["description"]
            assert len(llm.requests) == requests  # cached answers, four votes, settings, /top: no model request


async def test_card_and_sections_on_discord_is_the_same_one_message_with_the_sections_as_fields(
    dsettings: Settings, fake: FakeDiscord
) -> None:
    """``/settings sections on`` on Discord: still one message per paper, the same card (title,
    authors, summary and takeaways, footer, buttons) with the summary's sections as its fields;
    card only has none."""
    guild = fake.add_guild()
    plain, sections = fake.add_channel(guild, "plain"), fake.add_channel(guild, "sections")
    async with running(dsettings) as (core, bot):
        await core.harvest()
        for ch in (plain, sections):
            await core.store.run(Store.subscribe, "discord", ch, "3DGS", core.catalogue.resolve("3DGS").query)
        await core.store.run(Store.update_chat, "discord", sections, {"digest_sections": 1})
        for ch in (plain, sections):
            assert (await deliver_digest(core, bot, ch)).sent == 3
    cards = {ch: [r.payload for r in fake.sent(ch)[1:]] for ch in (plain, sections)}
    assert [len(c) for c in cards.values()] == [3, 3]  # one message per paper either way
    card, full = cards[plain][0]["embeds"][0], cards[sections][0]["embeds"][0]
    assert card["title"] == full["title"] == "Gaussian Splatting Head Avatars"
    assert card["description"] == full["description"] and card["footer"] == full["footer"] == {"text": "arXiv:2606.00001v1 · cs.CV · 3DGS"}
    assert full["description"].endswith(
        "**Summary** [extract]\nWe propose a new method for real-time rendering.\n\n**Key takeaways** [extract]\n"
        "1. The method predicts Gaussian primitives with one feed-forward network.\n"
        "2. It handles unseen identities without any fine-tuning on them.\n"
        "3. Experiments on three benchmarks show state-of-the-art quality.\n\n"
        "*(extracted from the abstract, not written by a model)*"
    )
    assert "fields" not in card or not card["fields"]
    assert [(f["name"], f["value"]) for f in full["fields"]] == [
        ("Background [extract]", "Gaussian Splatting Head Avatars."),
        ("Earlier methods and their problems [extract]", "Existing methods are slow and need hours of training for every scene."),
        ("Method [extract]", "It is fast and accurate."),
        ("Conclusion [extract]", "We believe it opens the way to interactive telepresence."),
        ("Keywords [extract]", "gaussian splatting head, head avatars"),
    ]
    for payload in (cards[plain][0], cards[sections][0]):
        buttons = [(b.get("label"), b.get("custom_id") or b.get("url"), (b.get("emoji") or {}).get("name"))
                   for row in payload["components"] for b in row["components"]]  # fmt: skip
        assert buttons == [
            ("Full summary", "paperbot:full:2606.00001", "📄"), ("PDF", "https://arxiv.org/pdf/2606.00001v1", None),
            (None, "paperbot:vote:up:2606.00001", "👍"), (None, "paperbot:vote:down:2606.00001", "👎"),
        ]  # fmt: skip


async def test_discord_digest_during_a_harvest_waits_for_it_and_says_so(
    dsettings: Settings, fake: FakeDiscord, fake_arxiv: Any
) -> None:
    import asyncio

    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    fake_arxiv.timeout_seconds = 1.5
    fake_arxiv.faults["rss"].append("timeout")  # arXiv is slow to answer: the harvest takes a while
    async with running(dsettings) as (core, _bot):
        await core.store.run(Store.subscribe, "discord", channel, "3DGS", core.catalogue.resolve("3DGS").query)
        harvest = asyncio.create_task(core.harvest())
        await fake.wait_until(lambda: core.harvesting and fake_arxiv.requests("rss"))
        it = await fake.slash("digest", channel_id=channel, permissions=MANAGER)
        await fake.wait_until(lambda: it.followups)
        assert it.followups[0]["content"].startswith("⏳ Fetching today's papers from arXiv")
        await harvest
        await fake.wait_until(lambda: len(it.followups) == 2)
        assert it.followups[1]["content"] == "✅ Sent 3 papers."
        cards = [r for r in fake.sent(channel) if r.payload.get("components")]
        assert len(cards) == 3  # the digest went out after the harvest, not "nothing new"


async def test_discord_top_is_one_message_with_the_top_threes_figures_named_by_their_place(
    dsettings: Settings, fake: FakeDiscord, tmp_path: Any
) -> None:
    from tests.test_discord import seed_figures

    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    alice, bob = fake.user("alice"), fake.user("bob")
    async with running(dsettings) as (core, _bot):
        await core.harvest()
        for pid in ("2606.00001", "2606.00003"):  # figures extracted for an earlier digest; 2606.00002 has none
            await seed_figures(core, pid, tmp_path / pid, [20_000])
        for user, pid in ((alice, "2606.00002"), (bob, "2606.00002"), (alice, "2606.00001"), (alice, "2606.00003")):
            await core.store.run(feedback.cast, "discord", channel, pid, user["id"], feedback.UP)
        top = await fake.slash("top", {"period": "week"}, channel_id=channel)
        await fake.wait_until(lambda: top.followups)
    (message,) = top.followups
    lines = message["embeds"][0]["description"].split("\n")
    assert lines[0].startswith("1. [Gaussian Splatting word0 word1") and "](https://arxiv.org/abs/2606.00002)" in lines[0]
    assert lines[1].startswith("2. [Gaussian Splatting Head Avatars](https://arxiv.org/abs/2606.00001)")
    assert lines[2].startswith("3. [Fast Gaussian Splatting for \\*everyone\\*\\_](https://arxiv.org/abs/2606.00003)")
    assert [line.rsplit(" — ", 1)[1] for line in lines] == ["👍 2", "👍 1", "👍 1"]
    assert [f.filename for f in top.followup_files[0]] == ["top2.png", "top3.png"]  # the second and third have figures
    described = [a.get("description") for a in message["attachments"]]
    assert described == ["2. Gaussian Splatting Head Avatars", "3. Fast Gaussian Splatting for *everyone*_"]


async def test_discord_settings_and_top_choices_are_named_in_chinese_too(dsettings: Settings, fake: FakeDiscord) -> None:
    async with running(dsettings):
        commands = {c["name"]: c for c in fake.commands}
    days = next(o for o in commands["settings"]["options"] if o["name"] == "days")
    named = {c["value"]: (c["name"], c.get("name_localizations") or {}) for c in days["choices"]}
    assert named["fri"] == ("fri", {"zh-CN": "每周五", "zh-TW": "每週五"})
    assert named["weekdays"] == ("weekdays", {"zh-CN": "工作日", "zh-TW": "工作日"})
    period = commands["top"]["options"][0]
    assert [(c["value"], c["name_localizations"]["zh-TW"]) for c in period["choices"]] == [("week", "本週"), ("month", "本月")]
    assert commands["settings"]["description_localizations"]["zh-TW"] == "本頻道的推送設定（用選項修改）"


async def test_a_discord_card_shows_the_votes_its_paper_already_has_in_the_channel(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    async with running(dsettings) as (core, bot):
        await core.harvest()
        it = await fake.slash("summarize", {"paper": "2606.00001"}, channel_id=channel)
        await fake.wait_until(lambda: it.followups)
        await _click(fake, it.followups[0]["id"], "paperbot:vote:up:2606.00001", fake.user("alice"))  # before the digest
        await core.store.run(Store.subscribe, "discord", channel, "3DGS", core.catalogue.resolve("3DGS").query)
        assert (await deliver_digest(core, bot, channel)).sent == 3
    cards = {r.payload["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1]: r.payload
             for r in fake.sent(channel) if r.payload.get("components")}  # fmt: skip
    assert _votes(cards["2606.00001"]) == {"👍": "1", "👎": None}
    assert _votes(cards["2606.00003"]) == {"👍": None, "👎": None}
