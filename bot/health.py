"""Whether each platform is reachable, kept in the store so a separate process can tell.

``paperbot run`` records every change (up, down and why) and a heartbeat; ``paperbot status
--json`` (the container's HEALTHCHECK) reads the records from the same SQLite file and fails
when a platform has been down longer than ``PAPERBOT_HEALTH_DOWN_MINUTES``, when the bot has
stopped writing its heartbeat, or when the last harvest failed. Writes happen only on a change
and once a minute, so a flapping network costs a few rows, not a write per request.

:class:`Backoff` is the one retry rhythm for whatever waiting can fix (a platform or arXiv that
cannot be reached): 2 s, doubling, capped at ``PAPERBOT_RETRY_MAX_SECONDS``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .store import AsyncStore, Store

log = logging.getLogger(__name__)

KEY = "health.{platform}"
HEARTBEAT_SECONDS = 60.0


@dataclass
class Backoff:
    """Exponential waits: ``first``, doubling, never more than ``cap`` seconds."""

    cap: float
    first: float = 2.0
    _next: float = 0.0

    def next(self) -> float:
        self._next = min(self.cap, self.first if self._next <= 0 else self._next * 2)
        return self._next

    def reset(self) -> None:
        self._next = 0.0


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``***`` (error messages may quote a token)."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


def brief(err: BaseException) -> str:
    """One line naming an error: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__


class PlatformHealth:
    """One platform's reachability as the running bot sees it, written to the store's kv table."""

    def __init__(self, store: AsyncStore, platform: str, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.platform = platform
        self.clock = clock or (lambda: datetime.now(UTC))
        self.up: bool | None = None  # unknown until the first attempt
        self.since = self.clock()
        self.detail = "starting"

    def _record(self) -> dict[str, Any]:
        return {
            "up": bool(self.up),
            "since": self.since.isoformat(timespec="seconds"),
            "seen": self.clock().isoformat(timespec="seconds"),
            "detail": self.detail,
        }

    async def write(self) -> None:
        """The current state and a fresh heartbeat."""
        value = json.dumps(self._record(), ensure_ascii=False)
        await self.store.run(Store.set_kv, KEY.format(platform=self.platform), value)

    async def mark(self, up: bool, detail: str = "") -> None:
        """Record a change of state (the same state again writes nothing; the heartbeat refreshes it)."""
        if self.up is up:
            return
        self.up = up
        self.since = self.clock()
        self.detail = detail or ("connected" if up else "unreachable")
        try:
            await self.write()
        except Exception as err:  # the record is for the health check: never a reason to fail
            log.warning("%s: could not record its state: %s", self.platform, brief(err))


def read(store: Store, platforms: list[str], now: datetime, down_after: timedelta) -> dict[str, Any]:
    """What ``paperbot status --json`` prints: each platform's record and whether it is healthy,
    the last harvest, and ``ok`` (all healthy and the last harvest did not fail)."""
    silent_after = max(down_after, timedelta(seconds=3 * HEARTBEAT_SECONDS))  # three missed heartbeats
    report: dict[str, Any] = {"ok": True, "checked_at": now.isoformat(timespec="seconds"), "platforms": {}}
    for platform in platforms:
        raw = store.get_kv(KEY.format(platform=platform))
        entry: dict[str, Any] = json.loads(raw) if raw else {"up": False, "since": None, "seen": None, "detail": "never started"}
        healthy = True
        if entry.get("seen") is None or now - datetime.fromisoformat(entry["seen"]) > silent_after:
            healthy, entry["problem"] = False, "the bot has not reported for too long (is `paperbot run` running?)"
        elif not entry["up"] and now - datetime.fromisoformat(entry["since"]) > down_after:
            healthy, entry["problem"] = False, f"down since {entry['since']}"
        entry["healthy"] = healthy
        report["platforms"][platform] = entry
        report["ok"] = report["ok"] and healthy
    failed = store.get_kv("harvest.last_error") or ""
    report["harvest"] = {"last_ok": store.get_kv("harvest.last_ok") or None, "last_error": failed or None}
    if failed:
        report["ok"] = False
    return report
