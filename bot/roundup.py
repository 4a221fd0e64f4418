"""The weekly roundup: a chat's most-liked papers of the week (or month), from its own votes.

Opt-in per chat (``/settings roundup on``): on the chat's weekly day (:mod:`bot.chat_settings`)
the scheduler's digest job posts one message ranking the papers the chat voted up most in the
past seven days, with the figures of the top three; ``/top [week|month]`` shows the same on
demand. Sent once per chat and ISO week (a ``kv`` row), whatever restarts happen. Made from the
store only: no model call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from . import feedback
from .chat_settings import ChatSettings, local_today
from .models import Paper
from .store import Store

if TYPE_CHECKING:
    from .core import Paperbot
    from .deliver import ChatInfo
    from .figures import Figure

log = logging.getLogger(__name__)

PERIODS = {"week": 7, "month": 30}
TOP = 10  # papers in a roundup
WITH_FIGURES = 3  # the first this many get their teaser figure


@dataclass
class Entry:
    paper: Paper
    up: int
    down: int
    figure: Figure | None = None


@dataclass
class Roundup:
    period: str  # week | month
    entries: list[Entry] = field(default_factory=list)


class RoundupChannel(Protocol):
    platform: str

    async def send_roundup(self, chat: ChatInfo, roundup: Roundup) -> None: ...


async def top(bot: Paperbot, platform: str, chat_id: str, period: str = "week") -> Roundup:
    """The chat's most-liked papers of the last week or month, best first, the first three with
    their teaser figure when one was extracted for a digest already."""
    since = bot.clock() - timedelta(days=PERIODS[period])
    rows = await bot.store.run(feedback.most_voted, platform, chat_id, since, TOP)
    papers = {p.id: p for p in await bot.store.run(Store.get_papers, [r["paper_id"] for r in rows])}
    entries = [Entry(papers[r["paper_id"]], int(r["up"]), int(r["down"])) for r in rows if r["paper_id"] in papers]
    for entry in entries[:WITH_FIGURES]:
        entry.figure = await _teaser(bot, entry.paper)
    return Roundup(period, entries)


async def _teaser(bot: Paperbot, paper: Paper) -> Figure | None:
    """The paper's first digest figure, from the figure cache only (a roundup never extracts)."""
    from . import figures as fig

    if not fig.may_post_figures(bot.settings, paper):
        return None
    found = await bot.store.run(fig.cached_figures, paper.id, paper.version)
    picked = fig.pick_for_digest(found or [], 1)
    return picked[0] if picked else None


async def maybe_send(bot: Paperbot, channel: RoundupChannel, chat_id: str) -> bool:
    """The weekly roundup, if the chat wants one, today is its day, and this week's is not out."""
    from .deliver import chat_info

    chat = await chat_info(bot, channel.platform, chat_id)
    wants = ChatSettings.of(chat.row, bot.settings)
    today = local_today(bot.clock(), chat.timezone)
    if not wants.roundup_today(today):
        return False
    year, week, _ = today.isocalendar()
    key = f"roundup.{channel.platform}.{chat_id}.{year}-W{week:02d}"
    if await bot.store.run(Store.get_kv, key):
        return False
    found = await top(bot, channel.platform, chat_id, "week")
    if found.entries:  # a week without 👍 posts nothing
        await channel.send_roundup(chat, found)
    await bot.store.run(Store.set_kv, key, str(len(found.entries)))
    log.info("roundup %s:%s %s: %d papers", channel.platform, chat_id, key, len(found.entries))
    return bool(found.entries)
