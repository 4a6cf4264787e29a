"""The SQL implementation of the core's storage protocols."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from functools import cached_property
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
from ketacompanion.storage.backlog_repo import SqlPendingUpdateRepo
from ketacompanion.storage.checkin_repo import SqlCheckinRepo, SqlScheduleRepo
from ketacompanion.storage.community_repo import SqlCommunityRepo
from ketacompanion.storage.concern_repo import SqlConcernAnswerRepo
from ketacompanion.storage.correction_repo import SqlCorrectionRepo
from ketacompanion.storage.engine import is_sqlite, sqlite_path
from ketacompanion.storage.escalation_repo import SqlEscalationRepo
from ketacompanion.storage.fields import aware as _aware
from ketacompanion.storage.fields import enc_context
from ketacompanion.storage.journal_repo import SqlJournalRepo
from ketacompanion.storage.prepared import Prepared
from ketacompanion.storage.safetyplan_repo import SqlSafetyPlanRepo
from ketacompanion.storage.sqlite_thread import SqliteWriter

_USER_FIELDS = frozenset(
    {"chat_id", "consent_at", "country", "timezone", "language", "keep_notes", "unreachable_at", "enrolment"}
)


# How long a check-in stays answerable (settings.checkin_window_minutes overrides it).
CHECKIN_WINDOW = timedelta(minutes=240)


_u, _d = t.users, t.dialogue
# In the order ``_user`` reads them.
_USER_COLUMNS = (
    _u.c.id, _u.c.platform, _u.c.platform_user_id, _u.c.chat_id, _u.c.created_at, _u.c.consent_at, _u.c.country,
    _u.c.timezone, _u.c.language, _u.c.keep_notes, _u.c.unreachable_at, _u.c.enrolment,
)
_FIND = (
    select(*_USER_COLUMNS, _d.c.flow, _d.c.step, _d.c.data)
    .select_from(_u.outerjoin(_d, _d.c.user_id == _u.c.id))
    .where(_u.c.platform == bindparam("b_platform"), _u.c.platform_user_id == bindparam("b_puid"))
)
# Serialises one person's messages on PostgreSQL; SQLite has one writer anyway.
_FIND_USER = Prepared(_FIND, _FIND.with_for_update(of=_u))
_DIALOGUE_VALUES = {
    "flow": bindparam("b_flow", type_=_d.c.flow.type),
    "step": bindparam("b_step", type_=_d.c.step.type),
    "data": bindparam("b_data", type_=_d.c.data.type),
    "updated_at": bindparam("b_at", type_=_d.c.updated_at.type),
}
_SAVE_DIALOGUE = Prepared(update(_d).where(_d.c.user_id == bindparam("b_user")).values(**_DIALOGUE_VALUES))
_ADD_DIALOGUE = Prepared(insert(_d).values(user_id=bindparam("b_user"), **_DIALOGUE_VALUES))


class SqlUserRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher, clock: Clock) -> None:
        self._conn, self._cipher, self._clock = conn, cipher, clock

    async def find(self, platform: str, platform_user_id: str) -> tuple[UserRecord, DialogueState] | None:
        # Prepared: this runs for every message.
        row = await _FIND_USER.first(self._conn, {"b_platform": platform, "b_puid": platform_user_id})
        if row is None:
            return None
        return _user(row), DialogueState(row[12], row[13], dict(row[14] or {}))

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
        if await _SAVE_DIALOGUE.run(self._conn, values) == 0:
            await _ADD_DIALOGUE.run(self._conn, values)

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


def _user(row: Sequence[Any]) -> UserRecord:
    """A user from a row that starts with ``_USER_COLUMNS``."""
    (user_id, platform, platform_user_id, chat_id, created_at, consent_at, country, timezone, language,
     keep_notes, unreachable_at, enrolment) = row[:12]
    return UserRecord(
        id=int(user_id), platform=platform, platform_user_id=platform_user_id, chat_id=chat_id,
        created_at=_aware(created_at),  # type: ignore[arg-type]
        consent_at=_aware(consent_at), country=country, timezone=timezone, language=language,
        keep_notes=bool(keep_notes), unreachable_at=_aware(unreachable_at), enrolment=enrolment,
    )


_lp = t.lesson_progress
_LESSON = (_lp.c.user_id == bindparam("b_user"), _lp.c.lesson_id == bindparam("b_lesson"))
_PROGRESS = Prepared(
    select(_lp.c.lesson_id, _lp.c.card, _lp.c.completed_at, _lp.c.read_version, _lp.c.quiz_correct, _lp.c.updated_at)
    .where(_lp.c.user_id == bindparam("b_user"))
)


def _lesson_step(*columns: str) -> tuple[Prepared, Prepared]:
    """The update of ``columns`` (bound as ``b_<name>``) in one lesson's row, and the
    insert that starts the row when there is none yet."""
    binds = {name: bindparam(f"b_{name}", type_=_lp.c[name].type) for name in columns}
    at = bindparam("b_at", type_=_lp.c.updated_at.type)
    return (
        Prepared(update(_lp).where(*_LESSON).values(updated_at=at, **binds)),
        Prepared(insert(_lp).values(
            user_id=bindparam("b_user"), lesson_id=bindparam("b_lesson"), started_at=at, updated_at=at,
            **{"card": 0, **binds},
        )),
    )


_MOVE_CARD = _lesson_step("card")
_COMPLETE = _lesson_step("completed_at", "read_version")
_QUIZ = _lesson_step("quiz_choice", "quiz_correct")


class SqlLessonRepo:
    def __init__(self, conn: AsyncConnection, clock: Clock) -> None:
        self._conn, self._clock = conn, clock

    async def progress(self, user_id: int) -> Mapping[str, LessonProgress]:
        rows = await _PROGRESS.rows(self._conn, {"b_user": user_id})
        return {
            lesson_id: LessonProgress(
                lesson_id, card, completed_at is not None, read_version, quiz_correct,
                _aware(updated_at),  # type: ignore[arg-type]
            )
            for lesson_id, card, completed_at, read_version, quiz_correct, updated_at in rows
        }

    async def _step(
        self, step: tuple[Prepared, Prepared], user_id: int, lesson_id: str, now: datetime, **values: Any
    ) -> None:
        params = {"b_user": user_id, "b_lesson": lesson_id, "b_at": now}
        params.update({f"b_{name}": value for name, value in values.items()})
        change, start = step
        if await change.run(self._conn, params) == 0:
            await start.run(self._conn, params)

    async def save_position(self, user_id: int, lesson_id: str, card: int, version: str) -> None:
        await self._step(_MOVE_CARD, user_id, lesson_id, self._clock.now(), card=card)

    async def complete(self, user_id: int, lesson_id: str, version: str) -> None:
        now = self._clock.now()
        await self._step(_COMPLETE, user_id, lesson_id, now, completed_at=now, read_version=version)

    async def save_quiz(self, user_id: int, lesson_id: str, choice: str, correct: bool) -> None:
        await self._step(_QUIZ, user_id, lesson_id, self._clock.now(), quiz_choice=choice, quiz_correct=correct)


class SqlTx:
    """The repositories of one transaction, each made when first used: a message
    touches two or three of the ten."""

    def __init__(
        self, conn: AsyncConnection, cipher: FieldCipher, clock: Clock, checkin_window: timedelta = CHECKIN_WINDOW
    ) -> None:
        self.conn = conn
        self._cipher, self._clock, self._window = cipher, clock, checkin_window

    @cached_property
    def users(self) -> SqlUserRepo:
        return SqlUserRepo(self.conn, self._cipher, self._clock)

    @cached_property
    def lessons(self) -> SqlLessonRepo:
        return SqlLessonRepo(self.conn, self._clock)

    @cached_property
    def escalations(self) -> SqlEscalationRepo:
        return SqlEscalationRepo(self.conn, self._cipher, self._clock)

    @cached_property
    def checkins(self) -> SqlCheckinRepo:
        return SqlCheckinRepo(self.conn, self._cipher, self._window)

    @cached_property
    def schedules(self) -> SqlScheduleRepo:
        return SqlScheduleRepo(self.conn, self._window)

    @cached_property
    def safety_plans(self) -> SqlSafetyPlanRepo:
        return SqlSafetyPlanRepo(self.conn, self._cipher, self._clock)

    @cached_property
    def communities(self) -> SqlCommunityRepo:
        return SqlCommunityRepo(self.conn, self._cipher)

    @cached_property
    def journal(self) -> SqlJournalRepo:
        return SqlJournalRepo(self.conn, self._cipher)

    @cached_property
    def corrections(self) -> SqlCorrectionRepo:
        return SqlCorrectionRepo(self.conn, self._cipher, self.checkins)

    @cached_property
    def concern_answers(self) -> SqlConcernAnswerRepo:
        return SqlConcernAnswerRepo(self.conn, self._cipher, self._clock)

    @cached_property
    def pending_updates(self) -> SqlPendingUpdateRepo:
        return SqlPendingUpdateRepo(self.conn, self._cipher, self._clock)


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

    def trace(self, callback: Callable[[str, tuple[Any, ...]], None] | None) -> None:
        """Show ``callback`` every statement the SQLite writer sends straight to the driver
        (benchmarks replay them); SQLAlchemy's cursor events show the rest."""
        if self._writer is not None:
            self._writer.on_statement = callback

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
                row = self._reader.execute(_FIND, params).first()
                self._reader.rollback()  # end the read, so the WAL can be checkpointed
            else:
                async with self.engine.connect() as conn:
                    row = (await conn.execute(_FIND, params)).first()
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
