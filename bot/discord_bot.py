"""The Discord adapter: slash commands, digests as embeds with figures, the Full summary button.

A Discord "chat" is one channel or thread (its id as a string, platform ``"discord"``): one
guild can follow different topics in different channels, threads and forum posts. Everything
that is not Discord (subscriptions, settings, the ledger, summaries, figures, scheduling) is
the shared core's, the same as for Telegram.

:class:`DiscordBot` runs the real discord.py client in the caller's event loop: ``start()``
logs in, syncs the slash commands only when their definitions changed (Discord allows 200
command creations per day), connects the gateway as a background task and returns once the
client is ready, so ``paperbot run`` can start Telegram next to it in the same loop.
``DISCORD_API_URL`` / ``DISCORD_GATEWAY_URL`` point discord.py somewhere else than Discord (the
tests' fake): discord.py keeps both as class attributes, so they are set at start and put
back at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import json
import logging
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from . import chat_settings, feedback, roundup
from . import discord_render as dr
from .chat_settings import ChatSettings
from .core import Enriched, Paperbot
from .deliver import ChatGone, ChatInfo, DeliveryDeferred, chat_info, deliver_digest, parent_lang
from .errors import BadSetting, NeedsLLM, PaperbotError, Throttled
from .health import PlatformHealth, brief
from .i18n import error_text, t
from .ids import parse_arxiv_id
from .links import Link
from .models import Paper
from .query import parse_query
from .render import clean, fit, link_label, why_text
from .settings import parse_hhmm, parse_zone
from .store import Store

if TYPE_CHECKING:
    from .figures import Figure
    from .schedule import Scheduler

log = logging.getLogger(__name__)

PLATFORM = "discord"
COMMANDS_HASH_KEY = "discord.commands_sha256.{app_id}"
FULL_SUMMARY_ID = "paperbot:full:"
VOTE_ID = "paperbot:vote:"
READY_TIMEOUT = 60.0  # after this the platform is recorded as down while discord.py keeps trying
# gateway close codes no reconnect fixes: authentication failed, bad shard/intents settings
FATAL_CLOSE_CODES = {4004: "Discord refused DISCORD_BOT_TOKEN", 4013: "invalid intents", 4014: "privileged intents not enabled"}

# Chinese names and descriptions Discord shows to zh-CN/zh-TW users (localizations).
ZH: dict[str, str] = {
    "List the topics you can follow": "查看可订阅的主题",
    "Follow a topic or any arXiv query in this channel": "在本频道订阅主题或任意 arXiv 查询",
    "Stop following a topic in this channel": "取消本频道的订阅",
    "What this channel follows": "本频道的订阅",
    "Set the daily digest time (and time zone)": "设置每日推送时间（和时区）",
    "Set this channel's language": "设置本频道的语言",
    "Send today's new papers now": "立即发送今天的新论文",
    "Summarize any arXiv paper": "总结任意 arXiv 论文",
    "Search arXiv": "搜索 arXiv",
    "Ask a question about a paper": "针对论文提问",
    "Stay silent on days without new papers (or not)": "没有新论文时是否提示",
    "How to use paperbot": "使用说明",
    "A topic name or alias, or an arXiv query like ti:avatar": "主题名称或别名，或如 ti:avatar 的 arXiv 查询",
    "The topic to stop following": "要取消的主题",
    "24-hour time like 09:00": "24 小时制时间，如 09:00",
    "A time zone like Asia/Shanghai": "时区，如 Asia/Shanghai",
    "Language": "语言",
    "An arXiv id or link": "arXiv 编号或链接",
    "Words to search for": "搜索关键词",
    "Your question": "你的问题",
    "Why a paper is or is not in this channel's digest": "某篇论文为何（不）在本频道推送中",
    "on: silent on empty days; off: one short line": "on：没有新论文时不提示；off：发送一行提示",
    "This channel's digest settings (change them with the options)": "本频道的推送设置（用选项修改）",
    "Papers per digest as cards (1-20); the rest as a linked list": "每次推送的论文卡片数（1-20），其余以链接列表发送",
    "Figures per paper (0-4)": "每篇论文的截图数（0-4）",
    "on: card + summary sections; off: card only": "on：卡片 + 分节总结；off：仅卡片",
    "daily, weekdays, or weekly on mon … sun": "每天、工作日，或每周的某一天",
    "The weekly roundup of the most-liked papers": "每周精选：最受欢迎的论文",
    "This channel's most-liked papers of the week or month": "本频道本周/本月最受欢迎的论文",
    "week or month": "本周或本月",
    # the choices' names (/settings days, /top period)
    "daily": "每天",
    "weekdays": "工作日",
    "mon": "每周一",
    "tue": "每周二",
    "wed": "每周三",
    "thu": "每周四",
    "fri": "每周五",
    "sat": "每周六",
    "sun": "每周日",
    "week": "本周",
    "month": "本月",
}


# The same in Traditional Chinese, for zh-TW clients.
ZH_TW: dict[str, str] = {
    "List the topics you can follow": "查看可訂閱的主題",
    "Follow a topic or any arXiv query in this channel": "在本頻道訂閱主題或任意 arXiv 查詢",
    "Stop following a topic in this channel": "取消本頻道的訂閱",
    "What this channel follows": "本頻道的訂閱",
    "Set the daily digest time (and time zone)": "設定每日推送時間（和時區）",
    "Set this channel's language": "設定本頻道的語言",
    "Send today's new papers now": "立即發送今天的新論文",
    "Summarize any arXiv paper": "總結任意 arXiv 論文",
    "Search arXiv": "搜尋 arXiv",
    "Ask a question about a paper": "針對論文提問",
    "Stay silent on days without new papers (or not)": "沒有新論文時是否提示",
    "How to use paperbot": "使用說明",
    "A topic name or alias, or an arXiv query like ti:avatar": "主題名稱或別名，或如 ti:avatar 的 arXiv 查詢",
    "The topic to stop following": "要取消的主題",
    "24-hour time like 09:00": "24 小時制時間，如 09:00",
    "A time zone like Asia/Shanghai": "時區，如 Asia/Taipei",
    "Language": "語言",
    "An arXiv id or link": "arXiv 編號或連結",
    "Words to search for": "搜尋關鍵字",
    "Your question": "你的問題",
    "on: silent on empty days; off: one short line": "on：沒有新論文時不提示；off：發送一行提示",
    "Why a paper is or is not in this channel's digest": "某篇論文為何（不）在本頻道推送中",
    "This channel's digest settings (change them with the options)": "本頻道的推送設定（用選項修改）",
    "The weekly roundup of the most-liked papers": "每週精選：最受歡迎的論文",
    "Papers per digest as cards (1-20); the rest as a linked list": "每次推送的論文卡片數（1-20），其餘以連結清單發送",
    "week or month": "本週或本月",
    "Figures per paper (0-4)": "每篇論文的截圖數（0-4）",
    "This channel's most-liked papers of the week or month": "本頻道本週／本月最受歡迎的論文",
    "on: card + summary sections; off: card only": "on：卡片 + 分節總結；off：僅卡片",
    "daily, weekdays, or weekly on mon … sun": "每天、工作日，或每週的某一天",
    # the choices' names (/settings days, /top period)
    "daily": "每天",
    "weekdays": "工作日",
    "mon": "每週一",
    "tue": "每週二",
    "wed": "每週三",
    "thu": "每週四",
    "fri": "每週五",
    "sat": "每週六",
    "sun": "每週日",
    "week": "本週",
    "month": "本月",
}


class NeedsManageChannels(app_commands.CheckFailure):
    """A member without Manage Channels tried to change a channel's subscriptions or settings."""


