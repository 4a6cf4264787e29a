"""Admin in Discord DMs over the real discord.py client (dpytest's fake guild, raw
interaction payloads): typed /admin commands, lesson and content files sent as
attachments, Publish and rollback buttons; and no admin surface in a server or for
anyone without a role."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import discord.ext.test as dpytest
import pytest

from ketacompanion.app import build_app
from ketacompanion.content.bundle import read_directory
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock
from ketacompanion.storage.admin_repo import AdminRepo
from ketacompanion.storage.content_repo import ContentRepo

from conftest import CONTENT, make_settings
from fakes.discord_harness import Harness, Sent, running, settle


@pytest.fixture
async def bot(
    database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    monkeypatch.chdir(tmp_path)  # dpytest writes each attachment it sees to the working directory
    app = await build_app(make_settings(database_url, tmp_path, discord_token="x"), clock, content_set)
    async with running(app) as harness:
        yield harness


def edited_lesson() -> bytes:
    text = (CONTENT / "lessons/en/blood-pressure.md").read_text(encoding="utf-8")
    return text.replace("## Why it rises", "## Why blood pressure rises", 1).encode()


async def grant(bot: Harness, member: discord.Member, role: str, name: str = "", title: str = "") -> None:
    await AdminRepo(bot.app.engine, bot.app.clock).grant("discord", str(member.id), role, "cli:test", name, title)


async def dm(bot: Harness, text: str, member: discord.Member | None = None,
             files: list[Path] | None = None) -> list[discord.Message]:  # fmt: skip
    """What the bot sends back to a DM: typed text and attachments, as Discord delivers them."""
    member = member or bot.ann
    channel = await member.create_dm()
    bot.sent_messages()
    await dpytest.message(text, channel=channel, member=member, attachments=[str(f) for f in files or []])
    await settle()
    return [m for m in bot.sent_messages() if isinstance(m.channel, discord.DMChannel)]


def said(messages: list[discord.Message]) -> str:
    return "\n".join(m.content for m in messages)


def button(bot: Harness, messages: list[discord.Message], prefix: str) -> str:
    found = [c for m in messages for c in bot.buttons(m) if c.startswith("kc:" + prefix)]
    assert found, f"no button {prefix!r}"
    return found[0]


def pressed(sent: list[Sent]) -> str:
    return "\n".join(s.content for s in sent if s.content)


def file_at(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "upload" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


async def test_no_admin_surface_for_a_member_without_a_role(bot: Harness, tmp_path: Path) -> None:
    unknown = said(await dm(bot, "/nosuch")).replace("nosuch", "admin")
    assert said(await dm(bot, "/admin")) == unknown
    assert said(await dm(bot, "/admin rollback 1")) == unknown
    assert said(await dm(bot, "/admin stats")) == unknown
    # A lesson file from someone without a role is met like any other file.
    answer = said(await dm(bot, "", files=[file_at(tmp_path, "blood-pressure.md", edited_lesson())]))
    assert answer and not any(w in answer.lower() for w in ("publish", "admin", "version", "preview"))
    # Forged or replayed admin buttons answer as any stale button does.
    stale = pressed(await bot.press("kc:nosuch:go"))
    assert pressed(await bot.press("kc:admin:publish:abcd")) == stale
    assert pressed(await bot.press("kc:admin:rollback:1:2")) == stale
    assert pressed(await bot.press("kc:go:admin")) == unknown
    assert await ContentRepo(bot.app.engine, bot.app.clock).live_number() == 1


async def test_admin_is_not_a_registered_slash_command(bot: Harness) -> None:
    """Discord lists every global command to every user in DMs, whatever its permissions:
    so /admin is typed as a message, and the command list reveals nothing."""
    names = {c.name for c in bot.bot.tree.get_commands()}
    assert "admin" not in names and {"start", "crisis"} <= names


async def test_in_a_server_admin_is_unknown_even_to_an_owner(bot: Harness) -> None:
    await grant(bot, bot.ann, "owner")
    unknown = pressed(await bot.press("kc:go:nosuch", guild=True))
    unknown_dm = said(bot.sent_messages())
    sent = await bot.press("kc:go:admin", guild=True)
    assert all(s.ephemeral for s in sent if s.kind == "followup")
    # Exactly what an unknown command gets in a server: a DM saying it is unknown.
    assert pressed(sent) == unknown
    private = said(bot.sent_messages())
    assert private == unknown_dm.replace("nosuch", "admin") and "I don't know /admin" in private
    assert "Live: version" not in private
    await bot.say("/admin", bot.general, bot.ann)
    assert not bot.sent_messages()  # typed in a channel: the bot stays silent
    # An admin button pressed in a server answers as any private flow's button does.
    other = pressed(await bot.press("kc:journal:keep:1", guild=True))
    assert pressed(await bot.press("kc:admin:rollback:1:2", guild=True)) == other
    assert "Roll" not in other and await ContentRepo(bot.app.engine, bot.app.clock).live_number() == 1


async def test_an_editor_publishes_a_lesson_sent_as_a_dm_attachment(bot: Harness, tmp_path: Path) -> None:
    await grant(bot, bot.ann, "editor")
    status = said(await dm(bot, "/admin"))
    assert "Live: version 1" in status and "Your roles: editor" in status
    replies = await dm(bot, "", files=[file_at(tmp_path, "blood-pressure.md", edited_lesson())])
    assert "Why blood pressure rises" in said(replies) and "lessons changed: en/blood-pressure" in said(replies)
    repo = ContentRepo(bot.app.engine, bot.app.clock)
    assert await repo.live_number() == 1  # nothing until Publish
    publish = button(bot, replies, "admin:publish:")
    assert "kc:admin:cancel" in [c for m in replies for c in bot.buttons(m)]
    assert "Published version 2" in pressed(await bot.press(publish))
    assert (await repo.files(2))["lessons/en/blood-pressure.md"] == edited_lesson()
    assert "Published" not in pressed(await bot.press(publish))  # once


async def test_problems_come_back_as_file_and_line(bot: Harness, tmp_path: Path) -> None:
    await grant(bot, bot.ann, "editor")
    broken = edited_lesson().replace(b"reviewed_on:", b"reviewd_on:")
    answer = said(await dm(bot, "", files=[file_at(tmp_path, "blood-pressure.md", broken)]))
    assert "Not published" in answer and "lessons/en/blood-pressure.md:" in answer
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/passwd", "root")
    answer = said(await dm(bot, "", files=[file_at(tmp_path, "content.zip", buffer.getvalue())]))
    assert "Not published" in answer and "climbs out" in answer
    assert await ContentRepo(bot.app.engine, bot.app.clock).live_number() == 1
    audit = await AdminRepo(bot.app.engine, bot.app.clock).audit_log(action="publish_refused")
    assert len(audit) == 2 and {e.actor for e in audit} == {f"discord:{bot.ann.id}"}


async def test_a_content_zip_and_a_confirmed_rollback(bot: Harness, tmp_path: Path) -> None:
    await grant(bot, bot.ann, "editor")
    files = read_directory(CONTENT)
    files["lessons/en/blood-pressure.md"] = edited_lesson()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    replies = await dm(bot, "new heading", files=[file_at(tmp_path, "content.zip", buffer.getvalue())])
    await bot.press(button(bot, replies, "admin:publish:"))
    repo = ContentRepo(bot.app.engine, bot.app.clock)
    assert await repo.live_number() == 2
    replies = await dm(bot, "/admin rollback")
    assert "Roll back to version 1?" in said(replies)
    assert "Cancelled" in pressed(await bot.press("kc:admin:cancel"))
    assert await repo.live_number() == 2
    assert "version 3 restores version 1" in pressed(await bot.press(button(bot, replies, "admin:rollback:1:2")))
    assert await repo.files(3) == read_directory(CONTENT)


async def test_review_announce_and_stats_in_a_dm(bot: Harness) -> None:
    await grant(bot, bot.ann, "reviewer", "Dr Ada Lee", "psychiatrist")
    await grant(bot, bot.bo, "owner")
    replies = await dm(bot, "/admin review")
    assert "lessons changed since their last clinician sign-off" in said(replies)
    shown = await bot.press("kc:admin:review:en/blood-pressure")
    assert "https://" in pressed(shown)
    approve = next(c for s in shown for c in s.custom_ids() if c.startswith("kc:admin:approve:"))
    assert "Signed off en/blood-pressure as Dr Ada Lee" in pressed(await bot.press(approve))
    replies = await dm(bot, "/admin announce discord The clinic is closed on Friday.", bot.bo)
    assert "Announcement to discord" in said(replies) and "The clinic is closed on Friday." in said(replies)
    assert "queued for" in pressed(await bot.press(button(bot, replies, "admin:announce:"), bot.bo))
    replies = await dm(bot, "/admin stats", bot.bo)  # (dpytest keeps the file of a message with one, not its text)
    charts = [a for m in replies for a in m.attachments if a.filename == "adherence.png"]
    assert charts and (await charts[0].read()).startswith(b"\x89PNG")
    actions = [e.action for e in await AdminRepo(bot.app.engine, bot.app.clock).audit_log()]
    assert {"review", "announce", "stats_view"} <= set(actions)


async def test_a_file_too_big_is_refused_unread(bot: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ketacompanion.adapters.discord import files

    await grant(bot, bot.ann, "editor")
    monkeypatch.setattr(files, "MAX_ATTACHMENT", 1000)
    answer = said(await dm(bot, "", files=[file_at(tmp_path, "blood-pressure.md", edited_lesson())]))
    assert "I read text and buttons" in answer and "Preview" not in answer
    assert await AdminRepo(bot.app.engine, bot.app.clock).audit_log(action="publish_refused") == []  # never read
