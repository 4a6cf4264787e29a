"""Admin roles and the audit log.

The audit log says who did what to the service (versions, hashes, audience sizes);
it never holds message text or anyone's health data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ketacompanion.core.ports import Clock
from ketacompanion.storage import tables as t

ROLES = ("owner", "editor", "reviewer", "moderator", "analyst")


@dataclass(frozen=True, slots=True)
class Grant:
    platform: str
    user_id: str
    role: str
    name: str
    title: str
    granted_by: str
    granted_at: datetime

    @property
    def who(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    ok: bool
    detail: dict[str, Any]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def audit_row(at: datetime, actor: str, action: str, ok: bool, detail: dict[str, Any]) -> dict[str, Any]:
    return {"at": at, "actor": actor[:96], "action": action[:24], "ok": ok, "detail": detail}


def parse_who(text: str) -> tuple[str, str]:
    """``platform:user_id`` (``telegram:12345``) split; ValueError with a clear line if not."""
    platform, sep, user_id = text.partition(":")
    if not sep or not platform or not user_id or len(platform) > 16 or len(user_id) > 64:
        raise ValueError(f"expected platform:user_id such as telegram:12345, not {text!r}")
    return platform.lower(), user_id


@asynccontextmanager
async def _reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


class AdminRepo:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine, self._clock = engine, clock

    async def roles(self, platform: str, user_id: str) -> dict[str, Grant]:
        r = t.admin_roles
        async with _reading(self._engine) as conn:
            rows = await conn.execute(select(r).where(r.c.platform == platform, r.c.platform_user_id == user_id))
            return {g.role: g for g in map(_grant, rows)}

    async def grants(self) -> list[Grant]:
        r = t.admin_roles
        async with _reading(self._engine) as conn:
            rows = await conn.execute(select(r).order_by(r.c.platform, r.c.platform_user_id, r.c.role))
            return [_grant(row) for row in rows]

    async def grant(self, platform: str, user_id: str, role: str, by: str, name: str = "", title: str = "") -> bool:
        """True if the role is new (a repeat grant updates the name and title)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        r = t.admin_roles
        now = self._clock.now()
        async with self._engine.begin() as conn:
            changed = await conn.execute(
                update(r).where(r.c.platform == platform, r.c.platform_user_id == user_id, r.c.role == role)
                .values(name=name[:96], title=title[:96])
            )
            new = changed.rowcount == 0
            if new:
                await conn.execute(
                    insert(r).values(platform=platform, platform_user_id=user_id, role=role, name=name[:96],
                                     title=title[:96], granted_by=by[:96], granted_at=now)
                )
            await conn.execute(
                insert(t.admin_audit).values(
                    **audit_row(now, by, "grant", True, {"who": f"{platform}:{user_id}", "role": role, "new": new})
                )
            )
        return new

    async def revoke(self, platform: str, user_id: str, role: str, by: str) -> bool:
        r = t.admin_roles
        now = self._clock.now()
        async with self._engine.begin() as conn:
            gone = await conn.execute(
                delete(r).where(r.c.platform == platform, r.c.platform_user_id == user_id, r.c.role == role)
            )
            await conn.execute(
                insert(t.admin_audit).values(
                    **audit_row(now, by, "revoke", gone.rowcount > 0, {"who": f"{platform}:{user_id}", "role": role})
                )
            )
        return gone.rowcount > 0

    async def audit(self, actor: str, action: str, ok: bool, detail: dict[str, Any]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(t.admin_audit).values(**audit_row(self._clock.now(), actor, action, ok, detail)))

    async def audit_log(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        a = t.admin_audit
        query = select(a).order_by(a.c.id.desc()).limit(limit)
        if action is not None:
            query = query.where(a.c.action == action)
        async with _reading(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntry(r.id, _aware(r.at), r.actor, r.action, bool(r.ok), dict(r.detail)) for r in rows]


def _grant(row: Any) -> Grant:
    m = row._mapping
    return Grant(m["platform"], m["platform_user_id"], m["role"], m["name"], m["title"], m["granted_by"],
                 _aware(m["granted_at"]))
