"""Updates coming in: malformed ones skipped without logging them, chats kept in order."""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Update

from ketacompanion.adapters.telegram.ingress import (
    CATCH_UP_S,
    FairProcessor,
    IngressBot,
    clean_batch,
    parse_update,
)

from fakes.telegram_objects import BotApiState
from fakes.telegram_request import RecordingRequest

CANARY = "canary-health-note-7731"


def good(update_id: int, text: str = "hi") -> dict:
    state = BotApiState()
    raw = state.message_update(42, text)
    raw["update_id"] = update_id
    return raw


def test_unparseable_update_is_replaced_by_its_bare_id() -> None:
    broken = {"update_id": 2, "message": {"message_id": 1, "text": CANARY}}  # no chat, no date
    batch = clean_batch([good(1), broken, good(3), "junk", {"no_id": True}])
    assert [u["update_id"] for u in batch] == [1, 2, 3]
    assert batch[1] == {"update_id": 2}
    assert parse_update(batch[1]) is not None
    assert parse_update(broken) is None and parse_update([1]) is None


def test_an_update_whose_chat_or_sender_id_is_not_an_integer_is_kept_bare() -> None:
    # python-telegram-bot builds these, then fails on the id later (unhashable list).
    by_chat, by_sender = good(5), good(6)
    by_chat["message"]["chat"]["id"] = []
    by_sender["message"]["from"]["id"] = {"x": 1}
    assert parse_update(by_chat) is None and parse_update(by_sender) is None
    assert clean_batch([by_chat, good(7), by_sender]) == [{"update_id": 5}, good(7), {"update_id": 6}]


async def test_get_updates_moves_past_a_malformed_update_without_logging_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = BotApiState()
    state.inject_update(good(1))
    state.inject_update({"update_id": 2, "message": {"message_id": 1, "text": CANARY}})
    state.inject_update(good(3, "after"))
    bot = IngressBot(
        state.token,
        request=RecordingRequest(state),
        get_updates_request=RecordingRequest(state),
    )
    with caplog.at_level(logging.INFO):
        async with bot:
            updates = await bot.get_updates()
            assert await bot.get_updates(offset=updates[-1].update_id + 1) == ()
    assert [u.update_id for u in updates] == [1, 2, 3]
    assert updates[2].message is not None and updates[2].message.text == "after"
    assert "malformed update skipped" in caplog.text
    assert CANARY not in caplog.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["message", "chat", "id", "text", "from", "date",
                                       "type", "callback_query", "data", "message_id"]),
                      children, max_size=4),  # fmt: skip
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(["update_id", "message", "callback_query",
                                                 "edited_message", "poll"]),
                                json_values, max_size=3), max_size=5))  # fmt: skip
def test_any_batch_cleans_into_something_python_telegram_bot_parses(batch: list) -> None:
    cleaned = clean_batch(batch)
    Update.de_list(cleaned, None)  # must not raise
    ids = [u["update_id"] for u in batch if isinstance(u.get("update_id"), int)]
    assert [u["update_id"] for u in cleaned] == ids


async def test_one_chat_in_order_other_chats_in_parallel() -> None:
    processor = FairProcessor(8)
    state = BotApiState()
    log: list[str] = []
    release = asyncio.Event()

    async def slow(name: str) -> None:
        log.append(f"start {name}")
        await release.wait()
        log.append(f"end {name}")

    async def fast(name: str) -> None:
        log.append(f"run {name}")

    first = Update.de_json(state.message_update(1, "a"), None)
    second = Update.de_json(state.message_update(1, "b"), None)
    other = Update.de_json(state.message_update(2, "c"), None)
    async with processor:
        await processor.process_update(first, slow("1a"))
        await processor.process_update(second, fast("1b"))
        await processor.process_update(other, fast("2c"))  # returns at once: only queued
        for _ in range(5):
            await asyncio.sleep(0)
        assert log == ["start 1a", "run 2c"]  # chat 2 did not wait for chat 1
        release.set()
        await processor.drain(1.0)
    assert log == ["start 1a", "run 2c", "end 1a", "run 1b"]
    assert processor.queue.pending() == 0  # nothing kept once a chat is idle


