"""Community servers, their channels, screening opt-outs and moderator alerts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.alerts import AlertRecord
from ketacompanion.core.community import CommunitySetup
from ketacompanion.storage import tables as t
from ketacompanion.storage.fields import aware as _aware
from ketacompanion.storage.fields import enc_context

_SETUP_FIELDS = frozenset({"alert_channel_id", "moderator_role_id", "country"})
_ALERT_FIELDS = frozenset({
    "status", "share", "decided_at", "alert_channel_id", "message_id", "sent_at", "repinged_at",
    "taken_by", "taken_at", "resolved_by", "resolved_at",
})  # fmt: skip
_OPEN = ("sent",)


class SqlCommunityRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher) -> None:
        self._conn, self._cipher = conn, cipher

    # --- setup -----------------------------------------------------------------------------
    async def get(self, platform: str, community_id: str) -> CommunitySetup | None:
        c = t.communities
        row = (await self._conn.execute(
            select(c).where(c.c.platform == platform, c.c.community_id == community_id)
        )).mappings().first()  # fmt: skip
        return await self._setup(row) if row is not None else None

    async def get_by_id(self, key: int) -> CommunitySetup | None:
        row = (await self._conn.execute(select(t.communities).where(t.communities.c.id == key))).mappings().first()
        return await self._setup(row) if row is not None else None

    async def _setup(self, row: Any) -> CommunitySetup:
        cc = t.community_channels
        channels = {r.channel_id: r.mode for r in await self._conn.execute(select(cc).where(cc.c.community == row["id"]))}
        return CommunitySetup(
            int(row["id"]), row["community_id"], row["alert_channel_id"], row["moderator_role_id"], row["country"], channels
        )

    async def save(self, platform: str, community_id: str, now: datetime, **fields: Any) -> CommunitySetup:
        """Create the server's row if needed and change only the given fields."""
        values = {k: v for k, v in fields.items() if k in _SETUP_FIELDS}
        c = t.communities
        changed = await self._conn.execute(
            update(c).where(c.c.platform == platform, c.c.community_id == community_id).values(updated_at=now, **values)
        )
        if changed.rowcount == 0:
            await self._conn.execute(insert(c).values(platform=platform, community_id=community_id, updated_at=now, **values))
        setup = await self.get(platform, community_id)
        assert setup is not None
        return setup

    async def set_channel(self, key: int, channel_id: str, mode: str | None) -> None:
        cc = t.community_channels
        await self._conn.execute(delete(cc).where(cc.c.community == key, cc.c.channel_id == channel_id))
        if mode is not None:
            await self._conn.execute(insert(cc).values(community=key, channel_id=channel_id, mode=mode))

    async def opted_out(self, user_id: int, key: int) -> bool:
        o = t.screening_optouts
        row = await self._conn.execute(select(o.c.user_id).where(o.c.user_id == user_id, o.c.community == key))
        return row.first() is not None

    async def set_optout(self, user_id: int, key: int, out: bool, now: datetime) -> None:
        o = t.screening_optouts
        await self._conn.execute(delete(o).where(o.c.user_id == user_id, o.c.community == key))
        if out:
            await self._conn.execute(insert(o).values(user_id=user_id, community=key, created_at=now))

    # --- the channel card's cooldown -------------------------------------------------------
    async def last_card(self, user_id: int, key: int) -> datetime | None:
        s = t.screening_cards
        found = (await self._conn.execute(
            select(s.c.carded_at).where(s.c.user_id == user_id, s.c.community == key)
        )).scalar()  # fmt: skip
        return _aware(found) if found is not None else None

    async def claim_card(self, user_id: int, key: int, now: datetime, cutoff: datetime) -> bool:
        """Record a card sent at ``now`` unless one was sent after ``cutoff``; True when this
        call claimed it. One statement, so two processes cannot both claim."""
        if self._conn.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as upsert
        else:
            from sqlalchemy.dialects.postgresql import insert as upsert
        s = t.screening_cards
        statement = upsert(s).values(user_id=user_id, community=key, carded_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[s.c.user_id, s.c.community], set_={"carded_at": now}, where=s.c.carded_at <= cutoff
        )
        return bool((await self._conn.execute(statement)).rowcount)

    # --- alerts ----------------------------------------------------------------------------
    async def offer_alert(self, user_id: int, key: int, source: str, fields: dict[str, Any], now: datetime) -> int:
        result = await self._conn.execute(
            insert(t.moderator_alerts).values(
                user_id=user_id, community=key, source=source, status="offered",
                fields_enc=self._encrypt(user_id, fields), created_at=now,
            ).returning(t.moderator_alerts.c.id)
        )  # fmt: skip
        return int(result.scalar_one())

    async def alert(self, alert_id: int) -> AlertRecord | None:
        a = t.moderator_alerts
        row = (await self._conn.execute(self._alerts().where(a.c.id == alert_id))).mappings().first()
        return self._record(row) if row is not None else None

    async def last_alert(self, user_id: int, key: int) -> AlertRecord | None:
        a = t.moderator_alerts
        query = self._alerts().where(a.c.user_id == user_id, a.c.community == key)
        row = (await self._conn.execute(query.order_by(a.c.created_at.desc(), a.c.id.desc()).limit(1))).mappings().first()
        return self._record(row) if row is not None else None

    async def update_alert(self, alert_id: int, **fields: Any) -> None:
        a = t.moderator_alerts
        values = {k: v for k, v in fields.items() if k in _ALERT_FIELDS}
        if "fields" in fields:
            owner = (await self._conn.execute(select(a.c.user_id).where(a.c.id == alert_id))).scalar()
            if owner is None:
                return
            values["fields_enc"] = None if fields["fields"] is None else self._encrypt(int(owner), fields["fields"])
        if values:
            await self._conn.execute(update(a).where(a.c.id == alert_id).values(**values))

    async def alert_messages(self, user_id: int) -> list[tuple[str, str]]:
        """Every alert message posted about the member: (alert channel, message id)."""
        a = t.moderator_alerts
        rows = await self._conn.execute(
            select(a.c.alert_channel_id, a.c.message_id)
            .where(a.c.user_id == user_id, a.c.message_id.is_not(None), a.c.alert_channel_id.is_not(None))
        )  # fmt: skip
        return [(str(r.alert_channel_id), str(r.message_id)) for r in rows]

    async def due_repings(self, sent_before: datetime) -> list[AlertRecord]:
        a = t.moderator_alerts
        query = self._alerts().where(
            a.c.status.in_(_OPEN), a.c.sent_at <= sent_before, a.c.repinged_at.is_(None), a.c.taken_by.is_(None)
        )
        return [self._record(r) for r in (await self._conn.execute(query.limit(100))).mappings()]

    async def expire_offers(self, created_before: datetime) -> None:
        a = t.moderator_alerts
        await self._conn.execute(
            update(a).where(a.c.status == "offered", a.c.created_at <= created_before)
            .values(status="expired", fields_enc=None)
        )  # fmt: skip

    def _alerts(self) -> Any:
        a, c = t.moderator_alerts, t.communities
        return select(a, c.c.community_id.label("community_ref")).select_from(a.join(c, c.c.id == a.c.community))

    def _encrypt(self, user_id: int, fields: dict[str, Any]) -> bytes:
        return self._cipher.encrypt(json.dumps(fields), enc_context("moderator_alerts", "fields_enc", user_id))

    def _record(self, row: Any) -> AlertRecord:
        user_id = int(row["user_id"])
        fields: dict[str, Any] = {}
        if row["fields_enc"] is not None:
            fields = json.loads(self._cipher.decrypt(row["fields_enc"], enc_context("moderator_alerts", "fields_enc", user_id)))
        return AlertRecord(
            int(row["id"]), user_id, int(row["community"]), row["community_ref"], row["source"], row["status"],
            row["share"], fields, _aware(row["created_at"]), row["alert_channel_id"], row["message_id"],  # type: ignore[arg-type]
            _aware(row["sent_at"]), _aware(row["repinged_at"]), row["taken_by"], row["resolved_by"],
        )  # fmt: skip
