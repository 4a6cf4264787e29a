"""Content versions in the database: immutable sets of files, one of them live.

A publish writes the version row, every file and the switch of the live row in one
transaction, switching only if the live version is still the one the publisher
checked against. A crash anywhere before the commit leaves nothing behind, and two
publishers at once cannot both win.

On PostgreSQL the same transaction sends a NOTIFY, delivered at commit, so serving
processes that ``listen`` switch at once; their poll stays as the fallback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ketacompanion.content.bundle import Files, content_hash, file_hash
from ketacompanion.core.ports import Clock
from ketacompanion.storage import tables as t
from ketacompanion.storage.admin_repo import audit_row

log = logging.getLogger(__name__)
CHANNEL = "ketacompanion_content"  # the NOTIFY channel a switch of the live version is sent on


class PublishConflict(Exception):
    """Another version went live after this one was checked."""


class VersionCorrupt(Exception):
    """A stored version's bytes do not match its hash."""


@dataclass(frozen=True, slots=True)
class VersionInfo:
    number: int
    hash: str
    published_by: str
    published_at: datetime
    note: str
    kind: str
    restored_from: int | None
    validation: dict[str, Any]
    changes: dict[str, list[str]]
    file_count: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class ProcessLoad:
    process: str
    version: int
    status: str
    detail: str
    at: datetime
    seen_at: datetime


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _info(row: Any) -> VersionInfo:
    v = row._mapping
    return VersionInfo(
        v["id"], v["hash"], v["published_by"], _aware(v["published_at"]), v["note"], v["kind"],
        v["restored_from"], dict(v["validation"]), dict(v["changes"]), v["file_count"], v["total_bytes"],
    )  # fmt: skip


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read without a transaction: on SQLite a transaction would take the write lock."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


