"""Bulk inserts for the scheduler's fan-out.

On SQLite, SQLAlchemy's per-value processing (datetimes formatted one by one) costs
more than the insert itself when a hundred thousand rows are due in one minute. Here
the rows go to the driver directly, in one ``executemany``, with datetimes written in
exactly the format SQLAlchemy's SQLite ``DateTime`` reads back. PostgreSQL keeps the
ordinary path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection


def sqlite_datetime(value: datetime) -> str:
    # SQLAlchemy stores SQLite datetimes naive, as UTC in our tables.
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _converter() -> Any:
    # In a fan-out most rows share their moments (now, the due minute): format each once.
    seen: dict[datetime, str] = {}

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            text = seen.get(value)
            if text is None:
                text = seen[value] = sqlite_datetime(value)
            return text
        if isinstance(value, bool):
            return int(value)
        return value

    return convert


async def bulk_insert(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], *, skip_conflicts_on: tuple[str, ...] = ()
) -> None:
    """Insert ``rows`` (all with the same keys); with ``skip_conflicts_on``, rows that
    clash with that unique key are skipped rather than failing the batch."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        await conn.execute(_pg_statement(table, skip_conflicts_on), rows)
        return
    columns = tuple(rows[0])
    sql, values = _sqlite_insert(table, columns, [tuple(row[name] for name in columns) for row in rows],
                                 skip_conflicts_on)
    await conn.exec_driver_sql(sql, values)


def driver_values(conn: Connection) -> Any:
    """What turns a Python value into the one ``insert_rows(..., ready=True)`` hands the
    driver: memoised SQLite datetimes; PostgreSQL takes values as they are."""
    return _converter() if conn.dialect.name == "sqlite" else _same


def _same(value: Any) -> Any:
    return value


class Deferred:
    """Writes of one batch that need nothing back and touch different rows: on PostgreSQL
    they are held and sent as one statement (the others as data-modifying ``WITH``
    clauses of the last), so a batch's writes cost one round trip, not one each; elsewhere
    each runs at once, in order.

    Only for writes that are independent: PostgreSQL runs the clauses of one statement
    against one snapshot, in no set order, so none may read what another writes."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.held = conn.dialect.name == "postgresql"
        self._pending: list[Any] = []

    def run(self, statement: Any) -> None:
        if self.held:
            self._pending.append(statement)
        else:
            self.conn.execute(statement)

    def flush(self) -> None:
        if not self._pending:
            return
        *first, last = self._pending
        self._pending = []
        if first:
            last = last.add_cte(*(statement.cte(f"w{i}") for i, statement in enumerate(first)))
        self.conn.execute(last)


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
    skip_conflicts_on: tuple[str, ...] = (), *, ready: bool = False, writes: Deferred | None = None,
) -> None:
    """``bulk_insert`` for rows given as tuples in ``columns`` order, on a sync connection
    (the fan-out runs each batch as one unit of sync work). ``ready``: the values went
    through ``driver_values`` already (a fan-out converts each shared moment once, not
    once a row). ``writes``: on PostgreSQL, the insert joins the batch's other writes."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        statement = _pg_from_arrays(table, columns, rows, skip_conflicts_on)
        if writes is not None:
            writes.run(statement)
        else:
            conn.execute(statement)
        return
    if conn.dialect.name != "sqlite":
        conn.execute(_pg_statement(table, skip_conflicts_on), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    if ready:
        conn.exec_driver_sql(_sqlite_sql(table, columns, skip_conflicts_on), list(rows))
        return
    conn.exec_driver_sql(*_sqlite_insert(table, columns, rows, skip_conflicts_on))


def _pg_from_arrays(
    table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], skip_conflicts_on: tuple[str, ...]
) -> Any:
    """One ``INSERT ... SELECT unnest(...)`` with one array a column: a batch is one
    statement and one round trip, set-based on the server, where ``executemany`` runs
    one insert a row."""
    from sqlalchemy.dialects.postgresql import ARRAY
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    arrays = [
        func.unnest(bindparam(None, [row[i] for row in rows], type_=ARRAY(table.c[name].type)))
        for i, name in enumerate(columns)
    ]
    statement = pg_insert(table).from_select(list(columns), select(*arrays))
    if skip_conflicts_on:
        statement = statement.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    return statement


def _pg_statement(table: Table, skip_conflicts_on: tuple[str, ...]) -> Any:
    if not skip_conflicts_on:
        return insert(table)
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table).on_conflict_do_nothing(index_elements=list(skip_conflicts_on))


def _sqlite_insert(
    table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], skip_conflicts_on: tuple[str, ...]
) -> tuple[str, list[tuple[Any, ...]]]:
    sql = _sqlite_sql(table, columns, skip_conflicts_on)
    # Only datetime and boolean columns need converting; the rest go as they are.
    typed = [i for i, name in enumerate(columns) if _needs_conversion(table, name)]
    if not typed:
        return sql, list(rows)
    convert = _converter()
    converted: list[tuple[Any, ...]] = []
    for row in rows:
        record = list(row)
        for i in typed:
            record[i] = convert(record[i])
        converted.append(tuple(record))
    return sql, converted


def _sqlite_sql(table: Table, columns: Sequence[str], skip_conflicts_on: tuple[str, ...]) -> str:
    verb = "INSERT OR IGNORE" if skip_conflicts_on else "INSERT"
    return f"{verb} INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


def _needs_conversion(table: Table, name: str) -> bool:
    try:
        kind = table.c[name].type.python_type
    except NotImplementedError:
        return True  # unknown: let the converter look at each value
    return kind in (datetime, bool)
