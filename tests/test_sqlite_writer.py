"""Group commit on the SQLite writer: shared commits, isolated failures, durability."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from ketacompanion.core.ports import StoreUnavailable
from ketacompanion.storage.sqlite_thread import SqliteWriter


@pytest.fixture
async def writer(tmp_path: Path):  # type: ignore[no-untyped-def]
    w = SqliteWriter(tmp_path / "w.db", busy_timeout_ms=200)
    async with w.transaction() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    yield w
    await w.close()


def rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as other:  # a separate connection sees only what was committed
        return [r[0] for r in other.execute("SELECT body FROM notes ORDER BY id")]


async def test_concurrent_units_are_all_committed_before_their_callers_go_on(writer: SqliteWriter, tmp_path: Path) -> None:
    seen_after: list[bool] = []

    async def unit(i: int) -> None:
        async with writer.transaction() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"n{i}"})
        seen_after.append(f"n{i}" in rows(tmp_path / "w.db"))

    await asyncio.gather(*(unit(i) for i in range(30)))
    assert sorted(rows(tmp_path / "w.db")) == sorted(f"n{i}" for i in range(30))
    assert all(seen_after)  # nobody was told "done" before the commit


async def test_a_failing_unit_in_a_shared_batch_undoes_only_itself(writer: SqliteWriter, tmp_path: Path) -> None:
    async def good(i: int) -> None:
        async with writer.transaction() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"ok{i}"})
            await asyncio.sleep(0)  # let others queue up behind this unit

    async def bad() -> None:
        async with writer.transaction() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES ('half-done')"))
            raise ValueError("flow bug")

    results = await asyncio.gather(good(1), bad(), good(2), bad(), good(3), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType", "ValueError", "NoneType", "ValueError", "NoneType"]
    assert sorted(rows(tmp_path / "w.db")) == ["ok1", "ok2", "ok3"]


async def test_a_held_lock_makes_the_unit_fail_cleanly_and_later_ones_work(writer: SqliteWriter, tmp_path: Path) -> None:
    blocker = sqlite3.connect(tmp_path / "w.db", timeout=0)
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(Exception) as info:
        async with writer.transaction() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES ('blocked')"))
    assert "locked" in str(info.value).lower() or isinstance(info.value, StoreUnavailable)
    blocker.rollback()
    blocker.close()
    async with writer.transaction() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('after')"))
    assert rows(tmp_path / "w.db") == ["after"]


async def test_closed_writer_refuses(writer: SqliteWriter) -> None:
    await writer.close()
    with pytest.raises(StoreUnavailable):
        async with writer.transaction():
            pass


async def test_a_failed_commit_leaves_no_unretrieved_future_to_log_its_text(writer: SqliteWriter) -> None:
    import gc

    unretrieved: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    try:
        async with writer.transaction() as conn:
            await conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            await conn.execute(text(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER"
                " REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
            ))

        async def orphan(secret: str) -> None:
            # Checked only at COMMIT: the commit itself fails, for every unit in the batch.
            async with writer.transaction() as conn:
                await conn.execute(text("INSERT INTO child (parent) VALUES (999)"))
                await conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": secret})
                await asyncio.sleep(0)

        results = await asyncio.gather(orphan("note-canary-1"), orphan("note-canary-2"), return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results)
        del results
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert unretrieved == []
    async with writer.transaction() as conn:  # and the writer still works
        await conn.execute(text("INSERT INTO notes (body) VALUES ('after')"))


def spy_on_thread(writer: SqliteWriter) -> list[str]:
    """The names of the calls the writer sends to its thread."""
    sent: list[str] = []
    call = writer.call

    async def spying(fn):  # type: ignore[no-untyped-def]
        sent.append(getattr(fn, "__qualname__", repr(fn)))
        return await call(fn)

    writer.call = spying  # type: ignore[method-assign]
    return sent


async def test_a_unit_that_only_read_commits_on_the_loop(writer: SqliteWriter, tmp_path: Path) -> None:
    from sqlalchemy import column, select, table

    async with writer.transaction() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
    sent = spy_on_thread(writer)
    async with writer.transaction() as conn:
        found = (await conn.execute(select(column("body")).select_from(table("notes")))).scalars().all()
    assert found == ["kept"]
    assert sent == []  # no hand-off: nothing to fsync
    assert not writer.raw.in_transaction  # and the write lock was given back
    blocker = sqlite3.connect(tmp_path / "w.db", timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # would fail at once if the lock were still held
    blocker.rollback()
    blocker.close()


async def test_a_batch_that_wrote_anywhere_commits_in_the_thread(writer: SqliteWriter, tmp_path: Path) -> None:
    from sqlalchemy import column, select, table

    sent = spy_on_thread(writer)
    seen: list[bool] = []

    async def reader() -> None:
        async with writer.transaction() as conn:
            await conn.execute(select(column("body")).select_from(table("notes")))
            await asyncio.sleep(0)  # the writer below joins this batch

    async def note() -> None:
        async with writer.transaction() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES ('written')"))
        seen.append("written" in rows(tmp_path / "w.db"))

    await asyncio.gather(reader(), note())
    assert seen == [True]
    assert len(sent) == 1  # the one shared COMMIT, with its fsync, went to the thread


async def test_a_statement_that_counts_no_rows_still_commits_in_the_thread(writer: SqliteWriter, tmp_path: Path) -> None:
    sent = spy_on_thread(writer)
    async with writer.transaction() as conn:
        await conn.execute(text("CREATE TABLE other (id INTEGER PRIMARY KEY)"))
    assert len(sent) == 1
    with sqlite3.connect(tmp_path / "w.db") as other:
        assert other.execute("SELECT count(*) FROM sqlite_master WHERE name = 'other'").fetchone() == (1,)
