"""The Telegram adapter: commands, buttons and the daily digest, on python-telegram-bot v22.

One :class:`TelegramBot` per process wraps a PTB :class:`~telegram.ext.Application` (long
polling by default, a webhook when ``TELEGRAM_WEBHOOK_URL`` is set) and is the delivery
:class:`~bot.deliver.Channel` for Telegram: :func:`bot.deliver.deliver_digest` decides what a
chat gets, this module decides how it looks (``bot/telegram_render.py``) and turns Telegram's
refusals into what the delivery stage understands (:class:`~bot.deliver.ChatGone`,
:class:`~bot.deliver.ChatMoved`, :class:`~bot.deliver.DeliveryDeferred`).

Telegram's flood limits are kept by :mod:`bot.telegram_pacing` (its rate limiter and update
processor, plugged into the PTB application here).
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    Chat,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputFile,
    InputMediaPhoto,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from . import chat_settings, feedback, roundup, threads
from .chat_settings import ChatSettings
from .core import Enriched, Paperbot
from .deliver import ChatGone, ChatInfo, ChatMoved, DeliveryDeferred, chat_info, deliver_digest
from .errors import BadArxivId, BadSetting, PaperbotError, QueryError, Throttled, TooManySubscriptions
from .health import PlatformHealth, brief
from .i18n import error_text, t
from .ids import find_arxiv_ids, parse_arxiv_id
from .models import Paper
from .query import parse_query
from .render import clean, fit, why_text
from .settings import parse_hhmm, parse_zone
from .sheet import sheet
from .store import Store
from .telegram_pacing import FairUpdates, FloodLimits, PacedRateLimiter
from .telegram_render import (
    COMMANDS,
    abstract_text,
    answer_text,
    callback,
    digest_empty,
    digest_header,
    digest_overflow,
    first_sentence,
    full_summary,
    has_more,
    help_text,
    inline_card,
    link,
    paper_caption,
    paper_from_payload,
    paper_markup,
    paper_sections_text,
    paper_text,
    query_error,
    recount,
    roundup_caption,
    roundup_text,
    say,
    search_text,
    sections_cut,
    settings_markup,
    settings_text,
    short_caption,
    shows_takeaways,
    start_payload,
    subscriptions_text,
    topics_text,
    tt,
)

if TYPE_CHECKING:
    from datetime import date

    from aiohttp import web

    from .figures import Figure
    from .schedule import Scheduler

log = logging.getLogger(__name__)

PLATFORM = "telegram"
ADMINS = (ChatMember.ADMINISTRATOR, ChatMember.OWNER)
PHOTO_MAX_BYTES = 10 * 1024 * 1024
Context = ContextTypes.DEFAULT_TYPE


# ---- the adapter's own tables ------------------------------------------------------------------


def _ensure_tables(store: Store) -> None:
    """Which bot message shows which paper (replies ask about it), uploaded photos' file ids
    (each figure is uploaded once, then reused by id), (the hourly allowance of model calls is the core's, in bot/allowance.py)."""
    store.ensure_table(
        "telegram_messages",
        {"chat_id": str, "message_id": int, "paper_id": str, "at": str, "kind": str},
        pk=("chat_id", "message_id"),
    )
    if "kind" not in store.db["telegram_messages"].columns_dict:  # a database from before answers were told apart
        with store.db.conn:
            store.db["telegram_messages"].add_column("kind", str)
    store.ensure_table("telegram_files", {"path": str, "file_id": str}, pk="path")


def _remember(store: Store, chat_id: str, message_ids: list[int], paper_id: str, kind: str = "paper") -> None:
    """``kind``: "paper" (a digest post or a summary) or "answer" (the bot's answer to a question)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows = [{"chat_id": chat_id, "message_id": m, "paper_id": paper_id, "at": now, "kind": kind} for m in message_ids]
    with store.db.conn:
        store.db["telegram_messages"].upsert_all(rows, pk=("chat_id", "message_id"))


def _paper_of(store: Store, chat_id: str, message_id: int) -> tuple[str, str] | None:
    """The paper a bot message is about, and what kind of message it is."""
    rows = list(
        store.db.query(
            "select paper_id, kind from telegram_messages where chat_id = ? and message_id = ?", [chat_id, message_id]
        )
    )
    return (rows[0]["paper_id"], rows[0]["kind"] or "paper") if rows else None


def _addressed(message: Message, username: str | None) -> bool:
    """A group message meant for the bot: it @mentions the bot or ends with a question mark."""
    text = (message.text or "").rstrip()
    if text.endswith(("?", "？")):
        return True
    if not username:
        return False
    mentions = message.parse_entities([MessageEntity.MENTION]).values()
    return any(m.lower() == f"@{username.lower()}" for m in mentions)


def _file_ids(store: Store, paths: list[str]) -> dict[str, str]:
    marks = ",".join("?" for _ in paths)
    rows = store.db.query(f"select path, file_id from telegram_files where path in ({marks})", paths)
    return {r["path"]: r["file_id"] for r in rows}


def _save_file_ids(store: Store, pairs: dict[str, str]) -> None:
    with store.db.conn:
        store.db["telegram_files"].upsert_all([{"path": p, "file_id": f} for p, f in pairs.items()], pk="path")


def _forget_file_ids(store: Store, paths: list[str]) -> None:
    with store.db.conn:
        for p in paths:
            store.db.execute("delete from telegram_files where path = ?", [p])


# ---- helpers -----------------------------------------------------------------------------------------


def _arg_text(message: Message) -> str:
    """What follows the command, as typed (queries keep their quotes and spacing)."""
    parts = (message.text or "").split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""


def _who(update: Update) -> str:
    """The person behind an update, for the hourly allowance and the command throttle.

    Anonymous group admins all write as GroupAnonymousBot (the same user id in every group), with
    their group as ``sender_chat``: they are one person per group, ``chat:user``, rather than one
    person across every group on Telegram sharing one allowance.
    """
    user, message = update.effective_user, update.effective_message
    uid = str(user.id) if user else "0"
    if update.callback_query is None and message is not None and message.sender_chat is not None:
        return f"{message.chat_id}:{uid}"
    return uid


def _usable(figure: Figure) -> bool:
    """A figure Telegram takes as a photo: a file ≤10 MB, width + height ≤ 10,000, ratio ≤ 20."""
    if figure.path is None or not Path(figure.path).is_file():
        return False
    w, h = figure.width, figure.height
    if w <= 0 or h <= 0 or w + h > 10000 or max(w, h) / min(w, h) > 20:
        return False
    return Path(figure.path).stat().st_size <= PHOTO_MAX_BYTES


def _markup_problem(err: BadRequest) -> bool:
    """A refusal of the message itself (entities, length), which no retry will fix."""
    text = err.message.lower()
    return "parse entities" in text or "too long" in text or "entity" in text


def _media_problem(err: BadRequest) -> bool:
    text = err.message.lower()
    return any(s in text for s in ("photo", "image", "file", "media", "dimensions", "too big"))


class TelegramBot:
    """The Telegram side of paperbot: started and stopped by :func:`bot.run.run`."""

    platform = PLATFORM

    def __init__(self, core: Paperbot, *, limits: FloodLimits | None = None, max_retries: int = 5) -> None:
        self.core = core
        self.settings = core.settings
        self.store = core.store
        self.scheduler: Scheduler | None = None
        self.health: PlatformHealth | None = None  # set by bot.run: polling failures and recoveries
        self._polling_failures = 0
        token = self.settings.telegram_bot_token
        if token is None or not token.get_secret_value():
            raise BadSetting("TELEGRAM_BOT_TOKEN is not set")
        api = self.settings.telegram_api_url.rstrip("/")
        files = api[: -len("/bot")] + "/file/bot" if api.endswith("/bot") else api + "/file"
        limiter = PacedRateLimiter(limits, max_retries=max_retries)
        limiter.answered = self._reachable
        self.app: Application = (
            ApplicationBuilder()
            .token(token.get_secret_value())
            .base_url(api)
            .base_file_url(files)
            .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
            .rate_limiter(limiter)
            .concurrent_updates(FairUpdates())
            .job_queue(None)  # digests are scheduled by bot.schedule: one scheduler per process
            .build()
        )
        self._webhook: web.AppRunner | None = None
        self._uploading = asyncio.Lock()
        self._stacking = asyncio.Lock()  # one figure sheet made at a time: the chats after it reuse the file
        self._background: set[asyncio.Task[None]] = set()
        self._add_handlers()

    @property
    def bot(self) -> Any:
        return self.app.bot

    def _add_handlers(self) -> None:
        app = self.app
        # Telegram sends an edited message again, as an edit; PTB would run its command again
        # (a second /digest, a second model call): only new messages are acted on
        new = ~filters.UpdateType.EDITED
        app.add_handler(TypeHandler(Update, self.gatekeeper), group=-1)  # before every other handler
        for name in COMMANDS:
            app.add_handler(CommandHandler(name, getattr(self, f"{name}_command"), filters=new))
        app.add_handler(CallbackQueryHandler(self.subscribe_button, pattern=r"^sub:"))
        app.add_handler(CallbackQueryHandler(self.full_summary_button, pattern=r"^full:"))
        app.add_handler(CallbackQueryHandler(self.abstract_button, pattern=r"^abs:"))
        app.add_handler(CallbackQueryHandler(self.summarize_button, pattern=r"^sum:"))
        app.add_handler(CallbackQueryHandler(self.vote_button, pattern=r"^v[+-]:"))
        app.add_handler(CallbackQueryHandler(self.settings_button, pattern=r"^set:"))
        app.add_handler(InlineQueryHandler(self.inline_query))
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self.migrated))
        app.add_handler(ChatMemberHandler(self.membership, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, self.on_text))
        app.add_error_handler(self.on_error)

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect and start polling (or the webhook). Raises BadSetting for a token Telegram
        refuses (said without the token); a network error propagates for bot.run to retry."""
        await self.store.run(_ensure_tables)
        try:
            await self.app.initialize()
        except InvalidToken:
            raise BadSetting("Telegram refused TELEGRAM_BOT_TOKEN; copy the token @BotFather gave you") from None
        await self._set_commands()
        await self.app.start()
        if self.settings.telegram_webhook_url:
            await self._start_webhook(self.settings.telegram_webhook_url)
        else:
            await self.app.updater.start_polling(  # type: ignore[union-attr]
                allowed_updates=Update.ALL_TYPES, error_callback=self._polling_failed
            )
        self._polling_failures = 0
        log.info("telegram: @%s is up (%s)", self.bot.username, "webhook" if self._webhook else "polling")

    def _polling_failed(self, err: TelegramError) -> None:
        """One line per failed getUpdates, with when PTB tries next (its backoff: 1 s, x1.5, at most
        30 s), instead of PTB's traceback each time; the platform is recorded as down."""
        self._polling_failures += 1
        wait = min(30.0, 1.5 ** (self._polling_failures - 1))
        log.warning("telegram is unreachable (%s); polling again in %.0f s", brief(err), wait)
        if self.health is not None and self.health.up is not False:
            self._spawn(self.health.mark(False, brief(err)))

    def _reachable(self) -> None:
        """Telegram answered a request: if it was recorded as down, it is up again."""
        if self.health is not None and self.health.up is False and self.app.running:
            self._polling_failures = 0
            log.warning("telegram is reachable again")
            self._spawn(self.health.mark(True))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._webhook is not None:
            await self._webhook.cleanup()
            self._webhook = None
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def _set_commands(self) -> None:
        """The command menu, in Chinese and English (Telegram picks by the user's language)."""
        try:
            for lang in ("zh", "en"):
                commands = [BotCommand(c, tt(f"tg.cmd.{c}", lang)) for c in COMMANDS]
                await self.bot.set_my_commands(commands, language_code=lang)
            default = [BotCommand(c, tt(f"tg.cmd.{c}", self.settings.default_lang)) for c in COMMANDS]
            await self.bot.set_my_commands(default)
        except TelegramError as err:  # a menu is a nicety: never a reason not to start
            log.warning("telegram: could not set the command menu: %s", err)

    async def _start_webhook(self, url: str) -> None:
        """Updates pushed by Telegram to ``url``, checked against the secret token, into PTB's
        update queue (PTB's own webhook server needs tornado; aiohttp is here already)."""
        from aiohttp import web

        secret = self.settings.telegram_webhook_secret
        if secret is None or not secret.get_secret_value():
            raise BadSetting("set TELEGRAM_WEBHOOK_SECRET with TELEGRAM_WEBHOOK_URL: Telegram sends it with every update")
        token = secret.get_secret_value()
        host, _, port = self.settings.telegram_webhook_listen.rpartition(":")

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return web.Response(status=403)
            try:
                data = await request.json()
            except ValueError:
                return web.Response(status=400)
            await self.app.update_queue.put(Update.de_json(data, self.bot))
            return web.Response()

        web_app = web.Application()
        web_app.router.add_post(urlsplit(url).path or "/", receive)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
        self._webhook = runner
        await self.bot.set_webhook(url, secret_token=token, allowed_updates=Update.ALL_TYPES)

    # ---- small pieces the handlers share -------------------------------------------------------
    async def _lang(self, chat_id: int | str) -> str:
        """The chat's language, without creating a row for a chat that never set anything (a
        forum topic without its own speaks its group's)."""
        row = await self.store.run(Store.get_chat, PLATFORM, str(chat_id))
        if not (row or {}).get("lang") and (group := threads.parent(str(chat_id))) is not None:
            row = await self.store.run(Store.get_chat, PLATFORM, group)
        return (row or {}).get("lang") or self.settings.default_lang

    @staticmethod
    def _key(update: Update) -> str:
        """The chat a command or button belongs to: the group, or in a forum the topic it was
        sent in (:mod:`bot.threads`); the General topic is the group."""
        chat, message = update.effective_chat, update.effective_message
        thread = message.message_thread_id if message is not None and message.is_topic_message else None
        return threads.key(chat.id if chat is not None else 0, thread)

    @staticmethod
    def _message_key(message: Message) -> str:
        """:meth:`_key` for a message: its group, or the forum topic it is in."""
        return threads.key(message.chat_id, message.message_thread_id if message.is_topic_message else None)

    async def _is_admin(self, chat: Chat, user: User | None, message: Message | None = None) -> bool:
        """Private chats are their user's; in groups, ask Telegram (getChatMember)."""
        if chat.type == ChatType.PRIVATE:
            return True
        if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous admin, writing as the group
        if user is None:
            return False
        member = await self.bot.get_chat_member(chat.id, user.id)
        return member.status in ADMINS

    async def _admin_or_refuse(self, update: Update, lang: str) -> bool:
        message = update.effective_message
        assert message is not None and update.effective_chat is not None
        if await self._is_admin(update.effective_chat, update.effective_user, message):
            return True
        await message.reply_text(say("error.not_admin", lang))
        return False

    async def _ensure_chat(self, chat: Chat, key: str | None = None) -> None:
        title = chat.title or chat.full_name
        key = key or str(chat.id)
        row = await self.store.run(lambda s: s.ensure_chat(PLATFORM, key, title=title))
        group = threads.parent(key)
        if group is not None and row.get("parent_id") != group:  # a forum topic: its group's language unless set
            await self.store.run(Store.update_chat, PLATFORM, key, {"parent_id": group})

    async def _sync(self, chat_id: str) -> None:
        if self.scheduler is not None:
            await self.scheduler.sync_chat(PLATFORM, chat_id)

    async def _remember(self, chat_id: int | str, messages: list[Message], paper_id: str, kind: str = "paper") -> None:
        await self.store.run(_remember, str(chat_id), [m.message_id for m in messages], paper_id, kind)

    def _remember_soon(self, chat_id: int | str, messages: list[Message], paper_id: str) -> None:
        """Remember after returning: in a digest the ledger row must be written first (a crash
        between Telegram's acceptance and the ledger write repeats the paper)."""
        task = asyncio.get_running_loop().create_task(self._remember(chat_id, messages, paper_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @asynccontextmanager
    async def _chat_action(self, chat_id: int, action: str = ChatAction.TYPING, thread: int | None = None) -> AsyncIterator[None]:
        """Show "typing…" (Telegram clears it after 5 s, so it is repeated) while work runs."""

        async def keep_showing() -> None:
            while True:
                with suppress(TelegramError):
                    await self.bot.send_chat_action(chat_id, action, message_thread_id=thread)  # in its forum topic
                await asyncio.sleep(4.5)

        task = asyncio.create_task(keep_showing())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _paper_for(self, who: str, text: str, lang: str, *, asking: bool = False) -> Paper:
        """The paper asked for, the person's hourly allowance (the core's, shared with Discord)
        charged before any arXiv or model work; raises RateLimited when it is used up. ``who``
        keys the allowance (an anonymous admin is "chat:user")."""
        return await self.core.paper_for(self.platform, who, text, lang, asking=asking)

    def _full_link(self, paper: Paper, lang: str) -> str:
        """The album's way to the full summary (albums take no buttons): a /start deep link."""
        return link(f"https://t.me/{self.bot.username}?start={start_payload(paper.id)}", tt("tg.read_more", lang))

    def _figures_for(self, item: Enriched, n: int | None = None) -> list[Figure]:
        """The paper's figures to post (FIGURE_POLICY, DIGEST_FIGURES or the chat's ``n``), as
        Telegram takes them."""
        from .figures import may_post_figures, pick_for_digest

        if not item.figures or not may_post_figures(self.settings, item.paper):
            return []
        n = self.settings.digest_figures if n is None else n
        return [f for f in pick_for_digest(item.figures, n) if _usable(f)][:10]

    async def _send_figures(
        self, chat_id: int, figures: list[Figure], caption: str | None, *, markup: Any = None, reply_to: int | None = None,
        thread: int | None = None, captions: list[str] | None = None,
    ) -> list[Message]:
        """One photo or one album (2–10). Each figure is uploaded once and then sent by its file
        id: while a figure has none yet, the first chat uploads it and the others wait for it.
        ``captions``: one per figure (an album's ``caption`` is the first photo's)."""
        paths = [str(f.path) for f in figures]
        known = await self.store.run(_file_ids, paths)
        if len(known) == len(paths):
            try:
                return await self._post_photos(chat_id, paths, known, caption, markup, reply_to, thread, captions)
            except BadRequest as err:
                if "file identifier" not in err.message.lower():
                    raise
                await self.store.run(_forget_file_ids, paths)  # ids Telegram no longer knows
        async with self._uploading:
            known = await self.store.run(_file_ids, paths)
            return await self._post_photos(chat_id, paths, known, caption, markup, reply_to, thread, captions)

    async def _post_photos(
        self, chat_id: int, paths: list[str], known: dict[str, str], caption: str | None, markup: Any, reply_to: int | None,
        thread: int | None = None, captions: list[str] | None = None,
    ) -> list[Message]:
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        media: list[Any] = []
        for path in paths:
            if path in known:
                media.append(known[path])
            else:
                data = await asyncio.to_thread(Path(path).read_bytes)
                media.append(InputFile(data, filename=Path(path).name, attach=True))
        each = captions or [caption, *([None] * (len(media) - 1))]
        if len(media) == 1:
            sent = [await self.bot.send_photo(
                chat_id, media[0], caption=each[0], reply_markup=markup, reply_parameters=reply, message_thread_id=thread
            )]
        else:
            items = [InputMediaPhoto(m, caption=c) for m, c in zip(media, each, strict=True)]
            sent = list(await self.bot.send_media_group(chat_id, items, reply_parameters=reply, message_thread_id=thread))
        new = {p: m.photo[-1].file_id for p, m in zip(paths, sent, strict=False) if m.photo and p not in known}
        if new:
            await self.store.run(_save_file_ids, new)
        return sent

    # ---- the delivery channel ---------------------------------------------------------------------
    @asynccontextmanager
    async def _delivery(self) -> AsyncIterator[None]:
        """Telegram's refusals as the delivery stage's exceptions."""
        try:
            yield
        except Forbidden as err:
            raise ChatGone(err.message) from err
        except ChatMigrated as err:
            raise ChatMoved(str(err.new_chat_id)) from err
        except RetryAfter as err:
            raise DeliveryDeferred(f"rate limited after retries: {err.message}") from err
        except BadRequest as err:
            if "chat not found" in err.message.lower():
                raise ChatGone(err.message) from err
            if any(s in err.message.lower() for s in ("thread not found", "topic_deleted", "topic_closed")):
                # a deleted (or closed) forum topic: its subscription is paused, not retried daily
                raise ChatGone(f"forum topic: {err.message}") from err
            raise DeliveryDeferred(f"Telegram refused a message: {err.message}") from err
        except NetworkError as err:
            raise DeliveryDeferred(f"network: {err.message}") from err

    async def send_header(self, chat: ChatInfo, day: date, topics: list[str], papers: list[Paper]) -> None:
        chat_id, thread = threads.split(chat.chat_id)
        async with self._delivery():
            try:
                await self.bot.send_message(chat_id, digest_header(day, topics, papers, chat.lang), message_thread_id=thread)
            except BadRequest as err:
                if not _markup_problem(err):
                    raise
                log.error("telegram refused a digest header (%s); sending it plain", err.message)
                plain = t("digest.header", chat.lang, topics=", ".join(topics), day=day.isoformat(), count=len(papers))
                await self.bot.send_message(chat_id, fit(plain, 4000), parse_mode=None, message_thread_id=thread)

    async def send_paper(self, chat: ChatInfo, item: Enriched) -> str | None:
        """One paper, one message with its 👍 / 👎 and Full summary buttons: its figures stacked
        into one photo (:mod:`bot.sheet`: albums take no buttons) with the text as caption when it
        fits, else the photo with a short caption and the text as the next message (the one
        with the buttons), or the text alone. Returns the id of the message with the buttons."""
        (chat_id, thread), lang, paper = threads.split(chat.chat_id), chat.lang, item.paper
        wants = ChatSettings.of(chat.row, self.settings)
        figures = self._figures_for(item, wants.figures)
        # Full summary only when it shows more than this message (with sections on: one was cut)
        full = has_more(item.summary, lang) and (not wants.sections or sections_cut(item, lang))
        votes = await self.store.run(feedback.tally, PLATFORM, chat.chat_id, paper.id)  # e.g. on its /summarize answer
        markup = paper_markup(paper, lang, full=full, votes=votes)
        async with self._delivery():
            sent: list[Message] = []
            photo = None
            if figures:
                async with self._stacking:
                    photo = await asyncio.to_thread(sheet, figures)
            if photo is not None and _usable(photo):
                caption = None if wants.sections else paper_caption(item, lang)
                if caption and item.summary is not None and not shows_takeaways(caption, item.summary):
                    markup = paper_markup(paper, lang, full=True, votes=votes)  # the takeaways it had no room for
                try:
                    sent = await self._send_figures(
                        chat_id, [photo], caption or short_caption(paper, lang), markup=markup if caption else None,
                        thread=thread,
                    )
                except BadRequest as err:
                    if not _media_problem(err):
                        raise
                    log.warning("telegram: figures of %s refused (%s); sending the text alone", paper.id, err.message)
                if sent and caption:
                    self._remember_soon(chat_id, sent, paper.id)
                    return str(sent[0].message_id)
            reply = ReplyParameters(sent[0].message_id, allow_sending_without_reply=True) if sent else None
            body = paper_sections_text(item, lang) if wants.sections else paper_text(item, lang)
            try:
                text = await self.bot.send_message(
                    chat_id, body, reply_markup=markup, reply_parameters=reply, message_thread_id=thread
                )
            except BadRequest as err:
                if not _markup_problem(err):
                    raise
                # our rendering tripped Telegram's parser or a limit: a plain title and link rather
                # than a chat stuck retrying the same refused message every day
                log.error("telegram refused the text of %s (%s); sending title and link", paper.id, err.message)
                plain = f"{fit(clean(paper.title), 3800)}\n{paper.abs_url}"
                text = await self.bot.send_message(
                    chat_id, plain, parse_mode=None, reply_parameters=reply, reply_markup=markup, message_thread_id=thread
                )
            self._remember_soon(chat_id, [*sent, text], paper.id)
            return str(text.message_id)

    async def send_overflow(self, chat: ChatInfo, day: date, papers: list[Paper]) -> None:
        chat_id, thread = threads.split(chat.chat_id)
        async with self._delivery():
            for text in digest_overflow(papers, chat.lang):
                await self.bot.send_message(chat_id, text, message_thread_id=thread)

    async def send_empty(self, chat: ChatInfo, day: date, topics: list[str]) -> None:
        chat_id, thread = threads.split(chat.chat_id)
        async with self._delivery():
            await self.bot.send_message(chat_id, digest_empty(day, topics, chat.lang), message_thread_id=thread)

    # ---- commands ---------------------------------------------------------------------------------
    async def gatekeeper(self, update: Update, context: Context) -> None:
        """Before any handler: the command throttle (``COMMANDS_PER_USER_PER_MINUTE``, counted by
        the core for every platform) for commands, button taps and private messages. Over it,
        one sentence, then silence until the minute has room again."""
        message, query, chat = update.message, update.callback_query, update.effective_chat
        if query is None and (message is None or chat is None):
            return  # edits, membership changes: nothing to throttle
        if message is not None and not (message.text or "").startswith("/") and chat.type != ChatType.PRIVATE:  # type: ignore[union-attr]
            return  # group chatter: answered only when it addresses the bot (see on_text)
        verdict = self.core.throttle.check(f"{PLATFORM}:{_who(update)}")
        if verdict == "ok":
            return
        if verdict == "warn":
            lang = await self._lang(chat.id) if chat is not None else self.settings.default_lang
            text = error_text(Throttled(self.core.throttle.per_minute), lang)
            if query is not None:
                await query.answer(text[:200], show_alert=True)
            elif message is not None:
                await message.reply_text(html.escape(text, quote=False))
        elif query is not None:
            await query.answer()
        raise ApplicationHandlerStop

    async def start_command(self, update: Update, context: Context) -> None:
        """/start (also the album's "Full summary" deep link: /start full-2407_21047)."""
        message = update.effective_message
        assert message is not None
        paper_id = paper_from_payload(context.args[0]) if context.args else None
        if paper_id:
            await self._full_summary(message, _who(update), paper_id)
            return
        await message.reply_text(help_text(await self._lang(self._message_key(message))))

    async def help_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None
        await message.reply_text(help_text(await self._lang(self._message_key(message))))

    async def topics_command(self, update: Update, context: Context) -> None:
        """The catalogue, one subscribe button per topic."""
        message = update.effective_message
        assert message is not None
        lang = await self._lang(self._message_key(message))
        buttons = []
        for i, topic in enumerate(self.core.catalogue.topics):
            data = callback("sub", topic.name) or f"sub:#{i}"
            buttons.append(InlineKeyboardButton(f"➕ {topic.name}", callback_data=data))
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        await message.reply_text(topics_text(self.core.catalogue, lang), reply_markup=InlineKeyboardMarkup(rows))

    async def subscribe_command(self, update: Update, context: Context) -> None:
        """/subscribe 虚拟人 | /subscribe ti:"gaussian avatar" OR abs:"head avatar" (admins)."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        key = self._key(update)
        lang = await self._lang(key)
        text = _arg_text(message)
        if not text:
            await message.reply_text(say("error.missing_arg", lang, usage=tt("tg.usage.subscribe", lang)))
            return
        if not await self._admin_or_refuse(update, lang):
            return
        from .query import tidy_query  # curly quotes straightened; what a query reads differently, said

        text, warnings = tidy_query(text)
        try:
            sub = await self.core.subscription(text)
        except QueryError as err:
            await message.reply_text(query_error(err, text, lang))
            return
        except PaperbotError as err:
            await message.reply_text(html.escape(error_text(err, lang), quote=False))
            return
        await self._ensure_chat(chat, key)
        try:
            added = await self.store.run(
                Store.subscribe, PLATFORM, key, sub.topic, sub.query, self.settings.max_subscriptions_per_chat
            )
        except TooManySubscriptions as err:
            await message.reply_text(html.escape(error_text(err, lang), quote=False))
            return
        await self._sync(key)
        done = "cmd.subscribed" if added else "cmd.already_subscribed"
        reply = say(done, lang, topic=sub.topic)
        if added and sub.kind == "about":
            reply += "\n" + say("cmd.about_note", lang)
        reply += "".join("\n" + html.escape(fit(w.text(lang), 400), quote=False) for w in warnings if sub.kind == "query")
        await message.reply_text(reply)

    async def unsubscribe_command(self, update: Update, context: Context) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        key = self._key(update)
        lang = await self._lang(key)
        text = _arg_text(message)
        if not text:
            await message.reply_text(say("error.missing_arg", lang, usage=tt("tg.usage.unsubscribe", lang)))
            return
        if not await self._admin_or_refuse(update, lang):
            return
        names = {text}
        if (topic := self.core.catalogue.get(text)) is not None:
            names.add(topic.name)
        with suppress(QueryError):
            names.add(parse_query(text).text)
        subs = await self.store.run(Store.subscriptions, PLATFORM, key)
        found = next((s["topic"] for s in subs if s["topic"] in names), None)
        if found is None:
            await message.reply_text(say("cmd.not_subscribed", lang, topic=text))
            return
        await self.store.run(Store.unsubscribe, PLATFORM, key, found)
        await message.reply_text(say("cmd.unsubscribed", lang, topic=found))

    async def subscriptions_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None
        key = self._key(update)
        lang = await self._lang(key)
        subs = await self.store.run(Store.subscriptions, PLATFORM, key)
        await message.reply_text(subscriptions_text(subs, lang))

    async def settime_command(self, update: Update, context: Context) -> None:
        """/settime 09:00 [Asia/Shanghai] (admins)."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        key = self._key(update)
        lang = await self._lang(key)
        args = context.args or []
        if not args:
            await message.reply_text(say("error.missing_arg", lang, usage=tt("tg.usage.settime", lang)))
            return
        if not await self._admin_or_refuse(update, lang):
            return
        try:
            at = parse_hhmm(args[0])
        except ValueError:
            await message.reply_text(say("error.bad_time", lang, text=args[0][:40]))
            return
        fields = {"digest_time": at.strftime("%H:%M")}
        if len(args) > 1:
            try:
                parse_zone(args[1])
            except ValueError:
                await message.reply_text(say("error.bad_zone", lang, text=args[1][:64]))
                return
            fields["timezone"] = args[1]
        await self.store.run(Store.update_chat, PLATFORM, key, fields)
        await self._sync(key)
        info = await chat_info(self.core, PLATFORM, key)
        await message.reply_text(say("cmd.time_set", lang, time=info.digest_time, zone=info.timezone))

    async def lang_command(self, update: Update, context: Context) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        key = self._key(update)
        lang = await self._lang(key)
        choice = (context.args or [""])[0].lower()
        if choice not in ("zh", "en"):
            await message.reply_text(say("error.bad_lang", lang))
            return
        if not await self._admin_or_refuse(update, lang):
            return
        await self.store.run(Store.update_chat, PLATFORM, key, {"lang": choice})
        await message.reply_text(say("cmd.lang_set", choice))

    async def quiet_command(self, update: Update, context: Context) -> None:
        """Toggle the one line sent on announcement days with nothing for this chat."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        key = self._key(update)
        lang = await self._lang(key)
        if not await self._admin_or_refuse(update, lang):
            return
        info = await chat_info(self.core, PLATFORM, key)
        await self.store.run(Store.update_chat, PLATFORM, key, {"quiet": int(not info.quiet)})
        await message.reply_text(say("cmd.quiet_off" if info.quiet else "cmd.quiet_on", lang))

    async def digest_command(self, update: Update, context: Context) -> None:
        """Today's digest now, from the store: what this chat has not had yet (admins)."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        key = self._key(update)
        lang = await self._lang(key)
        if not await self._admin_or_refuse(update, lang):
            return
        if self.core.harvesting:  # just after start or an announcement: wait for it, and say so
            await message.reply_text(say("digest.harvesting", lang))
            await self.core.harvested()
        day = await self.core.latest_day()
        before = await self.store.run(Store.get_digest_run, PLATFORM, key, day) if day else None
        info = await chat_info(self.core, PLATFORM, key)
        async with self._chat_action(chat.id, thread=threads.split(key)[1]):
            result = await deliver_digest(self.core, self, key, manual=True)
        if result.status == "no-subscriptions":
            await message.reply_text(say("digest.no_subscriptions", lang))
        elif result.status == "running":
            await message.reply_text(say("digest.running", lang))
        elif result.status == "deferred":
            await message.reply_text(say("tg.digest_failed", lang))
        elif result.status == "nothing" or (
            result.status == "empty" and (info.quiet or (before is not None and before["status"] in ("started", "done")))
        ):
            await message.reply_text(say("digest.nothing_new", lang))

    async def inline_query(self, update: Update, context: Context) -> None:
        """``@bot 2407.21047`` (or a link) in any chat: the paper's card to post, from the stored
        summary's one-liner or else the abstract's first sentence; never a model call."""
        query = update.inline_query
        if query is None:
            return
        lang = "zh" if (query.from_user.language_code or "").startswith("zh") else "en"
        found = find_arxiv_ids(query.query, limit=1)
        if not found:
            await query.answer([], cache_time=60, is_personal=False)
            return
        try:
            paper = await self.core.lookup(str(found[0]))
        except PaperbotError as err:
            log.info("inline query %r: %s", query.query[:80], err)
            await query.answer([], cache_time=10)
            return
        summary = await self.core.summarizer.cached(paper, lang)
        line = clean(summary.summary) if summary is not None else first_sentence(paper.abstract)
        result = InlineQueryResultArticle(
            id=paper.id[:64],
            title=fit(clean(paper.title) or paper.id, 200),
            description=fit(line, 200),
            url=paper.abs_url,
            input_message_content=InputTextMessageContent(inline_card(paper, line, lang)),
        )
        await query.answer([result], cache_time=300)

    async def settings_command(self, update: Update, context: Context) -> None:
        """/settings shows the chat's settings with buttons (anyone may look); /settings KEY
        VALUE changes one (admins), e.g. /settings papers 5, /settings days fri."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        key = self._key(update)
        lang = await self._lang(key)
        args = context.args or []
        if args:
            if len(args) != 2:
                await message.reply_text(say("set.usage", lang))
                return
            if not await self._admin_or_refuse(update, lang):
                return
            try:
                fields = chat_settings.change(args[0], args[1])
            except BadSetting:
                await message.reply_text(say("set.usage", lang))
                return
            await self._ensure_chat(chat, key)
            await self.store.run(Store.update_chat, PLATFORM, key, fields)
        wants = ChatSettings.of(await self.store.run(Store.get_chat, PLATFORM, key), self.settings)
        await message.reply_text(settings_text(wants, lang), reply_markup=settings_markup(wants, lang))

    async def top_command(self, update: Update, context: Context) -> None:
        """/top [week|month]: the chat's most-liked papers (from its votes; no model call)."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        key = self._key(update)
        lang = await self._lang(key)
        period = (context.args or ["week"])[0].lower()
        if period not in roundup.PERIODS:
            await message.reply_text(say("roundup.bad_period", lang))
            return
        found = await roundup.top(self.core, PLATFORM, key, period)
        if not found.entries:
            await message.reply_text(say("roundup.empty", lang))
            return
        info = await chat_info(self.core, PLATFORM, key)
        await self.send_roundup(info, found)

    async def send_roundup(self, chat: ChatInfo, found: roundup.Roundup) -> None:
        """One message ranking the papers, then the top three's teaser figures as one album."""
        chat_id, thread = threads.split(chat.chat_id)
        async with self._delivery():
            text = await self.bot.send_message(chat_id, roundup_text(found, chat.lang), message_thread_id=thread)
            shown = [(i, e) for i, e in enumerate(found.entries, 1) if e.figure is not None and _usable(e.figure)]
            if shown:  # each figure captioned with its place in the list
                await self._send_figures(
                    chat_id, [e.figure for _, e in shown if e.figure is not None], None, reply_to=text.message_id, thread=thread,
                    captions=[roundup_caption(i, e.paper) for i, e in shown],
                )

    async def summarize_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None
        text = _arg_text(message)
        if not text:
            lang = await self._lang(self._message_key(message))
            await message.reply_text(say("error.missing_arg", lang, usage=tt("tg.usage.summarize", lang)))
            return
        await self._summarize(message, _who(update), text)

    async def why_command(self, update: Update, context: Context) -> None:
        """/why ID: for each of this chat's topics, whether its digest takes the paper and why."""
        message = update.effective_message
        assert message is not None
        lang = await self._lang(self._message_key(message))
        text = _arg_text(message)
        if not text:
            await message.reply_text(say("error.missing_arg", lang, usage=tt("tg.usage.why", lang)))
            return
        try:
            paper, verdicts = await self.core.chat_why(PLATFORM, self._message_key(message), text)  # a topic's own
        except PaperbotError as err:
            await message.reply_text(html.escape(error_text(err, lang), quote=False))
            return
        await message.reply_text(html.escape(fit(why_text(paper, verdicts, lang), 4000), quote=False))

    async def search_command(self, update: Update, context: Context) -> None:
        """The arXiv API's top 5 for words or a query, each with a Summarize button."""
        message = update.effective_message
        assert message is not None
        lang = await self._lang(self._message_key(message))
        text = _arg_text(message)
        if not text:
            await message.reply_text(say("error.missing_arg", lang, usage=tt("tg.usage.search", lang)))
            return
        try:
            query = parse_query(text)
        except QueryError as err:
            await message.reply_text(query_error(err, text, lang))
            return
        status = await message.reply_text(say("cmd.searching", lang))
        try:
            async with self._chat_action(message.chat_id):
                papers = await self.core.search(query.api, 5)
        except PaperbotError as err:
            await status.edit_text(html.escape(error_text(err, lang), quote=False))
            return
        rows = [
            [InlineKeyboardButton(f"{i}. {tt('label.summarize', lang)}", callback_data=data)]
            for i, p in enumerate(papers, 1)
            if (data := callback("sum", p.id))
        ]
        await status.edit_text(search_text(text, papers, lang), reply_markup=InlineKeyboardMarkup(rows) if rows else None)

    async def ask_command(self, update: Update, context: Context) -> None:
        """/ask ID QUESTION, or /ask QUESTION in reply to one of the bot's paper messages."""
        message = update.effective_message
        assert message is not None
        text = _arg_text(message)
        first, _, rest = text.partition(" ")
        try:
            paper_id, question = str(parse_arxiv_id(first)), rest
        except BadArxivId:
            replied = await self._replied(message)
            paper_id, question = (replied[0] if replied else None), text
        if paper_id is None or not question.strip():
            await message.reply_text(say("cmd.ask_needs_paper", await self._lang(self._message_key(message))))
            return
        await self._ask(message, _who(update), paper_id, question)

    # ---- buttons -------------------------------------------------------------------------------------
    async def subscribe_button(self, update: Update, context: Context) -> None:
        """A topic's button under /topics: subscribe, if the one who tapped is an admin."""
        query = update.callback_query
        assert query is not None and query.data is not None
        chat = update.effective_chat
        key = self._key(update)
        if chat is None:
            await query.answer()
            return
        lang = await self._lang(key)
        name = query.data.split(":", 1)[1]
        topics = self.core.catalogue.topics
        topic = topics[int(name[1:])] if name.startswith("#") and name[1:].isdigit() and int(name[1:]) < len(topics) else self.core.catalogue.get(name)
        if topic is None:
            await query.answer()
            return
        if not await self._is_admin(chat, query.from_user):
            await query.answer(tt("error.not_admin", lang), show_alert=True)
            return
        await self._ensure_chat(chat, key)
        try:
            added = await self.store.run(
                Store.subscribe, PLATFORM, key, topic.name, topic.query, self.settings.max_subscriptions_per_chat
            )
        except TooManySubscriptions as err:
            await query.answer(error_text(err, lang)[:200], show_alert=True)
            return
        await self._sync(key)
        done = "cmd.subscribed" if added else "cmd.already_subscribed"
        await query.answer(tt(done, lang, topic=topic.name))
        await self.bot.send_message(chat.id, say(done, lang, topic=topic.name), message_thread_id=threads.split(key)[1])

    async def vote_button(self, update: Update, context: Context) -> None:
        """👍 / 👎 under a digest paper: anyone in the chat may vote, once per paper (the same
        button again takes the vote back); the counts on the buttons are updated. No model call."""
        query = update.callback_query
        assert query is not None and query.data is not None
        chat = update.effective_chat
        key = self._key(update)
        if chat is None or not isinstance(query.message, Message):
            await query.answer()
            return
        value = feedback.UP if query.data[1] == "+" else feedback.DOWN
        paper_id = query.data.split(":", 1)[1]
        lang = await self._lang(key)
        got = await self.store.run(
            feedback.cast, PLATFORM, key, paper_id, str(query.from_user.id), value
        )
        said = {feedback.UP: "vote.up", feedback.DOWN: "vote.down", 0: "vote.removed"}[got.mine]
        await query.answer(tt(said, lang))
        with suppress(BadRequest):  # counts already shown (two taps crossing): nothing to change
            await query.edit_message_reply_markup(recount(query.message.reply_markup, got))

    async def settings_button(self, update: Update, context: Context) -> None:
        """A /settings button: admins change the setting, and the message shows the new state."""
        query = update.callback_query
        assert query is not None and query.data is not None
        chat = update.effective_chat
        key = self._key(update)
        _, name, value = query.data.split(":", 2)
        if chat is None or value == "?" or not isinstance(query.message, Message):
            await query.answer()
            return
        lang = await self._lang(key)
        if not await self._is_admin(chat, query.from_user):
            await query.answer(tt("error.not_admin", lang), show_alert=True)
            return
        try:
            fields = chat_settings.change(name, value)
        except BadSetting:
            await query.answer(tt("set.usage", lang), show_alert=True)
            return
        await self._ensure_chat(chat, key)
        await self.store.run(Store.update_chat, PLATFORM, key, fields)
        await query.answer(tt("set.done", lang))
        wants = ChatSettings.of(await self.store.run(Store.get_chat, PLATFORM, key), self.settings)
        with suppress(BadRequest):  # the same choice again: nothing to redraw
            await query.edit_message_text(settings_text(wants, lang), reply_markup=settings_markup(wants, lang))

    async def full_summary_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        await query.answer()
        if isinstance(query.message, Message):
            await self._full_summary(query.message, _who(update), query.data.split(":", 1)[1])

    async def abstract_button(self, update: Update, context: Context) -> None:
        """The Abstract button: the paper's abstract as arXiv has it (no model, no allowance)."""
        query = update.callback_query
        assert query is not None and query.data is not None
        await query.answer()
        if not isinstance(query.message, Message):
            return
        lang = await self._lang(self._message_key(query.message))
        try:
            paper = await self.core.lookup(query.data.split(":", 1)[1])
        except PaperbotError as err:
            await query.message.reply_text(html.escape(error_text(err, lang), quote=False))
            return
        reply = ReplyParameters(query.message.message_id, allow_sending_without_reply=True)
        sent = await self.bot.send_message(query.message.chat_id, abstract_text(paper, lang), reply_parameters=reply)
        await self._remember(query.message.chat_id, [sent], paper.id)

    async def summarize_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        await query.answer()
        if isinstance(query.message, Message):
            await self._summarize(query.message, _who(update), query.data.split(":", 1)[1])

    # ---- messages that are not commands ------------------------------------------------------------
    async def on_text(self, update: Update, context: Context) -> None:
        """A reply to one of the bot's paper messages asks about that paper; in a DM, an arXiv
        id or link gets its summary.

        In a group, people reply to a digest post to talk to each other ("thanks!", "lol"), so
        a reply is a question for the bot only when it addresses the bot: it @mentions the bot,
        ends with a question mark, or replies to one of the bot's answers (a follow-up).
        """
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not message.text:
            return
        user_id = _who(update)
        replied = await self._replied(message)
        if replied is not None:
            paper_id, kind = replied
            if chat.type == ChatType.PRIVATE or kind == "answer" or _addressed(message, self.bot.username):
                question = message.text.replace(f"@{self.bot.username}", "").strip() or message.text
                await self._ask(message, user_id, paper_id, question)
            return
        if chat.type != ChatType.PRIVATE:
            return
        found = find_arxiv_ids(message.text, limit=3)
        if not found:
            await message.reply_text(help_text(await self._lang(chat.id)))
        for aid in found:
            await self._summarize(message, user_id, str(aid))

    async def migrated(self, update: Update, context: Context) -> None:
        """A group became a supergroup: the chat and everything keyed by it (subscriptions,
        settings, votes, the ledger, its forum topics' chats) move to the new id, once.

        Telegram tells it twice, ``migrate_to_chat_id`` in the old group and
        ``migrate_from_chat_id`` in the new supergroup, in either order; whichever comes first
        moves the chat (with one log line, :meth:`bot.store.Store.migrate_chat`), the other
        finds nothing left to move."""
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id:
            old, new = str(message.chat_id), str(message.migrate_to_chat_id)
        elif message.migrate_from_chat_id:
            old, new = str(message.migrate_from_chat_id), str(message.chat_id)
        else:
            return
        if not await self.store.run(Store.migrate_chat, PLATFORM, old, new):
            log.debug("telegram: chat %s was moved to %s already", old, new)
            return
        if self.scheduler is not None:
            prefix = f"digest:{PLATFORM}:{old}:"
            for job in self.scheduler.aps.get_jobs():  # the group's and its forum topics' digests
                if job.id == f"digest:{PLATFORM}:{old}" or job.id.startswith(prefix):
                    job.remove()
            for row in await self.store.run(Store.active_chats, PLATFORM):
                if row["chat_id"] == new or row["chat_id"].startswith(f"{new}:"):
                    await self.scheduler.sync_chat(PLATFORM, row["chat_id"])

    async def membership(self, update: Update, context: Context) -> None:
        """The bot was removed from (or added back to) a chat."""
        change = update.my_chat_member
        if change is None:
            return
        chat_id = str(change.chat.id)
        status = change.new_chat_member.status
        if status in (ChatMember.LEFT, ChatMember.BANNED):
            if await self.store.run(Store.get_chat, PLATFORM, chat_id) is not None:
                await self.store.run(Store.update_chat, PLATFORM, chat_id, {"active": 0, "inactive_reason": "removed"})
            if self.scheduler is not None:
                self.scheduler.remove_chat(PLATFORM, chat_id)
        elif status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR):
            row = await self.store.run(Store.get_chat, PLATFORM, chat_id)
            if row is not None and not row["active"]:
                await self.store.run(Store.update_chat, PLATFORM, chat_id, {"active": 1, "inactive_reason": None})
                await self._sync(chat_id)

    async def on_error(self, update: object, context: Context) -> None:
        """Log, and tell the chat in one sentence in its language; never a traceback."""
        err = context.error
        if isinstance(err, PaperbotError):
            log.info("telegram: %s", err)
        else:
            log.error("telegram: handling an update failed", exc_info=err)
        if not isinstance(update, Update) or update.effective_chat is None or isinstance(err, (Forbidden, ChatMigrated)):
            return
        with suppress(Exception):
            lang = await self._lang(update.effective_chat.id)
            await self.bot.send_message(update.effective_chat.id, html.escape(error_text(err or Exception(), lang), quote=False))

    # ---- the work behind /summarize, /ask and the buttons -------------------------------------------
    async def _replied(self, message: Message) -> tuple[str, str] | None:
        """The paper (and the kind of message) of the bot message ``message`` replies to."""
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or replied.from_user.id != self.bot.id:
            return None
        return await self.store.run(_paper_of, str(message.chat_id), replied.message_id)

    async def _summarize(self, message: Message, user_id: str, text: str) -> None:
        """A status reply ("⏳ Reading …") edited into the paper's summary, then its figures; the
        last text message carries 👍 / 👎 (votes of the chat, or of the forum topic it was asked in)."""
        chat_id = message.chat_id
        key = self._message_key(message)
        thread = threads.split(key)[1]
        lang = await self._lang(key)
        try:
            aid = parse_arxiv_id(text)
        except BadArxivId as err:
            await message.reply_text(html.escape(error_text(err, lang), quote=False))
            return
        from .figures import may_post_figures

        stored = await self.core.store.run(Store.get_paper, aid.id)
        ready = stored is not None and not aid.version and await self.core.summarizer.cached(stored, lang) is not None
        # a status line only while there is work to wait for: a cached summary is one message
        status = None if ready else await message.reply_text(say("cmd.working", lang, id=str(aid)))
        try:
            paper = await self._paper_for(user_id, str(aid), lang)
            async with self._chat_action(chat_id, thread=thread):
                item = await self.core.enrich(paper, lang, figures=may_post_figures(self.settings, paper))
        except PaperbotError as err:
            problem = html.escape(error_text(err, lang), quote=False)
            await (status.edit_text(problem) if status else message.reply_text(problem))
            return
        # the whole structured summary (as Discord shows it), folded sections within Telegram's limits
        texts = full_summary(paper, item.summary, lang, links=item.links) if item.summary else [paper_text(item, lang)]
        # 👍 / 👎 as on a digest card, with the chat's counts so far: a chat's votes also come from
        # the papers it asked about (the last message carries the buttons)
        votes = await self.store.run(feedback.tally, PLATFORM, key, paper.id)
        markup = paper_markup(paper, lang, full=False, votes=votes)
        first, rest = texts[0], texts[1:]
        if status is None:
            status = await message.reply_text(first, reply_markup=None if rest else markup)
        else:
            await status.edit_text(first, reply_markup=None if rest else markup)
        sent_more = []
        for i, text in enumerate(rest):
            reply = ReplyParameters(status.message_id, allow_sending_without_reply=True)
            last = i == len(rest) - 1
            sent_more.append(await self.bot.send_message(
                chat_id, text, reply_markup=markup if last else None, reply_parameters=reply, message_thread_id=thread
            ))
        await self._remember(chat_id, [status, *sent_more], paper.id)
        figures = self._figures_for(item)
        if figures:
            async with self._chat_action(chat_id, ChatAction.UPLOAD_PHOTO, thread):
                sent = await self._send_figures(
                    chat_id, figures, short_caption(paper, lang), reply_to=status.message_id, thread=thread
                )
            await self._remember(chat_id, sent, paper.id)

    async def _full_summary(self, message: Message, user_id: str, paper_id: str) -> None:
        """The structured summary, in as many messages as it takes, replying to ``message``."""
        chat_id = message.chat_id
        lang = await self._lang(self._message_key(message))
        try:
            paper = await self._paper_for(user_id, paper_id, lang)
            async with self._chat_action(chat_id):
                summary = await self.core.summary(paper, lang)
        except PaperbotError as err:
            await message.reply_text(html.escape(error_text(err, lang), quote=False))
            return
        reply = ReplyParameters(message.message_id, allow_sending_without_reply=True)
        # the card is on screen (a digest post or an album's caption): only what it does not show
        on_card = message.from_user is not None and message.from_user.id == self.bot.id
        shown = shows_takeaways(message.caption or message.text or "", summary)
        links = await self.core.links(paper)
        for text in full_summary(paper, summary, lang, card=not on_card, links=links, takeaways_shown=shown):
            sent = await self.bot.send_message(chat_id, text, reply_parameters=reply)
            await self._remember(chat_id, [sent], paper.id)

    async def _ask(self, message: Message, user_id: str, paper_id: str, question: str) -> None:
        chat_id = message.chat_id
        lang = await self._lang(self._message_key(message))
        status = await message.reply_text(say("tg.thinking", lang, id=paper_id))
        try:
            paper = await self._paper_for(user_id, paper_id, lang, asking=True)
            async with self._chat_action(chat_id):
                answer = await self.core.ask(paper, question, lang)
        except PaperbotError as err:
            await status.edit_text(html.escape(error_text(err, lang), quote=False))
            return
        await status.edit_text(answer_text(paper, question, answer, lang))
        await self._remember(chat_id, [status], paper.id, "answer")