def test_crisis_updates_are_told_apart_at_ingress_without_the_companion() -> None:
    from ketacompanion.adapters.telegram.adapter import TelegramAdapter
    from ketacompanion.adapters.telegram.delivery import TelegramSender
    from ketacompanion.adapters.telegram.runner import build_application

    state = BotApiState()
    application = build_application(
        state.token, request=RecordingRequest(state), updates_request=RecordingRequest(state)
    )

    async def never(inbound: object) -> list:
        raise AssertionError("ingress must not run a turn")

    adapter = TelegramAdapter(
        application, never, TelegramSender(application.bot, None), lambda lang: lambda key, **v: key,
        screen=never, flagged=lambda text: "kill myself" in text,
    )  # fmt: skip

    def urgent(raw: dict) -> bool:
        built = adapter.is_urgent(Update.de_json(raw, None))
        assert adapter.is_urgent_raw(raw) == built  # the triage of raw JSON agrees
        return built

    assert urgent(state.message_update(5, "/crisis"))
    assert urgent(state.message_update(5, "I want to kill myself"))
    assert urgent(state.callback_update(5, "go:crisis", 1))
    assert urgent(state.callback_update(5, "crisis:danger", 1))
    edit = state.message_update(5, "now I want to kill myself")
    edit["edited_message"] = edit.pop("message")
    assert urgent(edit)
    assert not urgent(state.message_update(5, "hello"))
    assert not urgent(state.message_update(5, "/learn"))
    assert not urgent(state.callback_update(5, "start:agree", 1))


async def test_ordinary_turns_wait_while_full_batches_are_read_but_never_long() -> None:
    now = [0.0]
    processor = FairProcessor(2, clock=lambda: now[0])
    processor.on_batch(True)  # a full batch: Telegram holds more
    assert processor.queue.paused
    now[0] = CATCH_UP_S * 0.5
    processor.on_batch(True)
    assert processor.queue.paused
    now[0] = CATCH_UP_S * 1.5
    processor.on_batch(True)  # still full after CATCH_UP_S: ordinary turns run again
    assert not processor.queue.paused
    processor.on_batch(False)
    processor.on_batch(True)
    assert processor.queue.paused
    processor.on_batch(False)  # caught up
    assert not processor.queue.paused


def test_a_full_chats_updates_are_dropped_unbuilt_but_crisis_ones_never() -> None:
    state = BotApiState()
    processor = FairProcessor(2, cap=3)
    processor.urgent_raw = lambda raw: "/crisis" in str(raw)
    refused: list[str | None] = []
    processor.on_refused = lambda seen: refused.append(seen.query_id)
    bot = IngressBot(state.token, admit=processor.admit)
    batch = [state.message_update(7, f"hi {n}") for n in range(5)]
    batch += [state.callback_update(7, "start:agree", 1), state.message_update(7, "/crisis")]
    batch += [state.message_update(8, "other person")]
    updates = bot.read_batch(batch)
    texts = [u.message.text for u in updates if u.message is not None]
    assert texts == ["hi 0", "hi 1", "hi 2", "/crisis", "other person"]
    assert processor.queue.dropped_total == 3 and len(refused) == 1 and refused[0]
    # The last update of a batch is always returned, bare if refused, so the offset moves on.
    tail = bot.read_batch([state.message_update(7, "one more")])
    assert [u.update_id for u in tail] == [state.message_update(7, "x")["update_id"] - 1]
    assert tail[0].message is None


