"""Migration 0003 encrypts the escalation fields already stored, and keeps their outcome."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, text

from ketacompanion.cipher import DataKeyError
from ketacompanion.core.clock import FakeClock
from ketacompanion.storage.engine import create_engine
from ketacompanion.storage.keycheck import migration_cipher, open_cipher
from ketacompanion.storage.migrate import alembic_config, upgrade
from ketacompanion.storage.store import SqlStore

from conftest import TEST_KEY

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def _database_at_0002_with_an_escalation(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")

    def to_0002(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")

    async with engine.begin() as conn:
        await conn.run_sync(to_0002)
    await open_cipher(engine, TEST_KEY, path.with_name("unused.key"))  # writes the key canary
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO users (id, platform, platform_user_id, chat_id, created_at, keep_notes)"
            " VALUES (1, 'console', 'u1', 'u1', '2026-11-20 10:00:00', 0)"
        ))
        await conn.execute(text(
            "INSERT INTO escalations (user_id, level, source, category, created_at, outcome)"
            " VALUES (1, 'crisis', 'message', 'intent', '2026-11-20 10:00:00', 'danger')"
        ))
    await engine.dispose()


async def test_stored_escalations_are_encrypted_and_read_back(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    await _database_at_0002_with_an_escalation(db)
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        assert await upgrade(engine, migration_cipher(TEST_KEY, tmp_path / "none.key")) is not None
        async with engine.connect() as conn:
            columns = {r[1] for r in await conn.execute(text("PRAGMA table_info(escalations)"))}
        assert {"level", "source", "category", "outcome"}.isdisjoint(columns)
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = db.with_name(db.name + "-wal")
        raw = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert b"intent" not in raw  # the plain values are gone from the file, not just hidden
        cipher = await open_cipher(engine, TEST_KEY, tmp_path / "none.key")
        store = SqlStore(engine, cipher, FakeClock(NOW))
        async with store.transaction() as tx:
            (row,) = (await tx.users.export(1))["escalations"]
        assert (row["level"], row["source"], row["category"]) == ("crisis", "message", "intent")
        assert [o["outcome"] for o in row["outcomes"]] == ["danger"]
        await store.close()
    finally:
        await engine.dispose()


async def test_converting_without_the_right_key_refuses(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    await _database_at_0002_with_an_escalation(db)
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    wrong = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="
    try:
        with pytest.raises(DataKeyError):
            await upgrade(engine, migration_cipher(wrong, tmp_path / "none.key"))
        async with engine.connect() as conn:  # nothing half done: still at 0002, still readable
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() == "0002"
            assert (await conn.execute(text("SELECT level FROM escalations"))).scalar() == "crisis"
    finally:
        await engine.dispose()
