"""A stop on Discord keeps the messages it could not handle, encrypted (DMs, their files as
Discord described them, and server messages with the place as it was), and the next start
handles them once, in order, through the same path as live ones; the interactions it leaves
are told to try again, and crisis ones answered (real discord.py client, dpytest, raw
interaction payloads)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest
from discord.webhook.async_ import async_context
from sqlalchemy import select

from ketacompanion.adapters.discord.adapter import DiscordAdapter
from ketacompanion.adapters.discord.kept import Kept, dump
from ketacompanion.app import build_community, texts
from ketacompanion.backlog import Backlog
from ketacompanion.core.model import Inbound, Place
from ketacompanion.storage import tables
from test_discord_community import CRISIS_TEXT, dms, in_channel, screened_server
from test_discord_flows import close_dms, text
from test_discord_ingress import command, fire, hold, until

from fakes.discord_harness import Harness, Sent, message_dict, settle, snowflake

CANARY = "canary-discord-7c2f"
UNREADABLE = "a kept discord message could not be read; dropped"


async def instant(_: float) -> None:
    """The stop's drain gives up at once: what is held stays held, with no waiting."""
    await asyncio.sleep(0)


def _new_adapter(bot: Harness, **options: Any) -> DiscordAdapter:
    """A second adapter on the same database and client, as a restarted process has."""
    app = bot.app
    community, setup = build_community(app, app.settings.discord_checkins, app.settings.discord_message_content)
    adapter = DiscordAdapter(
        bot.bot, community, setup, bot.adapter.sender, backlog=Backlog(app.store, "discord"), **options
    )  # fmt: skip
    bot.bot.tree.clear_commands(guild=None)
    bot.bot.attach(adapter)  # slash commands and buttons reach this one now
    bot.adapter = adapter  # the harness closes this one at the end
    return adapter


def _seen(adapter: DiscordAdapter) -> list[tuple[str, Inbound]]:
    """What reaches the core, in order: DMs and server messages."""
    seen: list[tuple[str, Inbound]] = []
    community = adapter.community
    for which, kind in (("private_message", "dm"), ("channel_message", "channel")):
        real = getattr(community, which)

        async def recorded(inbound: Inbound, real: Any = real, kind: str = kind) -> Any:
            seen.append((kind, inbound))
            return await real(inbound)

        setattr(community, which, recorded)
    return seen


async def _restart(bot: Harness, **options: Any) -> tuple[DiscordAdapter, list[tuple[str, Inbound]]]:
    """The next start: a new adapter, the client's first ready, and everything handed back
    handled."""
    adapter = _new_adapter(bot, **options)
    seen = _seen(adapter)
    await bot.bot.on_ready()
    await until(lambda: adapter.queue.pending() == 0)
    await settle()
    return adapter, seen


async def _rows(bot: Harness) -> list[Any]:
    async with bot.app.store.transaction() as tx:
        return list((await tx.conn.execute(select(tables.pending_updates))).mappings().all())


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every log line with everything it carries (extra fields, tracebacks)."""
    return "\n".join(f"{r.getMessage()} {r.__dict__} {r.exc_text or ''}" for r in caplog.records)


def _upload(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "upload" / f"{CANARY}-notes.md"  # the name is in the link, as on Discord
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def _file(path: Path, size: int = 10) -> dict[str, Any]:
    """A file as Discord describes it; this one's link has expired (nothing is there)."""
    return {"id": int(snowflake()), "filename": path.name, "size": size, "url": str(path), "proxy_url": str(path),
            "content_type": "text/markdown"}  # fmt: skip


def _help_replies(bot: Harness, channel_id: int) -> int:
    return sum(1 for m in dms(bot.sent_messages()) if m.channel.id == channel_id and "/crisis" in m.content)


