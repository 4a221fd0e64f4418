"""Issue 12 on Discord: votes on the cards, /settings, /top, threads' language; the real
discord.py client against ``tests/fakes/discord.py`` (fixtures from ``tests/test_discord.py``)."""

from __future__ import annotations

from typing import Any

from bot import feedback
from bot.deliver import deliver_digest
from bot.settings import Settings
from bot.store import Store
from tests import test_discord
from tests.fakes.discord import MANAGE_CHANNELS, MEMBER_PERMISSIONS, FakeDiscord
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
