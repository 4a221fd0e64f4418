"""A fake Telegram Bot API on 127.0.0.1, strict enough to catch what the real one would refuse.

python-telegram-bot talks to it exactly as to api.telegram.org (``base_url=f"{fake.url}/bot"``):
form-encoded or multipart requests, JSON answers. It

* feeds the updates a test enqueues (messages from admins and members of groups, DMs, button
  presses) to ``getUpdates`` long polling;
* keeps every message the bot posted (text as sent, visible text after entity parsing,
  photos, buttons, albums) so tests assert on what a person would see;
* enforces Telegram's limits and rejects violations like Telegram: text 1–4,096 and captions
  ≤1,024 characters counted after entity parsing (in UTF-16 code units, the stricter count),
  HTML that does not parse (unknown or unclosed tags, a bare ``<`` or ``&``), albums outside
  2–10, callback data over 64 bytes, photos that are not images or have impossible dimensions,
  unknown file ids, edits of missing messages;
* enforces flood limits with 429 + ``parameters.retry_after`` (global messages per second,
  messages per minute per group, messages per second per chat), counting each window as its
  period less 5 % for network jitter (``retry_after`` in whole seconds of the possibly
  shortened clock), and counts messages that come back before their ``retry_after`` is over
  (``early_retries``);
* injects faults: any error for the next call of a method, 403 "bot was kicked" for a chat,
  ChatMigrated, and a freeze (requests hang, then are dropped unrecorded: a process killed
  mid-request).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import io
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from bot.telegram_pacing import FloodLimits
from tests.pdfbytes import serialise

TOKEN = "123456:FAKE-telegram-token"
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "paperbot",
    "username": "paperbot_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
ANONYMOUS_ADMIN = 1087968824  # GroupAnonymousBot: the sender of every anonymous admin's message
MESSAGE_METHODS = {"sendmessage", "sendphoto", "sendmediagroup", "editmessagetext"}
_ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote",
    "tg-spoiler", "span", "tg-emoji",
}  # fmt: skip
# attributes with a value (href="…") or bare, as Telegram takes <blockquote expandable>
_TAG = re.compile(r'<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*"[^"<>]*")?)*)\s*>')
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """The visible text of a Telegram-HTML string, or ApiError 400 like Telegram's parser."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "<":
            m = _TAG.match(text, pos)
            if not m:
                raise ApiError(400, f"Bad Request: can't parse entities: Unexpected start tag at byte offset {pos}")
            closing, name = m.group(1), m.group(2).lower()
            if name not in _ALLOWED_TAGS:
                raise ApiError(400, f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" at byte offset {pos}')
            if closing:
                if not stack or stack[-1] != name:
                    raise ApiError(400, f'Bad Request: can\'t parse entities: Unmatched end tag at byte offset {pos}, expected "</{stack[-1] if stack else ""}>", found "</{name}>"')
                stack.pop()
            else:
                if name == "a" and 'href="' not in m.group(3):
                    raise ApiError(400, "Bad Request: can't parse entities: link without href")
                stack.append(name)
            pos = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, pos)
            if not m:
                raise ApiError(400, f"Bad Request: can't parse entities: unescaped & at byte offset {pos}")
            out.append(html.unescape(m.group()))
            pos = m.end()
        else:
            out.append(ch)
            pos += 1
    if stack:
        raise ApiError(400, f'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


@dataclass
class Posted:
    """One message in a chat, as Telegram stores it."""

    chat_id: int
    message_id: int
    method: str  # sendMessage | sendPhoto | sendMediaGroup
    html: str  # the text or caption as sent
    visible: str  # after entity parsing
    photo: str | None = None  # file id
    reply_markup: dict[str, Any] | None = None
    reply_to: int | None = None
    media_group_id: str | None = None
    from_bot: bool = True
    edits: int = 0
    at: float = 0.0
    thread: int | None = None  # the forum topic it was posted in

    @property
    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [b for row in rows for b in row]

    def json(self, fake: FakeTelegram) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": self.message_id,
            "date": int(self.at),
            "chat": fake.chat_json(self.chat_id),
            "from": BOT_USER if self.from_bot else fake.users.get(self.chat_id, {"id": 1, "is_bot": False, "first_name": "x"}),
        }
        if self.photo is not None:
            w, h, size = fake.files[self.photo]
            msg["photo"] = [{"file_id": self.photo, "file_unique_id": "u" + self.photo, "width": w, "height": h, "file_size": size}]
            if self.visible:
                msg["caption"] = self.visible
        else:
            msg["text"] = self.visible
        if self.media_group_id:
            msg["media_group_id"] = self.media_group_id
        if self.thread:
            msg["message_thread_id"] = self.thread
            msg["is_topic_message"] = True
        if self.reply_markup:
            msg["reply_markup"] = self.reply_markup
        return msg


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200
    description: str = ""
    at: float = 0.0


