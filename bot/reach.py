"""Whether a model's endpoint answers at all, found out in seconds rather than minutes.

The SDKs retry a connection that never opens (a wrong host, a firewall dropping packets, a
server that never accepts) for as long as their read timeouts and retries allow: minutes of
silence before the extractive fallback. One TCP connect with a short timeout
(``LLM_CONNECT_TIMEOUT``) tells an unreachable endpoint apart first; a reachable one is
remembered for a while so the check costs one connect per few minutes, not one per paper.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from .errors import LLMError
from .settings import Settings

GEMINI_DEFAULT = "https://generativelanguage.googleapis.com"
OPENAI_DEFAULT = "https://api.openai.com/v1"
REMEMBER_SECONDS = 300.0


def endpoint(settings: Settings, kind: str) -> str:
    """The base URL requests of provider ``kind`` go to."""
    if kind == "gemini":
        return settings.gemini_base_url or GEMINI_DEFAULT
    return settings.openai_base_url or OPENAI_DEFAULT


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return parts.hostname or "", parts.port or (80 if parts.scheme == "http" else 443)


class Reachability:
    """One endpoint's connect check, remembered while it keeps working."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._ok_until = 0.0
        self._lock = asyncio.Lock()

    async def check(self) -> None:
        """Return when the endpoint accepts a TCP connection; raise :class:`LLMError` when it
        does not within the connect timeout (refused, unresolvable, or silent)."""
        if time.monotonic() < self._ok_until:
            return
        async with self._lock:  # a digest's papers share one check
            if time.monotonic() < self._ok_until:
                return
            host, port = host_port(self.url)
            try:
                async with asyncio.timeout(self.timeout):
                    _, writer = await asyncio.open_connection(host, port)
                writer.close()
            except TimeoutError:
                raise LLMError(f"{host}:{port} did not accept a connection within {self.timeout:g} s") from None
            except OSError as err:
                raise LLMError(f"{host}:{port} cannot be reached ({err.strerror or type(err).__name__})") from None
            self._ok_until = time.monotonic() + REMEMBER_SECONDS
