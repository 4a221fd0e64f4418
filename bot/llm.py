"""The model providers: Gemini (reads the PDF) and any OpenAI-compatible endpoint (reads text).

Both expose one call, :meth:`Provider.complete`: a system instruction, a prompt, optionally the
paper (PDF for Gemini, section-trimmed text for the others) and optionally a JSON schema; it
returns the reply text with the tokens it cost. Validation, repair and caching are the
caller's (:mod:`bot.summarize`); this module owns transport: timeouts, retries with backoff,
bounded concurrency and token accounting.

Retries: the openai SDK's own ``max_retries`` fits (it backs off on 408/409/429/5xx and
honours ``Retry-After``/``retry-after-ms``), so the OpenAI provider uses it. google-genai's
``HttpRetryOptions`` ignores ``Retry-After`` and the ``RetryInfo`` delay Gemini sends with a
429, so the Gemini provider retries in a small loop of its own that honours both.
"""

from __future__ import annotations

import asyncio
import email.utils
import io
import logging
import random
import re
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from .errors import BadSetting, LLMError
from .pdftext import (
    GEMINI_TOKENS_PER_PAGE,
    PaperText,
    PdfWorker,
    estimate_tokens,
    paper_text,
    pdf_within_pages,
)
from .settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Gemini's limit for a whole request with inline data is 20 MB, and inline bytes travel as
#: base64 (4/3 larger): PDFs above this go through the Files API instead.
GEMINI_INLINE_MAX_BYTES = 20 * 1024 * 1024 * 3 // 4 - 512 * 1024
#: Uploaded files live 48 h on Gemini's side; reuse one for a bit less than that.
GEMINI_FILE_TTL = 46 * 3600
#: Longest Retry-After worth waiting for; beyond it the call fails (the caller falls back).
MAX_RETRY_WAIT = 60.0
_RETRYABLE = {408, 429, 500, 502, 503, 504}
#: Output room for a structured summary, from the schema's limits (100 + 7×200 + 5×600 characters
#: and keywords ≈ 4.7k characters; in Chinese ≈ one token each) with room for the JSON around them.
SUMMARY_MAX_TOKENS = 6144
#: An answer to a question is at most ~800 characters.
ANSWER_MAX_TOKENS = 1536


@dataclass(frozen=True)
class Document:
    """The paper as the model sees it: arXiv's title and abstract, and the local PDF if any."""

    title: str
    abstract: str
    pdf: Path | None = None


@dataclass(frozen=True)
class Reply:
    """One model answer and what it cost."""

    text: str
    input_tokens: int
    output_tokens: int
    sent_tokens_estimate: int = 0  # our own estimate of the input, for budget checks