class ContentRepo:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine, self._clock = engine, clock

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def live_number(self) -> int | None:
        """The small row every process polls."""
        async with reading(self._engine) as conn:
            found = await conn.scalar(select(t.content_live.c.version).where(t.content_live.c.id == 1))
        return int(found) if found is not None else None

    async def live(self) -> VersionInfo | None:
        async with reading(self._engine) as conn:
            row = (
                await conn.execute(
                    select(t.content_versions)
                    .join(t.content_live, t.content_live.c.version == t.content_versions.c.id)
                    .where(t.content_live.c.id == 1)
                )
            ).first()
        return _info(row) if row else None

    async def version(self, number: int) -> VersionInfo | None:
        async with reading(self._engine) as conn:
            row = (await conn.execute(select(t.content_versions).where(t.content_versions.c.id == number))).first()
        return _info(row) if row else None

    async def history(self, limit: int = 50) -> list[VersionInfo]:
        async with reading(self._engine) as conn:
            rows = await conn.execute(select(t.content_versions).order_by(t.content_versions.c.id.desc()).limit(limit))
            return [_info(r) for r in rows]

    async def files(self, number: int) -> dict[str, bytes]:
        """The exact bytes of a version, checked against its hash."""
        f = t.content_files
        async with reading(self._engine) as conn:
            expected = await conn.scalar(select(t.content_versions.c.hash).where(t.content_versions.c.id == number))
            rows = (await conn.execute(select(f.c.path, f.c.sha256, f.c.data).where(f.c.version == number))).all()
        if expected is None:
            raise KeyError(number)
        files = {r.path: bytes(r.data) for r in rows}
        if any(file_hash(files[r.path]) != r.sha256 for r in rows) or content_hash(files) != expected:
            raise VersionCorrupt(f"version {number}: stored files do not match the version's hash")
        return files

    async def publish(
        self,
        files: Files,
        *,
        by: str,
        note: str,
        kind: str,
        validation: dict[str, Any],
        changes: dict[str, list[str]],
        base: int | None,
        restored_from: int | None = None,
    ) -> VersionInfo:
        """Store ``files`` as the next version and make it live, if ``base`` is still live."""
        now = self._clock.now()
        digest = content_hash(files)
        try:
            async with self._engine.begin() as conn:
                number = int(await conn.scalar(select(func.coalesce(func.max(t.content_versions.c.id), 0)))) + 1
                values = {
                    "id": number, "hash": digest, "published_by": by[:96], "published_at": now, "note": note[:500],
                    "kind": kind, "restored_from": restored_from, "validation": validation, "changes": changes,
                    "file_count": len(files), "total_bytes": sum(len(b) for b in files.values()),
                }  # fmt: skip
                await conn.execute(insert(t.content_versions).values(**values))
                await conn.execute(
                    insert(t.content_files),
                    [{"version": number, "path": p, "sha256": file_hash(b), "data": b} for p, b in sorted(files.items())],
                )
                await self._switch_live(conn, number, base, by, now)
                await self._notify(conn, number)
                await conn.execute(
                    insert(t.admin_audit).values(
                        **audit_row(now, by, kind, True, {"version": number, "hash": digest, "previous": base,
                                                           "restored_from": restored_from, "files": len(files)})
                    )
                )
        except IntegrityError:
            raise PublishConflict("another version was published at the same moment") from None
        return _info_from(values)

    async def _switch_live(self, conn: AsyncConnection, number: int, base: int | None, by: str, now: datetime) -> None:
        live = t.content_live
        if base is None:
            await conn.execute(insert(live).values(id=1, version=number, changed_at=now, changed_by=by[:96]))
            return
        switched = await conn.execute(
            update(live).where(live.c.id == 1, live.c.version == base).values(version=number, changed_at=now,
                                                                              changed_by=by[:96])
        )
        if switched.rowcount != 1:
            raise PublishConflict(f"another version went live after version {base} was checked")

    @staticmethod
    async def _notify(conn: AsyncConnection, number: int) -> None:
        if conn.dialect.name == "postgresql":  # sent at commit; never if the publish rolls back
            await conn.execute(text("SELECT pg_notify(:channel, :version)"), {"channel": CHANNEL, "version": str(number)})

    @asynccontextmanager
    async def listen(self, nudge: Callable[[], None]) -> AsyncIterator[bool]:
        """Call ``nudge`` whenever a version goes live (PostgreSQL LISTEN, on a connection of
        its own); yields False where there is nothing to listen to, and the caller polls."""
        if self._engine.dialect.name != "postgresql":
            yield False
            return
        def heard(*_: object) -> None:
            nudge()

        try:
            conn = await self._engine.connect()
            driver = (await conn.get_raw_connection()).driver_connection
            await driver.add_listener(CHANNEL, heard)
        except Exception as exc:
            log.warning("cannot LISTEN for new content versions; polling only", extra={"error": type(exc).__name__})
            yield False
            return
        try:
            yield True
        finally:
            try:
                await driver.remove_listener(CHANNEL, heard)
            except Exception:  # the connection is going away anyway
                log.debug("could not remove the content listener")
            await conn.close()

    async def record_load(self, process: str, version: int, status: str, detail: str = "") -> None:
        now = self._clock.now()
        loads = t.content_loads
        async with self._engine.begin() as conn:
            changed = await conn.execute(
                update(loads).where(loads.c.process == process, loads.c.version == version)
                .values(status=status, detail=detail[:500], at=now, seen_at=now)
            )
            if changed.rowcount == 0:
                await conn.execute(
                    insert(loads).values(process=process, version=version, status=status, detail=detail[:500],
                                         at=now, seen_at=now)
                )

    async def heartbeat(self, process: str, version: int) -> None:
        loads = t.content_loads
        async with self._engine.begin() as conn:
            await conn.execute(
                update(loads).where(loads.c.process == process, loads.c.version == version)
                .values(seen_at=self._clock.now())
            )

    async def loads(self, since: datetime | None = None, version: int | None = None) -> list[ProcessLoad]:
        loads = t.content_loads
        query = select(loads).order_by(loads.c.process, loads.c.version)
        if since is not None:
            query = query.where(loads.c.seen_at >= since)
        if version is not None:
            query = query.where(loads.c.version == version)
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return [ProcessLoad(r.process, r.version, r.status, r.detail, _aware(r.at), _aware(r.seen_at)) for r in rows]


def _info_from(values: dict[str, Any]) -> VersionInfo:
    return VersionInfo(
        values["id"], values["hash"], values["published_by"], values["published_at"], values["note"],
        values["kind"], values["restored_from"], values["validation"], values["changes"],
        values["file_count"], values["total_bytes"],
    )  # fmt: skip
