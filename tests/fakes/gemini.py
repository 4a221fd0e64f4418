"""A fake Gemini API on 127.0.0.1 that speaks the REST protocol google-genai uses.

Routes: ``POST /{version}/models/{model}:generateContent``, the resumable Files API upload
(``POST /upload/{version}/files`` to start, then the URL it returns in ``X-Goog-Upload-URL``
for the bytes) and ``GET /{version}/files/{id}``. Every request is recorded; tests queue
scripted answers (``fake.queue``) and otherwise get a valid summary in the language the
system instruction asks for, or a grounded answer for a question.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Action = Callable[["Recorded"], Awaitable[web.StreamResponse]]

ZH_SUMMARY: dict[str, Any] = {
    "summary": "提出GroupNorm：按通道分组归一化，小批量下比BN误差低10.6%。",
    "key_takeaways": [
        "批归一化（BN）在批量很小时误差迅速上升。",
        "GroupNorm把通道分成若干组，在组内计算均值和方差，与批量大小无关。",
        "在ImageNet上用ResNet-50、每卡2张图时，GN的误差比BN低10.6%。",
        "GN可直接用于检测、分割和视频分类，并优于BN的变体。",
    ],
    "background": "深度网络训练依赖批归一化，但检测、分割和视频任务受显存限制只能使用很小的批量，此时BN的统计量不准确。",
    "past_methods": "BN依赖批量统计，小批量下误差明显增加；层归一化和实例归一化不依赖批量，但在视觉识别任务上效果不如BN。",
    "method": "GroupNorm将特征的通道分为若干组，在每组内计算均值与方差并归一化，计算与批量大小无关，实现只需几行代码。",
    "results": "在ImageNet上用ResNet-50训练时，批量为每卡2张图，GN的top-1误差比BN低10.6%；在COCO检测与分割上也优于BN。",
    "conclusion": "GN是BN的有效替代，在小批量场景下表现稳定，可推广到多种视觉任务。",
    "keywords": ["GroupNorm", "归一化", "小批量训练"],
    "title_zh": "组归一化",
}

EN_SUMMARY: dict[str, Any] = {
    "summary": "Group Normalization: batch-independent, 10.6% lower error than BN at batch size 2.",
    "key_takeaways": [
        "Batch Normalization's error grows quickly when the batch is small.",
        "GN normalizes over groups of channels, independent of the batch size.",
        "With ResNet-50 on ImageNet at 2 images per GPU, GN's error is 10.6% lower than BN's.",
        "GN transfers to detection, segmentation and video classification.",
    ],
    "background": "Training deep networks relies on Batch Normalization, but detection, segmentation and video "
    "models must use small batches because of memory, and BN's statistics become inaccurate there.",
    "past_methods": "BN depends on batch statistics and degrades at small batches; Layer and Instance Normalization "
    "avoid the batch dimension but trail BN on visual recognition.",
    "method": "Group Normalization divides the channels into groups and normalizes each group with its own mean "
    "and variance; the computation does not depend on the batch size and takes a few lines of code.",
    "results": "On ImageNet with ResNet-50 and 2 images per GPU, GN has 10.6% lower top-1 error than BN; it also "
    "beats BN on COCO detection and segmentation.",
    "conclusion": "GN is an effective replacement for BN when batches are small and generalizes across vision tasks.",
    "keywords": ["group normalization", "batch size", "ResNet"],
}

ANSWER_EN = (
    "According to the paper, GN divides channels into groups (32 by default) and normalizes within each."
)
ANSWER_ZH = "论文指出，GN把通道分为若干组（默认32组），在每组内做归一化。"


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None

    def text_parts(self) -> str:
        """All text in a generateContent body (system instruction and contents), joined."""
        if not isinstance(self.json, dict):
            return ""
        texts = [p.get("text", "") for p in (self.json.get("systemInstruction") or {}).get("parts", [])]
        for content in self.json.get("contents", []):
            texts += [p.get("text", "") for p in content.get("parts", []) if "text" in p]
        return "\n".join(texts)

    def inline_pdfs(self) -> list[bytes]:
        """The inline PDF parts of a generateContent body, decoded."""
        out = []
        for content in (self.json or {}).get("contents", []):
            for part in content.get("parts", []):
                data = part.get("inlineData") or part.get("inline_data")
                if data and (data.get("mimeType") or data.get("mime_type")) == "application/pdf":
                    # google-genai sends URL-safe base64 (pydantic's bytes serialization)
                    out.append(base64.urlsafe_b64decode(data["data"].replace("+", "-").replace("/", "_")))
        return out

    def file_parts(self) -> list[dict[str, Any]]:
        out = []
        for content in (self.json or {}).get("contents", []):
            for part in content.get("parts", []):
                data = part.get("fileData") or part.get("file_data")
                if data:
                    out.append(data)
        return out


@dataclass
class ScriptedFake:
    """Recording and scripting shared by the fake APIs."""

    requests: list[Recorded] = field(default_factory=list)
    queue: list[Action] = field(default_factory=list)
    url: str = ""
    delay: float = 0.0  # seconds every model call takes (to make concurrent requests overlap)

    async def record(self, request: web.Request) -> Recorded:
        body = await request.read()
        try:
            parsed = json.loads(body) if body and request.content_type == "application/json" else None
        except ValueError:
            parsed = None
        rec = Recorded(request.method, request.path, dict(request.query), dict(request.headers), body, parsed)
        self.requests.append(rec)
        return rec

    in_flight: int = 0
    max_in_flight: int = 0  # the most model calls the fake served at once

    async def next_action(self, rec: Recorded, default: Action) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            action = self.queue.pop(0) if self.queue else default
            return await action(rec)
        finally:
            self.in_flight -= 1


INTEREST_EN = "3D hair modelling and hairstyle generation"  # the fake's translation of any interest
JUDGE_YES = re.compile(r"avatar|talking|human|face|gaussian splatting", re.I)


def judge_verdicts(prompt: str) -> dict[str, Any]:
    """The relevance judge's answer: each ``[id] title`` block of the prompt, relevant when it
    names a person-ish or splatting word (a stand-in for a model's judgement)."""
    out = []
    for m in re.finditer(r"^\[([^\]]+)\] (.*)$", prompt, re.M):
        out.append({"id": m.group(1), "relevant": bool(JUDGE_YES.search(m.group(2))), "reason": "fake verdict"})
    return {"verdicts": out}


def wants_chinese(text: str) -> bool:
    return "简体中文" in text or "Simplified Chinese" in text


class FakeGemini(ScriptedFake):
    """The Gemini Developer API, as far as paperbot uses it."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self._sessions: dict[str, bytearray] = {}

    # ---- scripted answers -------------------------------------------------------------------
    @staticmethod
    def reply(text: str, prompt_tokens: int = 3000, output_tokens: int = 400) -> Action:
        async def act(rec: Recorded) -> web.StreamResponse:
            return web.json_response(_candidate(text, prompt_tokens, output_tokens))

        return act

    @staticmethod
    def error(status: int, *, retry_after: str | None = None, retry_delay: str | None = None) -> Action:
        """A Google API error body, with a Retry-After header and/or a RetryInfo detail."""

        async def act(rec: Recorded) -> web.StreamResponse:
            details = []
            if retry_delay is not None:
                details.append(
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
                )
            status_name = {
                429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL",
                503: "UNAVAILABLE",
                400: "INVALID_ARGUMENT",
            }
            body = {
                "error": {
                    "code": status,
                    "message": "scripted failure",
                    "status": status_name.get(status, "UNKNOWN"),
                    "details": details,
                }
            }
            headers = {"Retry-After": retry_after} if retry_after is not None else None
            return web.json_response(body, status=status, headers=headers)

        return act

    @staticmethod
    def sleep(seconds: float) -> Action:
        """Answer correctly, but only after ``seconds`` (longer than the client's timeout)."""

        async def act(rec: Recorded) -> web.StreamResponse:
            await asyncio.sleep(seconds)
            return web.json_response(_candidate(json.dumps(EN_SUMMARY), 10, 10))

        return act

    async def default(self, rec: Recorded) -> web.StreamResponse:
        """A valid summary in the asked language (JSON mode), else a short grounded answer."""
        config = rec.json.get("generationConfig", {}) if isinstance(rec.json, dict) else {}
        zh = wants_chinese(rec.text_parts())
        if "Translate this research interest" in rec.text_parts():
            text = json.dumps({"english": INTEREST_EN})
        elif "relevance judge" in rec.text_parts():
            text = json.dumps(judge_verdicts(rec.text_parts()))
        elif config.get("responseMimeType") == "application/json":
            text = json.dumps(ZH_SUMMARY if zh else EN_SUMMARY, ensure_ascii=False)
        else:
            text = ANSWER_ZH if zh else ANSWER_EN
        return web.json_response(
            _candidate(text, 258 * len(rec.inline_pdfs()) + len(rec.text_parts()) // 4, 350)
        )

    # ---- views ---------------------------------------------------------------------------------
    @property
    def generate_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(":generateContent")]

    @property
    def upload_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/upload/")]

    # ---- routes ----------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{version}/models/{model_action}", self._generate)
        app.router.add_post("/upload/{version}/files", self._upload)
        app.router.add_get("/{version}/files/{file_id}", self._get_file)
        return app

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        rec = await self.record(request)
        if request.headers.get("x-goog-api-key") != "test-key":
            return web.json_response(
                {"error": {"code": 401, "message": "bad key", "status": "UNAUTHENTICATED"}}, status=401
            )
        if not request.match_info["model_action"].endswith(":generateContent"):
            return web.json_response(
                {"error": {"code": 404, "message": "no such method", "status": "NOT_FOUND"}}, status=404
            )
        return await self.next_action(rec, self.default)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        rec = await self.record(request)
        command = request.headers.get("X-Goog-Upload-Command", "")
        version = request.match_info["version"]
        if command == "start":
            assert request.headers.get("X-Goog-Upload-Protocol") == "resumable"
            session = uuid.uuid4().hex
            self._sessions[session] = bytearray()
            upload_url = f"https://upload.example.invalid/upload/{version}/files?upload_id={session}&upload_protocol=resumable"
            return web.json_response({}, headers={"X-Goog-Upload-URL": upload_url})
        session = request.query.get("upload_id", "")
        if session not in self._sessions:
            return web.json_response(
                {"error": {"code": 404, "message": "no upload", "status": "NOT_FOUND"}}, status=404
            )
        buf = self._sessions[session]
        assert int(request.headers.get("X-Goog-Upload-Offset", "-1")) == len(buf)
        buf.extend(rec.body)
        if "finalize" not in command:
            return web.json_response({}, headers={"X-Goog-Upload-Status": "active"})
        file_id = session[:12]
        self.files[file_id] = bytes(buf)
        return web.json_response(
            {"file": self._file_json(version, file_id)}, headers={"X-Goog-Upload-Status": "final"}
        )

    async def _get_file(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            return web.json_response(
                {"error": {"code": 404, "message": "no file", "status": "NOT_FOUND"}}, status=404
            )
        return web.json_response(self._file_json(request.match_info["version"], file_id))

    def _file_json(self, version: str, file_id: str) -> dict[str, Any]:
        return {
            "name": f"files/{file_id}",
            "mimeType": "application/pdf",
            "sizeBytes": str(len(self.files[file_id])),
            "uri": f"{self.url}/{version}/files/{file_id}",
            "state": "ACTIVE",
        }


def _candidate(text: str, prompt_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
        },
        "modelVersion": "fake",
        "responseId": uuid.uuid4().hex,
    }


def model_of(rec: Recorded) -> str:
    m = re.search(r"/models/([^/:]+):", rec.path)
    return m.group(1) if m else ""