class _Translator(app_commands.Translator):
    """Chinese command descriptions for Chinese Discord clients."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if locale == discord.Locale.taiwan_chinese:
            return ZH_TW.get(string.message)
        if locale == discord.Locale.chinese:
            return ZH.get(string.message)
        return None


def _manage_channels() -> Any:
    """In a guild, only members with Manage Channels may change a channel's subscriptions or
    settings (``interaction.permissions`` is their resolved permission in that channel)."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None or interaction.permissions.manage_channels:
            return True
        raise NeedsManageChannels("Manage Channels is needed")

    return app_commands.check(predicate)


class FullSummaryButton(discord.ui.DynamicItem[discord.ui.Button], template=r"paperbot:full:(?P<pid>[\w./-]{4,40})"):
    """The "Full summary" button under every paper: persistent across restarts (its custom_id
    carries the paper id), answered only to whoever clicked it."""

    def __init__(self, paper_id: str, label: str = "Full summary") -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.primary, custom_id=f"{FULL_SUMMARY_ID}{paper_id}", emoji="📄"
            )
        )
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> FullSummaryButton:
        return cls(match["pid"])

    async def callback(self, interaction: discord.Interaction) -> None:
        adapter: DiscordBot = interaction.client.paperbot  # type: ignore[attr-defined]
        await adapter.full_summary(interaction, self.paper_id)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button], template=r"paperbot:vote:(?P<sign>up|down):(?P<pid>[\w./-]{4,40})"):
    """👍 / 👎 under a digest paper, with the chat's counts; persistent across restarts. Anyone
    in the channel may vote, once per paper (the same button again takes it back)."""

    def __init__(self, sign: str, paper_id: str, count: int = 0) -> None:
        emoji = "👍" if sign == "up" else "👎"
        super().__init__(
            discord.ui.Button(
                label=str(count) if count else None, style=discord.ButtonStyle.secondary,
                custom_id=f"{VOTE_ID}{sign}:{paper_id}", emoji=emoji,
            )
        )  # fmt: skip
        self.sign, self.paper_id = sign, paper_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> VoteButton:
        return cls(match["sign"], match["pid"])

    async def callback(self, interaction: discord.Interaction) -> None:
        adapter: DiscordBot = interaction.client.paperbot  # type: ignore[attr-defined]
        await adapter.vote(interaction, self.paper_id, feedback.UP if self.sign == "up" else feedback.DOWN)


class _Client(discord.Client):
    """discord.Client with a back reference for the persistent button, and our tree."""

    def __init__(self, adapter: DiscordBot, **options: Any) -> None:
        super().__init__(**options)
        self.paperbot = adapter

    async def setup_hook(self) -> None:
        self.add_dynamic_items(FullSummaryButton, VoteButton)

    async def on_ready(self) -> None:
        await self.paperbot.gateway_changed(True)

    async def on_resumed(self) -> None:
        await self.paperbot.gateway_changed(True)

    async def on_disconnect(self) -> None:
        await self.paperbot.gateway_changed(False)


