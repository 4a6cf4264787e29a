"""Escalation records and their follow-ups."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.ports import Clock, EscalationRecord
from ketacompanion.storage import tables as t
from ketacompanion.storage.fields import aware as _aware
from ketacompanion.storage.fields import enc_context
from ketacompanion.storage.planner import insert_slots

FOLLOWUP_HOUR = timedelta(hours=1)
FOLLOWUP_DAY = timedelta(days=1)
FOLLOWUP_WINDOW = timedelta(hours=12)


class SqlEscalationRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher, clock: Clock) -> None:
        self._conn, self._cipher, self._clock = conn, cipher, clock

    def _seal(self, column: str, user_id: int, value: str | None) -> bytes | None:
        return None if value is None else self._cipher.encrypt(value, enc_context("escalations", column, user_id))

    async def last(self, user_id: int) -> EscalationRecord | None:
        e = t.escalations
        row = (
            await self._conn.execute(
                select(e.c.id, e.c.level_enc, e.c.created_at).where(e.c.user_id == user_id)
                .order_by(e.c.created_at.desc(), e.c.id.desc()).limit(1)
            )
        ).first()
        if row is None:
            return None
        level = self._cipher.decrypt(row.level_enc, enc_context("escalations", "level_enc", user_id))
        return EscalationRecord(int(row.id), level, _aware(row.created_at))  # type: ignore[arg-type]

    async def record(
        self, user_id: int, level: str, source: str, category: str | None, note: str | None, follow_up: bool,
        at: datetime | None = None,
    ) -> int:
        """Store the escalation (the words only when the person keeps notes) and, for a
        crisis, plan the follow-ups an hour later and the next day. ``at``: when it
        happened, if it is written later (the database was busy)."""
        now = at or self._clock.now()
        e = t.escalations
        note_enc = (
            self._cipher.encrypt(note[:2000], enc_context("escalations", "note_enc", user_id)) if note else None
        )
        values = {
            "user_id": user_id, "level_enc": self._seal("level_enc", user_id, level),
            "source_enc": self._seal("source_enc", user_id, source),
            "category_enc": self._seal("category_enc", user_id, category), "created_at": now, "note_enc": note_enc,
        }
        if follow_up:
            values |= {"followup_hour_at": now + FOLLOWUP_HOUR, "followup_day_at": now + FOLLOWUP_DAY}
        escalation_id = int((await self._conn.execute(insert(e).values(**values).returning(e.c.id))).scalar_one())
        if follow_up:
            await self._conn.execute(
                update(t.checkins).where(
                    t.checkins.c.user_id == user_id, t.checkins.c.kind.in_(("followup_hour", "followup_day")),
                    t.checkins.c.status == "pending",
                ).values(status="cancelled", closed_at=now)  # the newest escalation's follow-ups replace older ones
            )
            await insert_slots(self._conn, [
                _followup(user_id, "followup_hour", now + FOLLOWUP_HOUR, now),
                _followup(user_id, "followup_day", now + FOLLOWUP_DAY, now),
            ])
        return escalation_id

    async def set_outcome(self, user_id: int, checkin_id: int | None, outcome: str) -> bool:
        """Add how the person answered to the latest escalation's outcomes (every one kept,
        oldest first: a later "ok" does not erase an earlier "danger")."""
        e = t.escalations
        row = (
            await self._conn.execute(
                select(e.c.id, e.c.outcomes_enc).where(e.c.user_id == user_id)
                .order_by(e.c.created_at.desc(), e.c.id.desc()).limit(1)
            )
        ).first()
        if row is None:
            return False
        context = enc_context("escalations", "outcomes_enc", user_id)
        history = json.loads(self._cipher.decrypt(row.outcomes_enc, context)) if row.outcomes_enc else []
        history.append({"outcome": outcome, "at": self._clock.now().isoformat()})
        await self._conn.execute(
            update(e).where(e.c.id == row.id).values(outcomes_enc=self._cipher.encrypt(json.dumps(history), context))
        )
        if checkin_id is not None:
            now = self._clock.now()
            await self._conn.execute(
                update(t.checkins).where(
                    t.checkins.c.id == checkin_id, t.checkins.c.user_id == user_id,
                ).values(status="answered", answered_at=now, closed_at=now)
            )
        return True


def _followup(user_id: int, kind: str, due: datetime, now: datetime) -> dict[str, object]:
    return {
        "user_id": user_id, "kind": kind, "instrument": None, "session_id": None, "due_at": due,
        "expires_at": due + FOLLOWUP_WINDOW, "status": "pending", "created_at": now,
    }
