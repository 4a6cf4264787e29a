"""Corrected check-in answers: the earlier value is kept as a version before the new one
replaces it, so the export shows what was first said and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.scoring import Answer
from ketacompanion.storage import tables as t
from ketacompanion.storage.checkin_repo import _ANSWER_CONTEXT, SqlCheckinRepo
from ketacompanion.storage.fields import enc_context


class SqlCorrectionRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher, checkins: SqlCheckinRepo) -> None:
        self._conn, self._cipher, self._checkins = conn, cipher, checkins

    async def correct(
        self, user_id: int, checkin_id: int, item_id: str, answer: Answer, now: datetime, keep_old: bool
    ) -> None:
        a = t.checkin_answers
        if keep_old:
            row = (await self._conn.execute(
                select(a.c.value_enc, a.c.answered_at)
                .where(a.c.user_id == user_id, a.c.checkin_id == checkin_id, a.c.item_id == item_id)
            )).first()
            if row is not None:
                plain = self._cipher.decrypt(row.value_enc, enc_context(*_ANSWER_CONTEXT, user_id))
                token = self._cipher.encrypt(plain, enc_context("checkin_answer_versions", "value_enc", user_id))
                await self._conn.execute(insert(t.checkin_answer_versions).values(
                    checkin_id=checkin_id, item_id=item_id, user_id=user_id, value_enc=token,
                    answered_at=row.answered_at, replaced_at=now,
                ))
        await self._checkins.save_answer(user_id, checkin_id, item_id, answer, now)

