"""The SQL implementation of the core's storage protocols."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.ports import (
    Clock,
    DialogueState,
    LessonProgress,
    StoreUnavailable,
    UserRecord,
)
from ketacompanion.storage import tables as t
from ketacompanion.storage.checkin_repo import SqlCheckinRepo, SqlScheduleRepo
from ketacompanion.storage.community_repo import SqlCommunityRepo
from ketacompanion.storage.concern_repo import SqlConcernAnswerRepo
from ketacompanion.storage.correction_repo import SqlCorrectionRepo
from ketacompanion.storage.engine import is_sqlite, sqlite_path
from ketacompanion.storage.escalation_repo import SqlEscalationRepo
from ketacompanion.storage.fields import aware as _aware
from ketacompanion.storage.fields import enc_context
from ketacompanion.storage.journal_repo import SqlJournalRepo
from ketacompanion.storage.pending_repo import SqlPendingUpdateRepo
from ketacompanion.storage.safetyplan_repo import SqlSafetyPlanRepo
from ketacompanion.storage.sqlite_thread import SqliteWriter

_USER_FIELDS = frozenset(
    {"chat_id", "consent_at", "country", "timezone", "language", "keep_notes", "unreachable_at", "enrolment"}
)


# How long a check-in stays answerable (settings.checkin_window_minutes overrides it).
CHECKIN_WINDOW = timedelta(minutes=240)


_FIND = (
    select(t.users, t.dialogue.c.flow, t.dialogue.c.step, t.dialogue.c.data)
    .select_from(t.users.outerjoin(t.dialogue, t.dialogue.c.user_id == t.users.c.id))
    .where(t.users.c.platform == bindparam("b_platform"), t.users.c.platform_user_id == bindparam("b_puid"))
)
_FIND_LOCKED = _FIND.with_for_update(of=t.users)  # serialise one person's messages on PostgreSQL
_DIALOGUE_VALUES = {
    "flow": bindparam("b_flow", type_=t.dialogue.c.flow.type),
    "step": bindparam("b_step", type_=t.dialogue.c.step.type),
    "data": bindparam("b_data", type_=t.dialogue.c.data.type),
    "updated_at": bindparam("b_at", type_=t.dialogue.c.updated_at.type),
}
_SAVE_DIALOGUE = update(t.dialogue).where(t.dialogue.c.user_id == bindparam("b_user")).values(**_DIALOGUE_VALUES)
_ADD_DIALOGUE = insert(t.dialogue).values(user_id=bindparam("b_user"), **_DIALOGUE_VALUES)


class SqlUserRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher, clock: Clock) -> None:
        self._conn, self._cipher, self._clock = conn, cipher, clock

    async def find(self, platform: str, platform_user_id: str) -> tuple[UserRecord, DialogueState] | None:
        # Prebuilt: this runs for every message, and building a statement costs more
        # than running it.
        query = _FIND if self._conn.dialect.name == "sqlite" else _FIND_LOCKED
        row = (await self._conn.execute(query, {"b_platform": platform, "b_puid": platform_user_id})).mappings().first()
        if row is None:
            return None
        return _user(row), DialogueState(row["flow"], row["step"], dict(row["data"] or {}))

    async def create(self, platform: str, platform_user_id: str, chat_id: str, language: str | None) -> UserRecord:
        now = self._clock.now()
        result = await self._conn.execute(
            insert(t.users).values(
                platform=platform, platform_user_id=platform_user_id, chat_id=chat_id,
                created_at=now, language=language, keep_notes=False,
            ).returning(t.users.c.id)
        )
        user_id = int(result.scalar_one())
        return UserRecord(user_id, platform, platform_user_id, chat_id, now, language=language)

    async def update(self, user_id: int, **fields: Any) -> None:
        unknown = set(fields) - _USER_FIELDS
        if unknown:
            raise ValueError(f"not user fields: {sorted(unknown)}")
        await self._conn.execute(update(t.users).where(t.users.c.id == user_id).values(**fields))

    async def save_dialogue(self, user_id: int, state: DialogueState) -> None:
        values = {"b_flow": state.flow, "b_step": state.step, "b_data": state.data, "b_at": self._clock.now(),
                  "b_user": user_id}
        changed = await self._conn.execute(_SAVE_DIALOGUE, values)
        if changed.rowcount == 0:
            await self._conn.execute(_ADD_DIALOGUE, values)

    async def export(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for name, owner in t.USER_TABLES.items():
            table = t.metadata.tables[name]
            rows = (await self._conn.execute(select(table).where(table.c[owner] == user_id))).mappings()
            out[name] = [self._plain(name, dict(r), user_id) for r in rows]
        return out

    def _plain(self, table: str, row: dict[str, Any], user_id: int) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if key.endswith("_enc"):
                plain = None if value is None else self._cipher.decrypt(value, enc_context(table, key, user_id))
                clean[key.removesuffix("_enc")] = _maybe_json(plain)
            elif isinstance(value, datetime):
                clean[key] = _aware(value).isoformat()  # type: ignore[union-attr]
            elif isinstance(value, bytes):
                clean[key] = base64.b64encode(value).decode()
            else:
                clean[key] = value
        return clean

    async def mark_unreachable(self, platform: str, chat_id: str) -> int | None:
        """The person blocked the bot: stop scheduled sends until they write again."""
        row = await self._conn.execute(
            update(t.users).where(t.users.c.platform == platform, t.users.c.chat_id == chat_id)
            .values(unreachable_at=self._clock.now()).returning(t.users.c.id)
        )
        found = row.scalar()
        return int(found) if found is not None else None

    async def delete(self, user_id: int) -> None:
        # Children first, explicitly, so nothing depends on cascade settings.
        for name, owner in reversed(list(t.USER_TABLES.items())):
            table = t.metadata.tables[name]
            await self._conn.execute(delete(table).where(table.c[owner] == user_id))


def _maybe_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _user(row: Mapping[str, Any]) -> UserRecord:
    return UserRecord(
        id=int(row["id"]), platform=row["platform"], platform_user_id=row["platform_user_id"],
        chat_id=row["chat_id"], created_at=_aware(row["created_at"]),  # type: ignore[arg-type]
        consent_at=_aware(row["consent_at"]), country=row["country"], timezone=row["timezone"],
        language=row["language"], keep_notes=bool(row["keep_notes"]),
        unreachable_at=_aware(row["unreachable_at"]), enrolment=row["enrolment"],
    )


_lp = t.lesson_progress
_MOVE_CARD = (
    update(_lp)
    .where(_lp.c.user_id == bindparam("b_user"), _lp.c.lesson_id == bindparam("b_lesson"))
    .values(card=bindparam("b_card", type_=_lp.c.card.type), updated_at=bindparam("b_at", type_=_lp.c.updated_at.type))
)
_START_LESSON = insert(_lp).values(
    user_id=bindparam("b_user"), lesson_id=bindparam("b_lesson"), card=bindparam("b_card", type_=_lp.c.card.type),
    started_at=bindparam("b_at", type_=_lp.c.started_at.type), updated_at=bindparam("b_at", type_=_lp.c.updated_at.type),
)


class SqlLessonRepo:
    def __init__(self, conn: AsyncConnection, clock: Clock) -> None:
        self._conn, self._clock = conn, clock

    async def progress(self, user_id: int) -> Mapping[str, LessonProgress]:
        lp = t.lesson_progress
        rows = (await self._conn.execute(select(lp).where(lp.c.user_id == user_id))).mappings()
        return {
            r["lesson_id"]: LessonProgress(
                r["lesson_id"], r["card"], r["completed_at"] is not None, r["read_version"],
                r["quiz_correct"], _aware(r["updated_at"]),  # type: ignore[arg-type]
            )
            for r in rows
        }

    async def _upsert(self, user_id: int, lesson_id: str, **values: Any) -> None:
        lp = t.lesson_progress
        now = self._clock.now()
        changed = await self._conn.execute(
            update(lp).where(lp.c.user_id == user_id, lp.c.lesson_id == lesson_id).values(updated_at=now, **values)
        )
        if changed.rowcount == 0:
            values.setdefault("card", 0)
            await self._conn.execute(
                insert(lp).values(user_id=user_id, lesson_id=lesson_id, started_at=now, updated_at=now, **values)
            )

    async def save_position(self, user_id: int, lesson_id: str, card: int, version: str) -> None:
        # The common step (Next/Back on a card), prebuilt; the rarer ones build their own.
        values = {"b_user": user_id, "b_lesson": lesson_id, "b_card": card, "b_at": self._clock.now()}
        changed = await self._conn.execute(_MOVE_CARD, values)
        if changed.rowcount == 0:
            await self._conn.execute(_START_LESSON, values)

    async def complete(self, user_id: int, lesson_id: str, version: str) -> None:
        await self._upsert(user_id, lesson_id, completed_at=self._clock.now(), read_version=version)

    async def save_quiz(self, user_id: int, lesson_id: str, choice: str, correct: bool) -> None:
        await self._upsert(user_id, lesson_id, quiz_choice=choice, quiz_correct=correct)


class SqlTx:
    def __init__(
        self, conn: AsyncConnection, cipher: FieldCipher, clock: Clock, checkin_window: timedelta = CHECKIN_WINDOW
    ) -> None:
        self.conn = conn
        self.users = SqlUserRepo(conn, cipher, clock)
        self.lessons = SqlLessonRepo(conn, clock)
        self.escalations = SqlEscalationRepo(conn, cipher, clock)
        self.checkins = SqlCheckinRepo(conn, cipher, checkin_window)
        self.schedules = SqlScheduleRepo(conn, checkin_window)
        self.safety_plans = SqlSafetyPlanRepo(conn, cipher, clock)
        self.communities = SqlCommunityRepo(conn, cipher)
        self.journal = SqlJournalRepo(conn, cipher)
        self.corrections = SqlCorrectionRepo(conn, cipher, self.checkins)
        self.concern_answers = SqlConcernAnswerRepo(conn, cipher, clock)
        self.pending_updates = SqlPendingUpdateRepo(conn, cipher, clock)


_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, OSError)


class SqlStore:
    def __init__(
        self,
        engine: AsyncEngine,
        cipher: FieldCipher,
        clock: Clock,
        checkin_window: timedelta = CHECKIN_WINDOW,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.engine, self.cipher, self.clock = engine, cipher, clock
        self.checkin_window = checkin_window
        self.sqlite = is_sqlite(str(engine.url))
        path = sqlite_path(str(engine.url)) if self.sqlite else None
        # Messages on a SQLite file go through one writer thread with group commit;
        # PostgreSQL (truly async) and in-memory SQLite use the engine directly.
        self._writer = SqliteWriter(path, busy_timeout_ms) if path is not None else None
        self._reader_path = path
        self._reader_engine: Engine | None = None
        self._reader: Connection | None = None

    @asynccontextmanager
    async def transaction(self, *, patience_ms: int | None = None) -> AsyncIterator[SqlTx]:
        try:
            if self._writer is not None:
                async with self._writer.transaction(patience_ms) as conn:
                    yield SqlTx(conn, self.cipher, self.clock, self.checkin_window)  # type: ignore[arg-type]
                return
            async with self.engine.begin() as conn:
                yield SqlTx(conn, self.cipher, self.clock, self.checkin_window)
        except StoreUnavailable:
            raise
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable(type(exc).__name__) from exc
            raise

    async def peek_user(self, platform: str, platform_user_id: str) -> UserRecord | None:
        """A read that no writer can hold up: on a SQLite file, a reader connection of its
        own on the loop (WAL readers never wait, and a point read takes microseconds)."""
        params = {"b_platform": platform, "b_puid": platform_user_id}
        try:
            if self._reader_path is not None:
                if self._reader is None:
                    self._reader_engine = create_sync_engine(
                        f"sqlite:///{self._reader_path}", connect_args={"timeout": 0.1}
                    )
                    self._reader = self._reader_engine.connect()
                row = self._reader.execute(_FIND, params).mappings().first()
                self._reader.rollback()  # end the read, so the WAL can be checkpointed
            else:
                async with self.engine.connect() as conn:
                    row = (await conn.execute(_FIND, params)).mappings().first()
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return _user(row) if row is not None else None

    async def purge_traces(self) -> None:
        if not self.sqlite:
            return  # PostgreSQL reclaims deleted tuples with VACUUM; nothing file-level here
        try:
            if self._writer is not None:
                await self._writer.checkpoint()
                return
            async with self.engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def close(self) -> None:
        if self._reader is not None and self._reader_engine is not None:
            self._reader.close()
            self._reader_engine.dispose()
            self._reader = self._reader_engine = None
        if self._writer is not None:
            await self._writer.close()
        await self.engine.dispose()