async def test_after_a_full_batch_the_next_one_is_asked_for_before_this_one_is_triaged() -> None:
    state = BotApiState()
    for n in range(150):
        state.inject_update(state.message_update(7, f"m {n}"))
    asked: list[int] = []

    def admit(data: dict[str, object]) -> bool:
        if not asked:  # what Telegram had been asked for when triage began
            asked.extend(int(c.params.get("offset") or 0) for c in state.calls if c.method == "getUpdates")
        return True

    bot = IngressBot(state.token, request=RecordingRequest(state), get_updates_request=RecordingRequest(state), admit=admit)
    async with bot:
        first = await bot.get_updates(timeout=0)
        following = first[-1].update_id + 1
        assert len(first) == 100
        for _ in range(5):
            await asyncio.sleep(0)
        calls = [int(c.params.get("offset") or 0) for c in state.calls if c.method == "getUpdates"]
        assert calls == [0, following]  # on its way before the caller asked for it
        second = await bot.get_updates(offset=following, timeout=0)
        assert [u.update_id for u in second] == [following + n for n in range(50)]
        assert len([c for c in state.calls if c.method == "getUpdates"]) == 2  # the read-ahead answered
        # Asked otherwise (as a stop's last call is), a read-ahead is dropped: a fresh answer.
        state.inject_update(state.message_update(7, "late"))
        again = await bot.get_updates(offset=following, timeout=0)
        assert [u.update_id for u in again][:2] == [following, following + 1]
    assert asked == [0]  # the first batch's triage ran after the read-ahead was created, not sent


async def test_a_stop_drops_the_read_ahead_unconfirmed() -> None:
    state = BotApiState()
    for n in range(120):
        state.inject_update(state.message_update(7, f"m {n}"))
    bot = IngressBot(state.token, request=RecordingRequest(state), get_updates_request=RecordingRequest(state))
    async with bot:
        first = await bot.get_updates(timeout=0)
        for _ in range(5):
            await asyncio.sleep(0)  # the read-ahead went out and was answered, unread
        assert [int(c.params.get("offset") or 0) for c in state.calls if c.method == "getUpdates"][-1] == 101
    # It confirmed the first batch only; the next start is sent what it held again.
    fresh = IngressBot(state.token, request=RecordingRequest(state), get_updates_request=RecordingRequest(state))
    async with fresh:
        rest = await fresh.get_updates(timeout=0)
    assert [u.update_id for u in rest][:20] == [first[-1].update_id + 1 + n for n in range(20)]


@functools.cache
def _adapter() -> Any:
    """The real adapter's urgency test over the shipped crisis rules (built once: loading
    the rules is the slow part)."""
    from ketacompanion.adapters.telegram.adapter import TelegramAdapter
    from ketacompanion.adapters.telegram.delivery import TelegramSender
    from ketacompanion.adapters.telegram.runner import build_application
    from ketacompanion.core.crisis.detector import Detector

    detector = Detector.from_file(Path(__file__).resolve().parents[1] / "content" / "crisis" / "phrases.yaml")
    state = BotApiState()
    application = build_application(state.token, request=RecordingRequest(state), updates_request=RecordingRequest(state))

    async def never(inbound: object) -> list:
        raise AssertionError("ingress must not run a turn")

    return TelegramAdapter(
        application, never, TelegramSender(application.bot, None), lambda lang: lambda key, **v: key,
        screen=never, flagged=lambda text: detector.screen(text).level > 0,
        flagged_each=lambda texts: [s.level > 0 for s in detector.screen_each(texts)],
    )  # fmt: skip


def _batch_processor(cap: int = 3) -> tuple[FairProcessor, IngressBot, list[str | None]]:
    adapter = _adapter()
    processor = FairProcessor(2, cap=cap)
    processor.urgent_seen, processor.urgent_each = adapter.is_urgent_seen, adapter.is_urgent_each
    refused: list[str | None] = []
    processor.on_refused = lambda seen: refused.append(seen.query_id)
    state = BotApiState()  # its requests never go out; they only spare building httpx clients
    bot = IngressBot(
        state.token, request=RecordingRequest(state), get_updates_request=RecordingRequest(state),
        admit=processor.admit, admit_each=processor.admit_each,
    )  # fmt: skip
    return processor, bot, refused