class KeyedLocks:
    """One asyncio.Lock per key, forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Any, tuple[asyncio.Lock, int]] = {}

    def __call__(self, key: Any) -> _KeyedLock:
        return _KeyedLock(self, key)

    def _acquire_ref(self, key: Any) -> asyncio.Lock:
        lock, refs = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, refs + 1)
        return lock

    def _release_ref(self, key: Any) -> None:
        lock, refs = self._locks[key]
        if refs <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, refs - 1)

    def __len__(self) -> int:
        return len(self._locks)


class _KeyedLock:
    def __init__(self, owner: KeyedLocks, key: Any) -> None:
        self._owner = owner
        self._key = key
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> None:
        self._lock = self._owner._acquire_ref(self._key)
        try:
            await self._lock.acquire()
        except BaseException:
            self._owner._release_ref(self._key)
            raise

    async def __aexit__(self, *exc: object) -> None:
        assert self._lock is not None
        self._lock.release()
        self._owner._release_ref(self._key)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class Provider(ABC):
    """A configured model: ``complete()`` with retries, a timeout per call and a concurrency cap."""

    kind: str = ""

    def __init__(self, settings: Settings, worker: PdfWorker, *, retry_base_delay: float = 1.0) -> None:
        self.settings = settings
        self.worker = worker
        self.timeout = settings.llm_timeout
        self.retries = settings.llm_retries
        self.retry_base_delay = retry_base_delay
        self.budget = settings.llm_input_token_budget
        self._sem = asyncio.Semaphore(settings.llm_concurrency)

    @property
    @abstractmethod
    def model(self) -> str: ...

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.model}"

    @abstractmethod
    async def complete(
        self, *, system: str, prompt: str, doc: Document | None = None, schema: type[BaseModel] | None = None
    ) -> Reply:
        """The model's reply to ``prompt`` (reading ``doc`` if given; JSON if ``schema``)."""

    async def aclose(self) -> None:  # noqa: B027 (optional hook)
        """Release HTTP sessions."""

    # ---- retries -----------------------------------------------------------------------
    def _retry_delay(self, err: BaseException, attempt: int) -> float | None:
        """Seconds to wait before retrying after ``err``, or None when retrying is pointless."""
        return None

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: base, 2×base, 4×base … (each 50–100 %)."""
        return min(self.retry_base_delay * (2**attempt), MAX_RETRY_WAIT) * (0.5 + random.random() / 2)

    async def _attempts(
        self, what: str, fn: Callable[[], Awaitable[T]], *, attempts: int, timeout: float
    ) -> T:
        """``fn()`` under the concurrency cap and a timeout, retried per :meth:`_retry_delay`."""
        for attempt in range(attempts):
            try:
                async with self._sem, asyncio.timeout(timeout):
                    return await fn()
            except (LLMError, asyncio.CancelledError):
                raise
            except Exception as err:
                delay = self._retry_delay(err, attempt)
                if delay is None or attempt == attempts - 1:
                    raise LLMError(
                        f"{self.name} {what} failed: {_describe(err)}", provider=self.name
                    ) from err
                log.info("%s %s: %s; retrying in %.2fs", self.name, what, _describe(err), delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def _describe(err: BaseException) -> str:
    """A short, key-free description of a transport error for logs and LLMError."""
    if isinstance(err, TimeoutError):
        return "timed out"
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text[:300]}" if text else type(err).__name__


# ---- Gemini ---------------------------------------------------------------------------------


class GeminiProvider(Provider):
    """Gemini through google-genai: the model reads the PDF itself (inline or via the Files API)."""

    kind = "gemini"

    def __init__(
        self,
        settings: Settings,
        worker: PdfWorker,
        *,
        retry_base_delay: float = 1.0,
        inline_max_bytes: int = GEMINI_INLINE_MAX_BYTES,
    ) -> None:
        from google import genai
        from google.genai import types

        super().__init__(settings, worker, retry_base_delay=retry_base_delay)
        if settings.gemini_api_key is None or not settings.gemini_api_key.get_secret_value():
            raise LLMError("GEMINI_API_KEY is not set")
        self._types = types
        self.inline_max_bytes = inline_max_bytes
        # api_version pinned: the SDK would otherwise pick it from GOOGLE_GENAI_API_VERSION
        http_options = types.HttpOptions(
            base_url=settings.gemini_base_url or None,
            api_version="v1beta",
            timeout=int(settings.llm_timeout * 1000),
        )
        self._client = genai.Client(
            api_key=settings.gemini_api_key.get_secret_value(), http_options=http_options
        )
        self._uploads: dict[tuple[str, int, float], tuple[str, float]] = {}
        self._upload_locks = KeyedLocks()

    @property
    def model(self) -> str:
        return self.settings.gemini_model

    async def complete(
        self, *, system: str, prompt: str, doc: Document | None = None, schema: type[BaseModel] | None = None
    ) -> Reply:
        types = self._types
        parts: list[Any] = []
        sent = estimate_tokens(system) + estimate_tokens(prompt)
        if doc is not None and doc.pdf is not None:
            part, pages = await self._pdf_part(
                doc.pdf, max_pages=max((self.budget - sent) // GEMINI_TOKENS_PER_PAGE, 1)
            )
            parts.append(part)
            sent += pages * GEMINI_TOKENS_PER_PAGE
        parts.append(types.Part.from_text(text=prompt))
        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=0.2,
            response_mime_type="application/json" if schema else None,
            response_schema=schema,
        )
        contents = [types.Content(role="user", parts=parts)]

        async def call() -> Any:
            return await self._client.aio.models.generate_content(
                model=self.model, contents=contents, config=config
            )

        resp = await self._attempts("generateContent", call, attempts=self.retries + 1, timeout=self.timeout)
        usage = resp.usage_metadata
        text = resp.text or ""
        out_tokens = 0
        if usage is not None:
            out_tokens = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
        return Reply(
            text=text,
            input_tokens=(usage.prompt_token_count or 0) if usage is not None else sent,
            output_tokens=out_tokens,
            sent_tokens_estimate=sent,
        )

    async def _pdf_part(self, pdf: Path, max_pages: int) -> tuple[Any, int]:
        """The PDF as a Part (inline bytes, or an uploaded file when large) and its page count.

        A PDF whose pages would exceed the token budget is cut first (see
        :func:`bot.pdftext.pdf_within_pages`).
        """
        types = self._types
        try:
            cut, total, kept = await self.worker.run(pdf_within_pages, str(pdf), max_pages)
        except Exception as err:  # pdfium could not read it; Gemini may still, so send it as it is
            log.warning("could not count the pages of %s (%s); sending it uncut", pdf.name, _describe(err))
            cut, total, kept = None, 0, 0
        if cut is not None:
            log.info("%s: %d pages exceed the token budget; sending %d", pdf.name, total, kept)
        size = len(cut) if cut is not None else pdf.stat().st_size
        if size <= self.inline_max_bytes:
            data = cut if cut is not None else await asyncio.to_thread(pdf.read_bytes)
            return types.Part.from_bytes(data=data, mime_type="application/pdf"), kept
        uri = await self._uploaded(pdf, cut)
        return types.Part.from_uri(file_uri=uri, mime_type="application/pdf"), kept

    async def _uploaded(self, pdf: Path, cut: bytes | None) -> str:
        """The Files API URI of the PDF, uploading it once per file (not per language or question)."""
        st = pdf.stat()
        key = (str(pdf.resolve()), st.st_size, st.st_mtime)
        async with self._upload_locks(key):
            known = self._uploads.get(key)
            if known and known[1] > time.time():
                return known[0]
            uri = await self._attempts(
                "upload", lambda: self._upload_once(pdf, cut), attempts=self.retries + 1, timeout=self.timeout
            )
            self._uploads[key] = (uri, time.time() + GEMINI_FILE_TTL)
            return uri

    async def _upload_once(self, pdf: Path, cut: bytes | None) -> str:
        types = self._types
        source: Any = io.BytesIO(cut) if cut is not None else str(pdf)
        # with GEMINI_BASE_URL (a proxy), the upload URL Google returns is sent there too
        http_options = (
            types.HttpOptions(base_url=self.settings.gemini_base_url)
            if self.settings.gemini_base_url
            else None
        )
        file = await self._client.aio.files.upload(
            file=source,
            config=types.UploadFileConfig(
                mime_type="application/pdf", display_name=pdf.name, http_options=http_options
            ),
        )
        while file.state == types.FileState.PROCESSING and file.name:
            await asyncio.sleep(min(self.retry_base_delay, 2.0))
            file = await self._client.aio.files.get(name=file.name)
        if file.state == types.FileState.FAILED or not file.uri:
            raise LLMError(f"Gemini could not process the uploaded PDF {pdf.name}")
        log.info("uploaded %s to the Gemini Files API as %s", pdf.name, file.name)
        return file.uri

    def _retry_delay(self, err: BaseException, attempt: int) -> float | None:
        from google.genai import errors as genai_errors

        if isinstance(err, genai_errors.APIError):
            if err.code not in _RETRYABLE:
                return None
            wait = _gemini_retry_after(err)
            if wait is None:
                return self._backoff(attempt)
            return wait if wait <= MAX_RETRY_WAIT else None
        if isinstance(err, TimeoutError | ConnectionError | OSError):
            return self._backoff(attempt)
        if type(err).__module__.split(".")[0] in ("aiohttp", "httpx", "httpx2"):
            return self._backoff(attempt)  # connection reset, server disconnected …
        return None

    async def aclose(self) -> None:
        try:
            await self._client.aio.aclose()
        except Exception:  # closing must never mask the real outcome
            log.debug("closing the Gemini client failed", exc_info=True)


def _gemini_retry_after(err: Any) -> float | None:
    """The wait Gemini asked for: the Retry-After header, else RetryInfo.retryDelay ("12s")."""
    response = getattr(err, "response", None)
    for obj in (response, getattr(response, "_response", None)):
        headers = getattr(obj, "headers", None)
        if headers is not None:
            wait = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
            if wait is not None:
                return wait
    details = err.details if isinstance(getattr(err, "details", None), dict) else {}
    for item in (details.get("error", details) or {}).get("details", []) or []:
        if isinstance(item, dict) and "retryDelay" in item:
            m = re.fullmatch(r"\s*([\d.]+)s\s*", str(item["retryDelay"]))
            if m:
                return float(m.group(1))
    return None


# ---- OpenAI-compatible ------------------------------------------------------------------------


class OpenAIProvider(Provider):
    """Any OpenAI-compatible chat endpoint: it reads the paper's text, trimmed to the budget."""

    kind = "openai"
    _TEXT_CACHE = 16

    def __init__(self, settings: Settings, worker: PdfWorker, *, retry_base_delay: float = 1.0) -> None:
        from openai import AsyncOpenAI

        super().__init__(settings, worker, retry_base_delay=retry_base_delay)
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        self._client = AsyncOpenAI(
            api_key=key or "unused",  # local servers (Ollama, vLLM) need no key, the SDK needs a string
            base_url=settings.openai_base_url or None,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_retries,
        )
        self._texts: OrderedDict[tuple[str, int, float, int], PaperText] = OrderedDict()
        self._json_mode_ok = True

    @property
    def model(self) -> str:
        return self.settings.openai_model

    async def paper_text(self, pdf: Path, budget: int) -> PaperText:
        """The PDF's text cut to ``budget`` tokens, extracted once per file and budget."""
        st = pdf.stat()
        key = (str(pdf.resolve()), st.st_size, st.st_mtime, budget)
        if key not in self._texts:
            self._texts[key] = await self.worker.run(paper_text, str(pdf), budget, True)
            while len(self._texts) > self._TEXT_CACHE:
                self._texts.popitem(last=False)
        self._texts.move_to_end(key)
        return self._texts[key]

    async def complete(
        self, *, system: str, prompt: str, doc: Document | None = None, schema: type[BaseModel] | None = None
    ) -> Reply:
        user = prompt
        if doc is not None and doc.pdf is not None:
            wrapper = 'Paper text (extracted from the PDF and shortened; "[…]" marks cuts):\n<paper>\n\n</paper>\n\n'
            room = (
                self.budget
                - estimate_tokens(system)
                - estimate_tokens(prompt)
                - estimate_tokens(wrapper)
                - 16
            )
            try:
                text = await self.paper_text(doc.pdf, max(room, 0))
            except Exception as err:  # a broken or scanned PDF: the abstract still makes a summary
                log.warning(
                    "no text from %s (%s); the model gets the abstract only", doc.pdf.name, _describe(err)
                )
                text = PaperText("", 0, 0, 0)
            if text.text:
                user = f'Paper text (extracted from the PDF and shortened; "[…]" marks cuts):\n<paper>\n{text.text}\n</paper>\n\n{prompt}'
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        sent = estimate_tokens(system) + estimate_tokens(user)
        json_mode = schema is not None and self._json_mode_ok

        out_tokens = SUMMARY_MAX_TOKENS if schema is not None else ANSWER_MAX_TOKENS

        async def call() -> Any:
            return await self._create(messages, json_mode, out_tokens, sent)

        # the SDK retries each request (max_retries); this bounds the whole, backoffs included
        total = self.timeout * (self.retries + 1) + 10.0 * self.retries
        resp = await self._attempts("chat.completions", call, attempts=1, timeout=total)
        if not resp.choices:
            raise LLMError(f"{self.name} returned no choices")
        text = _strip_reasoning(resp.choices[0].message.content or "")
        usage = resp.usage
        return Reply(
            text=text,
            input_tokens=usage.prompt_tokens if usage else sent,
            output_tokens=usage.completion_tokens if usage else estimate_tokens(text),
            sent_tokens_estimate=sent,
        )

    async def _create(self, messages: list[dict[str, str]], json_mode: bool, out_tokens: int, sent: int) -> Any:
        """One chat completion; endpoints that reject ``response_format`` are asked again without it.

        ``max_tokens`` leaves room for the whole answer (a cut one is not JSON); Ollama also gets
        the context size (``options.num_ctx``): its default (2–4k tokens) would silently drop the
        start of a 24k-token prompt, the instructions with it.
        """
        import openai

        kwargs: dict[str, Any] = {
            "model": self.model, "messages": messages, "temperature": 0.2, "max_tokens": out_tokens,
        }  # fmt: skip
        if _is_ollama(self.settings.openai_base_url):
            need = sent + out_tokens + 512
            kwargs["extra_body"] = {"options": {"num_ctx": -(-need // 1024) * 1024}}
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        try:
            return await self._client.chat.completions.create(**kwargs)
        except openai.BadRequestError as err:
            if not json_mode or "response_format" not in str(err):
                raise
            log.warning("%s does not support response_format; asking for JSON in the prompt only", self.name)
            self._json_mode_ok = False
            kwargs.pop("response_format")
            return await self._client.chat.completions.create(**kwargs)

    async def aclose(self) -> None:
        try:
            await self._client.close()
        except Exception:
            log.debug("closing the OpenAI client failed", exc_info=True)


def _is_ollama(base_url: str | None) -> bool:
    """Ollama's OpenAI-compatible endpoint (its port 11434, or a URL that names it)."""
    url = (base_url or "").lower()
    return ":11434" in url or "ollama" in url


def _strip_reasoning(text: str) -> str:
    """Reasoning models served as chat (DeepSeek-R1, Qwen3 on Ollama) prefix ``<think>…</think>``."""
    return re.sub(r"^\s*<think>.*?</think>\s*", "", text, flags=re.S).strip()


# ---- choosing ---------------------------------------------------------------------------------


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def provider_kind(settings: Settings) -> str:
    """LLM_PROVIDER, or when unset: gemini with a Gemini key, else openai with an OpenAI key, else none."""
    if settings.llm_provider:
        return settings.llm_provider
    if _secret(settings.gemini_api_key):
        return "gemini"
    if _secret(settings.openai_api_key):
        return "openai"
    return "none"


def make_provider(
    settings: Settings,
    worker: PdfWorker,
    *,
    retry_base_delay: float = 1.0,
    inline_max_bytes: int = GEMINI_INLINE_MAX_BYTES,
) -> Provider | None:
    """The configured provider, or None for LLM_PROVIDER=none (extractive summaries only)."""
    kind = provider_kind(settings)
    if kind == "gemini" and not _secret(settings.gemini_api_key):
        raise BadSetting("LLM_PROVIDER=gemini needs GEMINI_API_KEY")
    if kind == "openai" and not _secret(settings.openai_api_key) and not settings.openai_base_url:
        raise BadSetting("LLM_PROVIDER=openai needs OPENAI_API_KEY, or OPENAI_BASE_URL for a local server")
    if kind == "gemini":
        return GeminiProvider(
            settings, worker, retry_base_delay=retry_base_delay, inline_max_bytes=inline_max_bytes
        )
    if kind == "openai":
        return OpenAIProvider(settings, worker, retry_base_delay=retry_base_delay)
    return None
