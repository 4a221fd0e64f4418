"""Votes: what each chat thinks of the papers it was sent (👍 / 👎), one vote per person.

A chat's votes are its own (platform, chat_id): the same paper can be liked in one group and
disliked in another. A person has at most one vote per paper and chat; tapping the same button
again takes it back, tapping the other one switches it. Every change bumps the chat's vote
*epoch*, which is how :mod:`bot.ranking` knows a chat's model must be trained again (and only
then). Nothing here calls a model: a vote is two small SQLite writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .store import Store

UP, DOWN = 1, -1


@dataclass(frozen=True)
class Tally:
    """A paper's votes in one chat, and the voter's own vote after the change (1, -1 or 0)."""

    up: int = 0
    down: int = 0
    mine: int = 0


def ensure_tables(store: Store) -> None:
    store.ensure_table(
        "votes",
        {"platform": str, "chat_id": str, "paper_id": str, "user_id": str, "value": int, "at": str},
        pk=("platform", "chat_id", "paper_id", "user_id"),
        indexes=[("platform", "chat_id", "at")],
    )
    store.ensure_table("vote_epochs", {"platform": str, "chat_id": str, "epoch": int}, pk=("platform", "chat_id"))


def cast(store: Store, platform: str, chat_id: str, paper_id: str, user_id: str, value: int, at: datetime | None = None) -> Tally:
    """Record ``user_id``'s vote (``UP`` or ``DOWN``); the same vote again takes it back."""
    if value not in (UP, DOWN):
        raise ValueError(f"a vote is {UP} or {DOWN}, not {value!r}")
    key = [platform, str(chat_id), paper_id, str(user_id)]
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    with store.db.conn:
        rows = list(
            store.db.query(
                "select value from votes where platform = ? and chat_id = ? and paper_id = ? and user_id = ?", key
            )
        )
        if rows and rows[0]["value"] == value:
            store.db.execute(
                "delete from votes where platform = ? and chat_id = ? and paper_id = ? and user_id = ?", key
            )
            mine = 0
        else:
            store.db.execute(
                "insert or replace into votes (platform, chat_id, paper_id, user_id, value, at) values (?, ?, ?, ?, ?, ?)",
                [*key, value, when],
            )
            mine = value
        store.db.execute(
            "insert into vote_epochs (platform, chat_id, epoch) values (?, ?, 1) "
            "on conflict (platform, chat_id) do update set epoch = epoch + 1",
            [platform, str(chat_id)],
        )
    up, down = _counts(store, platform, str(chat_id), paper_id)
    return Tally(up, down, mine)


def _counts(store: Store, platform: str, chat_id: str, paper_id: str) -> tuple[int, int]:
    row = next(
        iter(
            store.db.query(
                "select coalesce(sum(value = 1), 0) as up, coalesce(sum(value = -1), 0) as down from votes "
                "where platform = ? and chat_id = ? and paper_id = ?",
                [platform, str(chat_id), paper_id],
            )
        )
    )
    return int(row["up"]), int(row["down"])


def tally(store: Store, platform: str, chat_id: str, paper_id: str) -> Tally:
    up, down = _counts(store, platform, str(chat_id), paper_id)
    return Tally(up, down)


def epoch(store: Store, platform: str, chat_id: str) -> int:
    """How many times the chat's votes changed: a model trained at this epoch is current."""
    rows = list(
        store.db.query("select epoch from vote_epochs where platform = ? and chat_id = ?", [platform, str(chat_id)])
    )
    return int(rows[0]["epoch"]) if rows else 0


def epochs(store: Store, platform: str) -> dict[str, int]:
    """Every chat's epoch on a platform, in one query (ranking many chats at once)."""
    return {r["chat_id"]: int(r["epoch"]) for r in store.db.query("select chat_id, epoch from vote_epochs where platform = ?", [platform])}


def net_votes(store: Store, platform: str, chat_id: str) -> dict[str, int]:
    """``{paper_id: 👍 minus 👎}`` over everything the chat voted on (ties left out)."""
    rows = store.db.query(
        "select paper_id, sum(value) as net from votes where platform = ? and chat_id = ? group by paper_id",
        [platform, str(chat_id)],
    )
    return {r["paper_id"]: int(r["net"]) for r in rows if r["net"]}


def most_voted(store: Store, platform: str, chat_id: str, since: datetime, limit: int = 10) -> list[dict[str, Any]]:
    """The chat's papers with the most 👍 (less 👎) among votes cast since ``since``, best first;
    only papers with more 👍 than 👎."""
    rows = store.db.query(
        "select paper_id, sum(value = 1) as up, sum(value = -1) as down from votes "
        "where platform = ? and chat_id = ? and at >= ? group by paper_id "
        "having sum(value) > 0 order by sum(value) desc, up desc, paper_id limit ?",
        [platform, str(chat_id), since.astimezone(UTC).isoformat(timespec="seconds"), limit],
    )
    return [dict(r) for r in rows]
