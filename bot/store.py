"""The SQLite store: papers, announcements, topics, chats, subscriptions and the delivery ledger.

Everything lives in one file (``PAPERBOT_DATA_DIR/paperbot.db``) opened through sqlite-utils
with WAL (readers never wait for the writer), foreign keys and a busy timeout. A
:class:`Store` is bound to the thread that opened it, as sqlite requires; async code uses
:class:`AsyncStore`, which runs one Store on one dedicated thread so the event loop never
blocks on the database and the connection never changes threads.

Feature modules (summaries, figures, the LLM allowance) create their own tables with
:meth:`Store.ensure_table`, so this module does not need to know their columns; the core calls
them all once when it opens (see :func:`bot.core.create_tables`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from .errors import TooManySubscriptions
from .models import Announcement, Paper

T = TypeVar("T")
log = logging.getLogger(__name__)


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_PAPER_COLUMNS: dict[str, Any] = {
    "id": str,
    "version": int,
    "title": str,
    "abstract": str,
    "authors": str,
    "categories": str,
    "comment": str,
    "journal_ref": str,
    "doi": str,
    "license": str,
    "published": str,
    "updated": str,
    "announced": str,
    "announce_type": str,
    "pdf_url": str,
    "has_full_metadata": int,
    "withdrawn": int,
    "stored_at": str,
}


def private_file(path: Path) -> None:
    """Create ``path`` (if missing) readable by the owner only, and make an existing one so.

    The database holds chat titles, subscriptions and who asked for which paper: 0600 whatever
    the umask. SQLite gives the ``-wal`` and ``-shm`` files the database file's mode, so a
    database created 0600 keeps them 0600 too; existing ones are tightened here as well.
    """
    # only ever a new file: closing any descriptor of a database this process has open would
    # drop every POSIX lock SQLite holds on it (the other connection's included)
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except FileNotFoundError:
            pass


class Store:
    """Synchronous access to the database. Use from one thread only."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        private_file(self.path)
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.db = Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._tables: set[str] = set()  # feature tables known to exist (see ensure_table)
        self._migrate()

    def close(self) -> None:
        self.db.conn.close()

    # ---- schema -------------------------------------------------------------------------
    def _migrate(self) -> None:
        db = self.db
        with db.conn:
            db["papers"].create(_PAPER_COLUMNS, pk="id", if_not_exists=True)
            db["announcements"].create(
                {"day": str, "categories": str, "count": int, "source": str, "harvested_at": str},
                pk="day",
                if_not_exists=True,
            )
            db["announcement_papers"].create(
                {"day": str, "paper_id": str, "announce_type": str},
                pk=("day", "paper_id"),
                foreign_keys=[("day", "announcements", "day"), ("paper_id", "papers", "id")],
                if_not_exists=True,
            )
            db["topics"].create(
                {"name": str, "query": str, "aliases": str, "categories": str, "builtin": int},
                pk="name",
                if_not_exists=True,
            )
            db["chats"].create(
                {
                    "platform": str,
                    "chat_id": str,
                    "title": str,
                    "lang": str,
                    "timezone": str,
                    "digest_time": str,
                    "quiet": int,
                    "active": int,
                    "inactive_reason": str,
                    "created_at": str,
                },
                pk=("platform", "chat_id"),
                not_null={"platform", "chat_id"},
                defaults={"active": 1, "quiet": 0},
                if_not_exists=True,
            )
            db["subscriptions"].create(
                {"platform": str, "chat_id": str, "topic": str, "query": str, "paused": int, "created_at": str},
                pk=("platform", "chat_id", "topic"),
                defaults={"paused": 0},
                if_not_exists=True,
            )
            db["deliveries"].create(
                {
                    "platform": str,
                    "chat_id": str,
                    "paper_id": str,
                    "day": str,
                    "topic": str,
                    "message_ref": str,
                    "delivered_at": str,
                },
                pk=("platform", "chat_id", "paper_id"),
                if_not_exists=True,
            )
            db["digest_runs"].create(
                {"platform": str, "chat_id": str, "day": str, "status": str, "detail": str, "at": str, "header_sent": int},
                pk=("platform", "chat_id", "day"),
                if_not_exists=True,
            )
            db["in_flight"].create(  # the one message per chat being sent right now (see mark_in_flight)
                {"platform": str, "chat_id": str, "item": str, "day": str, "at": str},
                pk=("platform", "chat_id"),
                if_not_exists=True,
            )
            if "header_sent" not in db["digest_runs"].columns_dict:
                db["digest_runs"].add_column("header_sent", int)
            # per-chat settings (bot.chat_settings); a Discord thread's parent channel (its language
            # unless set), a Telegram forum topic's thread id
            for column, kind in (("digest_papers", int), ("digest_figures", int), ("digest_sections", int),
                                 ("digest_days", str), ("roundup", int), ("parent_id", str), ("thread_id", str)):  # fmt: skip
                if column not in db["chats"].columns_dict:
                    db["chats"].add_column(column, kind)
            db["kv"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            db["announcement_papers"].create_index(["paper_id"], if_not_exists=True)
            db["subscriptions"].create_index(["topic"], if_not_exists=True)

    def ensure_table(
        self,
        name: str,
        columns: dict[str, Any],
        pk: str | Sequence[str],
        *,
        indexes: Sequence[Sequence[str]] = (),
        **kwargs: Any,
    ) -> None:
        """Create a feature module's table and its indexes if they are missing (idempotent).

        Looked up once per connection, by reading the schema, so a call is no write once the
        table exists. :class:`~bot.core.Paperbot` creates every feature table when it opens,
        before any concurrent work: in WAL mode a CREATE that meets another connection's commit
        fails at once with SQLITE_BUSY_SNAPSHOT ("database is locked") instead of waiting out the
        busy timeout. For DDL that still meets one (an adapter's tables), it is tried again.
        """
        if name in self._tables:
            return
        table = self.db[name]
        if not table.exists():
            _retry_snapshot(lambda: table.create(columns, pk=pk, if_not_exists=True, **kwargs))
        else:  # a table from an older release: columns added since are added (empty)
            have_columns = table.columns_dict
            for column, kind in columns.items():
                if column not in have_columns:
                    _retry_snapshot(lambda column=column, kind=kind: table.add_column(column, kind))
        have = {tuple(i.columns) for i in table.indexes}
        for cols in indexes:
            if tuple(cols) not in have:
                _retry_snapshot(lambda cols=cols: table.create_index(list(cols), if_not_exists=True))
        self._tables.add(name)

    # ---- papers ---------------------------------------------------------------------------
    def upsert_papers(self, papers: Iterable[Paper]) -> tuple[int, int]:
        """Insert new papers, update known ones. Returns (inserted, updated).

        A paper is one row whatever its version: a newer version replaces the metadata, an
        older one (a late RSS echo) never overwrites a newer one, and fields the new record
        lacks (the comment from the API, the first announcement day) are kept.
        """
        inserted = updated = 0
        now = utcnow()
        with self.db.conn:
            for p in papers:
                row = p.to_row()
                row["stored_at"] = now
                old = self._paper_row(p.id)
                if old is None:
                    self.db["papers"].insert(row)
                    inserted += 1
                    continue
                if p.version < (old["version"] or 1):
                    continue
                merged = dict(old)
                for key, value in row.items():
                    if value is None or value == "" or value == "[]":
                        continue
                    if key == "announced" and old["announced"]:
                        continue  # first listing day is the one that counts
                    if key == "has_full_metadata" and not value and p.version == old["version"]:
                        continue
                    merged[key] = value
                if p.version > (old["version"] or 1) and not p.has_full_metadata:
                    merged["has_full_metadata"] = 0
                if {k: v for k, v in merged.items() if k != "stored_at"} != {k: v for k, v in old.items() if k != "stored_at"}:
                    self.db["papers"].update(p.id, merged)  # only a real change counts as updated
                    updated += 1
        return inserted, updated

    def _paper_row(self, paper_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from papers where id = ?", [paper_id]))
        return rows[0] if rows else None

    def get_paper(self, paper_id: str) -> Paper | None:
        row = self._paper_row(paper_id)
        return Paper.from_row(row) if row else None

    def get_papers(self, ids: Sequence[str]) -> list[Paper]:
        if not ids:
            return []
        out: dict[str, Paper] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" for _ in chunk)
            for row in self.db.query(f"select * from papers where id in ({marks})", chunk):
                out[row["id"]] = Paper.from_row(row)
        return [out[i] for i in ids if i in out]

    def count_papers(self) -> int:
        return self.db["papers"].count

    # ---- announcements ------------------------------------------------------------------
    def record_announcement(self, ann: Announcement, paper_ids: Sequence[tuple[str, str | None]]) -> None:
        """Store a harvested listing day and which papers it listed (id, announce type)."""
        with self.db.conn:
            self.db["announcements"].upsert(
                {
                    "day": ann.day.isoformat(),
                    "categories": json.dumps(list(ann.categories)),
                    "count": ann.count,
                    "source": ann.source,
                    "harvested_at": utcnow(),
                },
                pk="day",
            )
            self.db["announcement_papers"].upsert_all(
                [{"day": ann.day.isoformat(), "paper_id": pid, "announce_type": t} for pid, t in paper_ids],
                pk=("day", "paper_id"),
            )

    def get_announcement(self, day: date) -> Announcement | None:
        rows = list(self.db.query("select * from announcements where day = ?", [day.isoformat()]))
        if not rows:
            return None
        r = rows[0]
        return Announcement(date.fromisoformat(r["day"]), tuple(json.loads(r["categories"])), r["count"], r["source"])

    def last_announcement(self) -> Announcement | None:
        rows = list(self.db.query("select day from announcements order by day desc limit 1"))
        return self.get_announcement(date.fromisoformat(rows[0]["day"])) if rows else None

    def announcement_days(self) -> list[date]:
        return [date.fromisoformat(r["day"]) for r in self.db.query("select day from announcements order by day")]

    def recent_days(self, n: int) -> list[tuple[date, int]]:
        """The last ``n`` listing days, oldest first, each with how many papers it listed: a cheap
        check that a day arrived or grew, before reading any paper."""
        rows = self.db.query(
            "select day, count(*) as n from announcement_papers where day in "
            "(select day from announcements order by day desc limit ?) group by day order by day",
            [n],
        )
        return [(date.fromisoformat(r["day"]), r["n"]) for r in rows]

    def papers_for_day(self, day: date) -> list[Paper]:
        rows = self.db.query(
            "select p.* from papers p join announcement_papers a on a.paper_id = p.id "
            "where a.day = ? order by p.id",
            [day.isoformat()],
        )
        return [Paper.from_row(r) for r in rows]

    # ---- topics ---------------------------------------------------------------------------
    def sync_topics(self, topics: Iterable[dict[str, Any]]) -> None:
        """Mirror the shipped catalogue into the topics table (for SQL users and `status`)."""
        rows = [
            {
                "name": t["name"],
                "query": t["query"],
                "aliases": json.dumps(t.get("aliases", []), ensure_ascii=False),
                "categories": json.dumps(t.get("categories", [])),
                "builtin": 1,
            }
            for t in topics
        ]
        with self.db.conn:
            self.db["topics"].upsert_all(rows, pk="name")

    # ---- chats and subscriptions --------------------------------------------------------
    def ensure_chat(self, platform: str, chat_id: str, **fields: Any) -> dict[str, Any]:
        """The chat's row, created with the given defaults if it is new."""
        rows = list(
            self.db.query("select * from chats where platform = ? and chat_id = ?", [platform, str(chat_id)])
        )
        if rows:
            return rows[0]
        row = {
            "platform": platform,
            "chat_id": str(chat_id),
            "title": fields.get("title"),
            "lang": fields.get("lang"),
            "timezone": fields.get("timezone"),
            "digest_time": fields.get("digest_time"),
            "quiet": 0,
            "active": 1,
            "inactive_reason": None,
            "created_at": utcnow(),
        }
        with self.db.conn:
            self.db["chats"].insert(row, ignore=True)
        return row

    def get_chat(self, platform: str, chat_id: str) -> dict[str, Any] | None:
        rows = list(
            self.db.query("select * from chats where platform = ? and chat_id = ?", [platform, str(chat_id)])
        )
        return rows[0] if rows else None

    def update_chat(self, platform: str, chat_id: str, fields: dict[str, Any]) -> None:
        self.ensure_chat(platform, chat_id)
        with self.db.conn:
            self.db["chats"].update((platform, str(chat_id)), fields)

    def migrate_chat(self, platform: str, old_id: str, new_id: str) -> int:
        """A Telegram group became a supergroup: everything keyed by the chat moves to its new id.

        Every table with ``platform`` and ``chat_id`` columns (the chat and its settings,
        subscriptions, the ledger, votes, feature tables added later) and the adapter's own
        tables named ``<platform>_…`` with a ``chat_id``; forum-topic chats ``old:thread`` become
        ``new:thread`` with their ``parent_id``; the chat's ``kv`` marks (``….<platform>.<old>.…``,
        e.g. this week's roundup) follow. A row the new id already has is kept and the old one
        dropped. Returns how many rows moved: 0 when the chat was moved already (Telegram tells
        it twice, as ``migrate_to_chat_id`` in the old group and ``migrate_from_chat_id`` in the
        new one, and a digest may meet the move too), so the caller logs it once.
        """
        old, new = str(old_id), str(new_id)
        if old == new:
            return 0
        moved = 0
        pattern = old.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"
        with self.db.conn:
            both = {r["chat_id"]: r for r in self.db.query(
                "select * from chats where platform = ? and chat_id in (?, ?)", [platform, old, new]
            )}  # fmt: skip
            if old in both and new in both:  # the new id spoke first: it keeps what it set, the rest is the old chat's
                fill = {k: v for k, v in both[old].items() if v is not None and both[new].get(k) is None}
                if fill:
                    self.db["chats"].update((platform, new), fill)
            for table in self.db.table_names():
                columns = self.db[table].columns_dict
                if "chat_id" not in columns:
                    continue
                if "platform" in columns:
                    where, args = "platform = ? and ", [platform]
                elif table.startswith(f"{platform}_"):
                    where, args = "", []
                else:
                    continue
                # the chat itself, then its forum topics (old:thread -> new:thread)
                cur = self.db.execute(
                    f"update or ignore [{table}] set chat_id = ? where {where}chat_id = ?", [new, *args, old]
                )
                moved += cur.rowcount
                cur = self.db.execute(
                    f"update or ignore [{table}] set chat_id = ? || substr(chat_id, ?) "
                    f"where {where}chat_id like ? escape '\\'",
                    [new, len(old) + 1, *args, pattern],
                )
                moved += cur.rowcount
                self.db.execute(  # what the new id had already stays; the old rows go
                    f"delete from [{table}] where {where}(chat_id = ? or chat_id like ? escape '\\')",
                    [*args, old, pattern],
                )
            if moved:
                self.db.execute(
                    "update chats set parent_id = ? where platform = ? and parent_id = ?", [new, platform, old]
                )
                if "vote_epochs" in self.db.table_names():  # the chat's votes changed: its model is trained again
                    self.db.execute(
                        "update vote_epochs set epoch = epoch + 1 where platform = ? and (chat_id = ? or chat_id like ?)",
                        [platform, new, new + ":%"],
                    )
                marker = f".{platform}.{old}."
                for row in list(self.db.query("select key from kv where instr(key, ?) > 0", [marker])):
                    self.db.execute(
                        "update or ignore kv set key = ? where key = ?",
                        [row["key"].replace(marker, f".{platform}.{new}.", 1), row["key"]],
                    )
                    self.db.execute("delete from kv where key = ?", [row["key"]])
        if moved:
            log.info("%s chat %s moved to %s (a supergroup now): %d rows", platform, old, new, moved)
        return moved

    def active_chats(self, platform: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from chats where active = 1"
        args: list[Any] = []
        if platform:
            sql += " and platform = ?"
            args.append(platform)
        return list(self.db.query(sql + " order by platform, chat_id", args))

    def subscribe(self, platform: str, chat_id: str, topic: str, query: str, limit: int | None = None) -> bool:
        """Add a subscription; False if the chat already had it. A chat that has ``limit``
        subscriptions gets no new one (:class:`~bot.errors.TooManySubscriptions`)."""
        self.ensure_chat(platform, chat_id)
        with self.db.conn:
            if limit is not None:
                have = {r["topic"] for r in self.db.query(
                    "select topic from subscriptions where platform = ? and chat_id = ?", [platform, str(chat_id)]
                )}  # fmt: skip
                if topic not in have and len(have) >= limit:
                    raise TooManySubscriptions(limit)
            cur = self.db.execute(
                "insert or ignore into subscriptions (platform, chat_id, topic, query, paused, created_at) "
                "values (?, ?, ?, ?, 0, ?)",
                [platform, str(chat_id), topic, query, utcnow()],
            )
            if cur.rowcount == 0:
                self.db.execute(
                    "update subscriptions set paused = 0 where platform = ? and chat_id = ? and topic = ?",
                    [platform, str(chat_id), topic],
                )
            return cur.rowcount > 0

    def unsubscribe(self, platform: str, chat_id: str, topic: str) -> bool:
        with self.db.conn:
            cur = self.db.execute(
                "delete from subscriptions where platform = ? and chat_id = ? and topic = ?",
                [platform, str(chat_id), topic],
            )
        return cur.rowcount > 0

    def subscriptions(self, platform: str, chat_id: str) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "select * from subscriptions where platform = ? and chat_id = ? order by created_at, topic",
                [platform, str(chat_id)],
            )
        )

    # ---- ledger -----------------------------------------------------------------------------
    def delivered_ids(self, platform: str, chat_id: str, paper_ids: Sequence[str]) -> set[str]:
        if not paper_ids:
            return set()
        marks = ",".join("?" for _ in paper_ids)
        rows = self.db.query(
            f"select paper_id from deliveries where platform = ? and chat_id = ? and paper_id in ({marks})",
            [platform, str(chat_id), *paper_ids],
        )
        return {r["paper_id"] for r in rows}

    def mark_in_flight(self, platform: str, chat_id: str, item: str, day: date) -> None:
        """Before a digest message is sent: which one (a paper id, "header" or "list").

        A chat's messages go one at a time, so a chat has at most one. The commit that writes a
        message's ledger row also marks the next one (``next_item``), so marking costs no extra
        write per message; a mark still there at start names the message that was (or was about
        to be) in flight when the process stopped: the platform may have it, and it is sent again
        (no Bot API can say whether it arrived), so that one message is the most a chat can get
        twice per crash. :meth:`in_flight` names it, ``paperbot status`` shows it.
        """
        with self.db.conn:
            self._hand_over(platform, chat_id, item, day)

    def in_flight(self, platform: str, chat_id: str) -> dict[str, Any] | None:
        rows = list(
            self.db.query("select * from in_flight where platform = ? and chat_id = ?", [platform, str(chat_id)])
        )
        return rows[0] if rows else None

    def clear_in_flight(self, platform: str, chat_id: str) -> None:
        """The message in flight surely did not arrive (the chat is gone or moved)."""
        with self.db.conn:
            self._hand_over(platform, chat_id, None, None)

    def _hand_over(self, platform: str, chat_id: str, item: str | None, day: date | None) -> None:
        """The chat's in-flight mark now names ``item`` (None: nothing is in flight)."""
        if item is None or day is None:
            self.db.execute("delete from in_flight where platform = ? and chat_id = ?", [platform, str(chat_id)])
            return
        # plain SQL: this runs inside the ledger's commit window, where sqlite-utils' upsert
        # would first read the table's schema
        self.db.execute(
            "insert or replace into in_flight (platform, chat_id, item, day, at) values (?, ?, ?, ?, ?)",
            [platform, str(chat_id), item, day.isoformat(), utcnow()],
        )

    def record_delivery(
        self, platform: str, chat_id: str, paper_ids: Sequence[str], day: date | None, topic: str | None,
        message_ref: str | None = None, next_item: str | None = None,
    ) -> None:
        """Write the ledger rows right after the platform accepted the message; in the same
        commit the chat's in-flight mark moves on to ``next_item`` (see :meth:`mark_in_flight`)."""
        now = utcnow()
        with self.db.conn:
            self._hand_over(platform, chat_id, next_item, day)
            self.db["deliveries"].insert_all(
                [
                    {
                        "platform": platform,
                        "chat_id": str(chat_id),
                        "paper_id": pid,
                        "day": day.isoformat() if day else None,
                        "topic": topic,
                        "message_ref": message_ref,
                        "delivered_at": now,
                    }
                    for pid in paper_ids
                ],
                ignore=True,
            )

    def set_digest_run(
        self, platform: str, chat_id: str, day: date, status: str, detail: str = "", header_sent: bool | None = None,
        next_item: str | None = None,
    ) -> None:
        """Where a chat's digest of a day stands: started, deferred (with why), done.
        ``header_sent`` sticks once set, so a digest resumed after a failure never repeats its header."""
        row: dict[str, Any] = {
            "platform": platform,
            "chat_id": str(chat_id),
            "day": day.isoformat(),
            "status": status,
            "detail": detail,
            "at": utcnow(),
        }
        if header_sent is not None:
            row["header_sent"] = int(header_sent)
        with self.db.conn:
            if header_sent:
                self._hand_over(platform, chat_id, next_item, day)  # the header was in flight
            self.db["digest_runs"].upsert(row, pk=("platform", "chat_id", "day"))

    def pending_runs(self, since: date) -> list[dict[str, Any]]:
        """Digests of active chats since ``since`` that started or were deferred but are not done."""
        return list(
            self.db.query(
                "select r.platform, r.chat_id, r.day, r.status, r.detail from digest_runs r "
                "join chats c on c.platform = r.platform and c.chat_id = r.chat_id "
                "where r.status != 'done' and r.day >= ? and c.active = 1 order by r.day, r.platform, r.chat_id",
                [since.isoformat()],
            )
        )

    def get_digest_run(self, platform: str, chat_id: str, day: date) -> dict[str, Any] | None:
        rows = list(
            self.db.query(
                "select * from digest_runs where platform = ? and chat_id = ? and day = ?",
                [platform, str(chat_id), day.isoformat()],
            )
        )
        return rows[0] if rows else None

    # ---- small key/value state ---------------------------------------------------------
    def get_kv(self, key: str) -> str | None:
        rows = list(self.db.query("select value from kv where key = ?", [key]))
        return rows[0]["value"] if rows else None

    def set_kv(self, key: str, value: str) -> None:
        with self.db.conn:
            self.db["kv"].upsert({"key": key, "value": value}, pk="key")

    def backup(self, target: Path | str) -> None:
        """An online, consistent copy of the database (sqlite's backup API), private like it."""
        private_file(Path(target))
        dest = sqlite3.connect(str(target))
        try:
            self.db.conn.backup(dest)
        finally:
            dest.close()


def _retry_snapshot(ddl: Callable[[], object], attempts: int = 5) -> None:
    """Run a DDL statement, again if it only met another connection's commit: the snapshot it
    read is stale at once, so a second try (on a fresh snapshot) succeeds; no wait needed."""
    for attempt in range(attempts):
        try:
            ddl()
            return
        except sqlite3.OperationalError as err:
            if getattr(err, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY_SNAPSHOT or attempt == attempts - 1:
                raise


class AsyncStore:
    """One :class:`Store` on one dedicated thread, awaited from the event loop.

    ``await astore.run(lambda s: s.get_paper(pid))`` or ``await astore.run(Store.get_paper, pid)``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperbot-db")
        self._store: Store | None = None
        self._lock = threading.Lock()

    def _get(self) -> Store:
        if self._store is None:
            self._store = Store(self.path)
        return self._store

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._get(), *args, **kwargs))

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """From a worker thread (not the event loop): still runs on the DB thread."""
        return self._executor.submit(lambda: fn(self._get(), *args, **kwargs)).result()

    async def close(self) -> None:
        if self._store is not None:
            await self.run(Store.close)
            self._store = None
        self._executor.shutdown(wait=True)

