"""The Discord adapter end to end: the real discord.py client against a fake Discord.

discord.py logs in, syncs commands and connects the gateway (zlib-stream, heartbeats, READY,
GUILD_CREATE, RESUME) to ``tests/fakes/discord.py``; the tests send interactions over that
gateway and assert on what reaches "Discord": interaction callbacks, followups and channel
messages with their multipart payloads, checked against Discord's limits by the fake.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route
from pydantic import SecretStr

from bot import discord_render as dr
from bot.core import Paperbot
from bot.deliver import deliver_digest, deliver_many
from bot.discord_bot import DiscordBot
from bot.errors import BadSetting
from bot.figures import Figure, save_figures
from bot.i18n import t
from bot.settings import Settings
from bot.store import Store
from tests.conftest import shared_path
from tests.fakes.discord import (
    CHANNEL_FORUM,
    CHANNEL_PUBLIC_THREAD,
    MANAGE_CHANNELS,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    Request,
    embed_chars,
)

DAY = date(2026, 6, 30)
CLOCK = datetime(2026, 6, 30, 8, tzinfo=UTC)
MANAGER = MEMBER_PERMISSIONS | MANAGE_CHANNELS
LONG_TITLE = "Gaussian Splatting " + " ".join(f"word{i}" for i in range(80))  # ~560 characters


def entry(pid: str, title: str, **extra: object) -> dict[str, object]:
    e: dict[str, object] = {
        "id": pid,
        "title": title,
        "summary": f"{title}. Existing methods are slow and need hours of training for every scene. "
        "We propose a new method for real-time rendering. It is fast and accurate. "
        "The method predicts Gaussian primitives with one feed-forward network. "
        "It handles unseen identities without any fine-tuning on them. "
        "Experiments on three benchmarks show state-of-the-art quality. "
        "We believe it opens the way to interactive telepresence.",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "categories": ["cs.CV", "cs.GR"],
        "comment": None,
    }
    e.update(extra)
    return e


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as f:
        yield f


@pytest.fixture
def dsettings(arxiv_settings: Settings, fake: FakeDiscord, fake_arxiv) -> Settings:
    fake_arxiv.add_day(
        DAY,
        [
            entry("2606.00001", "Gaussian Splatting Head Avatars", comment="CVPR 2026. Project page: x " * 30,
                  authors=[f"Author {i}" for i in range(40)]),
            entry("2606.00002", LONG_TITLE),
            entry("2606.00003", "Fast Gaussian Splatting for *everyone*_"),
            entry("2606.00004", "Protein folding", categories=["q-bio.BM"]),
        ],
    )
    fake_arxiv.add_paper(entry("2409.00001", "A talking avatar from one photo", categories=["cs.CV"]))
    fake_arxiv.rss_day = DAY
    return arxiv_settings.model_copy(
        update={
            "discord_bot_token": SecretStr(fake.token),
            "discord_api_url": fake.api_url,
            "discord_gateway_url": fake.gateway_url,
            "default_lang": "en",
        }
    )


@asynccontextmanager
async def running(settings: Settings, core: Paperbot | None = None) -> AsyncIterator[tuple[Paperbot, DiscordBot]]:
    """A core and a started DiscordBot (ready on the fake's gateway); stopped on exit."""
    if core is None:
        async with Paperbot(settings, clock=lambda: CLOCK) as own, running(settings, own) as both:
            yield both
        return
    bot = DiscordBot(core, guild_ready_timeout=0.05)
    await bot.start()
    try:
        yield core, bot
    finally:
        await bot.stop()


def figure_png(path: Path, size: int) -> Path:
    """A file of ``size`` bytes with a PNG signature (the adapter never decodes it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(max(0, size - 8)))
    return path


async def seed_figures(core: Paperbot, paper_id: str, tmp: Path, sizes: list[int]) -> None:
    """Figures as a previous extraction left them: PNGs on disk and their rows in the cache."""
    figs = [
        Figure("figure", str(i + 1), f"Figure {i + 1}: overview of the pipeline, part {i + 1}.", 1,
               (0.0, 0.0, 100.0 + i, 100.0), figure_png(tmp / f"{paper_id}_{i}.png", size), 800, 600)
        for i, size in enumerate(sizes)
    ]
    await core.store.run(save_figures, paper_id, 1, figs)


def check_limits(req: Request) -> None:
    """What the fake already enforces, asserted again on the recorded payload."""
    p = req.payload
    assert len(p.get("content") or "") <= 2000
    embeds = p.get("embeds") or []
    assert len(embeds) <= 10 and len(req.files) <= 10
    for e in embeds:
        assert len(e.get("title") or "") <= 256
        assert len(e.get("description") or "") <= 4096
        assert len(e.get("fields") or []) <= 25
        assert len((e.get("footer") or {}).get("text") or "") <= 2048
    assert sum(embed_chars(e) for e in embeds) <= 6000
    assert all(f.size <= 10 * 1024 * 1024 for f in req.files)


# ---- start, commands, permissions --------------------------------------------------------------


async def test_subscribe_needs_manage_channels_and_is_per_channel(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild("Vision Lab")
    general = fake.add_channel(guild, "general")
    papers = fake.add_channel(guild, "papers")
    thread = fake.add_channel(guild, "nerf-thread", type=CHANNEL_PUBLIC_THREAD, parent_id=papers)
    forum = fake.add_channel(guild, "reading-group", type=CHANNEL_FORUM)
    post = fake.add_channel(guild, "weekly picks", type=CHANNEL_PUBLIC_THREAD, parent_id=forum)
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY

    async with running(dsettings) as (core, _bot):
        assert fake.api_url == Route.BASE
        assert fake.identifies[0]["intents"] == 1  # guilds only: no privileged intents needed
        assert fake.connections[0] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}  # answered compressed
        assert fake.heartbeats >= 1
        assert fake.calls("GET", "users/@me") and fake.calls("GET", "oauth2/applications/@me")

        refused = await fake.slash("subscribe", {"topic": "虚拟人"}, channel_id=general)
        await fake.wait_until(lambda: refused.callback)
        assert refused.callback["type"] == 4
        assert refused.callback["data"]["flags"] & 64  # ephemeral: only the person sees it
        assert refused.callback["data"]["content"] == dr.dt("dc.need_manage", "en")
        assert await core.store.run(Store.subscriptions, "discord", general) == []

        ok = await fake.slash("subscribe", {"topic": "虚拟人"}, channel_id=general, permissions=MANAGER)
        await fake.wait_until(lambda: ok.callback)
        assert ok.callback["data"]["content"] == t("cmd.subscribed", "en", topic="元宇宙/虚拟人")

        for channel, topic in ((thread, "NeRF"), (post, "ti:\"gaussian avatar\"")):
            it = await fake.slash("subscribe", {"topic": topic}, channel_id=channel, permissions=MANAGER)
            await fake.wait_until(lambda it=it: it.callback)
            assert it.callback["data"]["content"].startswith("✅"), it.callback
        again = await fake.slash("subscribe", {"topic": "avatar"}, channel_id=general, permissions=MANAGER)
        await fake.wait_until(lambda: again.callback)
        assert again.callback["data"]["content"] == t("cmd.already_subscribed", "en", topic="元宇宙/虚拟人")

        bad = await fake.slash("subscribe", {"topic": "ti:(avatar"}, channel_id=general, permissions=MANAGER)
        await fake.wait_until(lambda: bad.callback)
        assert bad.callback["data"]["flags"] & 64
        assert "Traceback" not in bad.callback["data"]["content"] and "query" in bad.callback["data"]["content"]

        subs = {c: [s["topic"] for s in await core.store.run(Store.subscriptions, "discord", c)]
                for c in (general, papers, thread, post)}
        assert subs == {general: ["元宇宙/虚拟人"], papers: [], thread: ["NeRF"], post: ['ti:"gaussian avatar"']}
        comma = await fake.slash("subscribe", {"topic": "ti:avatar,ti:metaverse"}, channel_id=papers, permissions=MANAGER)
        await fake.wait_until(lambda: comma.callback)
        assert comma.callback["data"]["content"].splitlines() == [  # made as typed, with what it reads as and the fix
            "✅ Subscribed to ti:avatar,ti:metaverse",
            "⚠️ a comma is not an operator, so “ti:avatar,ti:metaverse” is read as ti:\"avatar,ti:metaverse\"; "
            "to match any of them write: ti:avatar OR ti:metaverse",
        ]
        row = await core.store.run(Store.get_chat, "discord", general)
        assert row["title"] == "Vision Lab #general"

        listed = await fake.slash("subscriptions", channel_id=thread)
        await fake.wait_until(lambda: listed.callback)
        assert "NeRF" in listed.callback["data"]["content"] and "虚拟人" not in listed.callback["data"]["content"]

        settime = await fake.slash("settime", {"time": "07:30", "zone": "Europe/Berlin"}, channel_id=thread,
                                   permissions=MANAGER)
        lang = await fake.slash("lang", {"language": "zh"}, channel_id=thread, permissions=MANAGER)
        await fake.wait_until(lambda: settime.callback and lang.callback)
        row = await core.store.run(Store.get_chat, "discord", thread)
        assert (row["digest_time"], row["timezone"], row["lang"]) == ("07:30", "Europe/Berlin", "zh")
        assert lang.callback["data"]["content"] == t("cmd.lang_set", "zh")
        denied = await fake.slash("lang", {"language": "en"}, channel_id=thread)
        await fake.wait_until(lambda: denied.callback)
        assert denied.callback["data"]["content"] == dr.dt("dc.need_manage", "zh")  # in the channel's language

        gone = await fake.slash("unsubscribe", {"topic": "nerf"}, channel_id=thread, permissions=MANAGER)
        await fake.wait_until(lambda: gone.callback)
        assert await core.store.run(Store.subscriptions, "discord", thread) == []

    assert (base, gateway) == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)


async def test_autocomplete_offers_topic_names_and_the_typed_query(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    async with running(dsettings) as (core, _):
        everything = await fake.autocomplete("subscribe", "topic", "", channel_id=channel, permissions=MANAGER)
        await fake.wait_until(lambda: everything.callback)
        assert everything.callback["type"] == 8
        values = [c["value"] for c in everything.callback["data"]["choices"]]
        assert {tp.name for tp in core.catalogue.topics} <= set(values)
        assert len(values) <= 25

        gauss = await fake.autocomplete("subscribe", "topic", "gauss", channel_id=channel)
        await fake.wait_until(lambda: gauss.callback)
        choices = gauss.callback["data"]["choices"]
        assert choices[0]["value"] == "gauss"  # what was typed is always offered: any query is accepted
        assert any(c["name"].endswith("→ 3DGS") for c in choices)

        query = await fake.autocomplete("subscribe", "topic", 'ti:"head avatar"', channel_id=channel)
        await fake.wait_until(lambda: query.callback)
        assert query.callback["data"]["choices"][0]["value"] == 'ti:"head avatar"'


async def test_commands_sync_only_when_they_change(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    async with Paperbot(dsettings, clock=lambda: CLOCK) as core:
        async with running(dsettings, core) as (_, bot):
            assert bot.synced_commands and fake.command_syncs == 1
            await core.harvest()
            await core.store.run(Store.subscribe, "discord", channel, "3DGS", core.catalogue.resolve("3DGS").query)
            await deliver_digest(core, bot, channel)
        card = next(r for r in fake.sent(channel) if r.payload.get("components"))
        names = {c["name"] for c in fake.commands}
        assert names >= {"topics", "subscribe", "unsubscribe", "subscriptions", "settime", "lang", "digest",
                         "summarize", "search", "ask"}
        sub = next(c for c in fake.commands if c["name"] == "subscribe")
        assert sub["default_member_permissions"] == str(MANAGE_CHANNELS)
        assert sub["description_localizations"]["zh-CN"]
        assert next(c for c in fake.commands if c["name"] == "summarize")["contexts"] == [0, 1]

        async with running(dsettings, core) as (_, bot):  # a restart with the same definitions
            assert not bot.synced_commands and fake.command_syncs == 1
            it = await fake.slash("topics", channel_id=channel)
            await fake.wait_until(lambda: it.callback)
            assert len(it.callback["data"]["embeds"][0]["fields"]) == len(core.catalogue.topics)
            # the Full summary button of a message sent before the restart still answers
            button = card.payload["components"][0]["components"][0]["custom_id"]
            click = await fake.click(card.response["id"], button)
            await fake.wait_until(lambda: click.followups)
            assert click.followups[0]["embeds"][0]["url"] == card.payload["embeds"][0]["url"]

        key = f"discord.commands_sha256.{fake.app_id}"
        await core.store.run(Store.set_kv, key, "an older definition")
        async with running(dsettings, core) as (_, bot):
            assert bot.synced_commands and fake.command_syncs == 2


# ---- digests -------------------------------------------------------------------------------------


async def test_digest_messages_have_embeds_figures_and_a_button(
    dsettings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    settings = dsettings.model_copy(update={"digest_max_papers": 2, "digest_figures": 5})
    async with running(settings) as (core, bot):
        await core.harvest()
        # the first paper had six figures extracted; one is over Discord's 10 MiB per file
        await seed_figures(core, "2606.00001", tmp_path, [30_000, 20_000, 11 * 1024 * 1024, 10_000, 5_000, 4_000])
        await seed_figures(core, "2606.00002", tmp_path, [])
        await core.store.run(Store.subscribe, "discord", channel, "3DGS", core.catalogue.resolve("3DGS").query)

        result = await deliver_digest(core, bot, channel)
        assert (result.status, result.sent) == ("done", 3)

        sent = fake.sent(channel)
        assert len(sent) == 4  # header, two papers, the overflow list
        for req in sent:
            check_limits(req)
        header, first, second, overflow = sent
        assert header.payload["content"] == t("digest.header", "en", topics="3DGS", day="2026-06-30", count=3)

        # paper 1: multipart with its figures, the first as the card's image
        assert first.multipart and len(first.files) == 4  # 5 wanted, the 11 MiB one skipped
        names = [f.filename for f in first.files]
        card, *gallery = first.payload["embeds"]
        assert card["image"]["url"] == f"attachment://{names[0]}"
        assert [g["image"]["url"] for g in gallery] == [f"attachment://{n}" for n in names[1:4]]
        assert all(g["url"] == card["url"] == "https://arxiv.org/abs/2606.00001" for g in gallery)
        assert [a["filename"] for a in first.payload["attachments"]] == names
        assert first.payload["attachments"][0]["description"].startswith("Figure 1")
        assert card["footer"]["text"].startswith("arXiv:2606.00001v1 · cs.CV")
        assert card["color"] == dr.CATEGORY_COLOURS["cs.CV"]
        assert card["author"]["name"].endswith("et al.")
        assert "**Key takeaways**" in card["description"]
        button = first.payload["components"][0]["components"][0]
        assert button["custom_id"] == "paperbot:full:2606.00001"
        stored = fake.messages[first.response["id"]]
        assert stored["embeds"][0]["image"]["url"].startswith("https://cdn.")  # Discord resolved attachment://

        # paper 2: a 560-character title cut to 256, no figures: plain JSON
        assert not second.multipart and not second.files
        assert len(second.payload["embeds"][0]["title"]) <= 256
        assert second.payload["embeds"][0]["title"].endswith("…")
        assert "2606.00003" in overflow.payload["embeds"][0]["description"]

        ledger = await core.store.run(Store.delivered_ids, "discord", channel, ["2606.00001", "2606.00002"])
        assert ledger == {"2606.00001", "2606.00002"}
        refs = await core.store.run(lambda s: [r["message_ref"] for r in s.db.query(
            "select message_ref from deliveries where paper_id = '2606.00001'")])
        assert refs == [first.response["id"]]

        # the Full summary button, answered only to whoever clicked it
        click = await fake.click(first.response["id"], "paperbot:full:2606.00001")
        await fake.wait_until(lambda: click.followups)
        assert click.callback["type"] == 5 and click.callback["data"]["flags"] & 64
        full = click.followups[0]
        assert full["flags"] & 64
        field_names = [f["name"] for f in full["embeds"][0]["fields"]]
        assert any(name.startswith(t("label.method", "en")) for name in field_names)
        assert sum(embed_chars(e) for e in full["embeds"]) <= 6000

        again = await deliver_digest(core, bot, channel)
        assert again.status == "done" and len(fake.sent(channel)) == 4  # nothing twice


async def test_print_one_digest_message_as_discord_receives_it(
    dsettings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    """Run with ``-s`` to see one digest message's payload_json and sizes."""
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    async with running(dsettings.model_copy(update={"digest_figures": 3})) as (core, bot):
        await core.harvest()
        await seed_figures(core, "2606.00001", tmp_path, [48_213, 31_877, 12_954])
        await core.store.run(Store.subscribe, "discord", channel, "元宇宙/虚拟人", core.catalogue.resolve("虚拟人").query)
        await deliver_digest(core, bot, channel)
        req = next(r for r in fake.sent(channel) if r.files)
        check_limits(req)
        print_message(req)


TECA_ABSTRACT = (
    "Our goal is to create a realistic 3D facial avatar with hair and accessories using only a text description. "
    "While this challenge has attracted significant recent interest, existing methods either lack realism, produce "
    "unrealistic shapes, or do not support editing, such as modifications to the hairstyle. We argue that existing "
    "methods are limited because they employ a monolithic modeling approach, using a single representation for the "
    "head, face, hair, and accessories. Our observation is that the hair and face, for example, have very different "
    "structural qualities that benefit from different representations. Building on this insight, we generate avatars "
    "with a compositional model, in which the head, face, and upper body are represented with traditional 3D meshes, "
    "and the hair, clothing, and accessories with neural radiance fields (NeRF)."
)


@pytest.mark.shared
async def test_real_paper_real_figures_as_discord_receives_them(
    dsettings: Settings, fake: FakeDiscord, fake_arxiv
) -> None:
    """A real arXiv PDF through the real pipeline: fetched from the fake arXiv, figures extracted
    by the worker, posted through discord.py. ``-s`` prints the message as Discord receives it."""
    pdf = shared_path("pdfs", "2309.07125v1_TECA_3D_avatars.pdf")
    teca = entry("2309.07125", "TECA: Text-Guided Generation and Editing of Compositional 3D Avatars",
                 summary=TECA_ABSTRACT, categories=["cs.CV"], comment="Project Page: yfeng95.github.io/teca",
                 authors=["Hao Zhang", "Yao Feng", "Peter Kulits", "Yandong Wen", "Justus Thies", "Michael J. Black"])
    fake_arxiv.add_day(DAY, [*fake_arxiv.days[DAY], teca])
    fake_arxiv.pdfs["2309.07125"] = pdf.read_bytes()
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "avatars")
    async with running(dsettings.model_copy(update={"digest_figures": 4})) as (core, bot):
        await core.harvest()
        await core.store.run(Store.subscribe, "discord", channel, "元宇宙/虚拟人", core.catalogue.resolve("虚拟人").query)
        result = await deliver_digest(core, bot, channel)
        assert result.status == "done"
        req = next(r for r in fake.sent(channel) if r.payload.get("embeds", [{}])[0].get("url", "").endswith("07125"))
        check_limits(req)
        assert req.files and all(f.data.startswith(b"\x89PNG") for f in req.files)
        assert req.payload["embeds"][0]["image"]["url"] == f"attachment://{req.files[0].filename}"
        print_message(req)


