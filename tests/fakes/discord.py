"""A fake Discord on 127.0.0.1: the REST API and the gateway, as discord.py 2.x speaks to them.

The real ``discord.Client`` logs in against it (``GET /users/@me``, application info), syncs
commands (``PUT /applications/{id}/commands``), connects to the gateway websocket (HELLO,
IDENTIFY, READY, GUILD_CREATE, heartbeats, RESUME; zlib-stream compressed when the client asks
for it, as Discord does) and then receives the INTERACTION_CREATE events a test sends: slash
commands (type 2), button clicks (type 3) and autocomplete (type 4). Every REST request the
bot makes is recorded (JSON body, or multipart ``payload_json`` plus the files with their
bytes) so a test can assert what a person would have seen.

Discord's limits are enforced the way Discord enforces them, so a message that would be
refused in production is refused here: 400 ``Invalid Form Body`` (code 50035) for content over
2,000 characters, an embed title over 256, description over 4,096, more than 25 fields, a field
over 256/1,024, a footer over 2,048, more than 6,000 characters across a message's embeds,
more than 10 embeds or 10 files; 413 (code 40005) for a file over 10 MiB; 40060 for a second
response to one interaction; 404 ``Unknown Channel`` (10003) for a deleted channel, 403
``Missing Access`` (50001) for one the bot may no longer see. Rate limits can be queued per
route and come back as Discord's 429 (``retry_after`` in the JSON body and the
``Retry-After``/``X-RateLimit-*`` headers).

It runs in the test's own event loop (``async with FakeDiscord() as fake``), so the client and
the fake interleave deterministically and a test can await what the bot did.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
ALL_PERMISSIONS = (1 << 51) - 1
MANAGE_CHANNELS = 1 << 4
SEND_MESSAGES = 1 << 11
VIEW_CHANNEL = 1 << 10
MEMBER_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | (1 << 31)  # view, send, use application commands
MiB = 1024 * 1024

LIMITS = {
    "content": 2000,
    "embeds": 10,
    "files": 10,
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
    "author": 256,
    "embed_total": 6000,
    "file_bytes": 10 * MiB,
    "components_rows": 5,
    "row_buttons": 5,
    "custom_id": 100,
    "label": 80,
    "choices": 25,
    "attachment_description": 1024,
}

CHANNEL_TEXT = 0
CHANNEL_DM = 1
CHANNEL_CATEGORY = 4
CHANNEL_PUBLIC_THREAD = 11
CHANNEL_FORUM = 15


def embed_chars(embed: dict[str, Any]) -> int:
    """The characters Discord counts toward the 6,000 per message: title, description, field
    names and values, footer text and author name."""
    n = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or []:
        n += len(f.get("name") or "") + len(f.get("value") or "")
    n += len((embed.get("footer") or {}).get("text") or "")
    n += len((embed.get("author") or {}).get("name") or "")
    return n


@dataclass
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Request:
    """One REST request as the fake received it, and what it answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    multipart: bool = False
    status: int = 0
    response: Any = None
    deduped: bool = False  # a resend Discord answered with the earlier message (same nonce)

    @property
    def payload(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}


