"""SQL for the schedule: materialise the next slots, claim what is due, remind, expire.

The database is the source of truth. Every due check-in is one ``checkins`` row that
moves pending -> queued -> sent -> reminded/open -> answered, or ends missed,
unreachable or cancelled. Claiming flips rows in one statement (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), so two processes never queue the same row."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    String,
    all_,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.core.schedule import (
    RECURRING,
    Slot,
    after_quiet_hours,
    during_session,
    next_fire,
    session_timeline,
)
from ketacompanion.storage import tables as t
from ketacompanion.storage.bulk import Deferred, bulk_insert, driver_values, insert_rows
from ketacompanion.storage.fields import aware as _aware
from ketacompanion.storage.prepared import Prepared, driver_rows, run_prepared

OPEN_STATES = ("queued", "sent", "reminded", "open")
UNCONFIRMED = "sent_unconfirmed"  # the send's outcome could not be known; see delivery/outbox.py
INSTRUMENT_OF = {"daily": "daily", "weekly": "phq9"}


class Due(NamedTuple):
    """A claimed check-in, with what is needed to address and word its prompt (a tuple:
    a fan-out makes one for each of thousands of rows)."""

    checkin_id: int
    user_id: int
    kind: str
    instrument: str | None
    due_at: datetime
    platform: str
    chat_id: str
    language: str | None
    not_before: datetime
    content_version: int | None = None  # the version that words its prompt and reminder


def _pg(conn: Connection | AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


@dataclass(slots=True)
class ScheduleRow:
    user_id: int
    timezone: str
    daily_time: str | None
    weekly_day: int | None
    weekly_time: str | None
    quiet_start: str | None
    quiet_end: str | None
    paused_until: datetime | None


def recurring_slots(row: ScheduleRow, after: datetime) -> list[Slot]:
    """The next daily and weekly slots after ``after`` (and after any pause)."""
    return list(
        _slots(row.timezone, row.daily_time, row.weekly_day, row.weekly_time, row.quiet_start, row.quiet_end,
               row.paused_until, after)
    )


@lru_cache(maxsize=65536)
def _slots(
    zone: str, daily: str | None, weekday: int | None, weekly: str | None, quiet_start: str | None,
    quiet_end: str | None, paused_until: datetime | None, after: datetime,
) -> tuple[Slot, ...]:
    # Cached: in a fan-out most people share a zone, a time and the moment.
    start = max(after, paused_until) if paused_until else after
    slots: list[Slot] = []
    if daily:
        due = next_fire(zone, daily, None, start)
        slots.append(Slot("daily", "daily", after_quiet_hours(due, zone, quiet_start, quiet_end)))
    if weekly and weekday is not None:
        due = next_fire(zone, weekly, weekday, start)
        slots.append(Slot("weekly", "phq9", after_quiet_hours(due, zone, quiet_start, quiet_end)))
    return tuple(slots)


def _slot_row(user_id: int, slot: Slot, now: datetime, window: timedelta, session_id: int | None = None) -> dict[str, Any]:
    return {
        "user_id": user_id, "kind": slot.kind, "instrument": slot.instrument, "session_id": session_id,
        "due_at": slot.due_at, "expires_at": slot.due_at + window, "status": "pending", "created_at": now,
    }


async def insert_slots(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert slot rows, skipping any (user, kind, due time) that already exists: the
    unique key decides, so two processes planning the same slot cannot both add it."""
    await bulk_insert(conn, t.checkins, rows, skip_conflicts_on=("user_id", "kind", "due_at"))


async def load_schedules(conn: AsyncConnection, user_ids: Iterable[int]) -> dict[int, ScheduleRow]:
    s, u = t.schedules, t.users
    out: dict[int, ScheduleRow] = {}
    for chunk in _chunks(sorted(set(user_ids)), 5000):
        rows = await conn.execute(
            select(s, u.c.timezone).select_from(s.join(u, u.c.id == s.c.user_id)).where(s.c.user_id.in_(chunk))
        )
        for r in rows.mappings():
            out[r["user_id"]] = ScheduleRow(
                r["user_id"], r["timezone"] or "UTC", r["daily_time"], r["weekly_day"], r["weekly_time"],
                r["quiet_start"], r["quiet_end"], _aware(r["paused_until"]),
            )
    return out