CRISIS_IN_A_FLOOD = ["/crisis", "i want to kill myself", "k1ll mys3lf", "k i l l myself", "I can't go on"]


@pytest.mark.parametrize("crisis", CRISIS_IN_A_FLOOD)
def test_crisis_text_at_any_place_of_a_full_batch_from_a_flooding_chat_is_admitted_and_urgent(crisis: str) -> None:
    state = BotApiState()
    for at in range(100):
        processor, bot, _ = _batch_processor(cap=3)
        batch = [state.message_update(7, f"message {n}") for n in range(99)]
        batch.insert(at, state.message_update(7, crisis))
        updates = bot.read_batch(batch)
        texts = [u.message.text for u in updates if u.message is not None]
        # The chat's three places go to its first three messages; the crisis is never dropped.
        assert crisis in texts, (crisis, at)
        crisis_id = batch[at]["update_id"]
        assert processor._admitted[crisis_id] == (7, True), at
        ordinary = [k for k, (_, urgent) in processor._admitted.items() if not urgent]
        assert len(ordinary) == 3 - (at < 3)  # the crisis took a place if it came that early
        assert processor.queue.dropped_total == 100 - 1 - len(ordinary), at


def test_a_flooding_chats_excess_is_dropped_and_counted_once_per_batch_and_buttons_refused() -> None:
    state = BotApiState()
    processor, bot, refused = _batch_processor(cap=3)
    batch = [state.message_update(7, f"hi {n}") for n in range(5)]
    batch += [state.callback_update(7, "start:agree", 1), state.callback_update(7, "crisis:danger", 1)]
    batch += [state.message_update(8, "other person"), state.message_update(7, "still me")]
    updates = bot.read_batch(batch)
    texts = [u.message.text for u in updates if u.message is not None]
    assert texts == ["hi 0", "hi 1", "hi 2", "other person"]
    buttons = [u.callback_query.data for u in updates if u.callback_query is not None]
    assert buttons == ["crisis:danger"]  # the crisis button jumped the full queue
    assert processor.queue.dropped_total == 4 and len(refused) == 1 and refused[0]
    assert updates[-1].update_id == batch[-1]["update_id"] and updates[-1].message is None  # bare last


def test_batch_triage_answers_as_one_by_one_triage_does() -> None:
    state = BotApiState()
    batch: list = []
    for n in range(60):
        chat = 7 if n % 3 else 9
        text = ["hello", "kill myself", "/crisis", "café", "help me", "k i l l"][n % 6]
        batch.append(state.message_update(chat, f"{text} {n}"))
    edit = state.message_update(7, "now I want to kill myself")
    edit["edited_message"] = edit.pop("message")
    batch += [edit, state.callback_update(9, "go:crisis", 1), "junk", {"update_id": "x"}]
    batch.append(dict(batch[0]))  # the same update twice in one batch
    one, _, _ = _batch_processor(cap=4)
    each, _, _ = _batch_processor(cap=4)
    singly = [one.admit(item) if isinstance(item, dict) else True for item in batch]
    assert each.admit_each(batch) == singly
    assert each._admitted == one._admitted and each._coming == one._coming
    assert each.queue.dropped_total == one.queue.dropped_total > 0


def test_a_failing_batch_urgency_check_falls_back_to_one_by_one() -> None:
    state = BotApiState()

    def broken(seen: object) -> list[bool]:
        raise RuntimeError("odd update")

    for odd in (broken, lambda seen: []):  # it raises; it answers for too few updates
        processor, bot, _ = _batch_processor(cap=1)
        processor.urgent_each = odd
        batch = [state.message_update(7, "hi"), state.message_update(7, "i want to kill myself")]
        updates = bot.read_batch(batch)
        assert [u.message.text for u in updates if u.message is not None] == ["hi", "i want to kill myself"]
        assert processor._admitted[batch[1]["update_id"]] == (7, True)
