"""Units of bulk work, each one transaction handed to the database in one piece.

Through aiosqlite every statement costs several thread hand-offs (cursor, execute, fetch,
close), and on a loaded machine each hand-off waits for the scheduler. A fan-out batch is
sync work on one connection, so on a SQLite file it runs whole in one worker thread, on a
connection of its own: one hand-off per batch, ``BEGIN IMMEDIATE`` and ``COMMIT``
included, and the event loop stays free while SQLite works. Elsewhere (PostgreSQL, an
in-memory database) the same function runs through ``run_sync`` on the async engine."""

from __future__ import annotations

import asyncio
import contextvars
import gc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from ketacompanion.storage.engine import sqlite_path

T = TypeVar("T")


class BatchRunner:
    def __init__(self, engine: AsyncEngine, busy_timeout_ms: int = 5000) -> None:
        self._engine = engine
        self._path: Path | None = sqlite_path(engine.url.render_as_string(hide_password=False))
        self._busy = busy_timeout_ms
        self._sync: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in one transaction: committed when it returns, rolled back if it raises."""
        if self._path is None:
            async with self._engine.begin() as conn:
                return await conn.run_sync(work)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-batch")
        # In the caller's context, as ``asyncio.to_thread`` runs things: what the caller
        # pinned (the content set a pass words its prompts from) holds in the thread too.
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, context.run, self._in_transaction, work
        )

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        if self._sync is None:
            assert self._path is not None
            self._sync = _sqlite_engine(self._path, self._busy)
        # A batch makes thousands of short-lived rows and no cycles: collection passes
        # in the middle of it would only walk those rows again and again. Collection
        # resumes when the batch ends (unless something else had already paused it).
        collecting = gc.isenabled()
        gc.disable()
        try:
            with self._sync.begin() as conn:
                return work(conn)
        finally:
            if collecting:
                gc.enable()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # a batch under way finishes: it is all or nothing
            self._executor = None
        if self._sync is not None:
            self._sync.dispose()
            self._sync = None


def _sqlite_engine(path: Path, busy_timeout_ms: int) -> Engine:
    # The same settings as the async engine's connections (storage/engine.py).
    engine = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        for pragma in (f"busy_timeout={int(busy_timeout_ms)}", "journal_mode=WAL", "synchronous=FULL",
                       "foreign_keys=ON", "secure_delete=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock up front, as everywhere else

    return engine
