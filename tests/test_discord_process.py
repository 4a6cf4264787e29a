"""``ketacompanion run`` as a process against a fake Discord on loopback (HTTP API and
gateway): the real discord.py client logs in, syncs its commands, answers a slash command
and a button through the gateway, runs beside Telegram, sends scheduled check-ins as DMs
through the outbox, and closes cleanly on SIGTERM and SIGINT, keeping what a stop left for
the next start."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from ketacompanion.app import build_app
from ketacompanion.core.clock import FakeClock
from ketacompanion.storage import tables as t
from test_delivery import set_schedule

from conftest import CONTENT, PG_URL, TEST_KEY, Chat, reset_postgres
from fakes.discord_api import Call, FakeDiscord
from fakes.telegram_api import FakeBotAPI

pytestmark = pytest.mark.slow

# What the bot asks of the gateway: guilds, guild messages, DMs (no privileged intent).
INTENTS = (1 << 0) | (1 << 9) | (1 << 12)


def environment(tmp_path: Path, fake: FakeDiscord | None, telegram: FakeBotAPI | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "KETACOMPANION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "KETACOMPANION_DATA_KEY": TEST_KEY,
        "KETACOMPANION_KEY_FILE": str(tmp_path / "data.key"),
        "KETACOMPANION_CONTENT_DIR": str(CONTENT),
        "KETACOMPANION_SCHEDULER_SAFETY_INTERVAL_S": "5",
    }
    for name in ("KETACOMPANION_TELEGRAM_TOKEN", "KETACOMPANION_DISCORD_TOKEN"):
        env.pop(name, None)
    if fake is not None:
        env |= {"KETACOMPANION_DISCORD_TOKEN": fake.token, "KETACOMPANION_DISCORD_API_BASE_URL": fake.api_base}
    if telegram is not None:
        env |= {
            "KETACOMPANION_TELEGRAM_TOKEN": telegram.token,
            "KETACOMPANION_TELEGRAM_BASE_URL": telegram.base_url,
            "KETACOMPANION_TELEGRAM_BASE_FILE_URL": telegram.base_file_url,
        }
    return env


@asynccontextmanager
async def process(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ketacompanion", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            _, stderr = await proc.communicate()
            print(stderr.decode()[-4000:])  # shown when the test fails


async def stop(proc: asyncio.subprocess.Process, signum: int) -> str:
    proc.send_signal(signum)
    async with asyncio.timeout(20):
        _, stderr = await proc.communicate()
    text = stderr.decode()
    assert proc.returncode == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    return text


def closed_by_the_client(fake: FakeDiscord) -> bool:
    """The client sent a close frame (a killed process leaves 1006, abnormal closure).
    discord.py closes with 4000 when a read is pending, else 1000."""
    return len(fake.closes) == 1 and fake.closes[0] in (1000, 4000)


def since(fake: FakeDiscord) -> int:
    return len(fake.calls)


async def answered(fake: FakeDiscord, after: int, timeout: float = 15) -> list[Call]:  # noqa: ASYNC109
    """The response and every follow-up or edit of one interaction, once its answer is in:
    a quick answer is the response itself (type 4, or 7 for a card edited in place); slow
    work is deferred (5 or 6) and answered by a follow-up or an edit."""
    first = await fake.wait_for(lambda c: c.route == "callback", timeout, after)
    if first.body["type"] in (5, 6):
        await fake.wait_for(lambda c: c.route in ("followup", "edit"), timeout, after)
    return [c for c in fake.calls[after:] if c.route in ("callback", "followup", "edit")]


async def test_discord_alone_syncs_answers_a_command_and_a_button_then_stops_on_sigterm(tmp_path: Path) -> None:
    async with FakeDiscord() as fake, process(tmp_path, environment(tmp_path, fake)) as proc:
        await fake.wait_identified()
        routes = [c.route for c in fake.calls]
        assert routes.index("me") < routes.index("sync") < routes.index("gateway")  # synced in setup_hook
        synced = next(c for c in fake.calls if c.route == "sync")
        assert synced.path == f"/applications/{fake.application_id}/commands"  # globally: no test server set
        names = {c["name"] for c in synced.body["_list"]}
        assert {"help", "checkin", "crisis", "setup", "screening"} <= names
        assert fake.identified[0]["intents"] == INTENTS
        assert fake.heartbeats >= 1  # the first heartbeat goes out on HELLO

        mark = since(fake)
        await fake.command("help", fake.ann)  # in a DM
        sent = await answered(fake, mark)
        assert sent[0].body["type"] in (4, 5) and not sent[0].ephemeral
        assert any("/crisis" in c.content for c in sent)

        mark = since(fake)
        await fake.command("learn", fake.ann, channel="general")  # in a server: to the member alone
        sent = await answered(fake, mark)
        assert sent[0].ephemeral and all(c.ephemeral for c in sent if c.route in ("callback", "followup"))
        lesson = next(i for c in sent for i in c.custom_ids() if i.startswith("kc:learn:"))

        mark = since(fake)
        await fake.press(lesson, fake.ann, channel="general")
        sent = await answered(fake, mark)
        assert sent[0].body["type"] in (4, 6, 7)  # a new message, or the card updated in place
        assert any(c.content.strip() for c in sent)

        await stop(proc, signal.SIGTERM)
    assert closed_by_the_client(fake)


async def test_telegram_and_discord_run_in_one_process_and_stop_on_sigint(tmp_path: Path) -> None:
    async with FakeDiscord() as fake, FakeBotAPI() as telegram:
        async with process(tmp_path, environment(tmp_path, fake, telegram)) as proc:
            await fake.wait_identified()
            await telegram.wait_for(lambda c: c.method == "getUpdates", timeout=30, pending=True)

            mark = since(fake)
            await fake.command("help", fake.ann)
            telegram.inject_update(telegram.message_update(42, "/help"))
            reply = await telegram.wait_for(lambda c: c.method == "sendMessage", timeout=15)
            assert reply.status == 200 and "/crisis" in reply.params["text"]
            sent = await answered(fake, mark)
            assert any("/crisis" in c.content for c in sent)

            await stop(proc, signal.SIGINT)
        assert closed_by_the_client(fake)


async def test_a_scheduled_checkin_goes_out_as_a_dm_through_the_outbox(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        fake.login_delay = 3.0  # a slow login: the first delivery pass runs meanwhile
        env = environment(tmp_path, fake)
        await due_checkin(tmp_path, fake.ann)
        async with process(tmp_path, env) as proc:
            await fake.wait_identified()
            dm = await fake.wait_for(lambda c: c.route == "dm", timeout=30)
            assert str(dm.body["recipient_id"]) == fake.ann
            prompt = await fake.wait_for(lambda c: c.route == "message" and c.path == f"/channels/{fake.dm_channel(fake.ann)}/messages")
            assert any(i.startswith("kc:checkin:start:") for i in prompt.custom_ids())
            assert prompt.body["allowed_mentions"] == {"parse": []}
            await stop(proc, signal.SIGTERM)
    assert await checkin_status(tmp_path) == "sent"
    assert not [c for c in fake.calls if c.route == "unauthorized"]


async def test_closed_dms_mark_the_member_unreachable_not_the_checkin_missed(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        fake.closed_dms.add(fake.ann)
        await due_checkin(tmp_path, fake.ann)
        async with process(tmp_path, environment(tmp_path, fake)) as proc:
            await fake.wait_identified()
            await fake.wait_for(lambda c: c.route == "message-refused", timeout=30)
            await stop(proc, signal.SIGTERM)
    assert sum(c.route == "message-refused" for c in fake.calls) == 1  # one attempt, no retry storm
    async with opened(tmp_path) as app, app.store.transaction() as tx:
        found = await tx.users.find("discord", fake.ann)
        assert found is not None and found[0].unreachable_at is not None
    assert await checkin_status(tmp_path) != "missed"


async def screen(fake: FakeDiscord, channel: str) -> None:
    """/setup by a manager: ``channel`` is screened."""
    manage = str(1 << 5)  # Manage Server
    option, resolved = fake.channel_option(channel)
    mark = since(fake)
    await fake.command("setup", fake.mod, channel="general", permissions=manage, resolved=resolved,
                       options=[{"name": "channel", "type": 1, "options": [
                           option, {"name": "mode", "type": 3, "value": "screened"}]}])  # fmt: skip
    sent = await answered(fake, mark)
    assert "Saved." in " ".join(c.content for c in sent)
    assert all(c.ephemeral for c in sent if c.route in ("callback", "followup"))


async def test_crisis_text_in_a_screened_channel_gets_the_card_by_dm_and_nothing_in_public(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        env = environment(tmp_path, fake) | {"KETACOMPANION_DISCORD_MESSAGE_CONTENT": "true"}
        async with process(tmp_path, env) as proc:
            await fake.wait_identified()
            assert fake.identified[0]["intents"] == INTENTS | (1 << 15)  # and message content
            await screen(fake, "support")

            mark = since(fake)
            await fake.say("I want to kill myself tonight", fake.ann, channel="general")  # not screened: silence
            await fake.say("I want to kill myself tonight", fake.ann, channel="support")
            card = await fake.wait_for(lambda c: c.route == "message" and "988" in c.content, after=mark)
            assert card.path == f"/channels/{fake.dm_channel(fake.ann)}/messages"
            await stop(proc, signal.SIGTERM)
    public = {f"/channels/{cid}/messages" for cid in fake.guild.channels.values()}
    assert not [c for c in fake.calls[mark:] if c.path in public]  # nothing said in any channel


def _database_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.glob("bot.db*"))


def _help(call: Call, dm: str) -> bool:
    return call.route == "message" and call.path == f"/channels/{dm}/messages" and "Here is what I can do" in call.content


async def test_what_is_queued_at_sigterm_is_kept_sealed_and_handled_once_after_a_restart_and_interactions_are_told(
    tmp_path: Path,
) -> None:
    canary = "canary-discord-sigterm-5d1a"
    async with FakeDiscord() as fake:
        env = environment(tmp_path, fake) | {"KETACOMPANION_DISCORD_MESSAGE_CONTENT": "true",
                                             "KETACOMPANION_LOG_LEVEL": "INFO"}  # fmt: skip
        dm = fake.dm_channel(fake.ann)
        async with process(tmp_path, env) as proc:
            await fake.wait_identified()
            await screen(fake, "support")
            # ann's first DM is answered, and that answer hangs: her next turns queue behind it.
            fake.hold(dm)
            mark = since(fake)
            await fake.say("/help", fake.ann)
            await fake.wait_for(lambda c: _help(c, dm), after=mark)
            for n in range(3):
                await fake.say(f"/help {canary} {n}", fake.ann)
            await fake.say(f"I want to kill myself tonight {canary}", fake.ann, channel="support")
            asked = await fake.command("learn", fake.ann, channel="general")
            # Deferred when its time is up: accepted, and so was everything sent before it.
            await fake.wait_for(lambda c: c.route == "callback" and c.path.split("/")[2] == asked["id"], after=mark)
            stderr = await stop(proc, signal.SIGTERM)
        assert "kept for the next start" in stderr and "told to try again" in stderr
        assert canary not in stderr and "kill" not in stderr
        told = [c for c in fake.calls[mark:] if asked["token"] in c.path and "restarting" in c.content]
        assert len(told) == 1 and told[0].ephemeral
        with sqlite3.connect(tmp_path / "bot.db") as conn:
            assert conn.execute("SELECT count(*) FROM pending_updates").fetchone()[0] == 4  # 3 DMs, 1 server message
        assert canary.encode() not in _database_bytes(tmp_path)

        fake.stop_holding()
        mark = since(fake)
        async with process(tmp_path, env) as proc:
            await fake.wait_identified(2)
            await fake.wait_count(lambda c: _help(c, dm), 3, timeout=30, after=mark)
            await fake.wait_for(lambda c: c.route == "message" and "988" in c.content, timeout=30, after=mark)
            await stop(proc, signal.SIGTERM)
    # Each kept message handled exactly once; the crisis one privately, nothing in public.
    assert sum(_help(c, dm) for c in fake.calls[mark:]) == 3
    cards = [c for c in fake.calls[mark:] if c.route == "message" and "988" in c.content]
    assert len(cards) == 1 and cards[0].path == f"/channels/{dm}/messages"
    public = {f"/channels/{cid}/messages" for cid in fake.guild.channels.values()}
    assert not [c for c in fake.calls[mark:] if c.path in public]
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        assert conn.execute("SELECT count(*) FROM pending_updates").fetchone()[0] == 0


async def test_a_refused_token_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        env = environment(tmp_path, fake) | {"KETACOMPANION_DISCORD_TOKEN": "not-the-token", "KETACOMPANION_LOG_LEVEL": "ERROR"}
        async with process(tmp_path, env) as proc:
            async with asyncio.timeout(60):
                _, stderr = await proc.communicate()
    text = stderr.decode()
    ours = [line for line in text.splitlines() if line.startswith("ketacompanion:")]
    assert proc.returncode == 1 and "Traceback" not in text, text[-3000:]
    assert len(ours) == 1 and "refused the token" in ours[0]
    assert "not-the-token" not in text  # the token is never printed


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    assert PG_URL is not None
    await reset_postgres(PG_URL)
    yield PG_URL
    await reset_postgres(PG_URL)


@pytest.mark.skipif(PG_URL is None, reason="several processes share a PostgreSQL database (docs/operations.md)")
async def test_two_processes_on_two_shards_share_one_database(tmp_path: Path, postgres_url: str) -> None:
    """Each process runs one shard; the database is shared: a due check-in goes out once,
    a private message reaches shard 0 only and is answered once."""
    database_url = postgres_url
    async with FakeDiscord() as fake:
        await due_checkin(tmp_path, fake.ann, database_url)
        base = environment(tmp_path, fake) | {"KETACOMPANION_DATABASE_URL": database_url,
                                              "KETACOMPANION_DISCORD_SHARD_COUNT": "2"}  # fmt: skip
        async with process(tmp_path, base | {"KETACOMPANION_DISCORD_SHARD_IDS": "0"}) as zero, \
                process(tmp_path, base | {"KETACOMPANION_DISCORD_SHARD_IDS": "1"}) as one:  # fmt: skip
            await fake.wait_identified(2)
            assert sorted(tuple(i["shard"]) for i in fake.identified) == [(0, 2), (1, 2)]
            await fake.wait_for(lambda c: c.route == "message" and "kc:checkin:start:" in str(c.custom_ids()), 30)
            mark = since(fake)
            await fake.command("help", fake.ann)
            sent = await answered(fake, mark)
            assert sum(c.route == "callback" for c in sent) == 1
            await stop(zero, signal.SIGTERM)
            await stop(one, signal.SIGTERM)
    prompts = [c for c in fake.calls if c.route == "message" and any(i.startswith("kc:checkin:start:") for i in c.custom_ids())]
    assert len(prompts) == 1  # sent once, by one of the two
    assert sum(c.route == "callback" for c in fake.calls[mark:]) == 1
    assert await checkin_status(tmp_path, database_url) == "sent"


@asynccontextmanager
async def opened(tmp_path: Path, url: str | None = None) -> AsyncIterator[object]:
    from conftest import make_settings

    url = url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    settings = make_settings(url, tmp_path, key_file=tmp_path / "data.key")
    app = await build_app(settings, FakeClock(datetime.now(UTC)))
    try:
        yield app
    finally:
        await app.close()


async def due_checkin(tmp_path: Path, user_id: str, url: str | None = None) -> None:
    """A consenting member with a daily check-in due a minute ago."""
    async with opened(tmp_path, url) as app:
        chat = Chat(app, user=user_id, platform="discord")  # type: ignore[arg-type]
        await chat.onboard("US", "America/New_York")
        uid = await set_schedule(app, user_id, "America/New_York")  # type: ignore[arg-type]
        async with app.engine.begin() as conn:  # type: ignore[attr-defined]
            due = datetime.now(UTC) - timedelta(minutes=1)
            await conn.execute(update(t.checkins).where(t.checkins.c.user_id == uid).values(due_at=due))


async def checkin_status(tmp_path: Path, url: str | None = None) -> str:
    from sqlalchemy import select

    async with opened(tmp_path, url) as app, app.engine.connect() as conn:  # type: ignore[attr-defined]
        return str((await conn.execute(select(t.checkins.c.status).order_by(t.checkins.c.id))).scalars().first())
