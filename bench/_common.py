"""What the benchmarks share: figures, argument checks, SQL recording and a scratch PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

ROOT = Path(__file__).resolve().parents[1]


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """min / median / max, the shape every ratio is reported in."""
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def ratios(name: str, values: Sequence[float]) -> dict[str, float]:
    s = spread(values)
    return {f"{name}_min": s["min"], f"{name}_median": s["median"], f"{name}_max": s["max"]}


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def positive(kind: type = int, upper: float | None = None) -> Any:
    """An argparse type that refuses zero, negatives and absurd sizes with one line."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0 or (upper is not None and value > upper):
            limit = f" and at most {upper:g}" if upper is not None else ""
            raise argparse.ArgumentTypeError(f"must be above 0{limit}: {text!r}")
        return value

    return parse


# Threads by what they do, from their names: the event loop, the crisis model's worker,
# the SQLite writer (waits for the lock, commits); the rest (warm-ups, executors) as other.
_THREAD_ROLES = (("MainThread", "event_loop"), ("crisis-model", "crisis_model"), ("sqlite-writer", "sqlite_writer"))


def thread_cpu() -> dict[str, float] | None:
    """CPU seconds so far of each of this process's live threads by role, from
    ``/proc`` (Linux); None where there is no ``/proc``."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in tasks.iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        name = names.get(int(task.name), "")
        role = next((r for prefix, r in _THREAD_ROLES if name.startswith(prefix)), "other")
        out[role] = out.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return out


def thread_cpu_since(before: dict[str, float] | None) -> dict[str, float] | None:
    after = thread_cpu()
    if before is None or after is None:
        return None
    return {role: after[role] - before.get(role, 0.0) for role in after}


def fail(message: str) -> None:
    """Stop with one line and a non-zero exit: no figure is better than a wrong one."""
    print(f"{Path(sys.argv[0]).name}: {message}", file=sys.stderr)
    raise SystemExit(2)


@dataclass
class Recording:
    """Every statement the project sent to SQLite, in order, with its parameters."""

    statements: list[tuple[str, Any, bool]] = field(default_factory=list)
    active: bool = False

    def attach(self, engine: Engine) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
            if self.active:
                self.statements.append((statement, parameters, many))

    def add(self, statement: str, parameters: tuple[Any, ...]) -> None:
        """A statement the SQLite writer sent straight to the driver (``SqlStore.trace``)."""
        if self.active:
            self.statements.append((statement, parameters, False))

    def replay(self, path: Path, synchronous: str = "FULL", times: list[float] | None = None) -> int:
        """Run the recorded statements on a plain sqlite3 connection, with the same
        commit grouping: a transaction opens before the first statement after each
        commit. Returns how many statements ran; ``times`` gets each transaction's
        seconds, from its BEGIN to the end of its COMMIT."""
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", "foreign_keys=ON", "secure_delete=ON"):
            conn.execute(f"PRAGMA {pragma}")
        open_tx, ran, began = False, 0, 0.0
        try:
            for sql, params, many in self.statements:
                head = sql.lstrip()[:16].upper()
                if head.startswith("BEGIN") and open_tx:
                    # A commit through the driver (``connection.commit()``) sends no
                    # statement to record; the next BEGIN shows where it was.
                    conn.execute("COMMIT")
                    open_tx = False
                if head.startswith(("BEGIN", "PRAGMA")):
                    continue  # the project's own BEGINs are replaced by ours, below
                if head.startswith(("COMMIT", "ROLLBACK")) and not head.startswith("ROLLBACK TO"):
                    if open_tx:
                        conn.execute(sql)
                        open_tx = False
                        if times is not None:
                            times.append(time.perf_counter() - began)
                    continue
                if not open_tx:
                    began = time.perf_counter()
                    conn.execute("BEGIN IMMEDIATE")
                    open_tx = True
                cursor = conn.executemany(sql, params) if many else conn.execute(sql, params or ())
                cursor.fetchall()
                ran += 1
            if open_tx:
                conn.execute("COMMIT")
        finally:
            conn.close()
        return ran


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a WAL database (the backup API folds the WAL in)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@asynccontextmanager
async def scratch_postgres(url: str) -> AsyncIterator[str]:
    """A fresh database on the server ``url`` names, dropped afterwards; fails with one
    line when the server cannot be reached."""
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"kc_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(admin), timeout=10)
    except Exception as exc:
        fail(f"cannot reach PostgreSQL at {base.host}:{base.port or 5432} ({type(exc).__name__})")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def truncate_postgres(pg_url: str) -> None:
    """Empty every table of the project in the scratch database (none before the first run's
    migrations), so each repeat starts from the same state."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from ketacompanion.storage.tables import metadata

    engine = create_async_engine(pg_url)
    async with engine.begin() as conn:
        found = set((await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))).scalars())
        names = [name for name in metadata.tables if name in found]
        if names:
            await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


async def warmed_up() -> None:
    """Wait for the background warm-ups a new app starts (the place tables, matplotlib):
    a one-off start-up cost, which would otherwise contend for the interpreter with the
    first timed messages and be counted as the steady per-message latency."""
    from ketacompanion import charts
    from ketacompanion.core import placenames

    def join() -> None:
        placenames.warm_in_background().join()
        charts.warm_in_background().join()

    await asyncio.to_thread(join)
