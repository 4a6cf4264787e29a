"""SQLite for message handling: one connection, group commit, few thread hand-offs.

Through aiosqlite every statement costs several thread hand-offs (execute, fetch,
close) of about 0.1 ms each, more than the statement itself. Here only the steps
that can block go to the writer thread: ``BEGIN IMMEDIATE`` when another writer holds
the lock (it waits up to the busy timeout) and ``COMMIT`` (the fsync). Statements in between run
on the event loop: the write lock is already held and WAL readers never wait, so each
takes tens of microseconds; the per-message ones (``prepared.py``) and the transaction
control go straight to the ``sqlite3`` connection. Transactions that arrive while another
is running share its commit: each runs in its own savepoint and waits for the commit
before its caller replies, so nothing is confirmed before it is durable (``synchronous=FULL``)."""

from __future__ import annotations

import asyncio
import atexit
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from queue import SimpleQueue
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
    that only the writer thread touches. Results come back fully buffered.

    ``fetch`` and ``change`` run SQL text straight on the underlying ``sqlite3``
    connection (see ``prepared.py``): the write lock is held, so they cannot block."""

    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer
        self._raw = writer.raw
        self.dialect = writer.sync_engine.dialect
        self.engine = _EngineInfo(writer.sync_engine.url)

    async def execute(self, statement: Any, parameters: Any = None) -> Result[Any]:
        conn = self._writer.connection
        if not getattr(statement, "is_select", False):
            self._writer.dirty = True  # may write without counting rows (DDL): commit off the loop
        return _buffered(conn.execute(statement, parameters) if parameters is not None else conn.execute(statement))

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result[Any]:
        conn = self._writer.connection
        self._writer.dirty = True
        return _buffered(
            conn.exec_driver_sql(statement, parameters) if parameters is not None else conn.exec_driver_sql(statement)
        )

    def fetch(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        trace = self._writer.on_statement
        if trace is not None:
            trace(sql, args)
        return self._raw.execute(sql, args).fetchall()

    def change(self, sql: str, args: tuple[Any, ...]) -> int:
        trace = self._writer.on_statement
        if trace is not None:
            trace(sql, args)
        return self._raw.execute(sql, args).rowcount


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


class _Worker:
    """The one thread for what may block (BEGIN when the database is busy, COMMIT's
    fsync, ROLLBACK): calls go in on a queue and come back through the loop's own
    wake-up. An executor's pair of futures cost about twice as much per call."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop] | None] = (
            SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    async def call(self, fn: Callable[[], T]) -> T:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
            # A daemon, so a writer nobody closed cannot hold up exit; but a commit in
            # flight at exit still finishes, as an executor's would.
            atexit.register(self.stop)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, future, loop))
        return await future

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, future, loop = item
            result, error = None, None
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, whatever it is
                error = exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting any more

    def stop(self) -> None:
        if self._thread is not None:
            atexit.unregister(self.stop)
            self._queue.put(None)
            self._thread.join()
            self._thread = None


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class SqliteWriter:
    """``on_statement``, when set, sees every statement sent straight to SQLite (SQL
    text and arguments): benchmarks replay them. SQLAlchemy's own cursor events see the
    rest."""

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self._worker = _Worker("sqlite-writer")
        # Used from the loop thread and the writer thread, never at once (the lock).
        self.sync_engine: Engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        self._busy = busy_timeout_ms
        self._conn: Connection | None = None
        self._raw: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._in_batch = False
        self._pending: list[asyncio.Future[None]] = []
        self._closed = False
        # Whether the open batch may have written: a statement of unknown kind ran, or the
        # connection's count of changed rows moved since BEGIN. A batch that only read
        # commits on the loop: with no page to write, COMMIT does no I/O and cannot block.
        self.dirty = False
        self._changes_at_begin = 0
        self.on_statement: Callable[[str, tuple[Any, ...]], None] | None = None

        @event.listens_for(self.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # transactions are ours (below)
            cur = dbapi_conn.cursor()
            for pragma in (f"busy_timeout={int(busy_timeout_ms)}", "journal_mode=WAL", "synchronous=FULL",
                           "foreign_keys=ON", "secure_delete=ON",
                           # Never wait on the loop: BEGIN IMMEDIATE is tried at once there, and
                           # only a busy database sends it to the thread, which sets its own
                           # timeout for the wait (_begin). Holding the write lock in WAL mode,
                           # nothing else can be busy.
                           "busy_timeout=0"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the writer is not open")
        return self._conn

    @property
    def raw(self) -> sqlite3.Connection:
        """The ``sqlite3`` connection under ``connection``."""
        if self._raw is None:
            raise RuntimeError("the writer is not open")
        return self._raw

    async def call(self, fn: Callable[[], T]) -> T:
        return await self._worker.call(fn)

    async def open(self) -> None:
        def connect() -> Connection:
            conn = self.sync_engine.connect()
            conn.detach()  # ours for good; no pool resets between transactions
            return conn

        self._conn = await self.call(connect)
        raw = self._conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        self._raw = raw

    def _sql(self, sql: str) -> None:
        """A transaction-control statement, sent straight to SQLite and traced."""
        if self.on_statement is not None:
            self.on_statement(sql, ())
        self.raw.execute(sql)

    def _raw_call(self, *sqls: str) -> Callable[[], None]:
        def run() -> None:
            for sql in sqls:
                self._sql(sql)

        return run

    def _waiting_up_to(self, ms: int, sql: str) -> Callable[[], None]:
        """``sql`` in the writer thread, letting SQLite wait up to ``ms`` for a lock."""

        def run() -> None:
            raw = self.raw
            raw.execute(f"PRAGMA busy_timeout={int(ms)}")
            try:
                self._sql(sql)
            finally:
                raw.execute("PRAGMA busy_timeout=0")

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
                self._sql("SAVEPOINT unit")
            else:
                await self._begin(patience_ms)
                self._in_batch = True
                self.dirty = False
                self._changes_at_begin = self.raw.total_changes
            try:
                yield ThreadConnection(self)
            except BaseException:
                body_failed = True
                try:
                    if shared:
                        self._sql("ROLLBACK TO unit")
                        self._sql("RELEASE unit")
                        await self._finish_batch_if_idle()
                    else:
                        self._in_batch = False
                        await self._rollback_quietly()
                except BaseException:
                    await self._abandon_batch()  # cleaning up failed too: fail the batch, loudly
                raise
            if shared:
                self._sql("RELEASE unit")
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
        try:
            self._sql("BEGIN IMMEDIATE")  # busy_timeout is 0: fails at once if taken
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # extended codes keep the primary in the low byte
                raise
        # Another writer holds it: wait for it off the loop.
        wait = self._busy if patience_ms is None else min(patience_ms, self._busy)
        try:
            await self.call(self._waiting_up_to(wait, "BEGIN IMMEDIATE"))
        except sqlite3.OperationalError:
            if patience_ms is None:
                raise
            raise StoreBusy("another writer holds the database") from None

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
            if self.dirty or self.raw.total_changes != self._changes_at_begin:
                await self.call(self._raw_call("COMMIT"))  # the fsync: off the loop
            else:
                self._sql("COMMIT")  # nothing written: no fsync, no thread hand-off
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
            await self.call(self._raw_call("ROLLBACK"))
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
                await self.call(self._waiting_up_to(self._busy, "PRAGMA wal_checkpoint(TRUNCATE)"))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await self._commit()
            if self._conn is not None:
                await self.call(self._conn.close)
                self._conn = self._raw = None
        await self.call(self.sync_engine.dispose)
        self._worker.stop()