@dataclass
class FakeInteraction:
    """An interaction the fake sent over the gateway, and how the bot answered it."""

    id: str
    token: str
    type: int
    data: dict[str, Any]
    acked: bool = False
    callback: dict[str, Any] | None = None  # the interaction response body
    callback_files: list[UploadedFile] = field(default_factory=list)
    original: dict[str, Any] | None = None  # the original response message
    followups: list[dict[str, Any]] = field(default_factory=list)
    followup_files: list[list[UploadedFile]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def callback_type(self) -> int | None:
        return self.callback["type"] if self.callback else None


class FormError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body


def _max_len(errors: dict[str, Any], path: list[str], limit: int) -> None:
    node = errors
    for key in path:
        node = node.setdefault(key, {})
    node["_errors"] = [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]


def validate_message(payload: dict[str, Any], files: list[UploadedFile], *, edit: bool = False) -> None:
    """Raise :class:`FormError` exactly where Discord would refuse a message create/edit."""
    errors: dict[str, Any] = {}
    content = payload.get("content") or ""
    if len(content) > LIMITS["content"]:
        _max_len(errors, ["content"], LIMITS["content"])
    embeds = payload.get("embeds") or []
    if len(embeds) > LIMITS["embeds"]:
        _max_len(errors, ["embeds"], LIMITS["embeds"])
    total = 0
    for i, e in enumerate(embeds):
        at = ["embeds", str(i)]
        if len(e.get("title") or "") > LIMITS["title"]:
            _max_len(errors, [*at, "title"], LIMITS["title"])
        if len(e.get("description") or "") > LIMITS["description"]:
            _max_len(errors, [*at, "description"], LIMITS["description"])
        fields = e.get("fields") or []
        if len(fields) > LIMITS["fields"]:
            _max_len(errors, [*at, "fields"], LIMITS["fields"])
        for j, f in enumerate(fields):
            if not f.get("name") or not f.get("value"):
                errors.setdefault("embeds", {}).setdefault(str(i), {}).setdefault("fields", {})[str(j)] = {
                    "_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]
                }
            if len(f.get("name") or "") > LIMITS["field_name"]:
                _max_len(errors, [*at, "fields", str(j), "name"], LIMITS["field_name"])
            if len(f.get("value") or "") > LIMITS["field_value"]:
                _max_len(errors, [*at, "fields", str(j), "value"], LIMITS["field_value"])
        if len((e.get("footer") or {}).get("text") or "") > LIMITS["footer"]:
            _max_len(errors, [*at, "footer", "text"], LIMITS["footer"])
        if len((e.get("author") or {}).get("name") or "") > LIMITS["author"]:
            _max_len(errors, [*at, "author", "name"], LIMITS["author"])
        total += embed_chars(e)
    if total > LIMITS["embed_total"]:
        _max_len(errors, ["embeds"], LIMITS["embed_total"])
    rows = payload.get("components") or []
    if len(rows) > LIMITS["components_rows"]:
        _max_len(errors, ["components"], LIMITS["components_rows"])
    for i, row in enumerate(rows):
        parts = row.get("components") or []
        if len(parts) > LIMITS["row_buttons"]:
            _max_len(errors, ["components", str(i), "components"], LIMITS["row_buttons"])
        for j, c in enumerate(parts):
            if len(c.get("custom_id") or "") > LIMITS["custom_id"]:
                _max_len(errors, ["components", str(i), "components", str(j), "custom_id"], LIMITS["custom_id"])
            if len(c.get("label") or "") > LIMITS["label"]:
                _max_len(errors, ["components", str(i), "components", str(j), "label"], LIMITS["label"])
    if len(files) > LIMITS["files"]:
        _max_len(errors, ["files"], LIMITS["files"])
    for i, a in enumerate(payload.get("attachments") or []):
        if len(a.get("description") or "") > LIMITS["attachment_description"]:
            _max_len(errors, ["attachments", str(i), "description"], LIMITS["attachment_description"])
    if errors:
        raise FormError(400, {"code": 50035, "errors": errors, "message": "Invalid Form Body"})
    for f in files:
        if f.size > LIMITS["file_bytes"]:
            raise FormError(413, {"code": 40005, "message": "Request entity too large"})
    if not edit and not content and not embeds and not files and not payload.get("sticker_ids") and not payload.get("poll"):
        raise FormError(400, {"code": 50006, "message": "Cannot send an empty message"})


class FakeDiscord:
    """Discord's REST API under ``/api/v10`` and its gateway at ``/gateway``, on 127.0.0.1."""

    def __init__(self, *, token: str = "fake-discord-token", heartbeat_interval_ms: int = 41250) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._ids = itertools.count(1)
        self.app_id = self.snowflake()
        self.bot_user = {
            "id": self.app_id,
            "username": "paperbot",
            "discriminator": "0",
            "global_name": "paperbot",
            "avatar": None,
            "bot": True,
            "flags": 0,
        }
        self.owner = self.user("owner")
        self.guilds: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.gone: dict[str, int] = {}  # channel id -> 404 (deleted) or 403 (access removed)
        self.no_attach: set[str] = set()  # channels where the bot lacks Attach Files
        self.commands: list[dict[str, Any]] = []
        self.command_syncs = 0
        self.requests: list[Request] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.message_files: dict[str, list[UploadedFile]] = {}
        self.nonces: dict[tuple[str, str], str] = {}  # (channel, nonce) -> message id, for enforce_nonce
        self.interactions: dict[str, FakeInteraction] = {}
        self.rate_limits: list[dict[str, Any]] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.connections: list[dict[str, str]] = []  # the query of each gateway connection
        self.sockets: list[web.WebSocketResponse] = []
        self._seq = 0
        self._sessions: set[str] = set()
        self._compressors: dict[int, Any] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- ids and objects -------------------------------------------------------------------
    def snowflake(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._ids) & 0x3FFFFF))

    def user(self, name: str) -> dict[str, Any]:
        return {"id": self.snowflake(), "username": name, "discriminator": "0", "global_name": name.title(),
                "avatar": None, "bot": False, "flags": 0}

    def add_guild(self, name: str = "Lab") -> str:
        gid = self.snowflake()
        self.guilds[gid] = {
            "id": gid,
            "name": name,
            "owner_id": self.owner["id"],
            "roles": [{"id": gid, "name": "@everyone", "permissions": str(MEMBER_PERMISSIONS), "position": 0,
                       "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
            "channels": [],
            "threads": [],
        }
        return gid

    def add_channel(self, guild_id: str, name: str, *, type: int = CHANNEL_TEXT, parent_id: str | None = None) -> str:
        """A text channel, a forum (type 15) or a thread (type 11, ``parent_id`` its channel)."""
        cid = self.snowflake()
        ch: dict[str, Any] = {"id": cid, "type": type, "name": name, "position": len(self.guilds[guild_id]["channels"]),
                              "permission_overwrites": [], "nsfw": False, "parent_id": parent_id, "guild_id": guild_id,
                              "flags": 0}
        if type == CHANNEL_PUBLIC_THREAD:
            ch.update(owner_id=self.owner["id"], message_count=0, member_count=1, rate_limit_per_user=0,
                      thread_metadata={"archived": False, "auto_archive_duration": 1440, "locked": False,
                                       "archive_timestamp": _now_iso()})
            self.guilds[guild_id]["threads"].append(ch)
        else:
            if type == CHANNEL_FORUM:
                ch.update(available_tags=[], default_reaction_emoji=None, default_sort_order=None,
                          default_forum_layout=0, topic=None, rate_limit_per_user=0)
            self.guilds[guild_id]["channels"].append(ch)
        self.channels[cid] = ch
        return cid

    def add_dm(self, user: dict[str, Any]) -> str:
        cid = self.snowflake()
        self.channels[cid] = {"id": cid, "type": CHANNEL_DM, "recipients": [user], "last_message_id": None, "flags": 0}
        return cid

    def delete_channel(self, channel_id: str, status: int = 404) -> None:
        """The channel was deleted (404) or the bot lost access to it (403)."""
        self.gone[str(channel_id)] = status

    def rate_limit(self, method: str, path_pattern: str, *, retry_after: float = 0.3, times: int = 1,
                   is_global: bool = False) -> None:
        """The next ``times`` requests matching (regex on the path after /api/v10) get a 429."""
        self.rate_limits.append({"method": method, "re": re.compile(path_pattern), "retry_after": retry_after,
                                 "times": times, "global": is_global})

    # ---- running ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=100 * MiB)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        return app

    async def __aenter__(self) -> FakeDiscord:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- waiting --------------------------------------------------------------------------------
    def _touch(self) -> None:
        self._changed.set()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Await until ``predicate()`` is truthy (returns it); the timeout is a guard, not a check."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError("the bot did not do what the test waited for")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.2))

    def sent(self, channel_id: str | None = None) -> list[Request]:
        """Accepted ``POST /channels/{id}/messages`` requests, oldest first."""
        out = []
        for r in self.requests:
            m = re.fullmatch(r"channels/(\d+)/messages", r.path)
            if (r.method == "POST" and m and r.status == 200 and not r.deduped
                    and (channel_id is None or m.group(1) == str(channel_id))):
                out.append(r)
        return out

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    # ---- gateway ----------------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections.append(dict(request.query))
        if request.query.get("compress") == "zlib-stream":
            self._compressors[id(ws)] = zlib.compressobj()
        self.sockets.append(ws)
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                await self._on_op(ws, data)
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
            self._compressors.pop(id(ws), None)
        return ws

    async def _send(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        comp = self._compressors.get(id(ws))
        if comp is None:
            await ws.send_str(raw.decode())
        else:  # zlib-stream: one shared context, each message ends with a sync flush
            await ws.send_bytes(comp.compress(raw) + comp.flush(zlib.Z_SYNC_FLUSH))

    async def _dispatch_to(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await self._send(ws, {"op": 0, "t": event, "s": self._seq, "d": data})

    async def _on_op(self, ws: web.WebSocketResponse, msg: dict[str, Any]) -> None:
        op, d = msg.get("op"), msg.get("d")
        if op == 1:
            self.heartbeats += 1
            await self._send(ws, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            self.identifies.append(d)
            if d.get("token") != self.token:
                await ws.close(code=4004, message=b"Authentication failed.")
                return
            session = f"session-{len(self.identifies)}"
            self._sessions.add(session)
            ready = {
                "v": 10,
                "user": self.bot_user,
                "guilds": [{"id": gid, "unavailable": True} for gid in self.guilds],
                "session_id": session,
                "resume_gateway_url": self.gateway_url,
                "shard": [0, 1],
                "application": {"id": self.app_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
            }
            await self._dispatch_to(ws, "READY", ready)
            for guild in self.guilds.values():
                await self._dispatch_to(ws, "GUILD_CREATE", self._guild_create(guild))
            self._touch()
        elif op == 6:
            self.resumes.append(d)
            if d.get("token") == self.token and d.get("session_id") in self._sessions:
                await self._dispatch_to(ws, "RESUMED", {})
            else:
                await self._send(ws, {"op": 9, "d": False, "s": None, "t": None})
            self._touch()

    def _guild_create(self, guild: dict[str, Any]) -> dict[str, Any]:
        me = {"user": self.bot_user, "roles": [], "joined_at": _now_iso(), "deaf": False, "mute": False, "flags": 0}
        channels = [{k: v for k, v in c.items() if k != "guild_id"} for c in guild["channels"]]
        return {
            **{k: v for k, v in guild.items() if k not in ("channels", "threads")},
            "unavailable": False,
            "member_count": 2,
            "large": False,
            "joined_at": _now_iso(),
            "channels": channels,
            "threads": guild["threads"],
            "members": [me],
            "emojis": [],
            "stickers": [],
            "features": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "preferred_locale": "en-US",
            "premium_tier": 0,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
        }

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to the bot's live gateway connection."""
        if not self.sockets:
            raise AssertionError("the bot is not connected to the gateway")
        await self._dispatch_to(self.sockets[-1], event, data)

    async def drop_connection(self) -> None:
        """Close the gateway socket as a network failure would (the client should RESUME)."""
        for ws in list(self.sockets):
            await ws.close(code=4000, message=b"reset")

    # ---- interactions ------------------------------------------------------------------------
    def _command(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.commands if c["name"] == name), None)

    def _base_interaction(self, type: int, *, channel_id: str, user: dict[str, Any] | None,
                          permissions: int, locale: str) -> dict[str, Any]:
        user = user or self.user("alice")
        channel = self.channels[str(channel_id)]
        iid = self.snowflake()
        token = f"itoken-{iid}"
        data: dict[str, Any] = {
            "id": iid,
            "application_id": self.app_id,
            "type": type,
            "token": token,
            "version": 1,
            "locale": locale,
            "channel_id": channel["id"],
            "channel": {k: v for k, v in channel.items() if k != "recipients"} | (
                {"recipients": channel["recipients"]} if channel["type"] == CHANNEL_DM else {}
            ),
            "app_permissions": str(ALL_PERMISSIONS),
            "entitlements": [],
            "authorizing_integration_owners": {"0": "0"},
            "attachment_size_limit": LIMITS["file_bytes"],
        }
        guild_id = channel.get("guild_id")
        if guild_id:
            data["guild_id"] = guild_id
            data["guild_locale"] = "en-US"
            data["guild"] = {"id": guild_id, "locale": "en-US", "features": []}
            data["context"] = 0
            data["member"] = {"user": user, "roles": [], "joined_at": _now_iso(), "deaf": False, "mute": False,
                              "flags": 0, "pending": False, "nick": None, "permissions": str(permissions)}
        else:
            data["context"] = 1
            data["user"] = user
        return data

    def _options(self, command: dict[str, Any] | None, values: dict[str, Any], focused: str | None) -> list[dict[str, Any]]:
        types = {o["name"]: o["type"] for o in (command or {}).get("options", [])}
        out = []
        for name, value in values.items():
            opt = {"name": name, "type": types.get(name, 3), "value": value}
            if name == focused:
                opt["focused"] = True
            out.append(opt)
        return out

    async def _send_interaction(self, data: dict[str, Any]) -> FakeInteraction:
        it = FakeInteraction(id=data["id"], token=data["token"], type=data["type"], data=data)
        self.interactions[it.token] = it
        await self.dispatch("INTERACTION_CREATE", data)
        return it

    async def slash(self, name: str, options: dict[str, Any] | None = None, *, channel_id: str,
                    user: dict[str, Any] | None = None, permissions: int = MEMBER_PERMISSIONS,
                    locale: str = "en-US") -> FakeInteraction:
        """Someone runs ``/name option:value …`` in ``channel_id`` (a guild channel, thread or DM)."""
        command = self._command(name)
        data = self._base_interaction(2, channel_id=channel_id, user=user, permissions=permissions, locale=locale)
        data["data"] = {"id": command["id"] if command else self.snowflake(), "name": name, "type": 1,
                        "options": self._options(command, options or {}, None)}
        return await self._send_interaction(data)

    async def autocomplete(self, name: str, focused: str, value: str, *, channel_id: str,
                           others: dict[str, Any] | None = None, user: dict[str, Any] | None = None,
                           permissions: int = MEMBER_PERMISSIONS) -> FakeInteraction:
        command = self._command(name)
        data = self._base_interaction(4, channel_id=channel_id, user=user, permissions=permissions, locale="en-US")
        values = {**(others or {}), focused: value}
        data["data"] = {"id": command["id"] if command else self.snowflake(), "name": name, "type": 1,
                        "options": self._options(command, values, focused)}
        return await self._send_interaction(data)

    async def click(self, message_id: str, custom_id: str, *, user: dict[str, Any] | None = None,
                    permissions: int = MEMBER_PERMISSIONS) -> FakeInteraction:
        """Someone clicks the button ``custom_id`` on a message the bot sent."""
        message = self.messages[str(message_id)]
        data = self._base_interaction(3, channel_id=message["channel_id"], user=user, permissions=permissions,
                                      locale="en-US")
        data["message"] = message
        data["data"] = {"custom_id": custom_id, "component_type": 2}
        return await self._send_interaction(data)

    # ---- REST ------------------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        rec = Request(method=request.method, path=path, query=dict(request.query))
        try:
            await self._read_body(request, rec)
            response = await self._route(request, rec)
        except FormError as err:
            response = _json(err.body, status=err.status)
        rec.status = response.status
        if isinstance(response, web.Response) and response.body is not None and response.content_type == "application/json":
            rec.response = json.loads(response.body)  # type: ignore[arg-type]
        self.requests.append(rec)
        self._touch()
        return response

    async def _read_body(self, request: web.Request, rec: Request) -> None:
        if request.content_type.startswith("multipart/"):
            rec.multipart = True
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if part.name == "payload_json":  # type: ignore[union-attr]
                    rec.json = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    data = await part.read(decode=False)  # type: ignore[union-attr]
                    rec.files.append(UploadedFile(
                        part.name or "",  # type: ignore[union-attr]
                        part.filename or "",  # type: ignore[union-attr]
                        part.headers.get("Content-Type", ""),  # type: ignore[union-attr]
                        bytes(data),
                    ))
        elif request.can_read_body:
            raw = await request.read()
            rec.json = json.loads(raw) if raw else None

    def _rate_limited(self, rec: Request) -> web.Response | None:
        for rl in self.rate_limits:
            if rl["times"] > 0 and rl["method"] == rec.method and rl["re"].fullmatch(rec.path):
                rl["times"] -= 1
                retry = rl["retry_after"]
                headers = {
                    "Retry-After": str(math.ceil(retry)),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + retry:.3f}",
                    "X-RateLimit-Reset-After": f"{retry:.3f}",
                    "X-RateLimit-Bucket": "fakebucket" + rl["re"].pattern.replace("/", "")[:8],
                    "X-RateLimit-Scope": "shared" if not rl["global"] else "global",
                    "Via": "1.1 google",
                }
                if rl["global"]:
                    headers["X-RateLimit-Global"] = "true"
                body = {"message": "You are being rate limited.", "retry_after": retry, "global": rl["global"]}
                return _json(body, status=429, headers=headers)
        return None

    async def _route(self, request: web.Request, rec: Request) -> web.Response:
        path, method = rec.path, rec.method
        token_auth = path.startswith(("interactions/", "webhooks/"))
        if not token_auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        if (limited := self._rate_limited(rec)) is not None:
            return limited
        ok = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset-After": "1.000",
              "X-RateLimit-Reset": f"{time.time() + 1:.3f}", "X-RateLimit-Bucket": "fakebucket", "Via": "1.1 google"}
        if method == "GET" and path == "users/@me":
            return _json(self.bot_user, headers=ok)
        if method == "GET" and path == "oauth2/applications/@me":
            return _json(self._app_info(), headers=ok)
        if method == "GET" and path in ("gateway", "gateway/bot"):
            body: dict[str, Any] = {"url": self.gateway_url}
            if path == "gateway/bot":
                body.update(shards=1, session_start_limit={"total": 1000, "remaining": 999, "reset_after": 0,
                                                            "max_concurrency": 1})
            return _json(body, headers=ok)
        if m := re.fullmatch(r"applications/(\d+)/commands", path):
            if m.group(1) != self.app_id:
                return _json({"message": "Unknown Application", "code": 10002}, status=404)
            if method == "GET":
                return _json(self.commands, headers=ok)
            if method == "PUT":
                return _json(self._sync_commands(rec.json), headers=ok)
        if (m := re.fullmatch(r"channels/(\d+)/messages", path)) and method == "POST":
            return self._create_message(m.group(1), rec, headers=ok)
        if (m := re.fullmatch(r"interactions/(\d+)/([^/]+)/callback", path)) and method == "POST":
            return self._interaction_callback(m.group(1), m.group(2), rec)
        if (m := re.fullmatch(r"webhooks/(\d+)/([^/]+)", path)) and method == "POST":
            return self._followup(m.group(1), m.group(2), rec)
        if m := re.fullmatch(r"webhooks/(\d+)/([^/]+)/messages/([^/]+)", path):
            return self._webhook_message(m.group(1), m.group(2), m.group(3), rec)
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    def _app_info(self) -> dict[str, Any]:
        return {
            "id": self.app_id, "name": "paperbot", "description": "", "icon": None, "bot_public": True,
            "bot_require_code_grant": False, "owner": self.owner, "team": None, "verify_key": "0" * 64,
            "flags": 0, "rpc_origins": [], "interactions_endpoint_url": None, "redirect_uris": [], "tags": [],
            "bot": self.bot_user,
        }

    def _sync_commands(self, payload: Any) -> list[dict[str, Any]]:
        errors: dict[str, Any] = {}
        if not isinstance(payload, list) or len(payload) > 100:
            raise FormError(400, {"code": 50035, "errors": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH"}]},
                                  "message": "Invalid Form Body"})
        name_re = re.compile(r"^[-_\w]{1,32}$")
        for i, cmd in enumerate(payload):
            if cmd.get("type", 1) == 1:
                if not name_re.fullmatch(cmd.get("name", "")) or cmd["name"] != cmd["name"].lower():
                    errors[str(i)] = {"name": {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME"}]}}
                if not 1 <= len(cmd.get("description", "")) <= 100:
                    errors[str(i)] = {"description": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH"}]}}
            opts = cmd.get("options") or []
            if len(opts) > 25:
                errors[str(i)] = {"options": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}
            for j, o in enumerate(opts):
                if not name_re.fullmatch(o.get("name", "")) or not 1 <= len(o.get("description", "")) <= 100:
                    errors.setdefault(str(i), {}).setdefault("options", {})[str(j)] = {
                        "_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME"}]}
                if len(o.get("choices") or []) > 25:
                    errors.setdefault(str(i), {}).setdefault("options", {})[str(j)] = {
                        "_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}
        if errors:
            raise FormError(400, {"code": 50035, "errors": errors, "message": "Invalid Form Body"})
        self.command_syncs += 1
        self.commands = [
            {"id": self.snowflake(), "application_id": self.app_id, "version": self.snowflake(),
             "default_member_permissions": None, "dm_permission": True, "nsfw": False, **c}
            for c in payload
        ]
        for c in self.commands:  # Discord answers permissions as strings, whatever was sent
            if c["default_member_permissions"] is not None:
                c["default_member_permissions"] = str(c["default_member_permissions"])
        return self.commands

    def _message(self, channel_id: str, payload: dict[str, Any], files: list[UploadedFile],
                 *, flags: int = 0, interaction: FakeInteraction | None = None) -> dict[str, Any]:
        mid = self.snowflake()
        attachments = []
        by_name = {}
        for i, f in enumerate(files):
            meta = next((a for a in payload.get("attachments") or [] if str(a.get("id")) == str(i)), {})
            aid = self.snowflake()
            url = f"https://cdn.discordapp.invalid/attachments/{channel_id}/{aid}/{f.filename}"
            by_name[f.filename] = url
            attachments.append({"id": aid, "filename": f.filename, "size": f.size, "url": url, "proxy_url": url,
                                "content_type": f.content_type, "description": meta.get("description")})
        embeds = []
        for e in payload.get("embeds") or []:
            e = json.loads(json.dumps(e))
            for key in ("image", "thumbnail"):
                url = (e.get(key) or {}).get("url", "")
                if url.startswith("attachment://"):
                    name = url[len("attachment://"):]
                    if name in by_name:  # Discord resolves it; an unknown name just shows no image
                        e[key] = {"url": by_name[name], "proxy_url": by_name[name]}
                    else:
                        e.pop(key)
            e.setdefault("type", "rich")
            embeds.append(e)
        channel = self.channels.get(str(channel_id), {})
        msg = {
            "id": mid, "channel_id": str(channel_id), "author": self.bot_user, "content": payload.get("content") or "",
            "timestamp": _now_iso(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": attachments, "embeds": embeds, "pinned": False,
            "type": 0 if interaction is None else 20, "flags": flags | int(payload.get("flags") or 0),
            "components": payload.get("components") or [],
        }
        if channel.get("guild_id"):
            msg["guild_id"] = channel["guild_id"]
        if interaction is not None:
            msg["webhook_id"] = self.app_id
            msg["application_id"] = self.app_id
        self.messages[mid] = msg
        self.message_files[mid] = files
        return msg

    def _create_message(self, channel_id: str, rec: Request, *, headers: dict[str, str]) -> web.Response:
        if channel_id in self.gone:
            status = self.gone[channel_id]
            body = ({"message": "Unknown Channel", "code": 10003} if status == 404
                    else {"message": "Missing Access", "code": 50001})
            return _json(body, status=status)
        channel = self.channels.get(channel_id)
        if channel is None:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        if channel["type"] in (CHANNEL_FORUM, CHANNEL_CATEGORY):
            return _json({"message": "Cannot send messages in a non-text channel", "code": 50008},
                                     status=400)
        if rec.files and channel_id in self.no_attach:
            return _json({"message": "Missing Permissions", "code": 50013}, status=403)
        validate_message(rec.payload, rec.files)
        nonce = rec.payload.get("nonce")
        if rec.payload.get("enforce_nonce") and nonce is not None:
            # Discord: a message sent again with the same nonce within a few minutes is the same message
            earlier = self.nonces.get((channel_id, str(nonce)))
            if earlier is not None:
                rec.deduped = True
                return _json(self.messages[earlier], headers=headers)
        msg = self._message(channel_id, rec.payload, rec.files)
        if nonce is not None:
            self.nonces[(channel_id, str(nonce))] = msg["id"]
        return _json(msg, headers=headers)

    def _interaction_callback(self, iid: str, token: str, rec: Request) -> web.Response:
        it = self.interactions.get(token)
        if it is None or it.id != iid:
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        if it.acked:
            return _json({"message": "Interaction has already been acknowledged.", "code": 40060},
                                     status=400)
        body = rec.payload
        kind = body.get("type")
        data = body.get("data") or {}
        resource: dict[str, Any] = {"type": kind}
        channel_id = it.data["channel_id"]
        if kind == 8:
            choices = data.get("choices") or []
            if len(choices) > LIMITS["choices"] or any(not 1 <= len(c["name"]) <= 100 for c in choices):
                raise FormError(400, {"code": 50035, "errors": {"data": {"choices": {"_errors": [
                    {"code": "BASE_TYPE_MAX_LENGTH"}]}}}, "message": "Invalid Form Body"})
        elif kind == 4:
            validate_message(data, rec.files)
            it.original = self._message(channel_id, data, rec.files, interaction=it)
            resource["message"] = it.original
        elif kind == 5:
            it.original = self._message(channel_id, {"content": ""}, [], flags=128 | int(data.get("flags") or 0),
                                        interaction=it)
            resource["message"] = it.original
        elif kind == 7:  # UPDATE_MESSAGE: the message the component is on changes
            validate_message(data, rec.files, edit=True)
            target = self.messages.get(str((it.data.get("message") or {}).get("id")))
            if target is not None:
                for key in ("content", "embeds", "components"):
                    if key in data:
                        target[key] = data[key]
                target["edited_timestamp"] = _now_iso()
        elif kind not in (1, 6, 9):
            raise FormError(400, {"code": 50035, "errors": {"type": {"_errors": [{"code": "BASE_TYPE_CHOICES"}]}},
                                  "message": "Invalid Form Body"})
        it.acked = True
        it.callback = body
        it.callback_files = rec.files
        flags = int(data.get("flags") or 0)
        answer = {
            "interaction": {
                "id": it.id, "type": it.type, "activity_instance_id": None,
                "response_message_id": it.original["id"] if it.original else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags & 64),
            },
            "resource": resource,
        }
        return _json(answer)

    def _followup(self, app_id: str, token: str, rec: Request) -> web.Response:
        it = self.interactions.get(token)
        if app_id != self.app_id or it is None or not it.acked:
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        validate_message(rec.payload, rec.files)
        loading = it.original is not None and it.original["flags"] & 128 and not it.followups and not it.edits
        flags = int(rec.payload.get("flags") or 0)
        if loading:  # the first followup after a deferral replaces the "thinking…" message
            flags |= it.original["flags"] & 64  # type: ignore[index]
        msg = self._message(it.data["channel_id"], rec.payload, rec.files, flags=flags & ~128, interaction=it)
        msg["flags"] &= ~128
        it.followups.append(msg)
        it.followup_files.append(rec.files)
        return _json(msg)

    def _webhook_message(self, app_id: str, token: str, message: str, rec: Request) -> web.Response:
        it = self.interactions.get(token)
        if app_id != self.app_id or it is None or not it.acked:
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        target = it.original if message == "@original" else self.messages.get(message)
        if target is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        if rec.method == "GET":
            return _json(target)
        if rec.method == "DELETE":
            self.messages.pop(target["id"], None)
            return web.Response(status=204)
        if rec.method == "PATCH":
            validate_message(rec.payload, rec.files, edit=True)
            for key in ("content", "embeds", "components"):
                if key in rec.payload:
                    target[key] = rec.payload[key]
            target["flags"] = target.get("flags", 0) & ~128
            target["edited_timestamp"] = _now_iso()
            it.edits.append(rec.payload)
            return _json(target)
        return _json({"message": "405: Method Not Allowed", "code": 0}, status=405)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with Discord's bare ``application/json`` content type (discord.py compares it exactly)."""
    return web.Response(body=json.dumps(body).encode(), status=status,
                        headers={**(headers or {}), "Content-Type": "application/json"})


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()
