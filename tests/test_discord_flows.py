"""The Discord adapter end to end: the real discord.py client, dpytest's fake guild, raw
interaction payloads, a real database."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from fakes.discord_harness import Harness, Sent


@pytest.fixture
def bot(discord_bot: Harness) -> Harness:
    return discord_bot


async def test_help_in_a_dm_answers_in_place(bot: Harness) -> None:
    sent = await bot.command("help")
    assert [(s.kind, s.type) for s in sent] == [("callback", 4)]  # answered in one response
    assert not sent[0].ephemeral
    assert "/crisis" in sent[0].content


def ids(sent: list[Sent]) -> list[str]:
    return [c.removeprefix("kc:") for s in sent for c in s.custom_ids()]


def first(sent: list[Sent], prefix: str) -> str:
    found = [c for c in ids(sent) if c.startswith(prefix)]
    assert found, f"no button {prefix!r} in {ids(sent)}"
    return "kc:" + found[0]


def text(sent: list[Sent]) -> str:
    return "\n".join(s.content for s in sent)


async def onboard(bot: Harness) -> None:
    sent = await bot.command("start")
    sent = await bot.press(first(sent, "start:agree"))
    sent = await bot.press(first(sent, "start:country:US"))
    if any(c.startswith("start:tz:") for c in ids(sent)):
        await bot.press(first(sent, "start:tz:"))


async def write(bot: Harness, words: str) -> list[Sent]:
    """Press "Write", then submit the text box it opens."""
    opened = await bot.press("kcw")
    assert opened[0].type == 9, opened  # a modal
    field = opened[0].data["components"][0]["components"][0]
    assert field["max_length"] == 4000
    return await bot.submit(words, field["custom_id"])


async def export_of(bot: Harness, user_id: int) -> dict[str, Any]:
    async with bot.app.store.transaction() as tx:
        found = await tx.users.find("discord", str(user_id))
        assert found is not None
        return await tx.users.export(found[0].id)


async def test_onboarding_with_consent_in_a_dm(bot: Harness) -> None:
    sent = await bot.command("start")
    assert sent[0].type == 4 and not sent[0].ephemeral
    assert "start:agree" in ids(sent)
    async with bot.app.store.transaction() as tx:
        found = await tx.users.find("discord", str(bot.ann.id))
    assert found is None or not found[0].consented  # nothing counts as consent before the tap
    await onboard(bot)
    async with bot.app.store.transaction() as tx:
        found = await tx.users.find("discord", str(bot.ann.id))
    assert found is not None and found[0].consented and found[0].country == "US"
    assert found[0].chat_id == str(bot.ann.id)  # scheduled check-ins reach the member's DMs


async def test_a_whole_lesson_edits_its_card_in_place(bot: Harness) -> None:
    sent = await bot.command("learn")
    sent = await bot.press(first(sent, "learn:topic:basics"))
    lesson = first(sent, "learn:open:")
    sent = await bot.press(lesson)
    assert sent[0].kind == "callback" and sent[0].type == 4  # the lesson opens below, in the one response
    pages, edits = 0, 0
    while any(c.startswith("learn:next:") for c in ids(sent)) and pages < 40:
        sent = await bot.press(first(sent, "learn:next:"))
        edits += sum(s.type == 7 for s in sent)  # the card edited in place, as the response
        assert not any(s.type in (5, 6) for s in sent)  # fast enough: never deferred
        assert all(len(s.content) < 2000 for s in sent)
        pages += 1
    assert pages >= 2 and edits >= pages - 1  # every card but the quiz replaced the last one
    if any(c.startswith("learn:ans:") for c in ids(sent)):
        sent = await bot.press(first(sent, "learn:ans:"))
    exported = await export_of(bot, bot.ann.id)
    assert exported["lesson_progress"][0]["completed_at"] is not None


async def test_a_whole_checkin_by_buttons_in_a_dm(bot: Harness) -> None:
    await onboard(bot)
    sent = await bot.command("checkin")
    for _ in range(30):
        done = [c for c in ids(sent) if c.startswith("checkin:done:")]
        answers = [c for c in ids(sent) if c.startswith("checkin:a:")]
        if "kcw" in [c for s in sent for c in s.custom_ids()]:  # a free-text question: the text box
            sent = await write(bot, "slept badly, felt calmer by noon")
            continue
        if not answers and not done:
            break
        sent = await bot.press("kc:" + (done or answers)[0])
    assert "checkins.thanks" not in text(sent)
    exported = await export_of(bot, bot.ann.id)
    assert exported["checkin_answers"], "the answers were stored"
    assert any(c["status"] == "answered" for c in exported["checkins"])


async def test_checkin_in_a_guild_moves_to_a_dm(bot: Harness) -> None:
    await onboard(bot)
    bot.sent_messages()
    sent = await bot.command("checkin", guild=True)
    assert sent[0].type == 4 and sent[0].ephemeral
    assert all(s.ephemeral for s in sent if s.new_message)
    assert "private message" in text(sent)
    dms = bot.sent_messages()
    assert dms and all(isinstance(m.channel, discord.DMChannel) for m in dms)
    assert not any(c.startswith("checkin:") for c in ids(sent))  # no question in the server


async def test_checkin_in_a_guild_with_dms_closed(bot: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await onboard(bot)
    close_dms(bot, monkeypatch)
    sent = await bot.command("checkin", guild=True)
    assert "Direct Messages" in text(sent) and all(s.ephemeral for s in sent if s.new_message)
    async with bot.app.store.transaction() as tx:
        found = await tx.users.find("discord", str(bot.ann.id))
    assert found is not None and found[0].unreachable_at is not None


def close_dms(bot: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    http = bot.bot.http
    original = http.send_message

    async def send_message(channel_id: int, *, params: Any) -> Any:
        channel = bot.bot.get_channel(int(channel_id))
        if channel is None or isinstance(channel, discord.DMChannel):
            raise discord.Forbidden(FakeResponse(403), {"code": 50007, "message": "Cannot send messages to this user"})
        return await original(channel_id, params=params)

    monkeypatch.setattr(http, "send_message", send_message)


class FakeResponse:
    def __init__(self, status: int) -> None:
        self.status, self.reason = status, "Forbidden"


async def test_start_in_a_guild_continues_in_a_dm(bot: Harness) -> None:
    sent = await bot.command("start", guild=True)
    assert "private message" in text(sent) and not any(c.startswith("start:") for c in ids(sent))
    dms = [m for m in bot.sent_messages() if isinstance(m.channel, discord.DMChannel)]
    assert dms and any("kc:start:agree" in bot.buttons(m) for m in dms)


async def test_crisis_words_typed_in_a_dm_get_the_card_there(bot: Harness) -> None:
    await onboard(bot)
    dm = await bot.ann.create_dm()
    bot.sent_messages()
    await bot.say("I want to kill myself", dm)
    replies = bot.sent_messages()
    assert replies and all(isinstance(m.channel, discord.DMChannel) for m in replies)
    assert any("988" in m.content for m in replies)
