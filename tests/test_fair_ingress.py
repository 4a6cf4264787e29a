"""One person's flood never delays another's crisis reply: python-telegram-bot polling the
fake Bot API on loopback, the whole app on a real SQLite file, the fair queue in between.

The flooding chat's replies are held by the fake server, so its backlog is certainly still
queued when the other person's ``/crisis`` comes in: the test asserts by ordering, not by time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from ketacompanion.adapters.telegram.adapter import REFUSED_BUTTONS
from ketacompanion.adapters.telegram.ingress import FairProcessor
from ketacompanion.adapters.telegram.limits import Limits
from ketacompanion.adapters.telegram.runner import (
    Timeouts,
    build_adapter,
    build_application,
    telegram_service,
)
from ketacompanion.app import App, build_app
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock
from test_telegram_support import FakeTime

from conftest import make_settings
from fakes.telegram_api import FakeBotAPI

FLOODER, OTHER = 100, 200
FAST = Timeouts(connect=2, read=2, write=2, pool=2, poll=1)


@dataclass
class Rig:
    api: FakeBotAPI
    app: App
    processor: FairProcessor


@asynccontextmanager
async def rig(tmp_path: Path, clock: FakeClock, content: Content) -> AsyncIterator[Rig]:
    app = await build_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", tmp_path), clock, content)
    time = FakeTime()
    try:
        async with FakeBotAPI(clock=time) as api:
            application = build_application(api.token, api.base_url, api.base_file_url, FAST)
            adapter = build_adapter(app, application, Limits(), clock=time, sleep=time.sleep)
            processor = application.update_processor
            assert isinstance(processor, FairProcessor)
            stop = asyncio.Event()
            task = asyncio.create_task(telegram_service(adapter, app.settings, FAST)(stop))
            try:
                await api.wait_for(lambda c: c.method == "getUpdates", pending=True)
                yield Rig(api, app, processor)
            finally:
                api.stop_holding(FLOODER)
                stop.set()
                await task
    finally:
        await app.close()


def edited(update: dict[str, Any]) -> dict[str, Any]:
    message = update.pop("message")
    message["edit_date"] = message["date"] + 1
    update["edited_message"] = message
    return update


def flood_update(api: FakeBotAPI, kind: str, n: int) -> dict[str, Any]:
    if kind == "callback":
        return api.callback_update(FLOODER, "start:agree", 1)
    update = api.message_update(FLOODER, f"hello {n}")
    return edited(update) if kind == "edited" else update


def to(chat: int) -> Any:
    return lambda c: c.method == "sendMessage" and c.params.get("chat_id") == chat


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["message", "callback", "edited"])
async def test_another_persons_crisis_is_answered_while_a_flood_is_still_queued(
    tmp_path: Path, clock: FakeClock, content_set: Content, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with rig(tmp_path, clock, content_set) as r:
        r.api.hold_replies(FLOODER)  # the flood's replies hang: its backlog stays queued
        if kind != "message":
            r.api.inject_update(r.api.message_update(FLOODER, "/start"))
        for n in range(300):
            r.api.inject_update(flood_update(r.api, kind, n))
        r.api.inject_update(r.api.message_update(OTHER, "/crisis"))
        with caplog.at_level(logging.WARNING):
            reply = await r.api.wait_for(to(OTHER), timeout=20)
        assert reply.params["text"]
        assert r.processor.queue.peak <= r.processor.queue.cap
        if kind != "edited":
            assert r.processor.queue.queued(FLOODER) > 0  # the flood was still waiting
            # At most the one held flood reply and the slow-down notice went out first.
            assert len(r.api.sent_messages(FLOODER)) <= 2
            # Edits are only screened (nothing to say for clean ones); the rest overflowed.
            assert r.processor.queue.dropped_total > 0
            assert "chat over its queue cap" in caplog.text
            assert "hello" not in caplog.text  # counts, never text


@pytest.mark.slow
async def test_crisis_words_inside_a_flood_jump_that_chats_own_queue(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    async with rig(tmp_path, clock, content_set) as r:
        for n in range(40):
            r.api.inject_update(r.api.message_update(FLOODER, f"hello {n}"))
        r.api.inject_update(r.api.message_update(FLOODER, "I want to kill myself"))
        first = await r.api.wait_for(to(FLOODER), timeout=20)
        await asyncio.sleep(0)
        # The crisis reply is among the first out although 40 messages came before it.
        await r.api.wait_for(lambda c: to(FLOODER)(c) and "988" in c.params.get("text", ""), timeout=20)
        texts = [c.params.get("text", "") for c in r.api.sent_messages(FLOODER)]
        crisis_at = next(i for i, t in enumerate(texts) if "988" in t)
        assert crisis_at <= 3, (first.params.get("text"), crisis_at)


@pytest.mark.slow
async def test_a_flood_gets_exactly_one_slow_down_notice(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    notice = content_set.messages.text("telegram.slow_down", "en")
    async with rig(tmp_path, clock, content_set) as r:
        for n in range(400):
            r.api.inject_update(r.api.message_update(FLOODER, f"/learn {n}"))
        await r.api.wait_for(lambda c: c.method == "getUpdates" and c.params.get("offset", 0) > 400, timeout=20)
        assert r.processor.queue.dropped_total > 0
        await r.processor.queue.drain(30)
        texts = [c.params.get("text", "") for c in r.api.sent_messages(FLOODER)]
        assert texts.count(notice) == 1


@pytest.mark.slow
async def test_a_stop_handles_every_update_already_accepted(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    async with rig(tmp_path, clock, content_set) as r:
        r.api.hold_replies(FLOODER)  # the backlog cannot finish before the stop
        updates = [r.api.inject_update(r.api.message_update(FLOODER, f"/learn {n}")) for n in range(20)]
        last = updates[-1]["update_id"]
        await r.api.wait_for(lambda c: c.method == "getUpdates" and c.params.get("offset", 0) > last, timeout=20)
        assert r.processor.queue.queued(FLOODER) > 0
    # The rig stopped the service (and the hold) on the way out: the queue was drained first.
    assert r.processor.queue.pending() == 0
    assert len(r.api.sent_messages(FLOODER)) >= 20  # one reply at least to each /learn


@pytest.mark.slow
async def test_a_chat_sending_10000_updates_at_once_stays_bounded_and_anothers_crisis_comes_first(
    tmp_path: Path, clock: FakeClock, content_set: Content, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    built = 0
    de_json = Update.de_json.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Update], data: dict[str, Any], bot: Any = None) -> Update:
        nonlocal built
        built += 1
        return de_json(cls, data, bot)

    monkeypatch.setattr(Update, "de_json", classmethod(counting))
    notice = content_set.messages.text("telegram.slow_down", "en")
    async with rig(tmp_path, clock, content_set) as r:
        r.api.hold_replies(FLOODER)  # the flood's replies hang: its backlog stays queued
        for n in range(10_000):
            r.api.inject_update(r.api.message_update(FLOODER, f"hello {n}"))
        r.api.inject_update(r.api.message_update(OTHER, "/crisis"))
        with caplog.at_level(logging.WARNING):
            reply = await r.api.wait_for(to(OTHER), timeout=60)
            assert r.processor.queue.queued(FLOODER) > 0  # answered while the flood still waits
        assert "988" in reply.params["text"]
        queue = r.processor.queue
        assert queue.peak <= queue.cap
        assert queue.dropped_total >= 10_000 - queue.cap - 200
        # Memory bounded: only what could be queued was ever built, never the flood.
        assert built < 2 * queue.cap + 200, built
        assert "chat over its queue cap" in caplog.text and "hello" not in caplog.text
        texts = [c.params.get("text", "") for c in r.api.sent_messages(FLOODER)]
        assert texts.count(notice) <= 1


@pytest.mark.slow
async def test_button_presses_dropped_in_a_flood_are_each_answered_once_with_a_slow_down(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    slow = content_set.messages.text("telegram.slow_down_button", "en")
    async with rig(tmp_path, clock, content_set) as r:
        r.api.hold_replies(FLOODER)
        r.api.inject_update(r.api.message_update(FLOODER, "/start"))
        # Fewer refused presses than the line of answers holds (REFUSED_BUTTONS): all answered.
        presses = [r.api.inject_update(r.api.callback_update(FLOODER, "start:agree", 1)) for _ in range(140)]
        r.api.inject_update(r.api.message_update(OTHER, "/crisis"))
        await r.api.wait_for(to(OTHER), timeout=30)
        dropped = r.processor.queue.dropped_total
        assert 0 < dropped <= REFUSED_BUTTONS

        def slowed() -> list[Any]:
            return [c for c in r.api.calls if c.method == "answerCallbackQuery" and c.params.get("text") == slow]

        await r.api.wait_for(lambda c: len(slowed()) >= dropped, timeout=30)
        answers = slowed()
        ids = [str(c.params["callback_query_id"]) for c in answers]
        assert len(ids) == len(set(ids)) == dropped, (len(ids), dropped)  # each answered, once
        assert all(c.status == 200 for c in answers)
        assert set(ids) <= {p["callback_query"]["id"] for p in presses}
        # No message storm: at most the one held reply and one slow-down notice.
        assert len(r.api.sent_messages(FLOODER)) <= 2


@pytest.mark.slow
async def test_a_flood_of_edits_is_bounded_and_anothers_crisis_is_answered(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    async with rig(tmp_path, clock, content_set) as r:
        for n in range(3000):
            r.api.inject_update(edited(r.api.message_update(FLOODER, f"hello {n}")))
        r.api.inject_update(r.api.message_update(OTHER, "/crisis"))
        reply = await r.api.wait_for(to(OTHER), timeout=30)
        assert "988" in reply.params["text"]
        assert r.processor.queue.peak <= r.processor.queue.cap
        # Edits are screened, never answered as new messages; a clean flood of them gets nothing.
        notice = content_set.messages.text("telegram.slow_down", "en")
        assert [c.params.get("text") for c in r.api.sent_messages(FLOODER)] in ([], [notice])
