"""SQL for check-ins as a person sees them: answers, schedules and dosing sessions.

Answers are stored one row per item, encrypted as JSON of the ``Answer`` under
``enc_context("checkin_answers", "value_enc", user_id)``, the context export decrypts
with. Schedule and session changes replan the pending slots in the same transaction,
through the planner, so the delivery engine sees them at its next wake-up."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.ports import (
    OPEN_CHECKIN_STATES,
    CheckinRecord,
    DosingSession,
    PastCheckin,
    ScheduleSettings,
)
from ketacompanion.core.scoring import Answer
from ketacompanion.storage import planner
from ketacompanion.storage import tables as t
from ketacompanion.storage.fields import aware as _aware
from ketacompanion.storage.fields import enc_context
from ketacompanion.storage.prepared import Prepared

_ANSWER_CONTEXT = ("checkin_answers", "value_enc")
_SCHEDULE_FIELDS = ("daily_time", "weekly_day", "weekly_time", "quiet_start", "quiet_end", "paused_until")


_c, _a = t.checkins, t.checkin_answers
# In the order ``_record`` reads them.
_CHECKIN_COLUMNS = (
    _c.c.id, _c.c.kind, _c.c.instrument, _c.c.status, _c.c.due_at, _c.c.expires_at, _c.c.session_id,
    _c.c.opened_at, _c.c.answered_at, _c.c.content_version,
)


def _record(row: Any) -> CheckinRecord:
    """A check-in from a row of ``_CHECKIN_COLUMNS``."""
    (checkin_id, kind, instrument, status, due_at, expires_at, session_id, opened_at, answered_at,
     content_version) = row
    return CheckinRecord(
        id=int(checkin_id), kind=kind, instrument=instrument, status=status,
        due_at=_aware(due_at),  # type: ignore[arg-type]
        expires_at=_aware(expires_at),  # type: ignore[arg-type]
        session_id=session_id, opened_at=_aware(opened_at), answered_at=_aware(answered_at),
        content_version=content_version,
    )


def answer_json(answer: Answer) -> str:
    return json.dumps(
        {"value": answer.value, "options": list(answer.options), "text": answer.text}, ensure_ascii=False
    )


def answer_from_json(text: str) -> Answer:
    data = json.loads(text)
    value = data.get("value")
    return Answer(
        value=value if isinstance(value, int) else None,
        options=tuple(str(o) for o in data.get("options") or ()),
        text=data.get("text") if isinstance(data.get("text"), str) else None,
    )


# Prepared: what runs on every check-in answer.
_GET = Prepared(select(*_CHECKIN_COLUMNS).where(_c.c.id == bindparam("b_id"), _c.c.user_id == bindparam("b_user")))
_ANSWERABLE = Prepared(
    select(*_CHECKIN_COLUMNS).where(
        _c.c.user_id == bindparam("b_user"), _c.c.instrument == bindparam("b_instrument"),
        _c.c.status.in_(OPEN_CHECKIN_STATES), _c.c.expires_at > bindparam("b_now", type_=_c.c.expires_at.type),
        _c.c.closed_at.is_(None),
    ).order_by(_c.c.due_at.desc(), _c.c.id.desc()).limit(1)
)
_LAST_MANUAL = Prepared(
    select(func.max(_c.c.due_at)).where(
        _c.c.user_id == bindparam("b_user"), _c.c.kind == "manual",
        _c.c.due_at >= bindparam("b_now", type_=_c.c.due_at.type),
    )
)
_NEW_MANUAL = Prepared(
    insert(_c).values(
        user_id=bindparam("b_user"), kind="manual", instrument=bindparam("b_instrument"),
        due_at=bindparam("b_due", type_=_c.c.due_at.type), expires_at=bindparam("b_expires", type_=_c.c.expires_at.type),
        status="open", opened_at=bindparam("b_now", type_=_c.c.opened_at.type),
        created_at=bindparam("b_now", type_=_c.c.created_at.type),
        content_version=bindparam("b_version", type_=_c.c.content_version.type),
    ).returning(_c.c.id)
)
_NOW = bindparam("b_now", type_=t.UTC)
_MARK_OPEN = Prepared(
    update(_c).where(_c.c.id == bindparam("b_id"), _c.c.status.in_(OPEN_CHECKIN_STATES))
    .values(status="open", opened_at=_NOW, content_version=func.coalesce(
        _c.c.content_version, bindparam("b_version", type_=_c.c.content_version.type)))
)
_FINISH = Prepared(
    update(_c).where(_c.c.id == bindparam("b_id"))
    .values(status="answered", answered_at=_NOW, closed_at=_NOW)
)
_CANCEL = Prepared(
    update(_c).where(_c.c.id == bindparam("b_id"), _c.c.status.in_(OPEN_CHECKIN_STATES))
    .values(status="cancelled", closed_at=_NOW)
)
_ANSWERS = Prepared(
    select(_a.c.item_id, _a.c.value_enc).where(_a.c.checkin_id == bindparam("b_id"), _a.c.user_id == bindparam("b_user"))
)
_SINCE = bindparam("b_since", type_=t.UTC)
_HISTORY = Prepared(
    select(*_CHECKIN_COLUMNS).where(
        _c.c.user_id == bindparam("b_user"), _c.c.due_at >= _SINCE, _c.c.status != "pending",
        _c.c.instrument.is_not(None),  # notices (preparation, follow-ups) ask nothing
    ).order_by(_c.c.due_at, _c.c.id)
)
_HISTORY_ANSWERS = Prepared(
    select(_a.c.checkin_id, _a.c.item_id, _a.c.value_enc)
    .select_from(_a.join(_c, _c.c.id == _a.c.checkin_id))
    .where(_a.c.user_id == bindparam("b_user"), _c.c.due_at >= _SINCE)
)
_ANSWER_VALUES = {
    "value_enc": bindparam("b_value", type_=_a.c.value_enc.type),
    "answered_at": bindparam("b_at", type_=_a.c.answered_at.type),
}
_UPDATE_ANSWER = Prepared(
    update(_a)
    .where(_a.c.checkin_id == bindparam("b_id"), _a.c.item_id == bindparam("b_item"), _a.c.user_id == bindparam("b_user"))
    .values(**_ANSWER_VALUES)
)
_INSERT_ANSWER = Prepared(insert(_a).values(
    checkin_id=bindparam("b_id"), item_id=bindparam("b_item"), user_id=bindparam("b_user"), **_ANSWER_VALUES
))


class SqlCheckinRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher, window: timedelta) -> None:
        self._conn, self._cipher, self._window = conn, cipher, window

    async def get(self, user_id: int, checkin_id: int) -> CheckinRecord | None:
        row = await _GET.first(self._conn, {"b_id": checkin_id, "b_user": user_id})
        return _record(row) if row is not None else None

    async def find_answerable(self, user_id: int, instrument: str, now: datetime) -> CheckinRecord | None:
        row = await _ANSWERABLE.first(self._conn, {"b_user": user_id, "b_instrument": instrument, "b_now": now})
        return _record(row) if row is not None else None

    async def create_manual(
        self, user_id: int, instrument: str, now: datetime, content_version: int | None = None
    ) -> CheckinRecord:
        due = now
        taken = (await _LAST_MANUAL.first(self._conn, {"b_user": user_id, "b_now": now}) or (None,))[0]
        if taken is not None:  # (user, kind, due_at) is unique: two in the same instant stay apart
            due = _aware(taken) + timedelta(microseconds=1)  # type: ignore[operator]
        params = {"b_user": user_id, "b_instrument": instrument, "b_due": due, "b_expires": now + self._window,
                  "b_now": now, "b_version": content_version}
        new_id = (await _NEW_MANUAL.rows(self._conn, params))[0][0]
        return CheckinRecord(int(new_id), "manual", instrument, "open", due, now + self._window, opened_at=now,
                             content_version=content_version)

    async def mark_open(self, checkin_id: int, now: datetime, content_version: int | None = None) -> None:
        """Open it; a check-in not yet tied to a content version is tied to ``content_version``."""
        await _MARK_OPEN.run(self._conn, {"b_id": checkin_id, "b_now": now, "b_version": content_version})

    async def finish(self, checkin_id: int, now: datetime) -> None:
        await _FINISH.run(self._conn, {"b_id": checkin_id, "b_now": now})

    async def cancel(self, checkin_id: int, now: datetime) -> None:
        await _CANCEL.run(self._conn, {"b_id": checkin_id, "b_now": now})

    def _decrypt(self, user_id: int, token: bytes) -> Answer:
        return answer_from_json(self._cipher.decrypt(token, enc_context(*_ANSWER_CONTEXT, user_id)))

    async def answers(self, user_id: int, checkin_id: int) -> dict[str, Answer]:
        rows = await _ANSWERS.rows(self._conn, {"b_id": checkin_id, "b_user": user_id})
        return {item_id: self._decrypt(user_id, value) for item_id, value in rows}

    async def save_answer(self, user_id: int, checkin_id: int, item_id: str, answer: Answer, now: datetime) -> None:
        token = self._cipher.encrypt(answer_json(answer), enc_context(*_ANSWER_CONTEXT, user_id))
        values = {"b_id": checkin_id, "b_item": item_id, "b_user": user_id, "b_value": token, "b_at": now}
        if await _UPDATE_ANSWER.run(self._conn, values) == 0:
            await _INSERT_ANSWER.run(self._conn, values)

    async def history(self, user_id: int, since: datetime) -> list[PastCheckin]:
        """Check-ins due since ``since`` (oldest first) with their answers: two queries."""
        params = {"b_user": user_id, "b_since": since}
        rows = await _HISTORY.rows(self._conn, params)
        found: dict[int, dict[str, Answer]] = {int(r[0]): {} for r in rows}
        if found:
            for checkin_id, item_id, value in await _HISTORY_ANSWERS.rows(self._conn, params):
                if int(checkin_id) in found:
                    found[int(checkin_id)][item_id] = self._decrypt(user_id, value)
        return [PastCheckin(_record(r), found[int(r[0])]) for r in rows]


class SqlScheduleRepo:
    def __init__(self, conn: AsyncConnection, window: timedelta) -> None:
        self._conn, self._window = conn, window

    async def get(self, user_id: int) -> ScheduleSettings:
        s = t.schedules
        row = (await self._conn.execute(select(s).where(s.c.user_id == user_id))).first()
        if row is None:
            return ScheduleSettings()
        return ScheduleSettings(
            row.daily_time, row.weekly_day, row.weekly_time, row.quiet_start, row.quiet_end,
            _aware(row.paused_until),
        )

    async def save(self, user_id: int, settings: ScheduleSettings, now: datetime) -> list[CheckinRecord]:
        s = t.schedules
        values: dict[str, Any] = {f: getattr(settings, f) for f in _SCHEDULE_FIELDS}
        values["updated_at"] = now
        changed = await self._conn.execute(update(s).where(s.c.user_id == user_id).values(**values))
        if changed.rowcount == 0:
            await self._conn.execute(insert(s).values(user_id=user_id, **values))
        return await self.replan(user_id, now)

    async def replan(self, user_id: int, now: datetime) -> list[CheckinRecord]:
        await planner.replan(self._conn, user_id, now, self._window)
        return await self.upcoming(user_id, now)

    async def upcoming(self, user_id: int, now: datetime, limit: int = 5) -> list[CheckinRecord]:
        c = t.checkins
        rows = await self._conn.execute(
            select(*_CHECKIN_COLUMNS).where(c.c.user_id == user_id, c.c.status == "pending", c.c.due_at > now)
            .order_by(c.c.due_at, c.c.id).limit(limit)
        )
        return [_record(r) for r in rows]

    async def sessions(self, user_id: int, since: datetime | None = None) -> list[DosingSession]:
        ds = t.dosing_sessions
        query = select(ds.c.id, ds.c.starts_at).where(ds.c.user_id == user_id)
        if since is not None:
            query = query.where(ds.c.starts_at >= since)
        rows = await self._conn.execute(query.order_by(ds.c.starts_at, ds.c.id))
        return [DosingSession(int(r.id), _aware(r.starts_at)) for r in rows]  # type: ignore[arg-type]

    async def add_session(self, user_id: int, starts_at: datetime, zone: str, now: datetime) -> DosingSession:
        ds = t.dosing_sessions
        new_id = int(
            (
                await self._conn.execute(
                    insert(ds).values(user_id=user_id, starts_at=starts_at, created_at=now).returning(ds.c.id)
                )
            ).scalar_one()
        )
        await planner.plan_session(self._conn, user_id, new_id, starts_at, zone, now, self._window)
        return DosingSession(new_id, starts_at)

    async def remove_session(self, user_id: int, session_id: int, now: datetime) -> bool:
        """Cancel the session's prompts still to come; keep answered ones as history."""
        ds, c = t.dosing_sessions, t.checkins
        owned = (
            await self._conn.execute(select(ds.c.id).where(ds.c.id == session_id, ds.c.user_id == user_id))
        ).first()
        if owned is None:
            return False
        await self._conn.execute(
            update(c).where(c.c.session_id == session_id, c.c.status == "pending")
            .values(status="cancelled", closed_at=now)
        )
        # Unlink before deleting: the foreign key would otherwise cascade the log away.
        await self._conn.execute(update(c).where(c.c.session_id == session_id).values(session_id=None))
        await self._conn.execute(delete(ds).where(ds.c.id == session_id))
        return True
