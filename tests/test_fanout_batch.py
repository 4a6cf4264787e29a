"""The fan-out claims a batch in one unit of work: what becomes of each row is decided in
SQL (queued, unreachable, paused, missed), the next slot lands at the same local time on
both sides of a clock change, and on a SQLite file a batch is one hand-off to its thread."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event, func, insert, select

from ketacompanion.app import App, build_app
from ketacompanion.content.messages import Messages
from ketacompanion.core.clock import FakeClock
from ketacompanion.storage import planner
from ketacompanion.storage import tables as t
from ketacompanion.storage.bulk import Deferred
from ketacompanion.storage.fields import enc_context

from conftest import PG_URL, make_settings, reset_postgres

DUE = datetime(2026, 10, 25, 19, 0, tzinfo=UTC)  # Berlin's clocks went back this morning
# zone, local daily time at DUE, what the person's state makes of the row
PEOPLE = [
    ("Europe/Berlin", "20:00", "queued"),  # CET now (UTC+1)
    ("Australia/Sydney", "06:00", "queued"),  # AEDT since October (UTC+11)
    ("America/New_York", "15:00", "queued"),  # still EDT until November (UTC-4)
    ("Europe/Berlin", "20:00", "unreachable"),
    ("Europe/Berlin", "20:00", "paused"),
    ("Europe/Berlin", "20:00", "expired"),
]


async def seed(app: App, now: datetime) -> dict[int, str]:
    states: dict[int, str] = {}
    async with app.engine.begin() as conn:
        for i, (zone, local, state) in enumerate(PEOPLE, start=1):
            states[i] = state
            await conn.execute(insert(t.users).values(
                id=i, platform="console", platform_user_id=f"f{i}", chat_id=f"f{i}", created_at=now, consent_at=now,
                timezone=zone, keep_notes=False, unreachable_at=now if state == "unreachable" else None,
            ))  # fmt: skip
            await conn.execute(insert(t.schedules).values(
                user_id=i, daily_time=local, updated_at=now,
                paused_until=DUE + timedelta(days=3) if state == "paused" else None,
            ))  # fmt: skip
            due = DUE - timedelta(days=1) if state == "expired" else DUE
            await conn.execute(insert(t.checkins).values(
                user_id=i, kind="daily", instrument="daily", due_at=due, expires_at=due + app.delivery.window,
                status="pending", created_at=now,
            ))  # fmt: skip
        # A crisis follow-up goes out even to someone who paused their check-ins.
        await conn.execute(insert(t.checkins).values(
            user_id=5, kind="followup_hour", instrument=None, due_at=DUE, expires_at=DUE + app.delivery.window,
            status="pending", created_at=now,
        ))  # fmt: skip
    return states


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_outcomes_next_slots_and_outbox_rows_of_one_batch(app: App, clock: FakeClock) -> None:
    clock.set(DUE - timedelta(hours=1))
    await seed(app, clock.now())
    clock.set(DUE)
    stats = await app.delivery.enqueue_due()
    async with app.engine.connect() as conn:
        found = (await conn.execute(
            select(t.checkins.c.user_id, t.checkins.c.kind, t.checkins.c.status, t.checkins.c.due_at,
                   t.checkins.c.closed_at).order_by(t.checkins.c.user_id, t.checkins.c.due_at)
        )).all()  # fmt: skip
        queued = sorted((await conn.execute(select(t.outbox.c.user_id, t.outbox.c.purpose))).all())
    claimed = {(u, k, aware(d)): (s, c) for u, k, s, d, c in found if aware(d) <= DUE}
    assert claimed[(1, "daily", DUE)] == ("queued", None)
    assert claimed[(2, "daily", DUE)] == ("queued", None)
    assert claimed[(3, "daily", DUE)] == ("queued", None)
    assert claimed[(4, "daily", DUE)][0] == "unreachable" and claimed[(4, "daily", DUE)][1] is not None
    assert claimed[(5, "daily", DUE)][0] == "cancelled"  # paused
    assert claimed[(5, "followup_hour", DUE)] == ("queued", None)  # a pause never holds these
    assert claimed[(6, "daily", DUE - timedelta(days=1))][0] == "missed"
    # The expired row planned its next day, due now: missed yesterday, asked today.
    assert claimed[(6, "daily", DUE)] == ("queued", None)
    assert queued == [(1, "prompt"), (2, "prompt"), (3, "prompt"), (5, "prompt"), (6, "prompt")]
    assert (stats.claimed, stats.queued) == (8, 5)
    # The next daily slot is at the same local time, whatever the offset became.
    for user_id, (zone, local, state) in enumerate(PEOPLE, start=1):
        pending = [aware(d) for u, k, s, d, _ in found if u == user_id and k == "daily" and s == "pending"]
        if state == "paused":
            assert pending and pending[0] >= DUE + timedelta(days=3)  # planned after the pause
            continue
        assert len(pending) == 1, (user_id, pending)
        there = pending[0].astimezone(ZoneInfo(zone))
        assert there.strftime("%H:%M") == local
        assert pending[0] > DUE


async def test_a_batch_on_a_sqlite_file_is_one_hand_off(sqlite_url: str, tmp_path: Any, clock: FakeClock,
                                                          content_set: Any) -> None:
    app = await build_app(make_settings(sqlite_url, tmp_path), clock, content_set)
    statements: list[tuple[str, str]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append((threading.current_thread().name, " ".join(statement.split())))

    try:
        clock.set(DUE - timedelta(hours=1))
        await seed(app, clock.now())
        clock.set(DUE)
        app.delivery.claim_batch = 3
        runs = 0
        run = app.delivery.batches.run

        async def counted(work: Any) -> Any:
            nonlocal runs
            runs += 1
            return await run(work)

        app.delivery.batches.run = counted  # type: ignore[method-assign]
        event.listen(Engine, "before_cursor_execute", seen)
        try:
            stats = await app.delivery.enqueue_due()
        finally:
            event.remove(Engine, "before_cursor_execute", seen)
        assert stats.claimed == 8
        # Three batches of at most three, one that finds nothing, then the reminders and
        # the expiry, each one unit of work as well.
        assert runs == 6
        claims = [name for name, sql in statements if "FROM checkins LEFT OUTER JOIN users" in sql]
        inserts = [name for name, sql in statements if sql.startswith("INSERT INTO outbox")]
        begins = [name for name, sql in statements if sql == "BEGIN IMMEDIATE"]
        assert len(claims) == 4 and len(inserts) == 3
        # Each batch ran whole in the batch thread, its BEGIN IMMEDIATE included.
        assert {*claims, *inserts} == {"sqlite-batch_0"} and begins == ["sqlite-batch_0"] * 6
    finally:
        await app.close()


async def seed_due(app: App, now: datetime, people: int) -> None:
    async with app.engine.begin() as conn:
        for i in range(1, people + 1):
            await conn.execute(insert(t.users).values(
                id=i, platform="console", platform_user_id=f"c{i}", chat_id=f"c{i}", created_at=now, consent_at=now,
                timezone="Europe/Berlin", keep_notes=False,
            ))  # fmt: skip
            await conn.execute(insert(t.schedules).values(user_id=i, daily_time="20:00", updated_at=now))
            await conn.execute(insert(t.checkins).values(
                user_id=i, kind="daily", instrument="daily", due_at=DUE, expires_at=DUE + app.delivery.window,
                status="pending", created_at=now,
            ))  # fmt: skip


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    assert PG_URL is not None
    await reset_postgres(PG_URL)
    yield PG_URL
    await reset_postgres(PG_URL)


def claim_and_queue(app: App, limit: int) -> Any:
    """One fan-out batch as the scheduler runs it: the claim, then its writes together."""

    def batch(conn: Any) -> list[int]:
        writes = Deferred(conn)
        dues, _ = planner.claim_batch(conn, DUE, app.delivery.window, limit, None, writes)
        app.delivery.outbox.queue(conn, [(d, "prompt", "{}") for d in dues], writes)
        writes.flush()
        return [d.checkin_id for d in dues]

    return batch


@pytest.mark.skipif(PG_URL is None, reason="row locks across processes: PostgreSQL (SQLite has one writer)")
async def test_two_claimers_on_postgresql_never_claim_the_same_row(
    postgres_url: str, tmp_path: Any, clock: FakeClock, content_set: Any
) -> None:
    app = await build_app(make_settings(postgres_url, tmp_path), clock, content_set)
    try:
        clock.set(DUE - timedelta(hours=1))
        await seed_due(app, clock.now(), 30)
        clock.set(DUE)
        async with app.engine.connect() as first, app.engine.connect() as second:
            await first.begin()
            mine = await first.run_sync(claim_and_queue(app, 12))  # locks held: not committed yet
            await second.begin()
            # The second claimer skips the rows the first holds rather than waiting for them
            # (a wait would hang here until the first commits, which it does only after).
            theirs = await asyncio.wait_for(second.run_sync(claim_and_queue(app, 100)), timeout=30)
            await second.commit()
            await first.commit()
        assert len(mine) == 12 and len(theirs) == 18
        assert not set(mine) & set(theirs)
        async with app.engine.connect() as conn:
            outbox = (await conn.execute(select(t.outbox.c.checkin_id))).scalars().all()
            statuses = dict((await conn.execute(
                select(t.checkins.c.status, func.count()).where(t.checkins.c.due_at == DUE).group_by(t.checkins.c.status)
            )).all())  # fmt: skip
            planned = (await conn.execute(
                select(func.count()).select_from(t.checkins).where(t.checkins.c.status == "pending")
            )).scalar_one()  # fmt: skip
        assert sorted(outbox) == sorted(mine + theirs)  # one prompt a row, none twice
        assert statuses == {"queued": 30}
        assert planned == 30  # each claimed row planned its next day once
    finally:
        await app.close()


async def test_a_new_prompt_closes_the_older_ones_of_its_kind(app: App, clock: FakeClock) -> None:
    """The writes that follow a claim (on PostgreSQL, one statement with the outbox rows)
    record an older unanswered prompt as missed and close an unconfirmed one."""
    clock.set(DUE - timedelta(hours=1))
    await seed_due(app, clock.now(), 2)
    earlier = DUE - timedelta(hours=6)
    async with app.engine.begin() as conn:
        for user_id, status in ((1, "sent"), (2, planner.UNCONFIRMED)):
            await conn.execute(insert(t.checkins).values(
                user_id=user_id, kind="daily", instrument="daily", due_at=earlier, expires_at=DUE + timedelta(hours=6),
                status=status, created_at=earlier, sent_at=earlier,
            ))  # fmt: skip
    clock.set(DUE)
    stats = await app.delivery.enqueue_due()
    async with app.engine.connect() as conn:
        older = (await conn.execute(
            select(t.checkins.c.user_id, t.checkins.c.status, t.checkins.c.closed_at)
            .where(t.checkins.c.due_at == earlier).order_by(t.checkins.c.user_id)
        )).all()  # fmt: skip
    assert stats.queued == 2
    assert [(u, s) for u, s, _ in older] == [(1, "missed"), (2, planner.UNCONFIRMED)]
    assert all(aware(closed) == DUE for _, _, closed in older)


async def test_prompts_of_a_pass_are_worded_from_the_set_it_began_on(app: App, clock: FakeClock) -> None:
    """A publish between two batches of one pass changes nothing in the pass: each batch
    runs in another thread, which still sees the set the pass pinned (the row records
    that version, so its prompt must come from it too)."""
    clock.set(DUE - timedelta(hours=1))
    await seed_due(app, clock.now(), 1)
    async with app.engine.begin() as conn:  # a second kind, first worded in the second batch
        await conn.execute(insert(t.checkins).values(
            user_id=1, kind="followup_hour", instrument=None, due_at=DUE, expires_at=DUE + app.delivery.window,
            status="pending", created_at=clock.now(),
        ))  # fmt: skip
    clock.set(DUE)
    old = app.content.current
    catalogues = {lang: dict(old.messages._catalogues[lang]) for lang in old.messages.languages}
    catalogues["en"]["delivery.followup_hour"] = "[v2] followup"
    newer = dataclasses.replace(old, messages=Messages(catalogues))
    app.delivery.claim_batch = 1
    run = app.delivery.batches.run

    async def publish_after_the_first(work: Any) -> Any:
        result = await run(work)
        if app.content.current is old:
            app.content.swap(newer, 99)  # what a publish does to the live set
        return result

    app.delivery.batches.run = publish_after_the_first  # type: ignore[method-assign]
    stats = await app.delivery.enqueue_due()
    assert stats.queued == 2 and app.content._current is newer
    async with app.engine.connect() as conn:
        rows = (await conn.execute(select(t.outbox.c.user_id, t.outbox.c.payload_enc).order_by(t.outbox.c.id))).all()
    texts = [
        app.delivery.outbox.cipher.decrypt(payload, enc_context("outbox", "payload_enc", user_id)) for user_id, payload in rows
    ]
    assert "[v2]" not in texts[1] and old.messages.text("delivery.followup_hour") in json.loads(texts[1])["text"]
