"""Discord scenarios where the world changes mid-flow: a member leaves the server, closes and
reopens their DMs, a manager loses Manage Server during /setup, the bot may not post in the
alert channel, and 4,000-character text boxes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest

from ketacompanion.core.clock import FakeClock
from test_delivery import rows, set_schedule
from test_discord_community import (
    CRISIS_TEXT,
    MANAGE,
    alert_offer,
    channel_option,
    dms,
    in_channel,
    screened_server,
    setup,
)
from test_discord_flows import FakeResponse, export_of, ids, onboard, text, write

from fakes.discord_harness import Harness, Sent


@pytest.fixture
def bot(discord_bot: Harness) -> Harness:
    return discord_bot


class Refusals:
    """Discord's refusals, switched on and off: closed DMs (50007) and a channel the bot may
    not post in (50013)."""

    def __init__(self, bot: Harness) -> None:
        self.dms_closed = False
        self.channels: set[int] = set()
        self.refused = 0
        http = bot.bot.http
        original = http.send_message

        async def send_message(channel_id: int, *, params: Any) -> Any:
            channel = bot.bot.get_channel(int(channel_id))
            if self.dms_closed and (channel is None or isinstance(channel, discord.DMChannel)):
                self.refused += 1
                raise discord.Forbidden(FakeResponse(403), {"code": 50007, "message": "Cannot send messages to this user"})
            if int(channel_id) in self.channels:
                self.refused += 1
                raise discord.Forbidden(FakeResponse(403), {"code": 50013, "message": "Missing Permissions"})
            return await original(channel_id, params=params)

        http.send_message = send_message  # type: ignore[method-assign]


def deny_to_bot(channel: discord.TextChannel, me: discord.Member, denied: discord.Permissions) -> None:
    """A CHANNEL_UPDATE with a member overwrite, as Discord sends it (type 1: a member)."""
    data = dpytest.factories.dict_from_channel(channel)
    data["permission_overwrites"] = [{"id": str(me.id), "type": 1, "allow": "0", "deny": str(denied.value)}]
    dpytest.backend.get_state().parse_channel_update(data)


def answers_in(sent: list[Sent] | list[discord.Message], bot: Harness | None = None) -> list[str]:
    if bot is not None:
        return [b for m in sent for b in bot.buttons(m) if b.startswith("kc:checkin:")]  # type: ignore[arg-type]
    return ["kc:" + c for c in ids(sent) if c.startswith("checkin:")]  # type: ignore[arg-type]


def first_answer(sent: list[Sent]) -> str:
    found = [c for c in answers_in(sent) if c.startswith("kc:checkin:a:")]
    assert found, ids(sent)
    return found[0]


async def unreachable(bot: Harness) -> bool:
    async with bot.app.store.transaction() as tx:
        found = await tx.users.find("discord", str(bot.ann.id))
    assert found is not None
    return found[0].unreachable_at is not None


async def test_a_member_who_leaves_the_server_mid_checkin_finishes_it_in_their_dm(bot: Harness) -> None:
    await onboard(bot)
    bot.sent_messages()
    sent = await bot.command("checkin", guild=True)  # moved to the DM
    assert "private message" in text(sent)
    question = dms(bot.sent_messages())
    first = [b for b in answers_in(question, bot) if b.startswith("kc:checkin:a:")][0]
    sent = await bot.press(first)  # the first answer, in the DM
    dpytest.backend.delete_member(bot.ann)  # ann leaves the server
    assert bot.guild.get_member(bot.ann.id) is None
    sent = await bot.press(first_answer(sent))  # the next answer, still in the DM
    assert sent and not any(s.ephemeral for s in sent)  # a DM: nothing ephemeral, nothing in the server
    assert not bot.sent_messages()  # nothing posted anywhere but the interaction's own replies
    exported = await export_of(bot, bot.ann.id)
    assert len(exported["checkin_answers"]) == 2  # both answers kept


async def test_closed_dms_mid_checkin_mark_unreachable_not_missed_and_reopening_resumes(
    bot: Harness, clock: FakeClock
) -> None:
    refusals = Refusals(bot)
    await onboard(bot)
    uid = await set_schedule(bot.app, str(bot.ann.id), "America/New_York")
    bot.sent_messages()
    clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))  # the 20:00 check-in, New York
    await bot.app.delivery.tick()
    prompt = dms(bot.sent_messages())
    start = [b for b in answers_in(prompt, bot) if b.startswith("kc:checkin:start:")]
    assert start, [bot.buttons(m) for m in prompt]
    sent = await bot.press(start[0])
    sent = await bot.press(first_answer(sent))  # one answer given, in the DM

    refusals.dms_closed = True  # ann closes her DMs mid-check-in
    sent = await bot.command("checkin", guild=True)  # and comes back from the server
    assert "Direct Messages" in text(sent) and all(s.ephemeral for s in sent if s.kind == "followup")
    assert refusals.refused == 1 and await unreachable(bot)  # one attempt, then marked
    statuses = [s for _, s, _ in await rows(bot.app, uid)]
    assert "missed" not in statuses  # nothing was missed: she is in the middle of it

    refusals.dms_closed = False  # she opens them again
    sent = await bot.command("checkin", guild=True)
    assert "private message" in text(sent)
    resumed = dms(bot.sent_messages())
    assert resumed and not await unreachable(bot)
    exported = await export_of(bot, bot.ann.id)
    assert len(exported["checkin_answers"]) == 1  # the first answer is still there
    buttons = answers_in(resumed, bot)
    assert any(b.startswith(("kc:checkin:a:", "kc:checkin:resume:")) for b in buttons), buttons


async def test_a_manager_who_loses_manage_server_mid_setup_is_refused_and_nothing_changes(bot: Harness) -> None:
    option, channels = channel_option(bot.support)
    sent = await setup(bot, "channel", [option, {"name": "mode", "type": 3, "value": "screened"}], {"channels": channels})
    assert "Saved." in text(sent)
    dpytest.backend.delete_member(bot.mod)  # mod leaves (or is demoted) before the next step
    option, channels = channel_option(bot.alerts)
    sent = await setup(bot, "alerts", [option], {"channels": channels}, permissions="0")
    assert "Only members who can manage" in text(sent) and all(s.ephemeral for s in sent if s.kind == "followup")
    async with bot.app.store.transaction() as tx:
        saved = await tx.communities.get("discord", str(bot.guild.id))
    assert saved is not None and saved.alert_channel_id is None and saved.channels == {str(bot.support.id): "screened"}


async def test_a_bot_that_may_not_post_in_the_alert_channel_says_so_and_the_member_is_told(bot: Harness) -> None:
    await screened_server(bot, alerts=False)
    me = bot.guild.me
    deny_to_bot(bot.alerts, me, discord.Permissions(send_messages=True))
    assert not bot.alerts.permissions_for(me).send_messages
    role = dpytest.backend.make_role("Moderators", bot.guild)
    option, channels = channel_option(bot.alerts)
    sent = await setup(bot, "alerts", [option, {"name": "role", "type": 8, "value": str(role.id)}],
                       {"channels": channels}, permissions=MANAGE)  # fmt: skip
    assert "Saved." in text(sent) and "can't post in that alert channel" in text(sent)

    refusals = Refusals(bot)
    refusals.channels.add(bot.alerts.id)  # Discord refuses the post: 50013 Missing Permissions
    choices = await alert_offer(bot)
    sent = await bot.press(choices["asked"])
    assert "couldn't reach the moderators" in text(sent)
    assert refusals.refused == 1 and not in_channel(bot.sent_messages(), bot.alerts)
    exported = await export_of(bot, bot.ann.id)
    assert exported["moderator_alerts"][0]["status"] == "failed"
    assert not await unreachable(bot)  # the channel refused, not the member


async def test_a_4000_character_text_box_in_a_checkin_keeps_the_words_and_still_gives_the_card(bot: Harness) -> None:
    await onboard(bot)
    sent = await bot.command("checkin")
    for _ in range(30):  # answer by buttons until a question asks for words
        if "kcw" in [c for s in sent for c in s.custom_ids()]:
            break
        done = [c for c in answers_in(sent) if c.startswith("kc:checkin:done:")]
        buttons = done or [c for c in answers_in(sent) if c.startswith("kc:checkin:a:")]
        assert buttons, ids(sent)
        sent = await bot.press(buttons[0])
    else:
        pytest.fail("no free-text question in the check-in")
    words = ("slept badly and " * 300)[: 4000 - len(CRISIS_TEXT) - 1] + " " + CRISIS_TEXT
    assert len(words) == 4000
    sent = await write(bot, words)
    assert "988" in text(sent)  # the crisis card, although the words came last in a long box
    assert all(len(s.content) < 2000 for s in sent)  # every message under Discord's limit
    exported = await export_of(bot, bot.ann.id)
    notes = [a["value"]["text"] for a in exported["checkin_answers"] if a["item_id"] == "note"]
    assert notes == [words]  # the whole note, not cut


def test_a_note_may_be_as_long_as_any_text_a_turn_carries() -> None:
    from ketacompanion.adapters.discord.views import MAX_ANSWER
    from ketacompanion.core.companion import MAX_TEXT as TURN
    from ketacompanion.core.scoring import MAX_TEXT as NOTE

    assert NOTE >= TURN >= MAX_ANSWER  # a full text box reaches the store whole