class OneLineReconnects(logging.Filter):
    """discord.py logs each failed gateway reconnect with a full traceback ("Attempting a
    reconnect in 4.2s"); an outage of an hour would fill the log. One line each, with the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and "reconnect" in str(record.msg):
            err = record.exc_info[1]
            record.msg = f"discord is unreachable ({brief(err)}); {record.getMessage().lower()}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _quiet_discord_logs() -> None:
    """No PyNaCl/davey warnings (paperbot never joins voice) and one line per reconnect."""
    discord.VoiceClient.warn_nacl = False
    if hasattr(discord.VoiceClient, "warn_dave"):
        discord.VoiceClient.warn_dave = False
    client_log = logging.getLogger("discord.client")
    if not any(isinstance(f, OneLineReconnects) for f in client_log.filters):
        client_log.addFilter(OneLineReconnects())


class _Tree(app_commands.CommandTree[_Client]):
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """The command throttle (``COMMANDS_PER_USER_PER_MINUTE``, the core's, shared with
        Telegram) for slash commands; over it, the person alone is told (Discord needs an answer
        to every interaction, and an ephemeral one floods nobody)."""
        if interaction.type != discord.InteractionType.application_command:
            return True
        adapter: DiscordBot = interaction.client.paperbot  # type: ignore[attr-defined]
        throttle = adapter.core.throttle
        if throttle.check(f"{PLATFORM}:{interaction.user.id}") == "ok":
            return True
        lang = await adapter.lang_for(interaction)
        await adapter.reply(interaction, error_text(Throttled(throttle.per_minute), lang), ephemeral=True)
        return False

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        await interaction.client.paperbot.on_command_error(interaction, error)  # type: ignore[attr-defined]


def _log_gateway_end(task: asyncio.Task[None]) -> None:
    """The gateway task ends only at stop; anything else (a revoked token, a close Discord
    does not allow to resume) must reach the log rather than vanish with the task."""
    if not task.cancelled() and task.exception() is not None:
        log.error("discord: the gateway connection ended", exc_info=task.exception())


class DiscordBot:
    """The Discord side of paperbot: a :class:`~bot.deliver.Channel` that can start and stop."""

    platform = PLATFORM

    def __init__(self, core: Paperbot, *, guild_ready_timeout: float = 2.0) -> None:
        self.core = core
        self.settings = core.settings
        self.scheduler: Scheduler | None = None
        self.health: PlatformHealth | None = None  # set by bot.run: gateway disconnects and resumes
        self.client: _Client | None = None
        self.tree: _Tree | None = None
        self.guild_ready_timeout = guild_ready_timeout
        self.synced_commands = False
        self._runner: asyncio.Task[None] | None = None
        self._saved: tuple[str, yarl.URL] | None = None

    # ---- life cycle ------------------------------------------------------------------------
    def _build(self) -> None:
        _quiet_discord_logs()
        intents = discord.Intents.none()
        intents.guilds = True
        self.client = _Client(
            self,
            intents=intents,
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
            guild_ready_timeout=self.guild_ready_timeout,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.tree = _Tree(self.client)
        self._register(self.tree)

    def _point_at(self) -> None:
        """Use DISCORD_API_URL / DISCORD_GATEWAY_URL instead of Discord's (put back by stop)."""
        self._saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        if self.settings.discord_api_url:
            Route.BASE = self.settings.discord_api_url.rstrip("/")
        if self.settings.discord_gateway_url:
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.settings.discord_gateway_url)

    def _restore(self) -> None:
        if self._saved is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None

    async def start(self) -> None:
        """Log in, sync commands if they changed, connect; return once the client is ready.

        Raises BadSetting for what no retry fixes (a refused token, intents Discord does not
        grant); network errors propagate for bot.run to try again. Once the gateway task runs,
        discord.py reconnects by itself: this waits for it, recording the platform as down
        after READY_TIMEOUT."""
        if self.settings.discord_bot_token is None:
            raise BadSetting("set DISCORD_BOT_TOKEN to run the Discord bot")
        self._build()
        assert self.client is not None
        self._point_at()
        try:
            await self.client.login(self.settings.discord_bot_token.get_secret_value())
            await self.tree.set_translator(_Translator())  # type: ignore[union-attr]
            await self.sync_commands()
            self._runner = asyncio.create_task(self.client.connect(reconnect=True), name="discord-gateway")
            self._runner.add_done_callback(_log_gateway_end)
            ready = asyncio.create_task(self.client.wait_until_ready())
            while True:
                done, _ = await asyncio.wait({self._runner, ready}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
                if ready in done:
                    break
                if self._runner in done:
                    ready.cancel()
                    err = self._runner.exception()
                    code = getattr(err, "code", None)
                    if isinstance(err, discord.LoginFailure) or code in FATAL_CLOSE_CODES:
                        raise BadSetting(f"{FATAL_CLOSE_CODES.get(code, 'Discord refused DISCORD_BOT_TOKEN')}; check the bot in the developer portal") from None
                    raise err or ConnectionError("the Discord gateway closed")
                if self.health is not None:
                    await self.health.mark(False, "the gateway is not ready yet")
        except discord.LoginFailure:
            await self.stop()
            raise BadSetting("Discord refused DISCORD_BOT_TOKEN; copy the bot token from the developer portal") from None
        except BaseException:
            await self.stop()
            raise
        log.info("discord: ready as %s in %d guilds", self.client.user, len(self.client.guilds))

    async def gateway_changed(self, up: bool) -> None:
        """The gateway connected, resumed or dropped (discord.py reconnects by itself)."""
        if self.health is not None and self.health.up is not None:
            if self.health.up != up:
                log.warning("discord gateway %s", "is connected again" if up else "disconnected; discord.py reconnects")
            await self.health.mark(up, "" if up else "gateway disconnected")

    async def stop(self) -> None:
        try:
            if self.client is not None and not self.client.is_closed():
                await self.client.close()
            if self._runner is not None:
                self._runner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._runner
                self._runner = None
        finally:
            self._restore()

    async def sync_commands(self) -> bool:
        """PUT the commands only when their payload differs from the last one synced."""
        assert self.client is not None and self.tree is not None
        app_id = self.client.application_id
        translator = self.tree.translator
        payload = []
        for command in self.tree._get_all_commands():
            if translator is not None:
                payload.append(await command.get_translated_payload(self.tree, translator))
            else:
                payload.append(command.to_dict(self.tree))
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        key = COMMANDS_HASH_KEY.format(app_id=app_id)
        if await self.core.store.run(Store.get_kv, key) == digest:
            log.info("discord: commands unchanged, not syncing")
            self.synced_commands = False
            return False
        try:
            await self.tree.sync()
        except discord.HTTPException:
            # The commands synced before still work; the next start tries again.
            log.exception("discord: command sync failed")
            return False
        await self.core.store.run(Store.set_kv, key, digest)
        log.info("discord: synced %d commands", len(payload))
        self.synced_commands = True
        return True

    # ---- helpers -------------------------------------------------------------------------------
    @staticmethod
    def chat_id(interaction: discord.Interaction) -> str:
        return str(interaction.channel_id)

    async def lang_for(self, interaction: discord.Interaction) -> str:
        """The channel's language; in a DM without one, the person's Discord language."""
        row = await self.core.store.run(Store.get_chat, PLATFORM, self.chat_id(interaction))
        if row and row.get("lang"):
            return str(row["lang"])
        parent = getattr(interaction.channel, "parent_id", None)
        if parent:  # a thread without its own language speaks its parent channel's
            found = await parent_lang(self.core, PLATFORM, {"parent_id": str(parent)})
            if found:
                return found
        if interaction.guild_id is None:
            return "zh" if str(interaction.locale).startswith("zh") else "en"
        return self.settings.default_lang

    async def _ensure_chat(self, interaction: discord.Interaction) -> dict[str, Any]:
        ch = interaction.channel
        title = getattr(ch, "name", None)
        if interaction.guild is not None and title:
            title = f"{interaction.guild.name} #{title}" if interaction.guild.name else f"#{title}"
        row = await self.core.store.run(
            lambda s: s.ensure_chat(PLATFORM, self.chat_id(interaction), title=title)
        )
        parent = getattr(ch, "parent_id", None)
        if isinstance(ch, discord.Thread) and parent and row.get("parent_id") != str(parent):
            # a thread remembers its channel: it speaks the channel's language unless set (bot.deliver.chat_info)
            await self.core.store.run(Store.update_chat, PLATFORM, self.chat_id(interaction), {"parent_id": str(parent)})
            row = {**row, "parent_id": str(parent)}
        return row

    async def _reactivate(self, chat_id: str) -> None:
        """A channel paused after a 403/404 is back once someone manages it again (the
        permission was fixed), and its digest job is (re)made from its settings."""
        row = await self.core.store.run(Store.get_chat, PLATFORM, chat_id)
        if row and not row.get("active", 1):
            await self.core.store.run(Store.update_chat, PLATFORM, chat_id, {"active": 1, "inactive_reason": None})
        if self.scheduler is not None:
            await self.scheduler.sync_chat(PLATFORM, chat_id)

    @staticmethod
    async def think(interaction: discord.Interaction) -> None:
        """Acknowledge within Discord's 3 s while the work runs, privately. After a public
        deferral the first follow-up replaces the public "thinking…" message and cannot be
        ephemeral; after a private one, an error reaches only its author."""
        await interaction.response.defer(ephemeral=True, thinking=True)

    @staticmethod
    async def answer_publicly(interaction: discord.Interaction, **kwargs: Any) -> None:
        """The answer for the whole channel, after :meth:`think`: the private "thinking…"
        message is settled and removed, and the answer is a new, public follow-up."""
        with contextlib.suppress(discord.HTTPException):
            await interaction.edit_original_response(content="✓")
        await interaction.followup.send(**kwargs)
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()

    @staticmethod
    async def reply(
        interaction: discord.Interaction, text: str | None = None, *, ephemeral: bool = False, **kwargs: Any
    ) -> None:
        if text is not None:
            kwargs["content"] = fit(text, dr.CONTENT_MAX)
        if interaction.response.is_done():
            await interaction.followup.send(ephemeral=ephemeral, **kwargs)
        else:
            await interaction.response.send_message(ephemeral=ephemeral, **kwargs)

    async def on_command_error(self, interaction: discord.Interaction, error: Exception) -> None:
        """One sentence in the channel's language, only to the person; details in the log."""
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        try:
            lang = await self.lang_for(interaction)
        except Exception:
            lang = self.settings.default_lang
        if isinstance(original, NeedsManageChannels):
            text = dr.dt("dc.need_manage", lang)
        elif isinstance(original, app_commands.NoPrivateMessage):
            text = dr.dt("dc.not_in_channel", lang)
        elif isinstance(original, PaperbotError):
            text = error_text(original, lang)
        else:
            log.error("discord command %s failed", getattr(interaction.command, "name", "?"), exc_info=original)
            text = error_text(original, lang)
        try:
            await self.reply(interaction, text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not tell the user about the error", exc_info=True)

    def _figures_for(self, item: Enriched, n: int) -> list[Figure]:
        """The figures to attach: FIGURE_POLICY first, then the most useful ``n``."""
        if n <= 0 or not item.figures:
            return []
        from .figures import may_post_figures, pick_for_digest

        if not may_post_figures(self.settings, item.paper):
            return []
        return list(pick_for_digest(item.figures, n))

    def _view(
        self, paper: Paper, lang: str, links: list[Link] | None = None, votes: feedback.Tally | None = None
    ) -> discord.ui.View:
        """Full summary, PDF, and the paper's own code/data/project links as link buttons; on a
        digest card or a /summarize answer, 👍 / 👎 with the channel's counts."""
        view = discord.ui.View(timeout=None)
        view.add_item(FullSummaryButton(paper.id, label=t("label.full_summary", lang)))
        view.add_item(discord.ui.Button(label=t("label.pdf", lang), url=paper.pdf_url or f"https://arxiv.org/pdf/{paper.id}"))
        if votes is not None:
            view.add_item(VoteButton("up", paper.id, votes.up))
            view.add_item(VoteButton("down", paper.id, votes.down))
        for found in (links or [])[:3]:
            if len(found.url) <= 512:  # Discord's limit for a button's URL
                view.add_item(discord.ui.Button(label=link_label(found, lang), url=found.url))
        return view

    def _messageable(self, chat_id: str) -> discord.PartialMessageable:
        assert self.client is not None
        return self.client.get_partial_messageable(int(chat_id))

    async def _post(
        self, chat: ChatInfo, out: dr.Outgoing, view: discord.ui.View | None = None, *, once: str | None = None
    ) -> discord.Message:
        """Send to a channel, turning Discord's answers into what the delivery stage expects.

        ``once`` names the message (chat, day, paper): its hash is the nonce, and discord.py sends
        it with enforce_nonce, so if the bot died after Discord accepted the message but before
        the ledger write, the resend after a restart returns the first message instead of a copy.
        """
        kwargs = out.kwargs()
        if view is not None:
            kwargs["view"] = view
        if once is not None:
            kwargs["nonce"] = hashlib.sha256(f"{chat.chat_id}:{once}".encode()).hexdigest()[:25]
        try:
            return await self._messageable(chat.chat_id).send(**kwargs)
        except (discord.Forbidden, discord.NotFound) as err:
            raise ChatGone(f"discord {err.status} {err.text}".strip()) from err
        except (TimeoutError, discord.RateLimited, discord.DiscordServerError, aiohttp.ClientError) as err:
            raise DeliveryDeferred(f"discord: {type(err).__name__}: {err}") from err
        except discord.HTTPException as err:
            if err.status in (400, 413):
                raise  # this message's content: the caller may send a plainer one
            raise DeliveryDeferred(f"discord {err.status}: {err.text}") from err
        finally:
            out.close()

    # ---- Channel (the delivery stage calls these) ----------------------------------------------
    async def send_header(self, chat: ChatInfo, day: date, topics: list[str], papers: list[Paper]) -> None:
        header = dr.Outgoing(content=dr.header_text(chat.lang, day.isoformat(), topics, len(papers)))
        await self._post(chat, header, once=f"header:{day.isoformat()}")

    async def send_paper(self, chat: ChatInfo, item: Enriched) -> str | None:
        wants = ChatSettings.of(chat.row, self.settings)  # the channel's figures and sections
        figures = self._figures_for(item, wants.figures)
        out = await asyncio.to_thread(
            functools.partial(dr.paper_message, item, chat.lang, figures, sections=wants.sections)
        )  # reads the PNGs
        if item.note:  # a near miss (bot.ranking): said above the card
            out.content = fit(item.note, dr.CONTENT_MAX)
        with_files = bool(out.files)
        votes = await self.core.store.run(feedback.tally, PLATFORM, chat.chat_id, item.paper.id)  # e.g. on its /summarize answer
        try:
            msg = await self._post(
                chat, out, self._view(item.paper, chat.lang, item.links, votes), once=f"paper:{item.paper.id}"
            )
        except (discord.HTTPException, ChatGone) as err:
            cause = err.__cause__ if isinstance(err, ChatGone) else err
            missing_permission = isinstance(cause, discord.Forbidden) and cause.code == 50013 and with_files
            if not (isinstance(err, discord.HTTPException) or missing_permission):
                raise
            # Discord refused this one message (no Attach Files permission, or a limit we did
            # not foresee): post the card without figures rather than fail the digest.
            log.warning("discord refused %s (%s); sending it without figures", item.paper.id, cause)
            plain = dr.paper_message(Enriched(item.paper, item.summary, [], item.topics, item.links), chat.lang, [])
            msg = await self._post(chat, plain, self._view(item.paper, chat.lang, item.links, votes))
        return str(msg.id)

    async def send_overflow(self, chat: ChatInfo, day: date, papers: list[Paper]) -> None:
        title = t("label.more_papers", chat.lang, n=len(papers))
        for embeds in dr.paper_list_messages(papers, chat.lang, title):
            await self._post(chat, dr.Outgoing(embeds=embeds))

    async def send_empty(self, chat: ChatInfo, day: date, topics: list[str]) -> None:
        text = t("digest.none", chat.lang, day=day.isoformat(), topics=", ".join(topics))
        await self._post(chat, dr.Outgoing(content=fit(text, dr.CONTENT_MAX)))

    async def _roundup_message(self, lang: str, found: roundup.Roundup) -> dr.Outgoing:
        """The roundup as one message: the ranked list as an embed, the top three's figures attached."""
        title = t("roundup.title", lang, period=t(f"roundup.{found.period}", lang))
        lines = []
        for i, e in enumerate(found.entries, 1):
            votes = f"👍 {e.up}" + (f" · 👎 {e.down}" if e.down else "")
            lines.append(f"{i}. [{dr.md(fit(clean(e.paper.title) or e.paper.id, 200))}]({e.paper.abs_url}) — {votes}")
        embed = discord.Embed(title=fit(title, dr.TITLE_MAX), description=fit("\n".join(lines), dr.DESCRIPTION_MAX),
                              colour=dr.DEFAULT_COLOUR)  # fmt: skip
        out = dr.Outgoing(embeds=[embed])
        for rank, e in enumerate(found.entries, 1):  # named by their place in the list, described by their title
            if e.figure is None or e.figure.path is None:
                continue
            data = await asyncio.to_thread(Path(e.figure.path).read_bytes)
            title = fit(f"{rank}. {clean(e.paper.title) or e.paper.id}", 1000)
            out.files.append(discord.File(io.BytesIO(data), filename=f"top{rank}.png", description=title))
        return out

    async def send_roundup(self, chat: ChatInfo, found: roundup.Roundup) -> None:
        """The weekly roundup, posted in the channel (bot.roundup)."""
        await self._post(chat, await self._roundup_message(chat.lang, found))

    # ---- votes ------------------------------------------------------------------------------------
    async def vote(self, interaction: discord.Interaction, paper_id: str, value: int) -> None:
        """Record the vote and update the card's buttons in the same response (no model call)."""
        got = await self.core.store.run(
            feedback.cast, PLATFORM, self.chat_id(interaction), paper_id, str(interaction.user.id), value
        )
        view = discord.ui.View.from_message(interaction.message, timeout=None)  # type: ignore[arg-type]
        for item in view.children:  # the card's buttons as they are, with the new counts
            if isinstance(item, discord.ui.Button) and (item.custom_id or "").startswith(VOTE_ID):
                n = got.up if f"{VOTE_ID}up:" in (item.custom_id or "") else got.down
                item.label = str(n) if n else None
        await interaction.response.edit_message(view=view)

    # ---- the Full summary button -------------------------------------------------------------
    async def full_summary(self, interaction: discord.Interaction, paper_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        lang = await self.lang_for(interaction)
        try:
            paper = await self._paper_for(interaction, paper_id, lang)
            item = Enriched(paper, await self.core.summary(paper, lang), [], links=await self.core.links(paper))
        except Exception as err:  # one sentence for the person, whatever failed; details in the log
            if not isinstance(err, PaperbotError):
                log.exception("full summary of %s failed", paper_id)
            await interaction.followup.send(error_text(err, lang), ephemeral=True)
            return
        for embeds in dr.full_summary_messages(item, lang):
            await interaction.followup.send(embeds=embeds, ephemeral=True)

    async def _paper_for(
        self, interaction: discord.Interaction, text: str, lang: str, *, asking: bool = False
    ) -> Paper:
        """The paper asked for, the person's hourly allowance (the core's, shared with Telegram)
        charged before any arXiv or model work; cached summaries are free."""
        return await self.core.paper_for(self.platform, str(interaction.user.id), text, lang, asking=asking)

    # ---- slash commands ---------------------------------------------------------------------
    def _register(self, tree: _Tree) -> None:
        """Every command, defined here so each closes over this adapter (no module state)."""
        core = self.core
        roundup_top = roundup.top  # the command's option is called roundup too
        ls = app_commands.locale_str
        everywhere = app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
        installs = app_commands.allowed_installs(guilds=True, users=False)

        @tree.command(name="topics", description=ls("List the topics you can follow"))
        @everywhere
        @installs
        async def topics(interaction: discord.Interaction) -> None:
            lang = await self.lang_for(interaction)
            embed = discord.Embed(title=dr.dt("dc.topics", lang), colour=dr.DEFAULT_COLOUR)
            for topic in core.catalogue.topics[: dr.FIELDS_MAX]:
                aliases = ", ".join(topic.aliases[:6])
                value = fit(f"{topic.describe(lang)}\n`/subscribe {topic.name}`" + (f" · {aliases}" if aliases else ""), 1000)
                embed.add_field(name=fit(topic.name, dr.FIELD_NAME_MAX), value=value, inline=False)
            await self.reply(interaction, embed=embed)

        async def topic_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            needle = current.casefold().strip()
            out: list[app_commands.Choice[str]] = []
            seen: set[str] = set()
            names = [(tp.name, tp.name) for tp in core.catalogue.topics]  # names first, then aliases
            names += [(alias, tp.name) for tp in core.catalogue.topics for alias in tp.aliases]
            for name, topic_name in names:
                if (needle and needle not in name.casefold()) or name in seen:
                    continue
                seen.add(name)
                label = name if name == topic_name else f"{name} → {topic_name}"
                out.append(app_commands.Choice(name=fit(label, 100), value=fit(name, 100)))
            if current.strip() and current.strip() not in seen:  # any arXiv query is accepted as typed
                out.insert(0, app_commands.Choice(name=fit(current.strip(), 100), value=current.strip()[:100]))
            return out[:25]

        @tree.command(name="subscribe", description=ls("Follow a topic or any arXiv query in this channel"))
        @app_commands.describe(topic=ls("A topic name or alias, or an arXiv query like ti:avatar"))
        @app_commands.autocomplete(topic=topic_choices)
        @app_commands.default_permissions(manage_channels=True)
        @everywhere
        @installs
        @_manage_channels()
        async def subscribe(interaction: discord.Interaction, topic: str) -> None:
            lang = await self.lang_for(interaction)
            from .query import tidy_query  # curly quotes straightened; what a query reads differently, said

            topic, warnings = tidy_query(topic)
            if core.needs_translation(topic):
                await interaction.response.defer(thinking=True)  # the model translates it: ack in 3 s
            sub = await core.subscription(topic)
            await self._ensure_chat(interaction)
            cid = self.chat_id(interaction)
            added = await core.store.run(
                Store.subscribe, PLATFORM, cid, sub.topic, sub.query, self.settings.max_subscriptions_per_chat
            )  # over the cap: TooManySubscriptions, one sentence by on_command_error
            await self._reactivate(cid)
            key = "cmd.subscribed" if added else "cmd.already_subscribed"
            note = "\n" + t("cmd.about_note", lang) if added and sub.kind == "about" else ""
            notes = "".join(
                "\n" + discord.utils.escape_markdown(fit(w.text(lang), 400)) for w in warnings if sub.kind == "query"
            )
            await self.reply(interaction, t(key, lang, topic=sub.topic) + note + notes)

        async def subscribed_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            subs = await core.store.run(Store.subscriptions, PLATFORM, self.chat_id(interaction))
            needle = current.casefold()
            return [
                app_commands.Choice(name=fit(s["topic"], 100), value=s["topic"][:100])
                for s in subs
                if needle in s["topic"].casefold()
            ][:25]

        @tree.command(name="unsubscribe", description=ls("Stop following a topic in this channel"))
        @app_commands.describe(topic=ls("The topic to stop following"))
        @app_commands.autocomplete(topic=subscribed_choices)
        @app_commands.default_permissions(manage_channels=True)
        @everywhere
        @installs
        @_manage_channels()
        async def unsubscribe(interaction: discord.Interaction, topic: str) -> None:
            lang = await self.lang_for(interaction)
            cid = self.chat_id(interaction)
            found = core.catalogue.get(topic)
            name = found.name if found is not None else " ".join(topic.split())
            removed = await core.store.run(Store.unsubscribe, PLATFORM, cid, name)
            if not removed and found is None:  # a custom query typed slightly differently
                for s in await core.store.run(Store.subscriptions, PLATFORM, cid):
                    if s["topic"].casefold() == name.casefold():
                        removed = await core.store.run(Store.unsubscribe, PLATFORM, cid, s["topic"])
                        name = s["topic"]
            key = "cmd.unsubscribed" if removed else "cmd.not_subscribed"
            await self.reply(interaction, t(key, lang, topic=name))

        @tree.command(name="subscriptions", description=ls("What this channel follows"))
        @everywhere
        @installs
        async def subscriptions(interaction: discord.Interaction) -> None:
            lang = await self.lang_for(interaction)
            subs = await core.store.run(Store.subscriptions, PLATFORM, self.chat_id(interaction))
            if not subs:
                await self.reply(interaction, t("digest.no_subscriptions", lang), ephemeral=True)
                return
            chat = await chat_info(core, PLATFORM, self.chat_id(interaction))
            lines = [
                f"• {dr.md(s['topic'])}" + (f" {dr.dt('dc.paused', lang)}" if s["paused"] else "") for s in subs
            ]
            when = dr.dt("dc.digest_at", lang, time=chat.digest_time, zone=chat.timezone)
            text = "\n".join([t("cmd.subscriptions", lang), *lines, "", when])
            await self.reply(interaction, fit(text, dr.CONTENT_MAX))

        async def zone_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            import zoneinfo

            needle = current.casefold()
            zones = sorted(z for z in zoneinfo.available_timezones() if needle in z.casefold() and "/" in z)
            return [app_commands.Choice(name=z, value=z) for z in zones[:25]]

        @tree.command(name="settime", description=ls("Set the daily digest time (and time zone)"))
        @app_commands.describe(time=ls("24-hour time like 09:00"), zone=ls("A time zone like Asia/Shanghai"))
        @app_commands.autocomplete(zone=zone_choices)
        @app_commands.default_permissions(manage_channels=True)
        @everywhere
        @installs
        @_manage_channels()
        async def settime(interaction: discord.Interaction, time: str, zone: str | None = None) -> None:
            lang = await self.lang_for(interaction)
            try:
                at = parse_hhmm(time.replace("：", ":"))
            except ValueError:
                await self.reply(interaction, t("error.bad_time", lang, text=fit(time, 40)), ephemeral=True)
                return
            fields: dict[str, Any] = {"digest_time": at.strftime("%H:%M")}
            if zone:
                try:
                    parse_zone(zone.strip())
                except ValueError:
                    await self.reply(interaction, t("error.bad_zone", lang, text=fit(zone, 64)), ephemeral=True)
                    return
                fields["timezone"] = zone.strip()
            await self._ensure_chat(interaction)
            cid = self.chat_id(interaction)
            await core.store.run(Store.update_chat, PLATFORM, cid, fields)
            await self._reactivate(cid)
            chat = await chat_info(core, PLATFORM, cid)
            await self.reply(interaction, t("cmd.time_set", lang, time=chat.digest_time, zone=chat.timezone))

        @tree.command(name="lang", description=ls("Set this channel's language"))
        @app_commands.describe(language=ls("Language"))
        @app_commands.choices(
            language=[app_commands.Choice(name="中文", value="zh"), app_commands.Choice(name="English", value="en")]
        )
        @app_commands.default_permissions(manage_channels=True)
        @everywhere
        @installs
        @_manage_channels()
        async def lang_(interaction: discord.Interaction, language: app_commands.Choice[str]) -> None:
            await self._ensure_chat(interaction)
            await core.store.run(Store.update_chat, PLATFORM, self.chat_id(interaction), {"lang": language.value})
            await self.reply(interaction, t("cmd.lang_set", language.value))


        @tree.command(name="quiet", description=ls("Stay silent on days without new papers (or not)"))
        @app_commands.describe(mode=ls("on: silent on empty days; off: one short line"))
        @app_commands.choices(mode=[app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")])
        @app_commands.default_permissions(manage_channels=True)
        @everywhere
        @installs
        @_manage_channels()
        async def quiet(interaction: discord.Interaction, mode: app_commands.Choice[str]) -> None:
            lang = await self.lang_for(interaction)
            await self._ensure_chat(interaction)
            on = mode.value == "on"
            await core.store.run(Store.update_chat, PLATFORM, self.chat_id(interaction), {"quiet": int(on)})
            await self.reply(interaction, t("cmd.quiet_on" if on else "cmd.quiet_off", lang))

        @tree.command(name="digest", description=ls("Send today's new papers now"))
        @app_commands.default_permissions(manage_channels=True)
        @everywhere
        @installs
        @_manage_channels()
        async def digest(interaction: discord.Interaction) -> None:
            await self.think(interaction)  # the digest goes to the channel; this status only to the person
            lang = await self.lang_for(interaction)
            await self._ensure_chat(interaction)
            if core.harvesting:  # just after start or an announcement: wait for it, and say so
                await interaction.followup.send(t("digest.harvesting", lang))
                await core.harvested()
            result = await deliver_digest(core, self, self.chat_id(interaction), manual=True)
            if result.status == "done":
                await self._reactivate(self.chat_id(interaction))
                text = dr.dt("dc.digest_sent", lang, n=result.sent)
            elif result.status == "no-subscriptions":
                text = t("digest.no_subscriptions", lang)
            elif result.status == "running":
                text = t("digest.running", lang)
            elif result.status == "gone":
                text = dr.dt("dc.digest_failed", lang)
            elif result.status == "deferred":
                text = dr.dt("dc.digest_later", lang)
            else:
                text = t("digest.nothing_new", lang)
            await interaction.followup.send(text)

        @tree.command(name="summarize", description=ls("Summarize any arXiv paper"))
        @app_commands.describe(paper=ls("An arXiv id or link"))
        @everywhere
        @installs
        async def summarize(interaction: discord.Interaction, paper: str) -> None:
            parse_arxiv_id(paper)  # a bad id is refused at once, to its author only
            await self.think(interaction)  # the summary can take a while: ack in 3 s
            lang = await self.lang_for(interaction)
            found = await self._paper_for(interaction, paper, lang)
            item = await core.enrich(found, lang)
            figures = self._figures_for(item, self.settings.digest_figures)
            out = await asyncio.to_thread(functools.partial(dr.paper_message, item, lang, figures, sections=True))
            # 👍 / 👎 as on a digest card, with the channel's counts so far: its votes also come from
            # the papers it asked about
            votes = await core.store.run(feedback.tally, PLATFORM, self.chat_id(interaction), found.id)
            try:
                await self.answer_publicly(interaction, view=self._view(found, lang, item.links, votes), **out.kwargs())
            finally:
                out.close()

        @tree.command(name="why", description=ls("Why a paper is or is not in this channel's digest"))
        @app_commands.describe(paper=ls("An arXiv id or link"))
        @everywhere
        @installs
        async def why(interaction: discord.Interaction, paper: str) -> None:
            parse_arxiv_id(paper)  # a bad id is refused at once, to its author only
            await self.think(interaction)  # a paper not stored yet is looked up on arXiv: ack in 3 s
            lang = await self.lang_for(interaction)
            found, verdicts = await core.chat_why(PLATFORM, self.chat_id(interaction), paper)
            await self.reply(interaction, fit(why_text(found, verdicts, lang), dr.CONTENT_MAX), ephemeral=True)

        @tree.command(name="search", description=ls("Search arXiv"))
        @app_commands.describe(query=ls("Words to search for"))
        @everywhere
        @installs
        async def search(interaction: discord.Interaction, query: str) -> None:
            parse_query(query)  # a query that does not parse is refused at once, to its author only
            await self.think(interaction)
            lang = await self.lang_for(interaction)
            papers = await core.search(query, 5)
            if not papers:
                await interaction.followup.send(t("cmd.no_results", lang), ephemeral=True)
                return
            title = dr.dt("dc.search_title", lang, query=fit(clean(query), 200))
            for i, embeds in enumerate(dr.paper_list_messages(papers, lang, title)):
                if i == 0:
                    await self.answer_publicly(interaction, embeds=embeds)
                else:
                    await interaction.followup.send(embeds=embeds)

        @tree.command(name="ask", description=ls("Ask a question about a paper"))
        @app_commands.describe(paper=ls("An arXiv id or link"), question=ls("Your question"))
        @everywhere
        @installs
        async def ask(interaction: discord.Interaction, paper: str, question: str) -> None:
            parse_arxiv_id(paper)  # refused at once, to the author only: a bad id, or no model
            if core.summarizer.provider_name == "none":
                raise NeedsLLM()
            await self.think(interaction)
            lang = await self.lang_for(interaction)
            found = await self._paper_for(interaction, paper, lang, asking=True)
            answer = await core.ask(found, question, lang)
            embed = discord.Embed(
                title=fit(clean(found.title) or found.id, dr.TITLE_MAX),
                url=found.abs_url,
                description=fit(f"**{fit(clean(question), 300)}**\n\n{answer}", dr.DESCRIPTION_MAX),
                colour=dr.colour_for(found),
            )
            embed.set_footer(text=f"arXiv:{found.versioned_id} · {dr.dt('dc.answer', lang)}")
            await self.answer_publicly(interaction, embed=embed)

        on_off = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]
        day_choices = [app_commands.Choice(name=ls(d), value=d) for d in chat_settings.CHOICES["days"]]  # names in zh too

        @tree.command(name="settings", description=ls("This channel's digest settings (change them with the options)"))
        @app_commands.describe(
            papers=ls("Papers per digest as cards (1-20); the rest as a linked list"),
            figures=ls("Figures per paper (0-4)"),
            sections=ls("on: card + summary sections; off: card only"),
            days=ls("daily, weekdays, or weekly on mon … sun"),
            roundup=ls("The weekly roundup of the most-liked papers"),
        )
        @app_commands.choices(sections=on_off, days=day_choices, roundup=on_off)
        @everywhere
        @installs
        async def settings_(
            interaction: discord.Interaction,
            papers: app_commands.Range[int, 1, chat_settings.PAPERS_MAX] | None = None,
            figures: app_commands.Range[int, 0, chat_settings.FIGURES_MAX] | None = None,
            sections: app_commands.Choice[str] | None = None,
            days: app_commands.Choice[str] | None = None,
            roundup: app_commands.Choice[str] | None = None,
        ) -> None:
            lang = await self.lang_for(interaction)
            asked = {"papers": papers, "figures": figures, "sections": sections, "days": days, "roundup": roundup}
            changes = {k: str(v.value if isinstance(v, app_commands.Choice) else v) for k, v in asked.items() if v is not None}
            cid = self.chat_id(interaction)
            if changes:
                if interaction.guild_id is not None and not interaction.permissions.manage_channels:
                    raise NeedsManageChannels("Manage Channels is needed")
                fields: dict[str, Any] = {}
                for key, value in changes.items():
                    fields.update(chat_settings.change(key, value))
                await self._ensure_chat(interaction)
                await core.store.run(Store.update_chat, PLATFORM, cid, fields)
            wants = ChatSettings.of(await core.store.run(Store.get_chat, PLATFORM, cid), self.settings)
            text = "\n".join([*([t("set.done", lang), ""] if changes else []), wants.text(lang)])
            await self.reply(interaction, text, ephemeral=not changes)

        @tree.command(name="top", description=ls("This channel's most-liked papers of the week or month"))
        @app_commands.describe(period=ls("week or month"))
        @app_commands.choices(period=[app_commands.Choice(name=ls("week"), value="week"), app_commands.Choice(name=ls("month"), value="month")])
        @everywhere
        @installs
        async def top(interaction: discord.Interaction, period: app_commands.Choice[str] | None = None) -> None:
            lang = await self.lang_for(interaction)
            found = await roundup_top(core, PLATFORM, self.chat_id(interaction), period.value if period else "week")
            if not found.entries:
                await self.reply(interaction, t("roundup.empty", lang), ephemeral=True)
                return
            await interaction.response.defer(thinking=True)
            out = await self._roundup_message(lang, found)
            try:
                await interaction.followup.send(**out.kwargs())
            finally:
                out.close()

        @tree.command(name="help", description=ls("How to use paperbot"))
        @everywhere
        @installs
        async def help_(interaction: discord.Interaction) -> None:
            lang = await self.lang_for(interaction)
            await self.reply(interaction, fit(t("cmd.help", lang), dr.CONTENT_MAX), ephemeral=True)

