"""SQLite for message handling: one connection, group commit, few thread hand-offs.

Through aiosqlite every statement costs several thread hand-offs (execute, fetch,
close) of about 0.1 ms each, more than the statement itself. Here only the steps
that can block go to the writer thread: ``BEGIN IMMEDIATE`` when another writer holds
the lock (it waits up to the busy timeout) and ``COMMIT`` (the fsync). Statements in between run
on the event loop: the write lock is already held and WAL readers never wait, so each
takes tens of microseconds. Transactions that arrive while another is running share
its commit: each runs in its own savepoint and waits for the commit before its
caller replies, so nothing is confirmed before it is durable (``synchronous=FULL``)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, Result
from sqlalchemy.engine.cursor import FullyBufferedCursorFetchStrategy

from ketacompanion.core.ports import StoreBusy, StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


class _EngineInfo:
    def __init__(self, url: URL) -> None:
        self.url = url


class ThreadConnection:
    """The part of ``AsyncConnection`` the repositories use, over a sync connection
    that only the writer thread touches. Results come back fully buffered."""

    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer
        self.dialect = writer.sync_engine.dialect
        self.engine = _EngineInfo(writer.sync_engine.url)

    async def execute(self, statement: Any, parameters: Any = None) -> Result[Any]:
        conn = self._writer.connection
        return _buffered(conn.execute(statement, parameters) if parameters is not None else conn.execute(statement))

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result[Any]:
        conn = self._writer.connection
        return _buffered(
            conn.exec_driver_sql(statement, parameters) if parameters is not None else conn.exec_driver_sql(statement)
        )


def _buffered(result: Result[Any]) -> Result[Any]:
    """Rows fetched now, so the result outlives the cursor; rowcount kept.

    The rows go into SQLAlchemy's own fully buffered fetch strategy (as it does for
    RETURNING), so the result keeps its type and row processing: about 2 us a
    statement, where ``freeze()`` cost about 30."""
    rowcount = result.rowcount  # type: ignore[attr-defined]  # read now: memoized on the result
    if not result.returns_rows:  # type: ignore[attr-defined]
        return result
    strategy = getattr(result, "cursor_strategy", None)
    if isinstance(strategy, FullyBufferedCursorFetchStrategy):
        return result  # buffered already (RETURNING)
    cursor = getattr(result, "cursor", None)
    if cursor is not None and strategy is not None:
        result.cursor_strategy = FullyBufferedCursorFetchStrategy(  # type: ignore[attr-defined]
            cursor, cursor.description, cursor.fetchall()
        )
        cursor.close()
        return result
    buffered: Result[Any] = result.freeze()()  # type: ignore[attr-defined]
    buffered.rowcount = rowcount  # type: ignore[attr-defined]
    return buffered


class SqliteWriter:
    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        # Used from the loop thread and the writer thread, never at once (the lock).
        self.sync_engine: Engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        self._busy = busy_timeout_ms
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._in_batch = False
        self._pending: list[asyncio.Future[None]] = []
        self._closed = False

        @event.listens_for(self.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # transactions are ours (below)
            cur = dbapi_conn.cursor()
            for pragma in (f"busy_timeout={int(busy_timeout_ms)}", "journal_mode=WAL", "synchronous=FULL",
                           "foreign_keys=ON", "secure_delete=ON"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the writer is not open")
        return self._conn

    async def call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open(self) -> None:
        def connect() -> Connection:
            conn = self.sync_engine.connect()
            conn.detach()  # ours for good; no pool resets between transactions
            return conn

        self._conn = await self.call(connect)

    def _raw(self, sql: str) -> Callable[[], None]:
        def run() -> None:
            self.connection.exec_driver_sql(sql)

        return run

    @asynccontextmanager
    async def transaction(self, patience_ms: int | None = None) -> AsyncIterator[ThreadConnection]:
        """One unit of work. ``patience_ms``: give up with ``StoreBusy`` rather than wait
        longer than that for the write lock (the crisis path never waits the busy timeout)."""
        self._waiting += 1
        try:
            if patience_ms is None:
                await self._lock.acquire()
            else:
                try:
                    async with asyncio.timeout(patience_ms / 1000):
                        await self._lock.acquire()
                except TimeoutError:
                    raise StoreBusy("the writer is busy") from None
        finally:
            self._waiting -= 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        body_failed = False
        try:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            if self._conn is None:
                await self.open()
            # A savepoint is needed only when this unit joins a batch that already holds
            # other units' work: then a failure here must not undo theirs.
            shared = self._in_batch
            if shared:
                # On the loop: the write lock is held, and a savepoint inside a
                # transaction touches no disk, so it cannot block.
                self._raw("SAVEPOINT unit")()
            else:
                await self._begin(patience_ms)
                self._in_batch = True
            try:
                yield ThreadConnection(self)
            except BaseException:
                body_failed = True
                try:
                    if shared:
                        self._raws("ROLLBACK TO unit", "RELEASE unit")()
                        await self._finish_batch_if_idle()
                    else:
                        self._in_batch = False
                        await self._rollback_quietly()
                except BaseException:
                    await self._abandon_batch()  # cleaning up failed too: fail the batch, loudly
                raise
            if shared:
                self._raw("RELEASE unit")()
            self._pending.append(done)
            await self._finish_batch_if_idle()
        except BaseException:
            if not done.done():
                done.cancel()
            elif not done.cancelled():
                # The failed commit set its error on this unit's future too; the error is
                # raised right here, so mark it seen (asyncio would log it, text and all).
                done.exception()
            if not body_failed:
                # The database itself failed (lock, disk): the whole batch is gone.
                await self._abandon_batch()
            raise
        finally:
            self._lock.release()
        await done  # durable before the caller goes on

    async def _begin(self, patience_ms: int | None = None) -> None:
        """Take the write lock: at once on the loop when it is free (the usual case),
        else in the writer thread, waiting up to the busy timeout (or ``patience_ms``)."""
        raw = self.connection.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA busy_timeout=0")
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError:
            pass  # another writer holds it: wait for it off the loop
        finally:
            raw.execute(f"PRAGMA busy_timeout={int(self._busy)}")
        if patience_ms is None:
            await self.call(self._raw("BEGIN IMMEDIATE"))
            return

        def impatient() -> None:
            conn = self.connection.connection.dbapi_connection
            assert conn is not None
            conn.execute(f"PRAGMA busy_timeout={int(min(patience_ms, self._busy))}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(self._busy)}")

        try:
            await self.call(impatient)
        except sqlite3.OperationalError:
            raise StoreBusy("another writer holds the database") from None

    def _raws(self, *sqls: str) -> Callable[[], None]:
        def run() -> None:
            for sql in sqls:
                self.connection.exec_driver_sql(sql)

        return run

    async def _finish_batch_if_idle(self) -> None:
        """Commit now unless another transaction is queued: it joins this commit."""
        if self._waiting > 0 and len(self._pending) < 64:
            return
        await self._commit()

    async def _commit(self) -> None:
        pending, self._pending = self._pending, []
        if not self._in_batch:
            return
        try:
            await self.call(self._raw("COMMIT"))
        except BaseException as exc:
            self._in_batch = False
            await self._rollback_quietly()
            for fut in pending:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        self._in_batch = False
        for fut in pending:
            if not fut.done():
                fut.set_result(None)

    async def _abandon_batch(self) -> None:
        if self._in_batch:
            self._in_batch = False
            await self._rollback_quietly()
            for fut in self._pending:
                if not fut.done():
                    fut.set_exception(StoreUnavailable("the shared commit failed"))
            self._pending = []

    async def _rollback_quietly(self) -> None:
        try:
            await self.call(self._raw("ROLLBACK"))
        except Exception:
            log.warning("rollback after a failed commit also failed")

    async def flush(self) -> None:
        """Commit anything still waiting (nothing should be, between messages)."""
        async with self._lock:
            await self._commit()

    async def checkpoint(self) -> None:
        async with self._lock:
            await self._commit()
            if self._conn is not None:
                await self.call(self._raw("PRAGMA wal_checkpoint(TRUNCATE)"))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await self._commit()
            if self._conn is not None:
                await self.call(self._conn.close)
                self._conn = None
        await self.call(self.sync_engine.dispose)
        self._executor.shutdown(wait=True)