async def replan(conn: AsyncConnection, user_id: int, now: datetime, window: timedelta) -> list[Slot]:
    """Replace the person's pending recurring slots with the next ones."""
    c = t.checkins
    await conn.execute(
        delete(c).where(c.c.user_id == user_id, c.c.status == "pending", c.c.kind.in_(RECURRING))
    )
    row = (await load_schedules(conn, [user_id])).get(user_id)
    if row is None:
        return []
    slots = recurring_slots(row, now)
    await insert_slots(conn, [_slot_row(user_id, s, now, window) for s in slots])
    return slots


async def plan_session(
    conn: AsyncConnection, user_id: int, session_id: int, starts_at: datetime, zone: str, now: datetime,
    window: timedelta,
) -> list[Slot]:
    slots = [s for s in session_timeline(starts_at, zone) if s.due_at > now]
    await insert_slots(conn, [_slot_row(user_id, s, now, window, session_id) for s in slots])
    return slots


async def claim_due(
    conn: AsyncConnection, now: datetime, window: timedelta, limit: int = 5000, content_version: int | None = None
) -> tuple[list[Due], int]:
    """``claim_batch`` on an async connection."""
    return await conn.run_sync(claim_batch, now, window, limit, content_version)


def claim_batch(
    conn: Connection, now: datetime, window: timedelta, limit: int = 5000, content_version: int | None = None,
    writes: Deferred | None = None,
) -> tuple[list[Due], int]:
    """Claim up to ``limit`` due rows; queue the live ones, record the rest. Every claimed
    row records ``content_version``: its prompt and reminder are worded from that set.

    Returns the queued ones (the caller writes their outbox rows in the same
    transaction) and how many rows were claimed in all. Sync, so that a whole batch
    is one unit of work for the database (see storage/batches.py). ``writes``: the
    writes that follow the claim join it (on PostgreSQL, one statement with the
    caller's; the caller flushes it before committing)."""
    c = t.checkins
    pg = conn.dialect.name == "postgresql"
    # One read brings each due row with its person, its schedule and what becomes of it
    # (decided in SQL, so no timestamp is compared row by row here); the same
    # transaction then writes those outcomes (rows locked with SKIP LOCKED on
    # PostgreSQL, and SQLite has one writer), so no other process can claim them between.
    if pg:
        # One statement claims and records: the locked pick, each row's outcome written,
        # everything the batch needs returned (in no set order: sorted here).
        pick = _pick(now, limit, pg).subquery("pick")
        claim = (
            update(c).where(c.c.id == pick.c.id)
            .values(status=pick.c.outcome, content_version=bindparam(None, content_version, type_=c.c.content_version.type),
                    closed_at=case((pick.c.outcome != "queued", bindparam(None, now, type_=c.c.closed_at.type)),
                                   else_=c.c.closed_at))
            .returning(*pick.c)
        )
        claimed = sorted(conn.execute(claim).all(), key=lambda r: (r[4], r[0]))
    else:
        # The driver's own tuples, moments still as text: SQLAlchemy's row objects and
        # per-value parsing cost more than the read, and most rows share their moments.
        claimed = driver_rows(conn, _SQLITE_PICK, {"now": now, "limit": limit})
    if not claimed:
        return [], 0
    ds = t.dosing_sessions
    sessions: dict[int, list[datetime]] = {}
    for user_id, starts_at in conn.execute(
        # Sessions under way: few at any moment, so read them all rather than per person.
        select(ds.c.user_id, ds.c.starts_at).where(ds.c.starts_at <= now, ds.c.starts_at > now - timedelta(days=1))
    ):
        sessions.setdefault(user_id, []).append(_aware(starts_at))  # type: ignore[arg-type]

    queued: list[Due] = []
    final: dict[str, list[int]] = {"queued": [], "missed": [], "unreachable": [], "cancelled": []}
    # Next slots, grouped by the slot (kind, moments): the people each one is planned for.
    planned: dict[tuple[Any, ...], list[int]] = {}
    next_of: dict[tuple[Any, ...], list[list[int]]] = {}
    superseded: dict[str, list[int]] = {}
    moment = _moments(conn)  # driver value -> aware datetime, once per distinct value
    value = driver_values(conn)
    for (checkin_id, user_id, kind, instrument, due_raw, outcome, platform, chat_id, language, scheduled, zone,
         daily, weekday, weekly, quiet_start, quiet_end, paused_until) in claimed:
        if scheduled is not None and kind in RECURRING:
            # The next slot of the same kind, computed from this one's due time, so a
            # long downtime records each missed day rather than skipping it. People who
            # share a zone, a schedule and a due moment share it: computed once.
            key = (kind, zone, daily, weekday, weekly, quiet_start, quiet_end, paused_until, due_raw)
            following = next_of.get(key)
            if following is None:
                row = ScheduleRow(0, zone or "UTC", daily, weekday, weekly, quiet_start, quiet_end, moment(paused_until))
                following = next_of[key] = [
                    planned.setdefault(
                        (s.kind, s.instrument, value(s.due_at), value(s.due_at + window), value(now)), []
                    )
                    for s in recurring_slots(row, moment(due_raw)) if s.kind == kind
                ]
            for people in following:
                people.append(user_id)
        final[outcome].append(checkin_id)
        if outcome == "queued":
            superseded.setdefault(kind, []).append(user_id)
            started = sessions.get(user_id)
            not_before = (during_session(now, started) or now) if started else now
            queued.append(Due(
                checkin_id, user_id, kind, instrument, moment(due_raw), platform, chat_id, language, not_before,
                content_version,
            ))
    first_due = moment(claimed[0][4])  # claims go in due order
    if pg:
        _supersede_pg(conn, writes, superseded, final["queued"], first_due, now)
        next_rows = [(user_id, kind, instrument, None, due, expires, "pending", created)
                     for (kind, instrument, due, expires, created), people in planned.items() for user_id in people]
        insert_rows(conn, c, _SLOT_COLUMNS, next_rows, skip_conflicts_on=_SLOT_KEY, ready=True, writes=writes)
        return queued, len(claimed)
    for status, ids in final.items():
        for chunk in _chunks(ids, 5000):
            run_prepared(conn, _SQLITE_MARK[status], {"ids": json.dumps(chunk), "version": content_version, "now": now})
    queued_ids = set(final["queued"])
    for kind, users in superseded.items():
        # Never two open prompts of the same kind: the older one is recorded as missed.
        for chunk in _chunks(sorted(users), 5000):
            # An older prompt still waiting to be sent is due before anything in this
            # batch; the batch's own rows are left out in SQL.
            people = {"kind": kind, "users": json.dumps(chunk), "first_due": first_due, "now": now}
            older = driver_rows(conn, _SQLITE_OLDER, people)
            stale = [i for (i,) in older if i not in queued_ids]
            if stale:
                run_prepared(conn, _SQLITE_STALE, {"ids": json.dumps(stale), "now": now})
            run_prepared(conn, _SQLITE_UNCONFIRMED, people)
    for (kind, instrument, due, expires, created), people in planned.items():
        # One INSERT ... SELECT a slot: the people come as one JSON list, not a row each.
        for chunk in _chunks(people, 5000):
            conn.exec_driver_sql(_SQLITE_PLAN, (kind, instrument, due, expires, created, json.dumps(chunk)))
    return queued, len(claimed)


