"""Prepared statements on the SQLite writer store and read exactly what SQLAlchemy does,
and the writer takes its lock without ever blocking the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, create_engine, insert, select

from ketacompanion.storage import checkin_repo, store
from ketacompanion.storage import tables as t
from ketacompanion.storage.prepared import Prepared
from ketacompanion.storage.sqlite_thread import SqliteWriter, ThreadConnection

NOW = datetime(2026, 3, 29, 0, 59, 58, 123456, tzinfo=UTC)


def empty_database(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    t.metadata.create_all(engine)
    engine.dispose()


async def send(p: Prepared, conn: ThreadConnection, params: dict[str, Any], fast: bool) -> Any:
    """Through the prepared path, or the same statement through SQLAlchemy."""
    if fast:
        if p.statement.is_select or getattr(p.statement, "_returning", None):  # type: ignore[attr-defined]
            return [tuple(r) for r in await p.rows(conn, params)]
        return await p.run(conn, params)
    result = await conn.execute(p.statement, params)
    return [tuple(r) for r in result.all()] if result.returns_rows else result.rowcount


async def scenario(conn: ThreadConnection, fast: bool) -> list[Any]:
    await conn.execute(insert(t.users).values(
        platform="telegram", platform_user_id="42", chat_id="42", created_at=NOW, keep_notes=False,
        unreachable_at=NOW - timedelta(days=1),
    ))  # fmt: skip
    user = {"b_user": 1}
    state = {**user, "b_flow": "checkin", "b_step": "mood", "b_data": {"id": 7, "note": "é 🙂", "n": [1, 2]},
             "b_at": NOW}
    out = [
        await send(store._ADD_DIALOGUE, conn, state, fast),
        await send(store._SAVE_DIALOGUE, conn, {**state, "b_step": "sleep"}, fast),
        await send(store._FIND_USER, conn, {"b_platform": "telegram", "b_puid": "42"}, fast),
        await send(store._FIND_USER, conn, {"b_platform": "telegram", "b_puid": "nobody"}, fast),
        await send(checkin_repo._NEW_MANUAL, conn, {**user, "b_instrument": "daily", "b_due": NOW,
                                                    "b_expires": NOW + timedelta(hours=4), "b_now": NOW,
                                                    "b_version": 3}, fast),
        await send(checkin_repo._LAST_MANUAL, conn, {**user, "b_now": NOW - timedelta(seconds=1)}, fast),
        # A fixed IN list (the open states) written into the statement.
        await send(checkin_repo._ANSWERABLE, conn, {**user, "b_instrument": "daily", "b_now": NOW}, fast),
        await send(checkin_repo._INSERT_ANSWER, conn, {**user, "b_id": 1, "b_item": "mood", "b_value": b"\x00\xff",
                                                       "b_at": NOW}, fast),
        await send(checkin_repo._UPDATE_ANSWER, conn, {**user, "b_id": 1, "b_item": "gone", "b_value": b"x",
                                                       "b_at": NOW}, fast),
        await send(checkin_repo._FINISH, conn, {"b_id": 1, "b_now": NOW}, fast),
        await send(checkin_repo._HISTORY, conn, {**user, "b_since": NOW - timedelta(days=1)}, fast),
        await send(checkin_repo._HISTORY_ANSWERS, conn, {**user, "b_since": NOW - timedelta(days=1)}, fast),
    ]
    quiz_update, quiz_insert = store._QUIZ
    lesson = {**user, "b_lesson": "l1", "b_at": NOW, "b_quiz_choice": "b", "b_quiz_correct": True}
    out += [
        await send(quiz_update, conn, lesson, fast),
        await send(quiz_insert, conn, lesson, fast),
        await send(store._PROGRESS, conn, user, fast),
    ]
    return out


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as db:
        return {name: db.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in t.metadata.tables}


async def test_prepared_statements_write_and_read_what_sqlalchemy_does(tmp_path: Path) -> None:
    results, files = [], []
    for fast in (True, False):
        path = tmp_path / f"{fast}.db"
        empty_database(path)
        writer = SqliteWriter(path, busy_timeout_ms=200)
        try:
            async with writer.transaction() as conn:
                results.append(await scenario(conn, fast))
        finally:
            await writer.close()
        files.append(dump(path))
    fast_rows, core_rows = results
    assert fast_rows == core_rows
    assert files[0] == files[1]  # the same bytes in every column: dates, JSON, booleans
    found = fast_rows[2][0]
    assert found[4] == NOW.replace(tzinfo=None) and found[9] is False and found[14]["note"] == "é 🙂"
    assert fast_rows[3] == [] and fast_rows[6][0][0] == 1 and fast_rows[8] == 0
    assert files[0]["checkin_answers"][0][3] == b"\x00\xff"


async def test_every_statement_sent_past_sqlalchemy_is_traced(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    empty_database(path)
    writer = SqliteWriter(path, busy_timeout_ms=200)
    seen: list[tuple[str, tuple[Any, ...]]] = []
    writer.on_statement = lambda sql, args: seen.append((sql, args))
    try:
        async with writer.transaction() as conn:
            await store._PROGRESS.rows(conn, {"b_user": 5})
    finally:
        await writer.close()
    assert [s for s, _ in seen] == ["BEGIN IMMEDIATE", store._PROGRESS.sqlite(conn.dialect).sql, "COMMIT"]
    assert seen[1][1] == (5,)


def test_a_changing_in_list_is_refused_when_prepared() -> None:
    statement = select(t.users.c.id).where(t.users.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="fixed IN list"):
        Prepared(statement).sqlite(create_engine("sqlite://").dialect)


async def test_a_busy_database_is_waited_for_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    empty_database(path)
    writer = SqliteWriter(path, busy_timeout_ms=3000)
    async with writer.transaction():
        pass  # open, and the file in WAL mode
    blocker = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    ticks = 0
    holding = True

    async def loop_keeps_running() -> None:
        nonlocal ticks
        while holding:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(loop_keeps_running())
    asyncio.get_running_loop().call_later(0.3, blocker.rollback)  # the other writer lets go
    started = time.monotonic()
    try:
        async with writer.transaction() as conn:
            await store._PROGRESS.rows(conn, {"b_user": 1})
        waited = time.monotonic() - started
    finally:
        holding = False
        await ticker
        blocker.close()
        await writer.close()
    assert waited >= 0.25  # it did wait for the lock ...
    assert ticks >= 10  # ... while the loop went on with other work
