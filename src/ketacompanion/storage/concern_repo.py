"""Answers to the soft check's direct question, encrypted like check-in answers."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.ports import Clock
from ketacompanion.storage import tables as t
from ketacompanion.storage.fields import enc_context


class SqlConcernAnswerRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher, clock: Clock) -> None:
        self._conn, self._cipher, self._clock = conn, cipher, clock

    async def record(self, user_id: int, answer: str) -> int:
        """Store the answer against the person's latest escalation, if any."""
        e = t.escalations
        last = (
            await self._conn.execute(
                select(e.c.id).where(e.c.user_id == user_id).order_by(e.c.created_at.desc(), e.c.id.desc()).limit(1)
            )
        ).scalar()
        c = t.concern_answers
        values = {
            "user_id": user_id, "escalation_id": last, "answered_at": self._clock.now(),
            "answer_enc": self._cipher.encrypt(answer, enc_context("concern_answers", "answer_enc", user_id)),
        }
        return int((await self._conn.execute(insert(c).values(**values).returning(c.c.id))).scalar_one())

    async def answers(self, user_id: int) -> list[str]:
        c = t.concern_answers
        rows = await self._conn.execute(
            select(c.c.answer_enc).where(c.c.user_id == user_id).order_by(c.c.answered_at, c.c.id)
        )
        context = enc_context("concern_answers", "answer_enc", user_id)
        return [self._cipher.decrypt(r.answer_enc, context) for r in rows]
