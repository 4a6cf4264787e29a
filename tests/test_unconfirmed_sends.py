"""At most one duplicate, whatever fails: a send whose outcome cannot be known is tried
once more, ever, counted in the outbox row; then the row and its check-in say
``sent_unconfirmed``, never ``missed``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from ketacompanion.app import App, build_app
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, DeliveryError, OutcomeUnknown, Reply
from ketacompanion.delivery.outbox import Outbox
from ketacompanion.storage import tables as t
from test_delivery import set_schedule

from conftest import Chat, make_settings

DUE = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 20:00 in New York


class LossySender:
    """Delivers every message, then reports that the outcome is unknown (or another error)."""

    platform = "console"

    def __init__(self, error: Exception | None = None, failures: int = 10**6) -> None:
        self.delivered: list[str] = []
        self.error = error or OutcomeUnknown("connection dropped after the request was written")
        self.failures = failures

    async def send(self, address: Address, reply: Reply) -> None:
        if not isinstance(self.error, OutcomeUnknown) and self.failures > 0:
            self.failures -= 1
            raise self.error  # refused before anything was sent
        self.delivered.append(address.chat_id)
        if self.failures > 0:
            self.failures -= 1
            raise self.error


async def outbox_row(app: App) -> dict[str, object]:
    async with app.engine.connect() as conn:
        return dict((await conn.execute(select(t.outbox))).mappings().one())


async def checkin_statuses(app: App) -> list[str]:
    async with app.engine.connect() as conn:
        return list((await conn.execute(select(t.checkins.c.status).order_by(t.checkins.c.due_at))).scalars())


async def run_for(app: App, clock: FakeClock, hours: int) -> None:
    for _ in range(hours * 4):
        await app.delivery.tick()
        clock.advance(timedelta(minutes=15))


async def test_an_unknown_outcome_is_sent_once_more_then_recorded_sent_unconfirmed(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await chat.onboard("US", "America/New_York")
    await set_schedule(app, "u1", "America/New_York")
    sender = LossySender()
    app.add_sender(sender)
    clock.set(DUE)
    await run_for(app, clock, 3)
    assert sender.delivered == ["u1", "u1"]  # the first try and one retry, no more
    row = await outbox_row(app)
    assert (row["status"], row["attempts"], row["unconfirmed"]) == ("sent_unconfirmed", 2, 2)
    assert (await checkin_statuses(app))[0] == "sent_unconfirmed"
    # Past the answer window it is closed, not turned into "missed".
    await run_for(app, clock, 5)
    assert (await checkin_statuses(app))[0] == "sent_unconfirmed"
    assert sender.delivered == ["u1", "u1"]
    replies = await chat.say("/export")
    document = json.loads(replies[0].file.data)  # type: ignore[union-attr]
    assert document["tables"]["checkins"][0]["status"] == "sent_unconfirmed"
    assert "may have reached you" in document["status_notes"]["sent_unconfirmed"]


async def test_a_prompt_that_may_have_arrived_can_still_be_answered(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await chat.onboard("US", "America/New_York")
    await set_schedule(app, "u1", "America/New_York")
    app.add_sender(LossySender())
    clock.set(DUE)
    await run_for(app, clock, 2)
    async with app.engine.connect() as conn:
        checkin_id = (await conn.execute(select(t.checkins.c.id).where(t.checkins.c.status == "sent_unconfirmed"))).scalar_one()
    await chat.tap(f"checkin:start:{checkin_id}")
    assert chat.choices(), chat.text()  # the first question, with its buttons
    assert f"checkin:a:{checkin_id}:" in chat.choices()[0].id


async def test_an_unknown_outcome_then_a_confirmed_send_is_two_copies_and_sent(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await chat.onboard("US", "America/New_York")
    await set_schedule(app, "u1", "America/New_York")
    sender = LossySender(failures=1)
    app.add_sender(sender)
    clock.set(DUE)
    await run_for(app, clock, 1)  # before the reminder is due
    assert sender.delivered == ["u1", "u1"]
    row = await outbox_row(app)
    assert (row["status"], row["attempts"], row["unconfirmed"]) == ("sent", 2, 1)
    assert (await checkin_statuses(app))[0] == "sent"


async def test_errors_that_prove_nothing_was_sent_are_retried_and_end_failed_not_unconfirmed(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await chat.onboard("US", "America/New_York")
    await set_schedule(app, "u1", "America/New_York")
    sender = LossySender(DeliveryError("refused before sending"))
    app.add_sender(sender)
    clock.set(DUE)
    await run_for(app, clock, 3)
    row = await outbox_row(app)
    assert sender.delivered == []
    assert (row["status"], row["attempts"], row["unconfirmed"]) == ("failed", app.delivery.outbox.max_attempts, 0)
    assert (await checkin_statuses(app))[0] == "missed"  # it never went out: missed is the truth


async def test_crashes_during_the_same_send_deliver_it_at_most_twice(
    tmp_path: Path, clock: FakeClock, content_set: object
) -> None:
    """Three processes in a row die in the middle of sending the same row."""
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", tmp_path)
    app = await build_app(settings, clock, content_set)  # type: ignore[arg-type]
    try:
        chat = Chat(app)
        await chat.onboard("US", "America/New_York")
        await set_schedule(app, "u1", "America/New_York")
        clock.set(DUE)
        await app.delivery.enqueue_due()
        delivered: list[str] = []
        workers = set()
        for _ in range(3):
            dying = Outbox(app.engine, app.store.cipher, clock, {"console": LossySender()}, 25.0)
            workers.add(dying.worker)
            claimed = await dying._claim()
            for item in await dying._begin_attempts(claimed):
                delivered.append(item.address.chat_id)  # it reached the person, then the process died
            clock.advance(dying.lease + timedelta(seconds=1))
        survivor = LossySender(failures=0)
        app.add_sender(survivor)
        await app.delivery.outbox.drain()
        clock.advance(timedelta(hours=1))
        await app.delivery.outbox.drain()
        assert delivered == ["u1", "u1"]  # the third process found the row spent and sent nothing
        assert survivor.delivered == []
        row = await outbox_row(app)
        assert row["status"] == "sent_unconfirmed" and row["attempts"] == 2
        assert len(workers) == 3  # every process claimed under its own name
    finally:
        await app.close()
