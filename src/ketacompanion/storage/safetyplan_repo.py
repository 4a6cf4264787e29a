"""Safety plans in SQL: the whole plan as one encrypted JSON value per person.

One value rather than a row per entry: the plan is always read and written whole, and
a single ciphertext reveals nothing about how many entries each part holds beyond its
overall length."""

from __future__ import annotations

import json

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.ports import Clock
from ketacompanion.core.safetyplan_record import SafetyPlan
from ketacompanion.storage import tables as t
from ketacompanion.storage.fields import enc_context

FORMAT_VERSION = 1


def _context(user_id: int) -> str:
    return enc_context("safety_plans", "plan_enc", user_id)


class SqlSafetyPlanRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher, clock: Clock) -> None:
        self._conn, self._cipher, self._clock = conn, cipher, clock

    async def get(self, user_id: int) -> SafetyPlan | None:
        sp = t.safety_plans
        token = (await self._conn.execute(select(sp.c.plan_enc).where(sp.c.user_id == user_id))).scalar()
        if token is None:
            return None
        document = json.loads(self._cipher.decrypt(token, _context(user_id)))
        return SafetyPlan.from_dict(document.get("parts") or {})

    async def save(self, user_id: int, plan: SafetyPlan) -> None:
        document = {"version": FORMAT_VERSION, "parts": plan.to_dict()}
        # ensure_ascii=False keeps emoji as typed; the ciphertext hides them either way.
        token = self._cipher.encrypt(json.dumps(document, ensure_ascii=False), _context(user_id))
        values = {"plan_enc": token, "updated_at": self._clock.now()}
        sp = t.safety_plans
        changed = await self._conn.execute(update(sp).where(sp.c.user_id == user_id).values(**values))
        if changed.rowcount == 0:
            await self._conn.execute(insert(sp).values(user_id=user_id, **values))