def print_message(req: Request) -> None:
    print("\n--- payload_json of one digest message ---")
    print(json.dumps(req.payload, ensure_ascii=False, indent=2))
    print("--- sizes ---")
    for i, e in enumerate(req.payload["embeds"]):
        print(f"embed {i}: {embed_chars(e)} characters (title {len(e.get('title') or '')}, "
              f"description {len(e.get('description') or '')})")
    print(f"all embeds: {sum(embed_chars(e) for e in req.payload['embeds'])} / 6000 characters")
    for f in req.files:
        print(f"file {f.field} {f.filename}: {f.size} bytes")
    print(f"files: {len(req.files)} / 10, {sum(f.size for f in req.files)} bytes")


async def test_deleted_channel_pauses_only_that_chat(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    alive = fake.add_channel(guild, "papers")
    deleted = fake.add_channel(guild, "old-papers")
    hidden = fake.add_channel(guild, "private")
    settings = dsettings.model_copy(update={"figure_policy": "none"})
    async with running(settings) as (core, bot):
        await core.harvest()
        for cid in (alive, deleted, hidden):
            await core.store.run(Store.subscribe, "discord", cid, "3DGS", core.catalogue.resolve("3DGS").query)
        fake.delete_channel(deleted, 404)
        fake.delete_channel(hidden, 403)

        results = {r.chat_id: r for r in await deliver_many(core, bot, [deleted, alive, hidden])}
        assert results[deleted].status == "gone" and "404" in results[deleted].detail
        assert results[hidden].status == "gone" and "403" in results[hidden].detail
        assert results[alive].status == "done" and results[alive].sent == 3
        assert len(fake.sent(alive)) == 4 and fake.sent(deleted) == [] and fake.sent(hidden) == []
        for cid in (deleted, hidden):
            row = await core.store.run(Store.get_chat, "discord", cid)
            assert row["active"] == 0 and row["inactive_reason"]
        assert [c["chat_id"] for c in await core.store.run(Store.active_chats, "discord")] == [alive]


async def test_no_attach_permission_posts_the_card_without_figures(
    dsettings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    fake.no_attach.add(channel)
    async with running(dsettings) as (core, bot):
        await core.harvest()
        await seed_figures(core, "2606.00001", tmp_path, [10_000, 20_000])
        await core.store.run(Store.subscribe, "discord", channel, "元宇宙/虚拟人", core.catalogue.resolve("虚拟人").query)
        result = await deliver_digest(core, bot, channel)
        assert (result.status, result.sent) == ("done", 1)
        refused = [r for r in fake.calls("POST", rf"channels/{channel}/messages") if r.status == 403]
        assert len(refused) == 1 and len(refused[0].files) == 2
        card = fake.sent(channel)[-1].payload["embeds"]
        assert len(card) == 1 and "image" not in card[0] and card[0]["url"].endswith("2606.00001")
        assert (await core.store.run(Store.get_chat, "discord", channel))["active"] == 1


async def test_a_wrong_token_is_one_clear_error(dsettings: Settings, fake: FakeDiscord) -> None:
    wrong = dsettings.model_copy(update={"discord_bot_token": SecretStr("not-the-token")})
    base = Route.BASE
    async with Paperbot(wrong, clock=lambda: CLOCK) as core:
        with pytest.raises(BadSetting, match="DISCORD_BOT_TOKEN"):
            await DiscordBot(core, guild_ready_timeout=0.05).start()
    assert base == Route.BASE and fake.calls("GET", "users/@me")[0].status == 401


async def test_rate_limited_message_is_retried_and_arrives_once(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    settings = dsettings.model_copy(update={"figure_policy": "none"})
    async with running(settings) as (core, bot):
        await core.harvest()
        await core.store.run(Store.subscribe, "discord", channel, "3DGS", core.catalogue.resolve("3DGS").query)
        fake.rate_limit("POST", rf"channels/{channel}/messages", retry_after=0.25, times=2)

        result = await deliver_digest(core, bot, channel)
        assert (result.status, result.sent) == ("done", 3)
        limited = [r for r in fake.calls("POST", rf"channels/{channel}/messages") if r.status == 429]
        assert len(limited) == 2 and limited[0].response["retry_after"] == 0.25
        sent = fake.sent(channel)
        titles = [r.payload["embeds"][0].get("title") for r in sent if r.payload.get("embeds")]
        assert len(sent) == 4 and len(titles) == len(set(titles)) == 3  # each message exactly once


# ---- /summarize, /ask, /digest, errors ---------------------------------------------------------------


async def test_summarize_in_a_dm_defers_then_follows_up(dsettings: Settings, fake: FakeDiscord) -> None:
    alice = fake.user("alice")
    dm = fake.add_dm(alice)
    async with running(dsettings) as (_core, _bot):
        it = await fake.slash("summarize", {"paper": "https://arxiv.org/abs/2409.00001v1"}, channel_id=dm, user=alice,
                              locale="zh-CN")
        await fake.wait_until(lambda: it.followups)
        assert it.callback["type"] == 5 and not it.callback.get("data", {}).get("flags", 0) & 64  # deferred, public
        order = [r.path.split("/")[0] for r in fake.requests if it.token in r.path]
        assert order[:2] == ["interactions", "webhooks"]  # acknowledged first, answered after
        answer = it.followups[0]
        card = answer["embeds"][0]
        assert card["title"] == "A talking avatar from one photo"
        assert card["url"] == "https://arxiv.org/abs/2409.00001"
        assert t("label.summary", "zh") in card["description"]  # a DM speaks the person's language
        assert any(f["name"].startswith(t("label.method", "zh")) for f in card.get("fields", []))
        assert answer["components"][0]["components"][0]["custom_id"] == "paperbot:full:2409.00001"

        bad = await fake.slash("summarize", {"paper": "not-a-paper"}, channel_id=dm, user=alice)
        await fake.wait_until(lambda: bad.followups)
        text = bad.followups[0]["content"]
        assert text == t("error.bad_id", "en", text="not-a-paper")
        assert "Traceback" not in text and "\n" not in text

        ask = await fake.slash("ask", {"paper": "2409.00001", "question": "Which dataset?"}, channel_id=dm, user=alice)
        await fake.wait_until(lambda: ask.followups)
        assert ask.followups[0]["content"] == t("error.needs_llm", "en")


async def test_digest_command_posts_in_the_channel(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    empty = fake.add_channel(guild, "random")
    settings = dsettings.model_copy(update={"figure_policy": "none"})
    async with running(settings) as (core, _bot):
        await core.harvest()
        sub = await fake.slash("subscribe", {"topic": "3dgs"}, channel_id=channel, permissions=MANAGER)
        await fake.wait_until(lambda: sub.callback)
        refused = await fake.slash("digest", channel_id=channel)  # a member without Manage Channels
        await fake.wait_until(lambda: refused.callback or refused.followups)
        assert len(fake.sent(channel)) == 0
        it = await fake.slash("digest", channel_id=channel, permissions=MANAGER)
        await fake.wait_until(lambda: it.followups)
        assert it.callback["type"] == 5
        assert it.followups[0]["content"] == dr.dt("dc.digest_sent", "en", n=3)
        assert len(fake.sent(channel)) == 4
        none = await fake.slash("digest", channel_id=empty, permissions=MANAGER)
        await fake.wait_until(lambda: none.followups)
        assert none.followups[0]["content"] == t("digest.no_subscriptions", "en")


async def test_gateway_resume_after_a_dropped_connection(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    async with running(dsettings):
        await fake.drop_connection()
        await fake.wait_until(lambda: fake.resumes and fake.sockets)
        assert fake.resumes[0]["session_id"] == "session-1" and len(fake.identifies) == 1
        it = await fake.slash("topics", channel_id=channel)
        await fake.wait_until(lambda: it.callback)
        assert it.callback["type"] == 4


async def test_run_starts_discord_in_the_shared_loop(dsettings: Settings, fake: FakeDiscord) -> None:
    """``paperbot run`` with a Discord token: the adapter starts, the scheduler runs, stop is clean."""
    import asyncio

    from bot.run import run

    fake.add_guild()
    stop = asyncio.Event()
    task = asyncio.create_task(run(dsettings, stop))
    await fake.wait_until(lambda: fake.identifies and fake.heartbeats)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert task.exception() is None
    assert Route.BASE == "https://discord.com/api/v10"


async def test_why_answers_the_asker_alone(dsettings: Settings, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel = fake.add_channel(guild, "papers")
    async with running(dsettings) as (core, _bot):
        await core.harvest()
        await core.store.run(Store.subscribe, "discord", channel, "3DGS", core.catalogue.resolve("3DGS").query)
        paper = (await core.papers_for_day(await core.latest_day()))[0]
        it = await fake.slash("why", {"paper": paper.id}, channel_id=channel)
        await fake.wait_until(lambda: it.callback)
        data = it.callback["data"]
        assert it.callback["type"] == 4 and data["flags"] & 64  # answered at once, to the asker only
        head, line = data["content"].splitlines()[:2]
        assert head.startswith(paper.id) and line.startswith("• 3DGS: ")
        bad = await fake.slash("why", {"paper": "nonsense"}, channel_id=channel)
        await fake.wait_until(lambda: bad.callback or bad.followups)
        shown = bad.callback.get("data", {}).get("content") or bad.followups[0]["content"]
        assert shown == t("error.bad_id", "en", text="nonsense")
