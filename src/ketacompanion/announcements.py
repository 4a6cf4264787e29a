"""Announcements: one text to an audience, delivered through the outbox.

Each recipient gets an ordinary outbox row, so the platform limits, retries and the
unreachable handling of the outbox apply. Rows wait out the person's pause and quiet
hours (``not_before``); people who turned announcements off, who never consented, or
who are unreachable get none. The audit log and the ``announcements`` row hold the
text's hash and the counts, never the text."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select

from ketacompanion.core.model import Reply
from ketacompanion.core.ports import Clock
from ketacompanion.core.schedule import after_quiet_hours
from ketacompanion.delivery.outbox import Outbox, encode_reply
from ketacompanion.storage import tables as t
from ketacompanion.storage.admin_repo import audit_row
from ketacompanion.storage.planner import Due

MAX_TEXT = 1000  # fits every platform's message limit with room to spare


class AudienceError(ValueError):
    """The audience is not ``all``, a platform name or ``code:ENROLMENT``."""


@dataclass(frozen=True, slots=True)
class Report:
    id: int
    audience: str
    delivered: int
    pending: int
    unreachable: int
    failed: int


# The platforms people can be on. Any other name would preview 0 people, which reads like
# an empty audience rather than a typo.
PLATFORMS = ("telegram", "discord", "console")


def checked_text(text: str) -> str:
    """The announcement's text, trimmed, or ``AudienceError`` when it is empty or too long."""
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise AudienceError(f"an announcement is 1 to {MAX_TEXT} characters")
    return text


def _audience_filter(audience: str) -> object:
    u = t.users
    if audience == "all":
        return u.c.id.is_not(None)
    if audience.startswith("code:") and len(audience) > 5:
        return u.c.enrolment == audience[5:]
    if audience in PLATFORMS:
        return u.c.platform == audience
    raise AudienceError(f"audience must be all, a platform (telegram, discord, console) or code:ENROLMENT, not {audience!r}")


class Announcements:
    def __init__(self, outbox: Outbox, clock: Clock) -> None:
        self._outbox, self._clock = outbox, clock

    async def audience_size(self, audience: str) -> tuple[int, int]:
        """(people who would get it, people who cannot be reached)."""
        rows = await self._recipients(audience)
        return sum(1 for r in rows if r.unreachable_at is None), sum(1 for r in rows if r.unreachable_at is not None)

    async def _recipients(self, audience: str) -> list[object]:
        u, s, o = t.users, t.schedules, t.announcement_optout
        query = (
            select(u.c.id, u.c.platform, u.c.chat_id, u.c.language, u.c.timezone, u.c.unreachable_at,
                   s.c.quiet_start, s.c.quiet_end, s.c.paused_until)
            .select_from(u.outerjoin(s, s.c.user_id == u.c.id).outerjoin(o, o.c.user_id == u.c.id))
            .where(u.c.consent_at.is_not(None), o.c.user_id.is_(None), _audience_filter(audience))  # type: ignore[arg-type]
        )  # fmt: skip
        async with self._outbox.engine.connect() as raw:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            return list((await conn.execute(query)).all())

    async def send(self, text: str, audience: str, by: str) -> Report:
        text = checked_text(text)
        rows = await self._recipients(audience)
        now = self._clock.now()
        encoded = encode_reply(Reply(text))
        items: list[tuple[Due, str, str]] = []
        unreachable = 0
        async with self._outbox.engine.begin() as conn:
            digest = hashlib.sha256(text.encode()).hexdigest()
            number = (
                await conn.execute(
                    insert(t.announcements).values(created_by=by[:96], created_at=now, audience=audience[:48],
                                                   text_sha256=digest, queued=0, unreachable=0)
                    .returning(t.announcements.c.id)
                )
            ).scalar_one()
            purpose = f"ann:{number}"
            for r in rows:
                if r.unreachable_at is not None:  # type: ignore[attr-defined]
                    unreachable += 1
                    continue
                # An announcement belongs to no check-in: checkin_id None.
                due = Due(None, r.id, "announce", None, now, r.platform, r.chat_id, r.language,  # type: ignore[arg-type, attr-defined]
                          _not_before(now, r))  # fmt: skip
                items.append((due, purpose, encoded))
            await self._outbox.enqueue(conn, items)
            await conn.execute(
                t.announcements.update().where(t.announcements.c.id == number)
                .values(queued=len(items), unreachable=unreachable)
            )
            await conn.execute(insert(t.admin_audit).values(**audit_row(
                now, by, "announce", True,
                {"announcement": number, "audience": audience, "people": len(items), "unreachable": unreachable,
                 "text_sha256": digest},
            )))  # fmt: skip
        return await self.report(int(number))

    async def report(self, number: int) -> Report:
        o, a = t.outbox, t.announcements
        async with self._outbox.engine.connect() as raw:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            head = (await conn.execute(select(a).where(a.c.id == number))).first()
            if head is None:
                raise KeyError(number)
            counts = dict(
                (await conn.execute(
                    select(o.c.status, func.count()).where(o.c.purpose == f"ann:{number}").group_by(o.c.status)
                )).all()  # type: ignore[arg-type]
            )  # fmt: skip
        pending = counts.get("queued", 0) + counts.get("sending", 0)
        return Report(number, head.audience, counts.get("sent", 0), pending,
                      head.unreachable + counts.get("unreachable", 0), counts.get("failed", 0))


def _not_before(now: datetime, row: object) -> datetime:
    at = now
    paused = getattr(row, "paused_until", None)
    if paused is not None:
        paused = paused if paused.tzinfo else paused.replace(tzinfo=now.tzinfo)
        at = max(at, paused)
    zone = getattr(row, "timezone", None) or "UTC"
    return after_quiet_hours(at, zone, getattr(row, "quiet_start", None), getattr(row, "quiet_end", None))