async def test_a_dm_left_at_stop_is_kept_sealed_and_answered_once_at_the_next_start(discord_bot: Harness) -> None:
    bot = discord_bot
    dm = await bot.bo.create_dm()
    await bot.say("/start", dm, bot.bo)
    bot.sent_messages()
    await bot.say("/help", dm, bot.bo)  # bo is known: the kept row is theirs (export and delete reach it)
    assert _help_replies(bot, dm.id) == 1

    gate, started = asyncio.Event(), []
    hold(bot, "private_message", gate, lambda i: not started, started)
    dpytest.backend.make_message("hello", bot.bo, dm)
    await until(lambda: len(started) == 1)
    dpytest.backend.make_message(f"/help {CANARY}", bot.bo, dm)  # queued behind the held one
    await until(lambda: bot.adapter.queue.pending() == 2)
    await bot.adapter.close(0.0)  # the held turn is cut off; the queued DM is kept
    await settle()
    assert _help_replies(bot, dm.id) == 0

    person = await bot.app.store.peek_user("discord", str(bot.bo.id))
    assert person is not None
    async with bot.app.store.transaction() as tx:
        rows = (await tx.conn.execute(select(tables.pending_updates))).mappings().all()
        exported = await tx.users.export(person.id)
    assert [(r["platform"], r["user_id"]) for r in rows] == [("discord", person.id)]
    assert CANARY.encode() not in rows[0]["payload_enc"]
    assert [row["payload"]["text"] for row in exported["pending_updates"]] == [f"/help {CANARY}"]

    adapter = _new_adapter(bot)
    await bot.bot.on_ready()
    await until(lambda: adapter.queue.pending() == 0)
    await settle()
    assert _help_replies(bot, dm.id) == 1  # answered in bo's DM
    await bot.bot.on_ready()  # ready again (a reconnect): nothing is handed back twice
    await settle()
    assert _help_replies(bot, dm.id) == 0
    assert await Backlog(bot.app.store, "discord").take() == []


