"""Escalation records and their follow-ups."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.ports import Clock, EscalationRecord
from ketacompanion.storage import tables as t
from ketacompanion.storage.planner import insert_slots
from ketacompanion.storage.store import _aware, enc_context

FOLLOWUP_HOUR = timedelta(hours=1)
FOLLOWUP_DAY = timedelta(days=1)
FOLLOWUP_WINDOW = timedelta(hours=12)


class SqlEscalationRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher, clock: Clock) -> None:
        self._conn, self._cipher, self._clock = conn, cipher, clock

    async def last(self, user_id: int) -> EscalationRecord | None:
        e = t.escalations
        row = (
            await self._conn.execute(
                select(e.c.id, e.c.level, e.c.created_at).where(e.c.user_id == user_id)
                .order_by(e.c.created_at.desc(), e.c.id.desc()).limit(1)
            )
        ).first()
        if row is None:
            return None
        return EscalationRecord(int(row.id), row.level, _aware(row.created_at))  # type: ignore[arg-type]

    async def record(
        self, user_id: int, level: str, source: str, category: str | None, note: str | None, follow_up: bool
    ) -> int:
        """Store the escalation (the words only when the person keeps notes) and, for a
        crisis, plan the follow-ups an hour later and the next day."""
        now = self._clock.now()
        e = t.escalations
        note_enc = (
            self._cipher.encrypt(note[:2000], enc_context("escalations", "note_enc", user_id)) if note else None
        )
        values = {
            "user_id": user_id, "level": level, "source": source, "category": category, "created_at": now,
            "note_enc": note_enc,
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
        """Record how a follow-up was answered, on the latest escalation."""
        last = await self.last(user_id)
        if last is None:
            return False
        await self._conn.execute(update(t.escalations).where(t.escalations.c.id == last.id).values(outcome=outcome))
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