class _Window:
    """At most ``n`` events in any window of ``period`` seconds (less 5 % for jitter)."""

    def __init__(self, n: float, period: float) -> None:
        self.n = max(1, int(n))
        self.period = period * 0.95
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()
        if len(self.times) < self.n:
            return 0.0
        return self.times[0] + self.period - now

    def add(self, now: float) -> None:
        self.times.append(now)


@dataclass
class FakeTelegram:
    """State and behaviour of the fake; ``app()`` is the aiohttp application to serve."""

    limits: FloodLimits | None = None
    token: str = TOKEN
    updates: list[dict[str, Any]] = field(default_factory=list)
    posted: list[Posted] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    members: dict[tuple[int, int], str] = field(default_factory=dict)  # (chat, user) -> status
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # file_id -> w, h, size
    uploads: int = 0
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # language_code -> commands
    webhook: dict[str, Any] | None = None
    kicked: set[int] = field(default_factory=set)
    migrated: dict[int, int] = field(default_factory=dict)
    faults: dict[str, list[ApiError]] = field(default_factory=dict)  # method (lower) -> next errors
    early_retries: int = 0
    freeze_after: int | None = None  # message calls accepted before requests start hanging
    held: int = 0
    from_people: set[tuple[int, int]] = field(default_factory=set)
    inline_answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # inline query id -> results
    topics: dict[int, set[int]] = field(default_factory=dict)  # forum -> its topics' thread ids (General is none)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._file_ids = itertools.count(1)
        self._groups = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_update: asyncio.Event | None = None
        self._thaw: asyncio.Event | None = None
        self._global = _Window(self.limits.per_second, self.limits.second) if self.limits else None
        self._per_group: dict[int, _Window] = {}
        self._per_chat: dict[int, _Window] = {}
        self._blocked: dict[Any, float] = {}
        self._closing = False
        self._refused: dict[str, float] = {}  # message signature -> when it may come back

    # ---- the world: chats, people, updates -------------------------------------------------
    def add_group(self, chat_id: int, title: str = "Lab group", *, admins: tuple[int, ...] = (), members: tuple[int, ...] = ()) -> int:
        self.chats[chat_id] = {"id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "group", "title": title}
        for u in admins:
            self.members[(chat_id, u)] = "administrator"
        for u in members:
            self.members[(chat_id, u)] = "member"
        return chat_id

    def add_forum(self, chat_id: int, title: str = "Lab forum", *, topics: tuple[int, ...] = (), admins: tuple[int, ...] = (),
                  members: tuple[int, ...] = ()) -> int:
        """A supergroup with topics: messages in a topic carry its ``message_thread_id``."""
        self.add_group(chat_id, title, admins=admins, members=members)
        self.chats[chat_id]["is_forum"] = True
        self.topics[chat_id] = set(topics)
        return chat_id

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        self.topics[chat_id].discard(thread_id)

    def add_user(self, user_id: int, name: str = "Ada", lang: str = "en") -> dict[str, Any]:
        user = {"id": user_id, "is_bot": False, "first_name": name, "language_code": lang}
        self.users[user_id] = user
        self.chats.setdefault(user_id, {"id": user_id, "type": "private", "first_name": name})
        return user

    def chat_json(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self.chats:
            return self.chats[chat_id]
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": f"group {chat_id}"}
        return {"id": chat_id, "type": "private", "first_name": f"user {chat_id}"}

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def send_text(self, chat_id: int, user_id: int, text: str, *, reply_to: int | None = None, anonymous: bool = False,
                  thread: int | None = None) -> int:
        """A person writes ``text`` in a chat (in a forum, in topic ``thread``); returns the message
        id. ``anonymous``: a group admin writing as the group (from GroupAnonymousBot, with the
        group as sender_chat)."""
        mid = self._next_message_id(chat_id)
        self.from_people.add((chat_id, mid))
        self._enqueue({"message": self._person_message(chat_id, mid, user_id, text, reply_to, anonymous, thread)})
        return mid

    def edit_text(self, chat_id: int, user_id: int, message_id: int, text: str) -> None:
        """The person edits their message ``message_id``: Telegram sends it again as edited_message."""
        msg = self._person_message(chat_id, message_id, user_id, text, None, False)
        msg["edit_date"] = int(time.time())
        self._enqueue({"edited_message": msg})

    def _person_message(self, chat_id: int, mid: int, user_id: int, text: str, reply_to: int | None, anonymous: bool,
                        thread: int | None = None) -> dict[str, Any]:
        user = self.users.get(user_id) or self.add_user(user_id)
        if anonymous:
            user = {"id": ANONYMOUS_ADMIN, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
        msg: dict[str, Any] = {"message_id": mid, "date": int(time.time()), "chat": self.chat_json(chat_id), "from": user, "text": text}
        if thread:
            msg["message_thread_id"], msg["is_topic_message"] = thread, True
        if anonymous:
            msg["sender_chat"] = self.chat_json(chat_id)
        entities = []
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command)})
        for m in re.finditer(r"(?<![\w/])@[A-Za-z][A-Za-z0-9_]{3,31}", text):  # @mentions, as Telegram marks them
            entities.append({"type": "mention", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())})
        if entities:
            msg["entities"] = entities
        if reply_to is not None:
            msg["reply_to_message"] = self.message(chat_id, reply_to).json(self)
        return msg

    def press(self, chat_id: int, user_id: int, message_id: int, data: str) -> None:
        """A person taps an inline button with ``data`` under a bot message."""
        user = self.users.get(user_id) or self.add_user(user_id)
        msg = self.message(chat_id, message_id)
        assert data in [b.get("callback_data") for b in msg.buttons], f"no button {data!r} on message {message_id}"
        self._enqueue({"callback_query": {"id": str(next(self._update_ids) + 10_000), "from": user, "chat_instance": str(chat_id), "data": data, "message": msg.json(self)}})

    def inline(self, user_id: int, query: str) -> str:
        """A person types ``@bot query`` in any chat; returns the inline query's id."""
        user = self.users.get(user_id) or self.add_user(user_id)
        qid = str(next(self._update_ids) + 50_000)
        self._enqueue({"inline_query": {"id": qid, "from": user, "query": query, "offset": ""}})
        return qid

    def migrate(self, old_id: int, new_id: int, *, from_first: bool = False) -> None:
        """The group ``old_id`` becomes supergroup ``new_id``, as Telegram tells a bot: a service
        message with ``migrate_to_chat_id`` in the old group and one with ``migrate_from_chat_id``
        in the new supergroup (``from_first``: that one arrives first). Its people are members
        of the supergroup, with their roles; the old group refuses messages from now on."""
        self.migrated[old_id] = new_id
        self.add_group(new_id, self.chats.get(old_id, {}).get("title", "Lab group"))
        for (chat, user), status in list(self.members.items()):
            if chat == old_id:
                self.members[(new_id, user)] = status
        sender = self.users.get(1, {"id": 1, "is_bot": False, "first_name": "x"})
        to = {"message_id": self._next_message_id(old_id), "date": int(time.time()), "chat": self.chat_json(old_id),
              "from": sender, "migrate_to_chat_id": new_id}
        came = {"message_id": self._next_message_id(new_id), "date": int(time.time()), "chat": self.chat_json(new_id),
                "from": sender, "migrate_from_chat_id": old_id}
        for msg in ((came, to) if from_first else (to, came)):
            self._enqueue({"message": msg})

    def _enqueue(self, update: dict[str, Any]) -> None:
        with self._lock:
            update["update_id"] = next(self._update_ids)
            self.updates.append(update)
        if self._loop is not None and self._new_update is not None:
            self._loop.call_soon_threadsafe(self._new_update.set)

    def flood(self, chat_id: int, seconds: float) -> None:
        """Telegram's flood control for one chat: its messages get 429 (retry_after) for ``seconds``."""
        self._blocked[chat_id] = time.monotonic() + seconds

    def flooded_until(self, chat_id: int) -> float:
        """When (time.monotonic(), like ``Call.at``) the chat's flood wait ends."""
        return self._blocked.get(chat_id, 0.0)

    def fail_next(self, method: str, code: int, description: str, **parameters: Any) -> None:
        self.faults.setdefault(method.lower(), []).append(ApiError(code, description, parameters or None))

    def thaw(self) -> None:
        """Let frozen requests go: each is answered 502 and never recorded (its sender is gone)."""
        self.freeze_after = None
        if self._loop is not None and self._thaw is not None:
            self._loop.call_soon_threadsafe(self._thaw.set)

    # ---- what tests read -------------------------------------------------------------------------
    def message(self, chat_id: int, message_id: int) -> Posted:
        for p in self.posted:
            if p.chat_id == chat_id and p.message_id == message_id:
                return p
        raise KeyError((chat_id, message_id))

    def in_chat(self, chat_id: int) -> list[Posted]:
        return [p for p in self.posted if p.chat_id == chat_id]

    def count(self, method: str, status: int | None = None) -> int:
        return sum(1 for c in self.calls if c.method == method.lower() and (status is None or c.status == status))

    @property
    def too_many(self) -> int:
        return sum(1 for c in self.calls if c.status == 429)

    # ---- the server ---------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _startup(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        self._new_update = asyncio.Event()
        self._thaw = asyncio.Event()

    async def _shutdown(self, app: web.Application) -> None:
        """End long polls and frozen requests now, so the server stops without waiting for them."""
        self._closing = True
        if self._new_update is not None and self._thaw is not None:
            self._new_update.set()
            self._thaw.set()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params, files = await _read(request)
        call = Call(method, params, at=time.monotonic())
        if method in MESSAGE_METHODS and self.freeze_after is not None and self._accepted() >= self.freeze_after:
            self.held += 1
            assert self._thaw is not None
            await self._thaw.wait()
            return web.json_response({"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502)
        self.calls.append(call)
        try:
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            self._check_faults(method, params, call.at)
            result = await handler(params, files) if asyncio.iscoroutinefunction(handler) else handler(params, files)
        except ApiError as err:
            call.status, call.description = err.code, err.description
            body: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
            if err.parameters:
                body["parameters"] = err.parameters
            return web.json_response(body, status=err.code)
        return web.json_response({"ok": True, "result": result})

    def _accepted(self) -> int:
        return sum(1 for c in self.calls if c.method in MESSAGE_METHODS and c.status == 200)

    def _check_faults(self, method: str, params: dict[str, Any], now: float) -> None:
        chat_id = params.get("chat_id")
        chat_id = int(chat_id) if isinstance(chat_id, (int, str)) and str(chat_id).lstrip("-").isdigit() else None
        if chat_id is not None and chat_id in self.kicked:
            raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
        if chat_id is not None and chat_id in self.migrated and method in MESSAGE_METHODS:
            raise ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": self.migrated[chat_id]})
        if self.faults.get(method):
            err = self.faults[method].pop(0)
            if err.code == 429 and err.parameters:
                self._blocked["all"] = now + err.parameters["retry_after"]
                self._refused[_signature(method, params)] = now + err.parameters["retry_after"]
            raise err
        if method not in MESSAGE_METHODS:
            return
        signature = _signature(method, params)
        if self._refused.get(signature, 0) > now:
            self.early_retries += 1  # the same message again before its retry_after was over
        for key in ("all", chat_id):
            if self._blocked.get(key, 0) > now:
                raise self._too_many(signature, self._blocked[key] - now, now)
        if self.limits is None or chat_id is None:
            return
        windows = [("all", self._global)]
        windows.append((chat_id, self._per_chat.setdefault(chat_id, _Window(self.limits.per_chat, self.limits.second))))
        if chat_id < 0:
            windows.append((chat_id, self._per_group.setdefault(chat_id, _Window(self.limits.per_group, self.limits.minute))))
        for key, window in windows:
            assert window is not None
            wait = window.wait(now)
            if wait > 0:
                err = self._too_many(signature, wait, now)
                self._blocked[key] = now + err.parameters["retry_after"]  # type: ignore[index]
                raise err
        for _, window in windows:
            assert window is not None
            window.add(now)

    def _too_many(self, signature: str, wait: float, now: float) -> ApiError:
        """A 429 whose retry_after is whole (scaled) seconds, as Telegram's are."""
        second = self.limits.second if self.limits else 1.0
        retry_after = max(1, math.ceil(wait / second)) * second
        retry_after = int(retry_after) if second == 1.0 else round(retry_after, 3)
        self._refused[signature] = now + retry_after
        return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    # ---- methods ----------------------------------------------------------------------------
    def _m_getme(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return BOT_USER

    def _m_deletewebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.webhook = None
        return True

    def _m_setwebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.webhook = params
        return True

    def _m_getwebhookinfo(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    def _m_setmycommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        commands = params["commands"]
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", c["command"]) or not 1 <= len(c["description"]) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[params.get("language_code", "")] = commands
        return True

    def _m_sendchataction(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if params.get("action") not in {"typing", "upload_photo", "upload_document", "record_video", "upload_video", "find_location", "choose_sticker", "record_voice", "upload_voice", "record_video_note", "upload_video_note"}:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _m_answercallbackquery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if len(params.get("text", "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _m_answerinlinequery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """Inline results, checked like Telegram: at most 50, ids of 1–64 bytes and unique, an
        article's title and its message text (which must parse)."""
        results = params.get("results") or []
        if len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = [r.get("id", "") for r in results]
        if len(set(ids)) != len(ids) or any(not 1 <= len(i.encode()) <= 64 for i in ids):
            raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
        for r in results:
            content = r.get("input_message_content") or {}
            if r.get("type") == "article" and (not r.get("title") or not content.get("message_text")):
                raise ApiError(400, "Bad Request: RESULT_TITLE_EMPTY")
            if content.get("message_text"):
                content["visible"] = self._text(content["message_text"], 4096, "text")
        self.inline_answers[str(params["inline_query_id"])] = results
        return True

    def _m_getchatmember(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = self.members.get((chat_id, user_id), "member" if (chat_id, user_id) not in self.members else "left")
        user = self.users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "x"})
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "administrator":
            member |= {k: True for k in (
                "can_be_edited", "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
                "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                "can_delete_stories")}  # fmt: skip
            member["can_be_edited"] = False
            member["is_anonymous"] = False
        elif status == "creator":
            member["is_anonymous"] = False
        return member

    async def _m_getupdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        assert self._new_update is not None
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if offset:
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                pending = list(self.updates[:limit])
                self._new_update.clear()
            left = deadline - time.monotonic()
            if pending or left <= 0 or self._closing:
                return pending
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), left)

    def _text(self, text: str, limit: int, what: str) -> str:
        visible = parse_html(text)
        if not visible.strip() and what == "text":
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(visible) > limit:
            raise ApiError(400, "Bad Request: message is too long" if what == "text" else "Bad Request: message caption is too long")
        return visible

    def _markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if not markup:
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if data is None and not button.get("url"):
                    raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
                if button.get("url") and not re.match(r"(https?|tg)://", button["url"]):
                    raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        return markup

    def _reply_to(self, chat_id: int, params: dict[str, Any]) -> int | None:
        rp = params.get("reply_parameters")
        if not rp:
            return None
        mid = int(rp["message_id"])
        known = (chat_id, mid) in self.from_people or any(p.chat_id == chat_id and p.message_id == mid for p in self.posted)
        if not known and not rp.get("allow_sending_without_reply"):
            raise ApiError(400, "Bad Request: message to be replied not found")
        return mid

    def _thread(self, chat_id: int, params: dict[str, Any]) -> int | None:
        """The topic a message goes to; Telegram refuses a topic the forum does not have."""
        thread = params.get("message_thread_id")
        if thread in (None, ""):
            return None
        thread = int(thread)
        if chat_id not in self.topics or thread not in self.topics[chat_id]:
            raise ApiError(400, "Bad Request: message thread not found")
        return thread

    def _post(self, chat_id: int, method: str, html_text: str, visible: str, **kw: Any) -> Posted:
        p = Posted(chat_id, self._next_message_id(chat_id), method, html_text, visible, at=time.time(), **kw)
        self.posted.append(p)
        return p

    def _m_sendmessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id = int(params["chat_id"])
        self._parse_mode(params)
        visible = self._text(params.get("text", ""), 4096, "text")
        thread = self._thread(chat_id, params)
        p = self._post(chat_id, "sendMessage", params["text"], visible, reply_markup=self._markup(params), reply_to=self._reply_to(chat_id, params), thread=thread)
        return p.json(self)

    def _m_editmessagetext(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id, mid = int(params["chat_id"]), int(params["message_id"])
        try:
            p = self.message(chat_id, mid)
        except KeyError:
            raise ApiError(400, "Bad Request: message to edit not found") from None
        if p.photo is not None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        self._parse_mode(params)
        visible = self._text(params.get("text", ""), 4096, "text")
        markup = self._markup(params)
        if visible == p.visible and markup == p.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
        p.html, p.visible, p.reply_markup = params["text"], visible, markup
        p.edits += 1
        return p.json(self)

    def _m_editmessagereplymarkup(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """New buttons on any message (text or photo), refused when nothing changes, as Telegram does."""
        chat_id, mid = int(params["chat_id"]), int(params["message_id"])
        try:
            p = self.message(chat_id, mid)
        except KeyError:
            raise ApiError(400, "Bad Request: message to edit not found") from None
        markup = self._markup(params)
        if markup == p.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
        p.reply_markup = markup
        p.edits += 1
        return p.json(self)

    def _photo(self, value: Any, files: dict[str, bytes]) -> str:
        """A file id for an uploaded photo (validated like Telegram), or the known id sent."""
        if isinstance(value, str) and value.startswith("attach://"):
            value = files.get(value[len("attach://"):])
            if value is None:
                raise ApiError(400, "Bad Request: wrong remote file identifier specified: can't find the attached file")
        if isinstance(value, bytes):
            if len(value) > 10 * 1024 * 1024:
                raise ApiError(400, "Bad Request: file is too big")
            try:
                with Image.open(io.BytesIO(value)) as im:
                    w, h = im.size
            except Exception:
                raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
            if w + h > 10000 or max(w, h) / max(1, min(w, h)) > 20:
                raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
            file_id = f"AgAC{next(self._file_ids)}-{hashlib.sha1(value).hexdigest()[:8]}"
            self.files[file_id] = (w, h, len(value))
            self.uploads += 1
            return file_id
        if isinstance(value, str) and value in self.files:
            return value
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _parse_mode(self, params: dict[str, Any]) -> None:
        if params.get("parse_mode") not in (None, "HTML"):
            raise ApiError(400, "Bad Request: this fake only speaks HTML parse mode")

    def _m_sendphoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id = int(params["chat_id"])
        self._parse_mode(params)
        caption = params.get("caption", "")
        visible = self._text(caption, 1024, "caption") if caption else ""
        markup = self._markup(params)
        reply_to = self._reply_to(chat_id, params)
        thread = self._thread(chat_id, params)
        file_id = self._photo(files.get("photo", params.get("photo")), files)
        p = self._post(chat_id, "sendPhoto", caption, visible, photo=file_id, reply_markup=markup, reply_to=reply_to, thread=thread)
        return p.json(self)

    def _m_sendmediagroup(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id = int(params["chat_id"])
        media = params.get("media") or []
        if not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media: an album must have 2-10 items")
        if "reply_markup" in params:
            raise ApiError(400, "Bad Request: albums cannot have an inline keyboard")
        reply_to = self._reply_to(chat_id, params)
        checked = []
        for item in media:
            if item.get("type") != "photo":
                raise ApiError(400, "Bad Request: this fake only takes photo albums")
            if item.get("parse_mode") not in (None, "HTML"):
                raise ApiError(400, "Bad Request: this fake only speaks HTML parse mode")
            caption = item.get("caption", "")
            visible = self._text(caption, 1024, "caption") if caption else ""
            checked.append((caption, visible, self._photo(item["media"], files)))
        thread = self._thread(chat_id, params)
        group_id = f"album{next(self._groups)}"
        posted = [self._post(chat_id, "sendMediaGroup", c, v, photo=f, media_group_id=group_id, reply_to=reply_to, thread=thread) for c, v, f in checked]
        return [p.json(self) for p in posted]


def _signature(method: str, params: dict[str, Any]) -> str:
    """What identifies one message across its retries."""
    body = {k: v for k, v in params.items() if k in ("chat_id", "text", "caption", "media", "photo", "message_id")}
    return method + hashlib.sha1(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


_JSON_FIELDS = {"results", "reply_markup", "media", "link_preview_options", "reply_parameters", "allowed_updates", "commands", "entities", "scope", "caption_entities"}


async def _read(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters (JSON-decoded where Telegram takes JSON) and uploaded files of a Bot API call."""
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        params = await request.json()
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = value.file.read()
            else:
                params[key] = json.loads(value) if key in _JSON_FIELDS else value
    params.update({k: v for k, v in request.query.items() if k not in params})
    return params, files


# ---- papers to post: tiny PDFs for the fake arXiv, with figures the extractor finds ----------------


def _pdf_text(x: float, top: float, text: str, size: float = 10) -> str:
    text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"BT /F1 {size} Tf {x:.1f} {792 - top - size * 0.8:.1f} Td ({text}) Tj ET\n"


def _chart_page(number: int) -> str:
    """Body text, a vector bar chart, its "Figure N:" caption, more body text."""
    body = "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore"
    ops = "".join(_pdf_text(72, 72 + 12 * i, body) for i in range(4))
    ops += f"0.2 0.4 0.8 rg 0 G 1 w\n100 {792 - 120 - 170} 400 160 re S\n"
    ops += "".join(f"{130 + i * 70} {792 - 120 - 165} 40 {h} re f\n" for i, h in enumerate((40, 90, 130, 70, 110)))
    ops += _pdf_text(72, 300, f"Figure {number}: Results of the methods on benchmark {number}.", size=9)
    return ops + "".join(_pdf_text(72, 320 + 12 * i, body) for i in range(3))


def tiny_pdf(figures: int) -> bytes:
    """A valid PDF with one captioned vector figure per page (Helvetica, no images)."""
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
    kids = []
    for n in range(1, figures + 1):
        data = _chart_page(n).encode("latin-1")
        page, content = 8 + 2 * n, 9 + 2 * n
        objects[content] = b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"
        objects[page] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        ).encode()
        kids.append(f"{page} 0 R")
    objects[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    return serialise(objects)
