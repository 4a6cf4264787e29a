"""Discord ingress: each member's turns in their own bounded queue, the crisis lane ahead of
every queue and of every worker, one "slow down" notice a flood, every dropped interaction
still acknowledged, and an answer in one response when it is ready in time (deferred and
followed up when it is not). Real discord.py client, raw INTERACTION_CREATE payloads and
dpytest; the core's work is held on an Event, so nothing depends on wall-clock timing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import discord.ext.test as dpytest
import pytest
from discord.webhook.async_ import async_context

from ketacompanion.adapters.discord.adapter import WORKERS, _Deadlines, _Turn, urgent_choice
from ketacompanion.app import texts
from ketacompanion.core.model import Inbound, InboundKind
from test_discord_community import CRISIS_TEXT, dms, in_channel, screened_server
from test_discord_flows import first, text

from fakes.discord_harness import Harness, Sent, settle, snowflake

SLOW_DOWN = "faster than I can answer"


@pytest.fixture
async def bot(discord_bot: Harness) -> AsyncIterator[Harness]:
    async_context.set(discord_bot.recorder)  # interactions fired below record here
    yield discord_bot


def fire(bot: Harness, payload: dict[str, Any]) -> str:
    """Deliver one interaction without waiting for its answer; returns its id."""
    bot.bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    return str(payload["id"])


def command(bot: Harness, name: str, member: Any, guild: bool = False) -> dict[str, Any]:
    payload = bot._base(2, member, guild)
    payload["data"] = {"id": snowflake(), "name": name, "type": 1, "options": []}
    return payload


async def until(check: Callable[[], bool], within_s: float = 20.0) -> None:
    """Wait for ``check`` (the database works on threads, so yields alone are not enough)."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.005)


def hold(
    bot: Harness, which: str, gate: asyncio.Event, only: Callable[[Inbound], bool], started: list[Inbound] | None = None
) -> list[Inbound]:
    """Make the community's ``which`` wait for ``gate`` for the inbounds ``only`` picks;
    returns the list of those that finished (``started`` gets those that began)."""
    community = bot.adapter.community
    real = getattr(community, which)
    finished: list[Inbound] = []

    async def held(inbound: Inbound) -> Any:
        if only(inbound):
            if started is not None:
                started.append(inbound)
            await gate.wait()
            result = await real(inbound)
            finished.append(inbound)
            return result
        return await real(inbound)

    setattr(community, which, held)
    return finished


def callbacks(sent: list[Sent]) -> Counter[str]:
    return Counter(s.to for s in sent if s.kind == "callback")


def member(n: int) -> Any:
    return SimpleNamespace(id=int(snowflake()), name=f"member{n}")


