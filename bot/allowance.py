"""The hourly allowance of model-backed /summarize and /ask per person, on every platform.

LLM calls cost money, so one person can trigger at most ``SUMMARIZE_PER_USER_PER_HOUR`` of them
an hour; a cached summary costs nothing and is always free. The calls are counted in SQLite,
so the allowance survives restarts and is the same whichever chat the person asks in.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from .store import Store

TABLE = "llm_allowance"


def ensure_tables(store: Store) -> None:
    store.ensure_table(
        TABLE,
        {"id": int, "platform": str, "user_id": str, "paper_id": str, "at": str},
        pk="id",
        indexes=[("platform", "user_id", "at")],
    )


def take(store: Store, platform: str, user_id: str, paper_id: str, now: datetime, per_hour: int) -> int | None:
    """Count one call for the person, or, when the last hour's allowance is used up, count
    nothing and return the minutes until one frees up."""
    if per_hour <= 0:
        return None
    ensure_tables(store)
    since = (now - timedelta(hours=1)).isoformat()
    with store.db.conn:
        rows = list(
            store.db.query(
                f"select at from {TABLE} where platform = ? and user_id = ? and at > ? order by at",
                [platform, user_id, since],
            )
        )
        if len(rows) >= per_hour:
            free_at = datetime.fromisoformat(rows[0]["at"]) + timedelta(hours=1)
            return max(1, math.ceil((free_at - now).total_seconds() / 60))
        store.db[TABLE].insert({"platform": platform, "user_id": user_id, "paper_id": paper_id, "at": now.isoformat()})
    return None