def _supersede_pg(
    conn: Connection, writes: Deferred | None, superseded: dict[str, list[int]], queued: list[int],
    first_due: datetime, now: datetime,
) -> None:
    """What ``claim_batch`` does on SQLite for older prompts, one update a kind: no id comes back to
    Python, and with ``writes`` the updates travel with the batch's inserts. The updates
    and those inserts touch different rows (open or unconfirmed ones, new pending ones),
    as ``Deferred`` requires."""
    c = t.checkins
    run = writes.run if writes is not None else conn.execute
    for kind, users in superseded.items():
        people = _among(c.c.user_id, sorted(users), True)
        run(
            update(c).where(
                c.c.kind == kind, people,
                or_(c.c.status.in_(("sent", "reminded", "open")),
                    and_(c.c.status == "queued", c.c.due_at < first_due)),
                c.c.id != all_(bindparam(None, queued, type_=ARRAY(c.c.id.type))),
            ).values(status="missed", closed_at=now)
        )
        run(
            update(c).where(c.c.kind == kind, people, c.c.status == UNCONFIRMED, c.c.closed_at.is_(None),
                            c.c.due_at < first_due)
            .values(closed_at=now)
        )


_SLOT_COLUMNS = ("user_id", "kind", "instrument", "session_id", "due_at", "expires_at", "status", "created_at")
_SLOT_KEY = ("user_id", "kind", "due_at")