async def test_a_flood_of_interactions_never_delays_anyone_elses_crisis(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    gate, started = asyncio.Event(), []
    finished = hold(bot, "command", gate, lambda i: i.command == "help", started)
    # Every worker busy: one member each, their /help held at the core; bo is the last.
    busy = [fire(bot, command(bot, "help", member(n))) for n in range(WORKERS - 1)]
    flood = [fire(bot, command(bot, "help", bot.bo))]
    await until(lambda: len(started) == WORKERS)
    # bo floods on: a queue full to the cap, the rest dropped.
    cap = bot.adapter.queue.cap
    flood += [fire(bot, command(bot, "help", bot.bo, guild=n % 2 == 0)) for n in range(cap + 9)]
    await until(lambda: bot.adapter.queue.dropped_total == 9)

    crisis = fire(bot, command(bot, "crisis", bot.ann, guild=True))
    await until(lambda: crisis in callbacks(bot.recorder.sent))
    # The crisis card went out while every worker and the flood were still held: it waited
    # for none of them (no /help had finished).
    assert finished == []
    answer = [s for s in bot.recorder.sent if s.to == crisis]
    assert answer[0].type == 4 and answer[0].ephemeral and "988" in answer[0].content

    # The 9 dropped: each acknowledged once, one of them with the notice, to bo alone.
    dropped = [s for s in bot.recorder.sent if s.kind == "callback" and s.to in flood]
    assert len(dropped) == 9
    notices = [s for s in dropped if SLOW_DOWN in s.content]
    assert len(notices) == 1 and notices[0].type == 4 and notices[0].ephemeral
    assert all(s.type == 5 for s in dropped if s not in notices)  # silent: "thinking", then deleted
    assert sum(s.kind == "delete" for s in bot.recorder.sent) == 8
    assert any(r.getMessage() == "chat over its queue cap; dropping" and getattr(r, "count", None) == cap
               for r in caplog.records)  # fmt: skip

    caplog.set_level(logging.WARNING)
    gate.set()
    await settle()
    await until(lambda: len(finished) == WORKERS - 1 + 1 + cap)
    await settle()
    # Every interaction got exactly one response: nobody is left with "interaction failed".
    got = callbacks(bot.recorder.sent)
    assert all(got[i] == 1 for i in [*busy, *flood, crisis]), got
    assert any(r.getMessage() == "flood over; updates dropped" and getattr(r, "count", None) == 9
               for r in caplog.records)  # fmt: skip
    assert bot.adapter.queue.pending() == 0


async def test_a_flood_in_a_screened_channel_gets_no_storm_and_no_delay_for_others(bot: Harness) -> None:
    await screened_server(bot)
    bot.sent_messages()
    gate, started = asyncio.Event(), []
    finished = hold(bot, "channel_message", gate, lambda i: not started, started)  # bo's first message
    cap = bot.adapter.queue.cap
    dpytest.backend.make_message("so tired of this week", bot.bo, bot.support)
    await until(lambda: len(started) == 1)
    for n in range(cap + 29):
        dpytest.backend.make_message(f"so tired of this week, message {n}", bot.bo, bot.support)
    dpytest.backend.make_message(CRISIS_TEXT, bot.bo, bot.support)  # flagged: never dropped
    await until(lambda: bot.adapter.queue.dropped_total == 29)

    crisis = fire(bot, command(bot, "crisis", bot.ann, guild=True))
    await until(lambda: crisis in callbacks(bot.recorder.sent))
    assert finished == []  # bo's first message is still being read: ann waited for none of it
    assert "988" in text([s for s in bot.recorder.sent if s.to == crisis])

    gate.set()
    await settle()
    await until(lambda: bot.adapter.queue.pending() == 0)
    await settle()
    messages = bot.sent_messages()
    assert not in_channel(messages, bot.support)  # no notice, no storm in public
    cards = [m for m in dms(messages) if "988" in m.content]
    assert len(cards) == 1 and cards[0].channel.id == bot.bo.dm_channel.id  # bo's one card, privately
    assert not any(SLOW_DOWN in m.content for m in messages)


async def test_a_flood_of_private_messages_gets_one_notice(bot: Harness) -> None:
    gate, started = asyncio.Event(), []
    hold(bot, "private_message", gate, lambda i: i.kind is InboundKind.TEXT, started)
    cap = bot.adapter.queue.cap
    dm = await bot.bo.create_dm()
    dpytest.backend.make_message("hello", bot.bo, dm)
    await until(lambda: len(started) == 1)
    for n in range(cap + 19):
        dpytest.backend.make_message(f"hello {n}", bot.bo, dm)
    await until(lambda: bot.adapter.queue.dropped_total == 19)
    gate.set()
    await until(lambda: bot.adapter.queue.pending() == 0)
    await settle()
    notices = [m for m in bot.sent_messages() if SLOW_DOWN in m.content]
    assert len(notices) == 1


async def test_a_fast_answer_is_one_response(bot: Harness) -> None:
    for guild in (False, True):
        sent = await bot.command("learn", guild=guild)
        assert [(s.kind, s.type) for s in sent] == [("callback", 4)]
        assert sent[0].ephemeral is guild  # ephemeral in a server, a plain message in a DM
        assert "learn:topic:" in " ".join(sent[0].custom_ids())


async def test_slow_work_is_deferred_in_time_then_followed_up(bot: Harness) -> None:
    bot.adapter.answer_within_s = 0.0  # the budget is already spent when the work starts
    gate = asyncio.Event()
    hold(bot, "command", gate, lambda i: i.command == "learn")
    asked = fire(bot, command(bot, "learn", bot.ann, guild=True))
    await until(lambda: asked in callbacks(bot.recorder.sent))
    deferred = bot.recorder.take()
    assert [(s.kind, s.type) for s in deferred] == [("callback", 5)] and deferred[0].ephemeral
    gate.set()
    await settle()
    await until(lambda: any(s.kind == "followup" for s in bot.recorder.sent))
    answer = bot.recorder.take()
    assert [s.kind for s in answer] == ["followup"] and answer[0].ephemeral
    assert "learn:topic:" in " ".join(answer[0].custom_ids())


async def test_a_slow_button_defers_then_edits_its_card(bot: Harness) -> None:
    sent = await bot.command("learn")
    sent = await bot.press(first(sent, "learn:topic:basics"))
    sent = await bot.press(first(sent, "learn:open:"))
    following = first(sent, "learn:next:")
    bot.adapter.answer_within_s = 0.0
    gate = asyncio.Event()
    hold(bot, "choice", gate, lambda i: True)
    payload = bot._base(3, bot.ann, False)
    payload["data"] = {"custom_id": following, "component_type": 2}
    button = {"type": 2, "style": 2, "label": "x", "custom_id": following}
    from fakes.discord_harness import message_dict

    payload["message"] = message_dict({"content": "card", "components": [{"type": 1, "components": [button]}]},
                                      payload["channel_id"])  # fmt: skip
    pressed = fire(bot, payload)
    await until(lambda: pressed in callbacks(bot.recorder.sent))
    assert [(s.kind, s.type) for s in bot.recorder.take()] == [("callback", 6)]  # a deferred update
    gate.set()
    await settle()
    await until(lambda: any(s.kind == "edit" for s in bot.recorder.sent))
    assert [s.kind for s in bot.recorder.take()] == ["edit"]  # the card, edited in place


def test_which_buttons_take_the_crisis_lane() -> None:
    assert urgent_choice("go:crisis") and urgent_choice("crisis:fu:3:ok") and urgent_choice("alert:share:9:asked")
    assert not urgent_choice("learn:next:x") and not urgent_choice("go:learn") and not urgent_choice("checkin:a:1")


async def test_a_failure_after_the_core_still_answers(bot: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: Any) -> Any:
        raise RuntimeError("alert channel exploded")

    monkeypatch.setattr(bot.adapter, "_alert", broken)
    sent = await bot.command("help", guild=True)
    assert [(s.kind, s.type) for s in sent] == [("callback", 4)] and sent[0].ephemeral
    assert sent[0].content == texts(bot.app.content)("en")("common.error")


async def test_one_clock_defers_each_waiting_turn_at_its_own_deadline() -> None:
    expired: list[_Turn] = []
    deadlines = _Deadlines(expired.append)

    async def nothing(_: _Turn) -> None:
        return None

    slow, answered, late = _Turn(nothing), _Turn(nothing), _Turn(nothing)
    deadlines.watch(slow, 60.0)
    deadlines.watch(answered, 0.0)
    deadlines.watch(late, 0.0)  # behind an earlier arrival with a later deadline: not held up by it
    answered.unwatch()  # answered in time: never deferred
    await asyncio.sleep(0.01)
    assert expired == [late]
    assert slow.watch is not None and late.watch is None and answered.watch is None
    deadlines.close()
