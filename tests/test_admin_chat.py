"""Admin in chat: hidden from everyone without a role; status, uploads, publish, rollback, grants."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ketacompanion.app import App
from ketacompanion.content.bundle import read_directory
from ketacompanion.core.model import Address, Attachment, Inbound, InboundKind
from ketacompanion.storage.admin_repo import AdminRepo
from ketacompanion.storage.content_repo import ContentRepo

from conftest import CONTENT, TEST_KEY, Chat


async def send_file(chat: Chat, name: str, data: bytes) -> str:
    inbound = Inbound(chat.address, chat.user, InboundKind.TEXT, language="en",
                      attachment=Attachment(name, "application/octet-stream", data))
    chat.last = await chat.app.companion.handle(inbound)
    return chat.text()


def edited_lesson() -> bytes:
    text = (CONTENT / "lessons/en/blood-pressure.md").read_text(encoding="utf-8")
    return text.replace("## Why it rises", "## Why blood pressure rises", 1).encode()


async def grant(app: App, user: str, role: str, name: str = "") -> None:
    await AdminRepo(app.engine, app.clock).grant("console", user, role, "cli:test", name)


async def test_without_a_role_there_is_no_admin_surface(app: App) -> None:
    chat = Chat(app, "patient")
    await chat.onboard()
    unknown = (await chat.say("/nosuch"))[0].text.replace("nosuch", "admin")
    assert [r.text for r in await chat.say("/admin")] == [unknown]
    assert [r.text for r in await chat.say("/admin rollback")] == [unknown]
    stale = [r.text for r in await chat.tap("nosuch:go")]
    assert [r.text for r in await chat.tap("admin:rollback:1:2")] == stale
    assert [r.text for r in await chat.tap("admin:publish:abcd")] == stale
    # A lesson file from someone without a role is met like any other file: nothing of admin.
    other_file = await send_file(chat, "holiday.jpg", b"\xff\xd8\xff not a lesson")
    answer = await send_file(chat, "blood-pressure.md", edited_lesson())
    assert answer == other_file
    assert not any(word in answer.lower() for word in ("publish", "admin", "version", "preview"))
    assert await ContentRepo(app.engine, app.clock).live_number() == 1


async def test_an_editor_publishes_a_lesson_from_chat_after_a_preview(app: App) -> None:
    await grant(app, "ed", "editor")
    chat = Chat(app, "ed")
    status = "\n".join(r.text for r in await chat.say("/admin"))
    assert "Live: version 1" in status and "by system" in status and "v1 loaded" in status
    text = await send_file(chat, "blood-pressure.md", edited_lesson())
    assert "Why blood pressure rises" in text and "Card 1 of" in text
    assert "lessons changed: en/blood-pressure" in text
    publish = chat.choice("admin:publish:")
    assert await ContentRepo(app.engine, app.clock).live_number() == 1  # nothing until Publish
    await chat.tap(publish)
    assert "Published version 2" in chat.text()
    repo = ContentRepo(app.engine, app.clock)
    assert (await repo.files(2))["lessons/en/blood-pressure.md"] == edited_lesson()
    await chat.tap(publish)
    assert "expired" in chat.text()  # one press publishes once
    assert app.live is not None and await app.live.poll()
    lesson = app.content.current.lessons.shelf("en").lessons["blood-pressure"]
    assert lesson.cards[0].heading == "Why blood pressure rises"


async def test_a_bad_upload_names_its_problems_and_changes_nothing(app: App) -> None:
    await grant(app, "ed", "editor")
    chat = Chat(app, "ed")
    broken = edited_lesson().replace(b"reviewed_on:", b"reviewd_on:")
    text = await send_file(chat, "blood-pressure.md", broken)
    assert "Not published" in text and "lessons/en/blood-pressure.md:" in text
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/passwd", "root")
    text = await send_file(chat, "content.zip", buffer.getvalue())
    assert "climbs out" in text
    assert await ContentRepo(app.engine, app.clock).live_number() == 1
    audit = await AdminRepo(app.engine, app.clock).audit_log(action="publish_refused")
    assert len(audit) == 2 and all(e.actor == "console:ed" for e in audit)


async def test_rollback_in_chat_asks_first(app: App) -> None:
    await grant(app, "ed", "editor")
    chat = Chat(app, "ed")
    await send_file(chat, "blood-pressure.md", edited_lesson())
    await chat.tap(chat.choice("admin:publish:"))
    await chat.say("/admin rollback")
    assert "Roll back to version 1?" in chat.text()
    await chat.tap("admin:cancel")
    repo = ContentRepo(app.engine, app.clock)
    assert await repo.live_number() == 2
    await chat.say("/admin rollback")
    await chat.tap(chat.choice("admin:rollback:1:2"))
    assert "version 3 restores version 1" in chat.text()
    assert await repo.files(3) == read_directory(CONTENT)


async def test_an_owner_grants_in_chat_and_an_editor_cannot(app: App) -> None:
    await grant(app, "boss", "owner")
    await grant(app, "ed", "editor")
    owner, editor = Chat(app, "boss"), Chat(app, "ed")
    await owner.say("/admin grant console:newbie editor Sam Reyes")
    assert "console:newbie is now editor" in owner.text()
    await editor.say("/admin grant console:other owner")
    assert "is now" not in editor.text()
    roles = AdminRepo(app.engine, app.clock)
    assert set(await roles.roles("console", "newbie")) == {"editor"}
    assert await roles.roles("console", "other") == {}
    assert "Your roles: editor" in "".join(r.text for r in await Chat(app, "newbie").say("/admin"))
    await owner.say("/admin revoke console:newbie editor")
    newbie = Chat(app, "newbie")
    assert "I don't know /admin" in "".join(r.text for r in await newbie.say("/admin"))


@pytest.mark.slow
def test_the_terminal_chat_admin_flag(tmp_path: Path) -> None:
    env = {**os.environ, "KETACOMPANION_DATA_KEY": TEST_KEY, "KETACOMPANION_CONTENT_DIR": str(CONTENT),
           "KETACOMPANION_EXPORT_DIR": str(tmp_path / "exports"), "KETACOMPANION_LOG_LEVEL": "WARNING"}
    lesson = tmp_path / "blood-pressure.md"
    lesson.write_bytes(edited_lesson())
    lines = [json.dumps({"text": "/admin"}), json.dumps({"document": str(lesson)})]
    out = []
    for flag in ((), ("--admin",)):
        proc = subprocess.run(
            [sys.executable, "-m", "ketacompanion", "chat", "--json", "--db", str(tmp_path / "c.db"), *flag],
            input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        out.append(" ".join(str(json.loads(x).get("text")) for x in proc.stdout.splitlines()))
    assert "I don't know /admin" in out[0] and "Publish" not in out[0]
    assert "Live: version 1" in out[1] and "Why blood pressure rises" in out[1]


async def test_a_reviewer_signs_off_a_lesson_in_chat(app: App) -> None:
    await AdminRepo(app.engine, app.clock).grant("console", "doc", "reviewer", "cli:test", "Dr Ada Lee", "psychiatrist")
    await grant(app, "ed", "editor")
    editor, doctor = Chat(app, "ed"), Chat(app, "doc")
    await editor.say("/admin review")
    assert "I don't know" not in editor.text() and "Tap one" not in editor.text()  # editors cannot review
    await doctor.say("/admin review")
    assert "19 lessons changed" in doctor.text()
    await doctor.tap("admin:review:en/blood-pressure")
    assert "https://" in doctor.text() and "Why it rises" in doctor.text()
    await doctor.tap(doctor.choice("admin:approve:en/blood-pressure"))
    assert "Signed off en/blood-pressure as Dr Ada Lee: version 2" in doctor.text()
    files = await ContentRepo(app.engine, app.clock).files(2)
    assert b'reviewed_by: "Dr Ada Lee, psychiatrist"' in files["lessons/en/blood-pressure.md"]
    await doctor.say("/admin review")
    assert "18 lessons changed" in doctor.text()


async def test_an_analyst_reads_figures_in_chat_and_the_view_is_audited(app: App) -> None:
    await grant(app, "num", "analyst")
    await grant(app, "ed", "editor")
    for i in range(5):
        await Chat(app, f"p{i}").onboard()
    analyst = Chat(app, "num")
    replies = await analyst.say("/admin stats")
    assert "everyone" in replies[0].text and "enrolled 5" in replies[0].text
    assert replies[0].image is not None and replies[0].image.data.startswith(b"\x89PNG")
    await Chat(app, "ed").say("/admin stats")
    (entry,) = await AdminRepo(app.engine, app.clock).audit_log(action="stats_view")
    assert (entry.actor, entry.detail["people"]) == ("console:num", 5)


async def test_an_editor_announces_in_chat_after_a_preview(app: App) -> None:
    await grant(app, "ed", "editor")
    for i in range(3):
        await Chat(app, f"p{i}").onboard()
    editor = Chat(app, "ed")
    await editor.say("/admin announce nowhere!! Hello")
    assert "audience must be" in editor.text()
    await editor.say("/admin announce console The clinic is closed on Friday.")
    assert "3 people" in editor.text() and "The clinic is closed on Friday." in editor.text()
    await editor.tap(editor.choice("admin:announce:"))
    assert "queued for 3 people" in editor.text()
    (entry,) = await AdminRepo(app.engine, app.clock).audit_log(action="announce")
    assert entry.detail["people"] == 3 and "Friday" not in json.dumps(entry.detail)
    patient = Chat(app, "p9")
    await patient.onboard()
    await patient.say("/admin announce all hi")
    assert "I don't know /admin" in patient.text()


async def test_in_a_group_admin_is_unknown_even_to_an_owner(app: App) -> None:
    """Anything else would tell the group who holds a role."""
    await grant(app, "boss", "owner")
    address = Address("console", "group:1")
    asked = [Inbound.from_text(address, user, text, language="en", in_group=True)
             for user, text in (("boss", "/nosuch"), ("boss", "/admin"), ("boss", "/admin stats"))]  # fmt: skip
    unknown, *answers = [[r.text for r in await app.companion.handle(x)] for x in asked]
    assert answers == [[unknown[0].replace("nosuch", "admin")]] * 2
    private = Chat(app, "boss")
    assert "Live: version 1" in "".join(r.text for r in await private.say("/admin"))