def _json_list(name: str) -> Any:
    """The values of a JSON list parameter, as a one-column table (SQLite's ``json_each``)."""
    return select(func.json_each(bindparam(name, type_=String)).table_valued("value").c.value)


def _sqlite_statements() -> tuple[Prepared, dict[str, Prepared], Prepared, Prepared, Prepared]:
    """A SQLite claim batch's statements, compiled once; id lists go as one JSON text."""
    c = t.checkins
    now = bindparam("now", type_=c.c.closed_at.type)
    first_due = bindparam("first_due", type_=c.c.due_at.type)
    ids, users, kind = c.c.id.in_(_json_list("ids")), c.c.user_id.in_(_json_list("users")), c.c.kind == bindparam("kind")
    pick = Prepared(_pick(bindparam("now", type_=c.c.due_at.type), bindparam("limit"), False))
    mark = {
        status: Prepared(update(c).where(ids).values(
            status=status, content_version=bindparam("version", type_=c.c.content_version.type),
            **({} if status == "queued" else {"closed_at": now}),
        ))
        for status in ("queued", "missed", "unreachable", "cancelled")
    }  # fmt: skip
    older = Prepared(select(c.c.id).where(
        kind, users,
        or_(c.c.status.in_(("sent", "reminded", "open")), and_(c.c.status == "queued", c.c.due_at < first_due)),
    ))  # fmt: skip
    stale = Prepared(update(c).where(ids).values(status="missed", closed_at=now))
    unconfirmed = Prepared(
        update(c).where(kind, users, c.c.status == UNCONFIRMED, c.c.closed_at.is_(None), c.c.due_at < first_due)
        .values(closed_at=now)
    )
    return pick, mark, older, stale, unconfirmed


def _moments(conn: Connection) -> Any:
    """Driver value -> aware UTC datetime, memoised: most rows of a batch share their moments.
    SQLite hands back text (parsed as SQLAlchemy would), PostgreSQL datetimes."""
    if conn.dialect.name != "sqlite":
        return _memo(_aware)
    parse = t.checkins.c.due_at.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
    assert parse is not None

    def moment(raw: Any) -> datetime | None:
        return None if raw is None else _aware(parse(raw))

    return _memo(moment)


def _pick(now: datetime, limit: int, pg: bool) -> Any:
    c, u, s = t.checkins, t.users, t.schedules
    due = c.c.status == "pending", c.c.due_at <= now
    if pg:
        # The batch's rows are picked and locked alone, straight off the claim-order
        # index, and only those are joined: joining first would join (and sort) every
        # due row at each batch. A row another process holds is skipped, not waited on.
        c = (
            select(c.c.id, c.c.user_id, c.c.kind, c.c.instrument, c.c.due_at, c.c.expires_at)
            .where(*due).order_by(c.c.due_at, c.c.id).limit(limit)
            .with_for_update(skip_locked=True)
            .subquery("due")
        )
    outcome = case(
        (u.c.id.is_(None), "cancelled"),
        (u.c.unreachable_at.is_not(None), "unreachable"),
        # A pause stops every prompt (a pause that does not pause is worse than none),
        # except the follow-ups after a crisis.
        (and_(s.c.paused_until.is_not(None), s.c.paused_until > c.c.due_at, c.c.kind.not_like("followup%")),
         "cancelled"),
        (c.c.expires_at <= now, "missed"),
        else_="queued",
    ).label("outcome")
    pick = (
        select(c.c.id, c.c.user_id, c.c.kind, c.c.instrument, c.c.due_at, outcome, u.c.platform, u.c.chat_id,
               u.c.language, s.c.user_id.label("scheduled"), u.c.timezone, s.c.daily_time, s.c.weekly_day, s.c.weekly_time,
               s.c.quiet_start, s.c.quiet_end, s.c.paused_until)
        .select_from(c.outerjoin(u, u.c.id == c.c.user_id).outerjoin(s, s.c.user_id == c.c.user_id))
    )
    if pg:
        return pick
    return pick.where(*due).order_by(c.c.due_at, c.c.id).limit(limit)


