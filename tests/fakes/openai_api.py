"""A fake OpenAI-compatible chat completions server on 127.0.0.1 (``POST {base}/chat/completions``).

Named ``openai_api`` so it never shadows the ``openai`` package. Like :mod:`tests.fakes.gemini`
it records every request, plays queued scripted answers and otherwise answers with a valid
summary (JSON mode) or a short grounded answer, in the language the system prompt asks for.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import web

from .gemini import (
    ANSWER_EN,
    ANSWER_ZH,
    EN_SUMMARY,
    ZH_SUMMARY,
    Action,
    Recorded,
    ScriptedFake,
    wants_chinese,
)


class FakeOpenAI(ScriptedFake):
    """Chat completions as DeepSeek, Qwen, Ollama or vLLM serve them."""

    @staticmethod
    def reply(text: str, prompt_tokens: int = 5000, completion_tokens: int = 400) -> Action:
        async def act(rec: Recorded) -> web.StreamResponse:
            return web.json_response(_completion(rec, text, prompt_tokens, completion_tokens))

        return act

    @staticmethod
    def error(status: int, *, retry_after_ms: int | None = None) -> Action:
        async def act(rec: Recorded) -> web.StreamResponse:
            headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else None
            body = {"error": {"message": "scripted failure", "type": "server_error", "code": None}}
            return web.json_response(body, status=status, headers=headers)

        return act

    @staticmethod
    def sleep(seconds: float) -> Action:
        async def act(rec: Recorded) -> web.StreamResponse:
            await asyncio.sleep(seconds)
            return web.json_response(_completion(rec, json.dumps(EN_SUMMARY), 10, 10))

        return act

    async def default(self, rec: Recorded) -> web.StreamResponse:
        zh = wants_chinese(system_text(rec))
        if (rec.json or {}).get("response_format", {}).get("type") == "json_object":
            text = json.dumps(ZH_SUMMARY if zh else EN_SUMMARY, ensure_ascii=False)
        else:
            text = ANSWER_ZH if zh else ANSWER_EN
        prompt_tokens = sum(len(m.get("content", "")) for m in (rec.json or {}).get("messages", [])) // 4
        return web.json_response(_completion(rec, text, prompt_tokens, 300))

    @property
    def chat_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/{prefix}/v1/chat/completions", self._chat)  # behind a path, as proxies put it
        return app

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        rec = await self.record(request)
        if request.headers.get("Authorization") != "Bearer test-key":
            return web.json_response(
                {"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401
            )
        return await self.next_action(rec, self.default)


def system_text(rec: Recorded) -> str:
    return "\n".join(
        m.get("content", "") for m in (rec.json or {}).get("messages", []) if m.get("role") == "system"
    )


def user_text(rec: Recorded) -> str:
    return "\n".join(
        m.get("content", "") for m in (rec.json or {}).get("messages", []) if m.get("role") == "user"
    )


def _completion(rec: Recorded, text: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": (rec.json or {}).get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
