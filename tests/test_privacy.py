"""Export holds every row; delete leaves no byte behind, WAL included."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Column, func, select

from ketacompanion.app import build_app
from ketacompanion.storage import tables

from conftest import Chat, make_settings

CANARY_USER = "user-canary-5f3a9c"
CANARY_NOTE = "note-canary-81d2 my sister Ann on 555 0100"


def test_every_table_is_registered_for_export_and_delete() -> None:
    for name, table in tables.metadata.tables.items():
        owners: list[Column] = [c for c in table.columns if c.name == "user_id"]  # type: ignore[type-arg]
        if name in tables.SYSTEM_TABLES:
            assert not owners, f"{name} holds user data but is marked as a system table"
            continue
        assert name in tables.USER_TABLES, f"{name} is not in USER_TABLES"
        assert tables.USER_TABLES[name] in table.columns


async def test_export_contains_every_table_and_decrypts(chat: Chat) -> None:
    await chat.onboard("GB", "Europe/London")
    replies = await chat.say("/export")
    document = json.loads(replies[0].file.data)  # type: ignore[union-attr]
    assert set(document["tables"]) == set(tables.USER_TABLES)
    user = document["tables"]["users"][0]
    assert (user["platform_user_id"], user["country"], user["timezone"]) == ("u1", "GB", "Europe/London")


def _files(db: Path) -> list[Path]:
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]


async def test_delete_leaves_no_trace_in_the_database_files(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "bot.db"
    app = await build_app(make_settings(f"sqlite+aiosqlite:///{db}", tmp_path), clock)
    try:
        other = Chat(app, user="someone-else")
        await other.onboard()
        chat = Chat(app, user=CANARY_USER)
        await chat.onboard("GB", "Europe/London")
        await chat.say("/safetyplan")
        await chat.tap(chat.choice("plan:edit:"))
        await chat.say(CANARY_NOTE)
        await chat.say("/checkin")  # a check-in under way: rows in checkins and answers
        await chat.tap(chat.choice("checkin:a:"))
        await chat.say("/export")
        # Notes are encrypted: not even the live database shows them.
        assert not any(CANARY_NOTE.encode() in p.read_bytes() for p in _files(db))
        assert any(CANARY_USER.encode() in p.read_bytes() for p in _files(db))  # the check can see it
        await chat.say("/delete")
        await chat.tap("delete:yes")
        assert "gone" in chat.text()
        for path in _files(db):
            assert CANARY_USER.encode() not in path.read_bytes(), path.name
            assert CANARY_NOTE.encode() not in path.read_bytes(), path.name
        async with app.engine.connect() as conn:
            for name in tables.USER_TABLES:  # nothing left in any table that holds user data
                table = tables.metadata.tables[name]
                rows = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                other_rows = 1 if name in ("users", "dialogue") else 0
                assert rows <= other_rows, name
        # The other person is untouched, and writing again starts fresh.
        async with app.store.transaction() as tx:
            assert await tx.users.find("console", "someone-else") is not None
            assert await tx.users.find("console", CANARY_USER) is None
    finally:
        await app.close()


async def test_delete_needs_confirmation(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/delete")
    await chat.tap("delete:no")
    assert "Nothing was deleted" in chat.text()
    async with chat.app.store.transaction() as tx:
        assert await tx.users.find("console", "u1") is not None
