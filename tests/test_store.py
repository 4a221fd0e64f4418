"""The SQLite store: WAL, the ledger's uniqueness, chat migration, online backup, async access."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import date
from pathlib import Path

import pytest

from bot.models import Paper
from bot.store import AsyncStore, Store


def test_wal_and_foreign_keys(store: Store) -> None:
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_ledger_is_unique_per_chat_and_paper(store: Store) -> None:
    day = date(2026, 6, 30)
    store.record_delivery("telegram", "-1", ["2606.1", "2606.2"], day, "3DGS", "m1")
    store.record_delivery("telegram", "-1", ["2606.2", "2606.3"], day, "NeRF", "m2")  # 2606.2 again: ignored
    store.record_delivery("discord", "-1", ["2606.2"], day, "NeRF", "m3")  # other platform: its own row
    assert store.delivered_ids("telegram", "-1", ["2606.1", "2606.2", "2606.3", "2606.4"]) == {"2606.1", "2606.2", "2606.3"}
    assert store.db["deliveries"].count == 4
    assert store.db.execute("select message_ref from deliveries where paper_id='2606.2' and platform='telegram'").fetchone()[0] == "m1"


def test_chat_migration_moves_subscriptions_and_ledger(store: Store) -> None:
    store.subscribe("telegram", "-1", "3DGS", "ti:gaussian")
    store.record_delivery("telegram", "-1", ["2606.1"], date(2026, 6, 30), "3DGS")
    store.migrate_chat("telegram", "-1", "-1001")
    assert [s["topic"] for s in store.subscriptions("telegram", "-1001")] == ["3DGS"]
    assert store.delivered_ids("telegram", "-1001", ["2606.1"]) == {"2606.1"}
    assert store.get_chat("telegram", "-1") is None


def test_subscribe_twice_is_one_row(store: Store) -> None:
    assert store.subscribe("discord", "42", "NeRF", "ti:nerf") is True
    assert store.subscribe("discord", "42", "NeRF", "ti:nerf") is False
    assert len(store.subscriptions("discord", "42")) == 1
    assert store.unsubscribe("discord", "42", "NeRF") is True
    assert store.unsubscribe("discord", "42", "NeRF") is False


def test_online_backup(store: Store, tmp_path: Path) -> None:
    store.upsert_papers([Paper(id="2606.00001", title="x")])
    store.backup(tmp_path / "copy.db")
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("select title from papers").fetchone()[0] == "x"


async def test_async_store_runs_on_one_thread_off_the_loop(tmp_path: Path) -> None:
    astore = AsyncStore(tmp_path / "a.db")
    loop_thread = threading.get_ident()
    threads = await asyncio.gather(*(astore.run(lambda s: threading.get_ident()) for _ in range(20)))
    assert len(set(threads)) == 1 and threads[0] != loop_thread
    await astore.run(Store.upsert_papers, [Paper(id="2606.00001", title="x")])
    assert (await astore.run(Store.get_paper, "2606.00001")).title == "x"
    await astore.close()


async def test_the_core_creates_every_feature_table_when_it_opens(tmp_path: Path) -> None:
    """No DDL once chats are being served: the ledger connection writes concurrently, and a
    CREATE meeting its writes failed at once with "database is locked" (a flaky digest)."""
    from bot import allowance, figures, summarize
    from bot.core import Paperbot
    from bot.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path, llm_provider="none")
    async with Paperbot(settings):
        pass
    other = Store(settings.db_path)  # a fresh connection, as the ledger's is
    statements: list[str] = []
    other.db.conn.set_trace_callback(statements.append)
    for ensure in (summarize.ensure_tables, figures.ensure_tables, allowance.ensure_tables):
        ensure(other)
    assert statements and not [s for s in statements if s.lstrip().upper().startswith(("CREATE", "ALTER"))]
    assert {"summaries", "llm_calls", figures.FIGURES_TABLE, figures.RUNS_TABLE, allowance.TABLE} <= set(
        other.db.table_names()
    )
    assert ["platform", "user_id", "at"] in [i.columns for i in other.db[allowance.TABLE].indexes]
    other.close()


def test_ddl_that_meets_another_commit_is_tried_again(tmp_path: Path) -> None:
    """SQLITE_BUSY_SNAPSHOT, made for real: this connection reads, another commits, then this one
    runs DDL on its stale snapshot. It fails at once (no busy wait); ensure_table tries again."""
    from bot import store as store_module

    mine, other = Store(tmp_path / "s.db"), Store(tmp_path / "s.db")
    mine.db.execute("create table r (x)")
    mine.db.execute("insert into r values (1), (2)")
    attempts: list[str] = []

    def create() -> None:
        reading = mine.db.conn.execute("select x from r")
        reading.fetchone()  # an open read: this connection's snapshot is fixed
        if not attempts:
            other.db.execute("insert into r values (3)")  # another connection commits past it
        try:
            mine.db.execute("create table t (x)")
            attempts.append("ok")
        except sqlite3.OperationalError as err:
            attempts.append(err.sqlite_errorname)
            raise
        finally:
            reading.close()

    store_module._retry_snapshot(create)
    assert attempts == ["SQLITE_BUSY_SNAPSHOT", "ok"] and mine.db["t"].exists()
    with pytest.raises(sqlite3.OperationalError, match="already exists"):  # anything else: raised
        store_module._retry_snapshot(lambda: mine.db.execute("create table t (x)"))
    other.db.execute("insert into r values (4)")  # nothing left locked
    mine.close()
    other.close()
