"""The statements every message runs, compiled once.

On the SQLite writer a prepared statement goes straight to its ``sqlite3`` connection:
SQL text with ``?`` parameters (the driver's statement cache keeps it prepared), the
same value conversions SQLAlchemy applies (dates, JSON, booleans), rows back as plain
tuples. Per statement that skips SQLAlchemy's execution context and result objects,
which cost several times the statement itself. Anywhere else (PostgreSQL, in-memory
SQLite) the same statement runs through SQLAlchemy as before, so each repository has
one body and the database decides only how its statements are executed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler

from ketacompanion.storage.sqlite_thread import ThreadConnection

Row = Sequence[Any]
_Convert = Callable[[Any], Any] | None


class _Compiled:
    """One statement as SQLite text: where each named parameter goes, and how values
    are converted on the way in and out."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        sql = compiled.string
        # (name, converter, fixed value): fixed for values written into the statement itself.
        self.binds: list[tuple[str, _Convert, Any]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required or bind.callable is not None:
                if bind.expanding:
                    raise ValueError(f"a prepared statement needs a fixed IN list, not {name!r}")
                self.binds.append((name, convert, None))
                continue
            values = list(bind.value) if bind.expanding else [bind.value]
            if bind.expanding:  # a fixed IN list: one ? per value, as SQLAlchemy renders it
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * len(values)))
            self.binds.extend(("", None, convert(v) if convert else v) for v in values)
        self.sql = sql
        # The common case, every parameter named and none converted: one itemgetter.
        names = [name for name, _, _ in self.binds]
        self._plain: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
        if names and all(name and convert is None for name, convert, _ in self.binds):
            get = itemgetter(*names)
            self._plain = get if len(names) > 1 else (lambda params: (get(params),))
        # (index, converter) of the result columns whose driver value needs converting;
        # every converter maps NULL to None, so NULLs skip it.
        converters = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in (compiled._result_columns or ())
        ]
        self.results = [(i, c) for i, c in enumerate(converters) if c is not None]

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        if self._plain is not None:
            return self._plain(params)
        out = []
        for name, convert, fixed in self.binds:
            if not name:
                out.append(fixed)
                continue
            value = params[name]
            out.append(value if convert is None else convert(value))
        return tuple(out)

    def rows(self, raw: list[tuple[Any, ...]]) -> list[Row]:
        results = self.results
        if not results or not raw:
            return raw
        out: list[Row] = []
        for row in raw:
            values = list(row)
            for i, convert in results:
                value = values[i]
                if value is not None:
                    values[i] = convert(value)
            out.append(tuple(values))
        return out


class Prepared:
    """A Core statement that the per-message path runs often. ``other`` is what a
    non-SQLite-writer connection runs instead, when it must differ (row locks on
    PostgreSQL)."""

    def __init__(self, statement: Executable, other: Executable | None = None) -> None:
        self.statement = statement
        self.other = other if other is not None else statement
        self._sqlite: _Compiled | None = None

    def sqlite(self, dialect: Dialect) -> _Compiled:
        """The statement compiled for the SQLite writer (once)."""
        if self._sqlite is None:
            self._sqlite = _Compiled(self.statement, dialect)
        return self._sqlite

    async def rows(self, conn: Any, params: Mapping[str, Any]) -> list[Row]:
        """Every row, as tuples in the statement's column order."""
        if isinstance(conn, ThreadConnection):
            c = self.sqlite(conn.dialect)
            return c.rows(conn.fetch(c.sql, c.args(params)))
        return list((await conn.execute(self.other, params)).all())

    async def first(self, conn: Any, params: Mapping[str, Any]) -> Row | None:
        found = await self.rows(conn, params)
        return found[0] if found else None

    async def run(self, conn: Any, params: Mapping[str, Any]) -> int:
        """A write; returns how many rows it changed."""
        if isinstance(conn, ThreadConnection):
            c = self.sqlite(conn.dialect)
            return conn.change(c.sql, c.args(params))
        return int((await conn.execute(self.other, params)).rowcount)


def driver_rows(conn: Connection, prepared: Prepared, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """``prepared`` on a sync SQLite connection, through SQLAlchemy's execution (so its
    events see the statement), its rows as the driver returns them: plain tuples,
    values unconverted (dates as text). For the fan-out, whose rows share a few moments
    that are cheaper to convert once than once a row."""
    c = prepared.sqlite(conn.dialect)
    result = conn.exec_driver_sql(c.sql, c.args(params))
    try:
        return list(result.cursor.fetchall())  # type: ignore[attr-defined]
    finally:
        result.close()


def run_prepared(conn: Connection, prepared: Prepared, params: Mapping[str, Any]) -> int:
    """A prepared write on a sync SQLite connection; returns how many rows it changed."""
    c = prepared.sqlite(conn.dialect)
    return int(conn.exec_driver_sql(c.sql, c.args(params)).rowcount)