async def test_a_kept_payload_that_cannot_be_read_is_dropped_with_a_log_line(
    discord_bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    bot = discord_bot
    backlog = Backlog(bot.app.store, "discord")
    good = {"v": 2, "kind": "dm", "author": bot.bo.id, "channel": 5, "text": f"hi {CANARY}"}
    place = {"v": 2, "kind": "channel", "author": bot.bo.id, "channel": 5, "text": f"hi {CANARY}", "guild": 7,
             "manager": False, "roles": ["1"]}  # fmt: skip
    broken = [
        "not json", json.dumps({"author": "x", "channel": 1, "text": "hi"}), json.dumps([1, 2]),
        json.dumps(good | {"v": 3}),  # a format from a later version
        json.dumps(good | {"kind": "reaction"}), json.dumps(good | {"author": True}),
        json.dumps(good | {"text": "  "}), json.dumps(good | {"file": {"url": f"https://cdn/{CANARY}"}}),
        json.dumps(place | {"roles": "1"}), json.dumps(place | {"guild": None}), json.dumps(place | {"manager": 1}),
        json.dumps({"author": bot.bo.id, "channel": 5, "text": "hi", "kind": "dm"}),  # no version, yet a kind
    ]  # fmt: skip
    await backlog.keep([(None, payload) for payload in broken])
    adapter = _new_adapter(bot)
    caplog.set_level(logging.DEBUG)
    await adapter.resume()
    await settle()
    dropped = [r for r in caplog.records if r.getMessage() == UNREADABLE]
    assert len(dropped) == len(broken)
    assert adapter.queue.pending() == 0 and bot.sent_messages() == []
    assert await backlog.take() == []
    assert CANARY not in _logged(caplog)


async def test_a_row_kept_in_the_first_format_is_still_answered(discord_bot: Harness) -> None:
    bot = discord_bot
    dm = await bot.bo.create_dm()
    first_format = json.dumps({"author": bot.bo.id, "channel": dm.id, "text": "/help"})
    await Backlog(bot.app.store, "discord").keep([(str(bot.bo.id), first_format)])
    _, seen = await _restart(bot)
    assert [(kind, inbound.command) for kind, inbound in seen] == [("dm", "help")]
    assert _help_replies(bot, dm.id) == 1


async def test_every_kind_of_message_left_at_stop_is_kept_sealed_and_handled_once_in_order(
    discord_bot: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = discord_bot
    await screened_server(bot)
    role = dpytest.backend.make_role("Regulars", bot.guild)
    await dpytest.add_role(bot.bo, role)
    dm = await bot.bo.create_dm()
    await bot.say("/start", dm, bot.bo)  # bo is known: the kept rows are theirs
    bot.sent_messages()
    caplog.set_level(logging.DEBUG)

    gate, started = asyncio.Event(), []
    hold(bot, "private_message", gate, lambda i: not started, started)
    dpytest.backend.make_message("hello", bot.bo, dm)
    await until(lambda: len(started) == 1)
    notes = b"# My notes\n" + CANARY.encode()
    upload = dpytest.backend.make_attachment(_upload(tmp_path, notes))
    dpytest.backend.make_message(f"/help {CANARY}", bot.bo, dm)
    dpytest.backend.make_message(f"a long week {CANARY}", bot.bo, bot.support)  # screened, not flagged
    dpytest.backend.make_message("", bot.bo, dm, attachments=[upload])
    await until(lambda: bot.adapter.queue.pending() == 4)
    written_with = frozenset(str(r.id) for r in bot.bo.roles)
    assert str(role.id) in written_with
    await bot.adapter.close(0.0)  # the held DM is cut off; the three queued are kept
    await settle()
    assert bot.sent_messages() == []

    person = await bot.app.store.peek_user("discord", str(bot.bo.id))
    assert person is not None
    rows = await _rows(bot)
    assert [(r["platform"], r["user_id"]) for r in rows] == [("discord", person.id)] * 3
    assert not any(CANARY.encode() in r["payload_enc"] for r in rows)  # text, file name and link sealed
    async with bot.app.store.transaction() as tx:
        exported = [row["payload"] for row in (await tx.users.export(person.id))["pending_updates"]]
    assert [(p["kind"], p["text"]) for p in exported] == [
        ("dm", f"/help {CANARY}"), ("channel", f"a long week {CANARY}"), ("dm", ""),
    ]  # fmt: skip
    assert exported[1]["guild"] == bot.guild.id and set(exported[1]["roles"]) == written_with
    assert exported[2]["file"]["size"] == len(notes) and "description" not in exported[2]["file"]

    await dpytest.remove_role(bot.bo, role)  # since then: the kept place is the one it was written in
    adapter, seen = await _restart(bot)
    assert [kind for kind, _ in seen] == ["dm", "channel", "dm"]
    assert seen[0][1].command == "help" and seen[0][1].place is None
    channel = seen[1][1]
    assert channel.place == Place(str(bot.guild.id), str(bot.support.id), manager=False, roles=written_with)
    assert (channel.address.chat_id, channel.user_id, channel.text, channel.in_group) == (
        f"channel:{bot.support.id}", str(bot.bo.id), f"a long week {CANARY}", True,
    )  # fmt: skip
    attached = seen[2][1].attachment
    assert attached is not None and (attached.filename, attached.data) == (f"{CANARY}-notes.md", notes)
    replies = bot.sent_messages()
    assert {m.channel.id for m in replies} == {dm.id}  # all in bo's DM, nothing in the server
    assert sum("Here is what I can do" in m.content for m in replies) == 1  # the kept /help, once

    await bot.bot.on_ready()  # ready again (a reconnect): nothing is handed back twice
    await settle()
    assert adapter.queue.pending() == 0 and _help_replies(bot, dm.id) == 0 and await _rows(bot) == []
    assert any(r.getMessage() == "updates left unhandled at shutdown; kept for the next start" for r in caplog.records)
    logged = _logged(caplog)
    assert CANARY not in logged and "a long week" not in logged and "My notes" not in logged


async def test_a_crisis_in_a_screened_channel_kept_at_stop_gets_the_same_private_card_and_alert_offer(
    discord_bot: Harness,
) -> None:
    bot = discord_bot
    role = await screened_server(bot)
    gate, started = asyncio.Event(), []
    hold(bot, "channel_message", gate, lambda i: not started, started)
    dpytest.backend.make_message("a long week", bot.bo, bot.support)
    await until(lambda: len(started) == 1)
    dpytest.backend.make_message(CRISIS_TEXT, bot.bo, bot.support)  # flagged, behind bo's own running turn
    await until(lambda: bot.adapter.queue.pending() == 2)
    await bot.adapter.close(0.0)
    await settle()
    assert bot.sent_messages() == []

    await _restart(bot)
    sent = bot.sent_messages()
    assert not in_channel(sent, bot.support)  # nothing said in public
    private = dms(sent)
    assert {m.channel.id for m in private} == {bot.bo.dm_channel.id}
    assert any("988" in m.content for m in private)
    offer = {b.rsplit(":", 1)[1]: b for m in private for b in bot.buttons(m) if b.startswith("kc:alert:share:")}
    assert set(offer) == {"nothing", "asked", "words"}  # the member chooses what moderators see
    pressed = await bot.press(offer["asked"], bot.bo)
    posted = in_channel(bot.sent_messages(), bot.alerts)
    assert "let the moderators know" in text(pressed) and len(posted) == 1
    assert posted[0].content == f"<@&{role.id}>" and CRISIS_TEXT not in str(posted[0].embeds[0].to_dict())


async def test_a_kept_crisis_from_a_member_whose_dms_are_closed_gets_the_quiet_line_in_the_channel(
    discord_bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = discord_bot
    await screened_server(bot)
    kept = Kept(bot.ann.id, bot.support.id, CRISIS_TEXT, place=Place(str(bot.guild.id), str(bot.support.id)))
    await Backlog(bot.app.store, "discord").keep([(str(bot.ann.id), dump(kept))])
    close_dms(bot, monkeypatch)
    await _restart(bot)
    public = in_channel(bot.sent_messages(), bot.support)
    assert len(public) == 1 and bot.buttons(public[0]) == ["kc:go:crisis"]
    assert "kill" not in public[0].content.lower() and bot.ann.name not in public[0].content


async def test_a_kept_file_whose_link_expired_is_answered_as_a_failed_download(
    discord_bot: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = discord_bot
    dm = await bot.bo.create_dm()
    gone = tmp_path / "cdn" / f"{CANARY}.md"  # never there: Discord answers an expired link 404
    with_text = Kept(bot.bo.id, dm.id, "/help", file=_file(gone))
    alone = Kept(bot.bo.id, dm.id, "", file=_file(gone))
    await Backlog(bot.app.store, "discord").keep([(str(bot.bo.id), dump(with_text)), (str(bot.bo.id), dump(alone))])
    caplog.set_level(logging.DEBUG)
    _, seen = await _restart(bot)
    # With text: the text alone. Without: the line a failed live download gets.
    assert [(kind, inbound.command, inbound.attachment) for kind, inbound in seen] == [("dm", "help", None)]
    replies = [m.content for m in dms(bot.sent_messages())]
    assert sum("/crisis" in r for r in replies) == 2  # /help's answer, then the "send it again" line
    assert replies[-1] == texts(bot.app.content)("en")("common.not_understood")
    assert any(r.getMessage() == "attachment download failed" for r in caplog.records)
    assert CANARY not in _logged(caplog) and str(tmp_path) not in _logged(caplog)


async def test_kept_rows_of_every_kind_are_in_the_export_and_go_with_the_member(discord_bot: Harness) -> None:
    bot = discord_bot
    dm = await bot.bo.create_dm()
    await bot.say("/start", dm, bot.bo)
    person = await bot.app.store.peek_user("discord", str(bot.bo.id))
    assert person is not None
    place = Place(str(bot.guild.id), str(bot.support.id), roles=frozenset({"42"}))
    mine = [Kept(bot.bo.id, dm.id, "hello"), Kept(bot.bo.id, bot.support.id, "in a server", place=place),
            Kept(bot.bo.id, dm.id, "", file=_file(Path("/nowhere/notes.md")))]  # fmt: skip
    theirs = Kept(bot.ann.id, bot.support.id, "theirs", place=place)
    backlog = Backlog(bot.app.store, "discord")
    await backlog.keep([*((str(bot.bo.id), dump(k)) for k in mine), (str(bot.ann.id), dump(theirs))])
    async with bot.app.store.transaction() as tx:
        exported = [row["payload"] for row in (await tx.users.export(person.id))["pending_updates"]]
    assert [(p["kind"], p["text"]) for p in exported] == [("dm", "hello"), ("channel", "in a server"), ("dm", "")]
    assert exported[1]["roles"] == ["42"] and exported[2]["file"]["filename"] == "notes.md"
    async with bot.app.store.transaction() as tx:
        await tx.users.delete(person.id)
    assert [json.loads(p)["text"] for p in await backlog.take()] == ["theirs"]


async def test_a_kept_message_not_yet_handled_when_the_next_stop_comes_is_kept_again(discord_bot: Harness) -> None:
    bot = discord_bot
    dm = await bot.bo.create_dm()
    first, second = Kept(bot.bo.id, dm.id, "hello"), Kept(bot.bo.id, dm.id, f"/help {CANARY}")
    await Backlog(bot.app.store, "discord").keep([(str(bot.bo.id), dump(k)) for k in (first, second)])
    adapter = _new_adapter(bot)
    gate, started = asyncio.Event(), []
    hold(bot, "private_message", gate, lambda i: not started, started)
    await bot.bot.on_ready()
    await until(lambda: len(started) == 1 and adapter.queue.pending() == 2)
    await adapter.close(0.0)
    async with bot.app.store.transaction() as tx:
        payloads = await tx.pending_updates.take("discord")
    assert [json.loads(p)["text"] for p in payloads] == [f"/help {CANARY}"]


# --- interactions ------------------------------------------------------------------------
RESTARTING = "restarting"


def _press(bot: Harness, custom_id: str, member: Any, guild: bool = False) -> dict[str, Any]:
    payload = bot._base(3, member, guild)
    payload["data"] = {"custom_id": custom_id, "component_type": 2}
    button = {"type": 2, "style": 2, "label": "x", "custom_id": custom_id}
    payload["message"] = message_dict({"content": "card", "components": [{"type": 1, "components": [button]}]},
                                      payload["channel_id"])  # fmt: skip
    return payload


def _answers(bot: Harness, asked: str, token: str) -> list[Sent]:
    return [s for s in bot.recorder.sent if s.to in (asked, token)]


@pytest.mark.parametrize("deferred", [False, True])
async def test_interactions_left_at_stop_are_told_to_try_again_to_the_member_alone(
    discord_bot: Harness, deferred: bool, caplog: pytest.LogCaptureFixture
) -> None:
    bot = discord_bot
    async_context.set(bot.recorder)
    # Waiting ones get the line as their response; deferred ones as a follow-up.
    adapter = _new_adapter(bot, sleep=instant, answer_within_s=0.0 if deferred else 3600.0)
    gate, started = asyncio.Event(), []
    hold(bot, "command", gate, lambda i: not started, started)
    payloads = [command(bot, "help", bot.bo, guild=True)]
    fire(bot, payloads[0])
    await until(lambda: len(started) == 1)
    payloads += [command(bot, "learn", bot.bo), _press(bot, "kc:go:help", bot.bo, guild=True)]
    for payload in payloads[1:]:
        fire(bot, payload)
    await until(lambda: adapter.queue.pending() == 3)
    if deferred:
        await until(lambda: sum(s.kind == "callback" for s in bot.recorder.sent) == 3)
    caplog.set_level(logging.INFO)
    await adapter.close(4.0)  # the held one is cut off before its answer; the two queued never ran
    await settle()
    restarting = texts(bot.app.content)("en")("community.restarting")
    assert RESTARTING in restarting
    for payload in payloads:
        answers = _answers(bot, str(payload["id"]), str(payload["token"]))
        lines = [s for s in answers if s.content == restarting]
        assert len(lines) == 1 and lines[0].ephemeral, answers
        assert lines[0].kind == ("followup" if deferred else "callback")
        assert all(s.content in ("", restarting) for s in answers)  # nothing else, and nothing twice
    assert started and not gate.is_set()
    assert any(r.getMessage() == "discord interactions left at stop told to try again" and getattr(r, "count", 0) == 3
               for r in caplog.records)  # fmt: skip
    assert not any(r.getMessage() == "discord turns left unhandled at stop" for r in caplog.records)


async def test_a_crisis_interaction_runs_at_once_and_one_left_at_stop_is_answered_not_told_to_wait(
    discord_bot: Harness,
) -> None:
    bot = discord_bot
    async_context.set(bot.recorder)
    adapter = _new_adapter(bot, sleep=instant, answer_within_s=3600.0, workers=1)
    gate, started = asyncio.Event(), []
    hold(bot, "command", gate, lambda i: i.command == "help", started)
    fire(bot, command(bot, "help", bot.bo))  # the one worker, held
    await until(lambda: len(started) == 1)
    queued = command(bot, "learn", bot.ann)
    fire(bot, queued)
    await until(lambda: adapter.queue.queued(bot.ann.id) == 1)
    # Every worker busy: a crisis command or button goes on a lane of its own, queued behind
    # nothing, and ahead of ann's own queued /learn.
    for crisis in (command(bot, "crisis", bot.ann, guild=True), _press(bot, "kc:go:crisis", bot.mod, guild=True)):
        fire(bot, crisis)
        asked = str(crisis["id"])
        await until(lambda asked=asked: asked in {s.to for s in bot.recorder.sent})
        assert "988" in text(_answers(bot, asked, str(crisis["token"])))
    assert adapter.queue.queued(bot.ann.id) == 1 and not gate.is_set()

    # Behind the member's own running turn (so it sees what that turn left), it waits; a
    # stop that cuts that turn off answers the crisis before it ends, not "try again".
    waiting = command(bot, "crisis", bot.bo)
    fire(bot, waiting)
    await until(lambda: adapter.queue.queued(bot.bo.id) == 1)
    await adapter.close(4.0)
    await settle()
    answer = _answers(bot, str(waiting["id"]), str(waiting["token"]))
    assert "988" in text(answer) and "restarting" not in text(answer)
    assert "restarting" in text(_answers(bot, str(queued["id"]), str(queued["token"])))


async def test_an_interaction_arriving_after_the_stop_drained_is_told_and_a_message_kept(
    discord_bot: Harness,
) -> None:
    bot = discord_bot
    async_context.set(bot.recorder)
    adapter = _new_adapter(bot, sleep=instant)
    await adapter.close(4.0)
    sent = await bot.command("learn", bot.bo)
    assert [(s.kind, s.ephemeral) for s in sent] == [("callback", True)] and "restarting" in text(sent)
    sent = await bot.command("crisis", bot.bo)
    assert "988" in text(sent)
    dm = await bot.bo.create_dm()
    await bot.say("/help", dm, bot.bo)
    assert bot.sent_messages() == []
    assert [json.loads(p)["text"] for p in await Backlog(bot.app.store, "discord").take()] == ["/help"]


async def test_a_stop_whose_notices_hang_still_ends_within_its_budget_and_counts_them_lost(
    discord_bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bot = discord_bot
    async_context.set(bot.recorder)
    adapter = _new_adapter(bot, sleep=instant, answer_within_s=3600.0)
    gate, started = asyncio.Event(), []
    hold(bot, "command", gate, lambda i: not started, started)
    fire(bot, command(bot, "help", bot.bo))
    await until(lambda: len(started) == 1)
    fire(bot, command(bot, "learn", bot.bo))
    await until(lambda: adapter.queue.pending() == 2)
    never = asyncio.Event()
    real = bot.recorder.request

    async def hangs(route: Any, *args: Any, **kwargs: Any) -> Any:
        if route.path.endswith("/callback"):
            await never.wait()  # Discord does not answer
        return await real(route, *args, **kwargs)

    monkeypatch.setattr(bot.recorder, "request", hangs)
    caplog.set_level(logging.INFO)
    async with asyncio.timeout(10):  # the budget is 0.4 s: a hang here fails, it does not wait
        await adapter.close(0.4)
    lost = [r for r in caplog.records if r.getMessage() == "discord turns left unhandled at stop"]
    assert [getattr(r, "count", None) for r in lost] == [2]  # the one cut off and the one never run
