"""Discord servers: /setup, screened channels, and moderator alerts that share only what
the member chose, with the real discord.py client on dpytest's fake server."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from sqlalchemy import func, select

from ketacompanion.app import build_app, build_community
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, Inbound, InboundKind, Place
from ketacompanion.storage import tables as t
from test_discord_flows import close_dms, export_of, first, ids, text

from conftest import make_settings
from fakes.discord_harness import Harness, Sent

MANAGE = str(discord.Permissions(manage_guild=True).value)
CRISIS_TEXT = "I want to kill myself tonight"


@pytest.fixture
def bot(discord_bot: Harness) -> Harness:
    return discord_bot


def channel_option(channel: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    option = {"name": "channel", "type": 7, "value": str(channel.id)}
    resolved = {str(channel.id): {"id": str(channel.id), "type": 0, "name": channel.name, "permissions": "0",
                                   "guild_id": str(channel.guild.id)}}  # fmt: skip
    return option, resolved


async def setup(bot: Harness, sub: str, options: list[dict[str, Any]], resolved: dict[str, Any] | None = None,
                member: discord.Member | None = None, permissions: str = MANAGE) -> list[Sent]:  # fmt: skip
    return await bot.command(
        "setup", member or bot.mod, guild=True, permissions=permissions,
        options=[{"name": sub, "type": 1, "options": options}], resolved=resolved,
    )  # fmt: skip


async def screened_server(bot: Harness, alerts: bool = True) -> discord.Role:
    role = dpytest.backend.make_role("Moderators", bot.guild)
    for channel, mode in ((bot.support, "screened"), (bot.venting, "venting")):
        option, channels = channel_option(channel)
        sent = await setup(bot, "channel", [option, {"name": "mode", "type": 3, "value": mode}], {"channels": channels})
        assert "Saved." in text(sent), text(sent)
    if alerts:
        option, channels = channel_option(bot.alerts)
        roles = {str(role.id): {"id": str(role.id), "name": role.name, "color": 0, "hoist": False, "position": 1,
                                "permissions": "0", "managed": False, "mentionable": True}}  # fmt: skip
        sent = await setup(bot, "alerts", [option, {"name": "role", "type": 8, "value": str(role.id)}],
                           {"channels": channels, "roles": roles})  # fmt: skip
        assert "Saved." in text(sent) and "can't post" not in text(sent), text(sent)
    return role


def in_channel(messages: list[discord.Message], channel: Any) -> list[discord.Message]:
    return [m for m in messages if m.channel.id == channel.id]


def dms(messages: list[discord.Message]) -> list[discord.Message]:
    return [m for m in messages if isinstance(m.channel, discord.DMChannel)]


async def alert_offer(bot: Harness) -> dict[str, str]:
    await bot.say(CRISIS_TEXT, bot.support)
    sent = bot.sent_messages()
    assert not in_channel(sent, bot.support), "nothing is said in the channel"
    private = dms(sent)
    assert any("988" in m.content for m in private), [m.content for m in private]
    offer = [b for m in private for b in bot.buttons(m) if b.startswith("kc:alert:share:")]
    assert offer, [bot.buttons(m) for m in private]
    return {b.rsplit(":", 1)[1]: b for b in offer}


async def test_crisis_in_a_screened_channel_goes_to_a_dm_and_says_nothing_in_public(bot: Harness) -> None:
    await screened_server(bot)
    choices = await alert_offer(bot)
    assert set(choices) == {"nothing", "asked", "words"}


@pytest.mark.parametrize("where", ["general", "venting"])
async def test_unscreened_and_venting_channels_stay_silent(bot: Harness, where: str) -> None:
    await screened_server(bot)
    await bot.say(CRISIS_TEXT, getattr(bot, where))
    assert bot.sent_messages() == []


async def test_an_opted_out_member_is_not_read(bot: Harness) -> None:
    await screened_server(bot)
    sent = await bot.command("screening", guild=True, options=[{"name": "on", "type": 5, "value": False}])
    assert "won't read" in text(sent) and all(s.ephemeral for s in sent if s.new_message)
    await bot.say(CRISIS_TEXT, bot.support)
    assert bot.sent_messages() == []
    await bot.command("screening", guild=True, options=[{"name": "on", "type": 5, "value": True}])
    await bot.say(CRISIS_TEXT, bot.support)
    assert dms(bot.sent_messages())


async def test_a_server_that_never_ran_setup(bot: Harness) -> None:
    await bot.say(CRISIS_TEXT, bot.support)
    assert bot.sent_messages() == []
    sent = await bot.command("crisis", guild=True)
    assert "988" in text(sent) or "emergency" in text(sent).lower()
    assert all(s.ephemeral for s in sent if s.new_message)
    assert not any(c.startswith("alert:") for c in ids(sent))  # no alert channel, no offer


async def test_dms_closed_gets_a_channel_line_that_reveals_nothing(bot: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await screened_server(bot)
    close_dms(bot, monkeypatch)
    await bot.say(CRISIS_TEXT, bot.support)
    public = in_channel(bot.sent_messages(), bot.support)
    assert len(public) == 1
    line = public[0].content
    assert "kill" not in line.lower() and bot.ann.name not in line and "crisis" not in line.lower()
    assert bot.buttons(public[0]) == ["kc:go:crisis"]
    sent = await bot.press("kc:go:crisis", bot.bo, guild=True, channel=bot.support)  # opens the card, privately
    assert sent and all(s.ephemeral for s in sent if s.new_message) and "988" in text(sent)


async def test_the_card_cooldown_outlives_a_restart_and_holds_in_a_second_process(
    bot: Harness, database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    await screened_server(bot)
    await bot.say(CRISIS_TEXT, bot.support)
    assert len([m for m in dms(bot.sent_messages()) if "988" in m.content]) == 1
    # A process started afresh on the same database: it reads the cooldown from the store.
    settings = make_settings(database_url, tmp_path, discord_token="x", discord_message_content=True)
    second = await build_app(settings, clock, content_set)
    try:
        community, _ = build_community(second, True, True)
        place = Place(str(bot.guild.id), str(bot.support.id))
        inbound = Inbound(Address("discord", f"channel:{bot.support.id}"), str(bot.ann.id), InboundKind.TEXT,
                          text=CRISIS_TEXT, in_group=True, place=place)  # fmt: skip
        assert (await community.channel_message(inbound)).private == []
        other = replace(inbound, place=Place("42", "43"))  # another server: its own cooldown
        async with second.store.transaction() as tx:
            await tx.communities.save("discord", "42", clock.now())
            setup_ = await tx.communities.get("discord", "42")
            await tx.communities.set_channel(setup_.id, "43", "screened")
        assert any("988" in r.text for r in (await community.channel_message(other)).private)
        clock.advance(timedelta(minutes=31))  # past the cooldown: the card again
        assert any("988" in r.text for r in (await community.channel_message(inbound)).private)
    finally:
        await second.close()
    exported = await export_of(bot, bot.ann.id)
    assert len(exported["screening_cards"]) == 2


async def test_a_flood_gets_no_reply_storm(bot: Harness) -> None:
    await screened_server(bot)
    for _ in range(20):
        await bot.say(CRISIS_TEXT, bot.support)
    sent = bot.sent_messages()
    assert not in_channel(sent, bot.support)
    cards = [m for m in dms(sent) if "988" in m.content]
    assert len(cards) == 1


ALERT_AT = "<t:1795424400:f>"  # the fake clock's 2026-11-23 09:00 UTC


async def share(bot: Harness, choice: str) -> tuple[list[Sent], list[discord.Message]]:
    choices = await alert_offer(bot)
    sent = await bot.press(choices[choice])
    return sent, in_channel(bot.sent_messages(), bot.alerts)


async def test_alert_sharing_nothing_posts_nothing(bot: Harness) -> None:
    await screened_server(bot)
    sent, posted = await share(bot, "nothing")
    assert posted == [] and "won't tell anyone" in text(sent)
    exported = await export_of(bot, bot.ann.id)
    assert exported["moderator_alerts"][0]["status"] == "declined"
    assert exported["moderator_alerts"][0]["fields"] is None  # the words are gone


async def test_alert_sharing_that_they_asked(bot: Harness) -> None:
    role = await screened_server(bot)
    sent, posted = await share(bot, "asked")
    assert len(posted) == 1 and "let the moderators know" in text(sent)
    alert = posted[0]
    assert alert.content == f"<@&{role.id}>"
    embed = alert.embeds[0]
    assert embed.title == "A member asked for support"
    assert [(f.name, f.value) for f in embed.fields] == [
        ("Member", f"<@{bot.ann.id}>"), ("Channel", f"<#{bot.support.id}>"), ("When", ALERT_AT),
    ]
    assert CRISIS_TEXT not in str(embed.to_dict())
    assert bot.buttons(alert)[0].startswith("kc:alert:take:")


async def test_alert_sharing_their_words(bot: Harness) -> None:
    await screened_server(bot)
    _, posted = await share(bot, "words")
    fields = [(f.name, f.value) for f in posted[0].embeds[0].fields]
    assert fields == [
        ("Member", f"<@{bot.ann.id}>"), ("Channel", f"<#{bot.support.id}>"), ("When", ALERT_AT),
        ("Their message (shared with their permission)", CRISIS_TEXT),
    ]
    exported = await export_of(bot, bot.ann.id)
    row = exported["moderator_alerts"][0]
    assert row["share"] == "words" and row["fields"]["words"] == CRISIS_TEXT and row["status"] == "sent"


async def test_taking_an_alert_and_the_reping(bot: Harness, clock: FakeClock) -> None:
    role = await screened_server(bot)
    _, posted = await share(bot, "asked")
    take = bot.buttons(posted[0])[0]
    refused = await bot.press(take, bot.bo, guild=True, channel=bot.alerts)  # not a moderator
    assert "Only this server's moderators" in text(refused)
    clock.advance(timedelta(minutes=4))
    await bot.adapter.reping()
    assert in_channel(bot.sent_messages(), bot.alerts) == []  # not yet
    clock.advance(timedelta(minutes=2))
    await bot.adapter.reping()
    again = in_channel(bot.sent_messages(), bot.alerts)
    assert len(again) == 1 and again[0].content == f"<@&{role.id}>"
    assert again[0].embeds[0].description == "Still waiting for a moderator."
    clock.advance(timedelta(minutes=10))
    await bot.adapter.reping()
    assert in_channel(bot.sent_messages(), bot.alerts) == []  # one re-ping only
    taken = await bot.press(take, bot.mod, guild=True, channel=bot.alerts, roles=[str(role.id)])
    assert "you're on it" in text(taken)
    twice = await bot.press(take, bot.mod, guild=True, channel=bot.alerts, roles=[str(role.id)])
    assert "already on it" in text(twice)
    exported = await export_of(bot, bot.ann.id)
    assert exported["moderator_alerts"][0]["taken_by"] == str(bot.mod.id)
    resolve = take.replace(":take:", ":resolve:")
    await bot.press(resolve, bot.mod, guild=True, channel=bot.alerts, roles=[str(role.id)])
    exported = await export_of(bot, bot.ann.id)
    assert exported["moderator_alerts"][0]["status"] == "resolved"


async def test_one_alert_per_episode(bot: Harness, clock: FakeClock) -> None:
    await screened_server(bot)
    await share(bot, "asked")
    clock.advance(timedelta(minutes=31))  # past the card cooldown, inside the alert cooldown
    await bot.say(CRISIS_TEXT, bot.support)
    private = dms(bot.sent_messages())
    assert private and not any(b.startswith("kc:alert:") for m in private for b in bot.buttons(m))


async def test_crisis_command_in_a_server_offers_an_alert(bot: Harness) -> None:
    await screened_server(bot)
    sent = await bot.command("crisis", guild=True)
    assert all(s.ephemeral for s in sent if s.new_message)
    offer = [c for c in ids(sent) if c.startswith("alert:share:")]
    assert {c.rsplit(":", 1)[1] for c in offer} == {"nothing", "asked"}  # no words to share


async def test_alert_channel_gone_tells_the_member(bot: Harness) -> None:
    await screened_server(bot)
    choices = await alert_offer(bot)
    await bot.alerts.delete()
    sent = await bot.press(choices["asked"])
    assert "couldn't reach the moderators" in text(sent)
    exported = await export_of(bot, bot.ann.id)
    assert exported["moderator_alerts"][0]["status"] == "failed"


async def test_export_and_delete_cover_alerts_and_opt_outs(bot: Harness) -> None:
    await screened_server(bot)
    _, posted = await share(bot, "words")
    deleted: list[int] = []

    async def on_delete(channel: Any, message: Any, **_: Any) -> None:
        deleted.append(message.id)

    dpytest.callbacks.set_callback(on_delete, "delete_message")
    await bot.command("screening", guild=True, options=[{"name": "on", "type": 5, "value": False}])
    exported = await export_of(bot, bot.ann.id)
    assert exported["moderator_alerts"] and exported["screening_optouts"]
    assert [r["community"] for r in exported["screening_cards"]] == [exported["screening_optouts"][0]["community"]]
    sent = await bot.command("delete")
    sent = await bot.press(first(sent, "delete:"))
    async with bot.app.store.transaction() as tx:
        assert await tx.users.find("discord", str(bot.ann.id)) is None
    async with bot.app.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(t.screening_cards))).scalar_one() == 0
    dpytest.callbacks.remove_callback("delete_message")
    assert deleted == [posted[0].id]  # the alert left the moderators' channel with the rest


async def test_setup_refuses_non_managers_and_bad_values(bot: Harness) -> None:
    option, channels = channel_option(bot.support)
    sent = await setup(bot, "channel", [option, {"name": "mode", "type": 3, "value": "screened"}],
                       {"channels": channels}, member=bot.bo, permissions="0")  # fmt: skip
    assert "Only members who can manage" in text(sent)
    sent = await setup(bot, "channel", [option, {"name": "mode", "type": 3, "value": "everything"}], {"channels": channels})
    assert "isn't one I can use" in text(sent)
    sent = await setup(bot, "country", [{"name": "code", "type": 3, "value": "ZZ" * 50}])
    assert "Codes I know" in text(sent)
    sent = await setup(bot, "country", [{"name": "code", "type": 3, "value": "gb"}])
    assert "Saved." in text(sent)
    sent = await setup(bot, "show", [])
    assert "Default country for crisis lines: GB" in text(sent) and "Screened channels: -" in text(sent)


async def test_a_screened_crisis_is_followed_up_by_dm(bot: Harness, clock: FakeClock) -> None:
    from test_discord_flows import onboard

    await onboard(bot)
    await screened_server(bot)
    await alert_offer(bot)
    clock.advance(timedelta(hours=1, minutes=1))
    await bot.app.delivery.tick()
    followups = [m for m in dms(bot.sent_messages()) if any(b.startswith("kc:crisis:fu:") for b in bot.buttons(m))]
    assert len(followups) == 1


async def test_setup_says_when_the_bot_cannot_post_in_the_alert_channel(bot: Harness) -> None:
    await dpytest.set_permission_overrides(bot.guild.default_role, bot.alerts, send_messages=False)
    assert not bot.alerts.permissions_for(bot.guild.me).send_messages
    option, channels = channel_option(bot.alerts)
    sent = await setup(bot, "alerts", [option], {"channels": channels})
    assert "can't post in that alert channel" in text(sent)


async def test_export_arrives_as_a_file_in_a_dm(bot: Harness) -> None:
    from test_discord_flows import onboard

    await onboard(bot)
    bot.sent_messages()
    sent = await bot.command("export", guild=True)
    assert "private message" in text(sent) and not any(s.files for s in sent)
    files = [a for m in dms(bot.sent_messages()) for a in m.attachments]
    assert files and files[0].filename.endswith(".json")


async def test_a_flood_does_not_hold_up_someone_elses_crisis(bot: Harness) -> None:
    import asyncio

    await screened_server(bot)
    flood = [asyncio.create_task(dpytest.message(f"{CRISIS_TEXT} {n}", channel=bot.support, member=bot.bo))
             for n in range(40)]  # fmt: skip
    sent = await bot.command("crisis", bot.ann)  # ann's /crisis while bo's flood is being read
    assert "988" in text(sent)
    await asyncio.gather(*flood)
    from fakes.discord_harness import settle

    await settle()
    messages = bot.sent_messages()
    assert not in_channel(messages, bot.support)  # nothing in public
    assert len([m for m in dms(messages) if "988" in m.content]) == 1  # one card for bo, no storm
    assert bot.adapter.community._screening == {}  # nothing kept once the flood is read


async def test_the_servers_default_country_gives_its_lines(bot: Harness) -> None:
    await setup(bot, "country", [{"name": "code", "type": 3, "value": "GB"}])
    sent = await bot.command("crisis", bot.bo, guild=True)  # bo never said where they live
    assert "116 123" in text(sent) and "Canada" not in text(sent)
    sent = await bot.command("crisis", bot.bo)  # in a DM there is no server: their en-US locale
    assert "988" in text(sent) and "116 123" not in text(sent)