_SQLITE_PICK, _SQLITE_MARK, _SQLITE_OLDER, _SQLITE_STALE, _SQLITE_UNCONFIRMED = _sqlite_statements()
# A next slot for many people at once; the values come driver-ready (bulk.driver_values),
# the people as one JSON list, in the order they were claimed.
_SQLITE_PLAN = (
    f"INSERT OR IGNORE INTO checkins ({', '.join(_SLOT_COLUMNS)}) "
    "SELECT value, ?, ?, NULL, ?, ?, 'pending', ? FROM json_each(?)"
)


def _among(column: Any, ids: list[int], pg: bool) -> Any:
    """``column IN ids`` as one parameter, so a batch of thousands of ids is one small
    statement, compiled once, rather than thousands of parameters to name and bind: an
    array with ``= ANY`` on PostgreSQL (SQLite's statements above take a JSON list)."""
    assert pg, "SQLite claims use the compiled statements above"
    return column == any_(bindparam(None, ids, type_=ARRAY(column.type)))


def due_reminders(conn: Connection, now: datetime, delay: timedelta, limit: int = 5000) -> list[Due]:
    """Sent check-ins still unanswered after ``delay``: flip to reminded, once. Sync, so
    that with its outbox rows it is one unit of work (storage/batches.py)."""
    c, u = t.checkins, t.users
    pick = (
        select(c.c.id).where(c.c.status == "sent", c.c.instrument.is_not(None), c.c.sent_at <= now - delay,
                             c.c.expires_at > now)
        .order_by(c.c.id).limit(limit)
    )
    if _pg(conn):
        pick = pick.with_for_update(skip_locked=True)
    rows = conn.execute(
        update(c).where(c.c.id.in_(pick.scalar_subquery())).values(status="reminded", reminded_at=now)
        .returning(c.c.id, c.c.user_id, c.c.kind, c.c.instrument, c.c.due_at, c.c.content_version)
    ).all()
    if not rows:
        return []
    people = {
        r.id: r
        for chunk in _chunks(sorted({r.user_id for r in rows}), 5000)
        for r in conn.execute(select(u.c.id, u.c.platform, u.c.chat_id, u.c.language).where(u.c.id.in_(chunk)))
    }
    return [
        Due(r.id, r.user_id, r.kind, r.instrument, _aware(r.due_at), people[r.user_id].platform,  # type: ignore[arg-type]
            people[r.user_id].chat_id, people[r.user_id].language, now, r.content_version)
        for r in rows if r.user_id in people
    ]


def expire(conn: Connection, now: datetime) -> int:
    """Open check-ins past their window end missed (sync: one unit of work, storage/batches.py)."""
    c = t.checkins
    result = conn.execute(
        update(c).where(c.c.status.in_(("sent", "reminded", "open")), c.c.expires_at <= now)
        .values(status="missed", closed_at=now)
    )
    # A prompt that may have arrived keeps saying so: closed, never "missed" as if unsent.
    conn.execute(
        update(c).where(c.c.status == UNCONFIRMED, c.c.closed_at.is_(None), c.c.expires_at <= now)
        .values(closed_at=now)
    )
    return result.rowcount or 0


async def next_wake(conn: AsyncConnection, reminder_delay: timedelta) -> datetime | None:
    """The earliest moment anything becomes due: a slot, a reminder, an expiry, a retry."""
    c, o = t.checkins, t.outbox
    times = (
        await conn.execute(
            select(
                select(func.min(c.c.due_at)).where(c.c.status == "pending").scalar_subquery(),
                select(func.min(c.c.sent_at)).where(c.c.status == "sent", c.c.instrument.is_not(None)).scalar_subquery(),
                select(func.min(c.c.expires_at)).where(
                    or_(c.c.status.in_(("sent", "reminded", "open")),
                        and_(c.c.status == UNCONFIRMED, c.c.closed_at.is_(None)))
                ).scalar_subquery(),
                select(func.min(o.c.not_before)).where(o.c.status == "queued").scalar_subquery(),
            )
        )
    ).one()
    due, sent, expires, retry = (_aware(x) for x in times)
    candidates = [x for x in (due, sent + reminder_delay if sent else None, expires, retry) if x is not None]
    return min(candidates) if candidates else None


def _memo(fn: Any) -> Any:
    seen: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            result = seen[value] = fn(value)
            return result

    return cached


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = ["Due", "ScheduleRow", "claim_due", "due_reminders", "expire", "next_wake", "replan", "plan_session",
           "recurring_slots", "insert_slots", "claim_batch", "and_", "or_"]
