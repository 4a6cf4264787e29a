"""A preview's Publish press may land on any process: the checked bytes wait in the
database, publish exactly once, and a stale, forged or someone else's press is refused
kindly and audited. Two apps over one database (a SQLite file; PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from ketacompanion.app import App, build_app
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock
from ketacompanion.storage import tables as t
from ketacompanion.storage.admin_repo import AdminRepo
from ketacompanion.storage.content_repo import ContentRepo
from test_admin_chat import edited_lesson, send_file

from conftest import Chat, make_settings


@pytest.fixture
async def two(database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content) -> AsyncIterator[tuple[App, App]]:
    settings = make_settings(database_url, tmp_path)
    first = await build_app(settings, clock, content_set)
    second = await build_app(settings, clock, content_set)
    for who in ("ed", "other"):
        await AdminRepo(first.engine, clock).grant("console", who, "editor", "cli:test")
    yield first, second
    await second.close()
    await first.close()


async def refusals(app: App) -> list[str]:
    return [e.detail["reason"] for e in await AdminRepo(app.engine, app.clock).audit_log(action="publish_refused")]


async def test_publish_pressed_on_another_process_publishes_what_was_previewed_once(two: tuple[App, App]) -> None:
    a, b = two
    on_a, on_b = Chat(a, "ed"), Chat(b, "ed")
    await send_file(on_a, "blood-pressure.md", edited_lesson())
    publish = on_a.choice("admin:publish:")
    await on_b.tap(publish)
    assert "Published version 2" in on_b.text()
    repo = ContentRepo(b.engine, b.clock)
    assert (await repo.files(2))["lessons/en/blood-pressure.md"] == edited_lesson()
    await on_a.tap(publish)  # the same press again, on the first process
    assert "expired or was already used" in on_a.text() and await repo.live_number() == 2
    assert await refusals(a) == ["preview unknown"]


async def test_two_presses_at_once_on_two_processes_publish_once(two: tuple[App, App]) -> None:
    a, b = two
    on_a, on_b = Chat(a, "ed"), Chat(b, "ed")
    await send_file(on_a, "blood-pressure.md", edited_lesson())
    publish = on_a.choice("admin:publish:")
    await asyncio.gather(on_a.tap(publish), on_b.tap(publish))
    answers = [on_a.text(), on_b.text()]
    assert sum("Published version 2" in x for x in answers) == 1, answers
    assert sum("expired or was already used" in x for x in answers) == 1, answers
    repo = ContentRepo(a.engine, a.clock)
    assert await repo.live_number() == 2 and await repo.version(3) is None


async def test_a_forged_stale_or_borrowed_press_is_refused_and_audited(two: tuple[App, App], clock: FakeClock) -> None:
    a, b = two
    mine, theirs = Chat(a, "ed"), Chat(b, "other")
    await send_file(mine, "blood-pressure.md", edited_lesson())
    publish = mine.choice("admin:publish:")
    await theirs.tap(publish)  # another editor replays the button: not theirs to press
    await theirs.tap("admin:publish:0123456789abcdef")  # a token never issued
    assert "expired or was already used" in theirs.text()
    repo = ContentRepo(a.engine, a.clock)
    assert await repo.live_number() == 1
    await mine.tap(publish)  # the uploader's own press still works
    assert "Published version 2" in mine.text()
    await send_file(mine, "blood-pressure.md", edited_lesson().replace(b"rises", b"goes up", 1))
    late = mine.choice("admin:publish:")
    clock.advance(timedelta(minutes=31))
    await Chat(b, "ed").tap(late)
    assert await repo.live_number() == 2
    assert sorted(await refusals(a)) == ["preview expired", "preview not_yours", "preview unknown"]
    actors = {e.actor for e in await AdminRepo(a.engine, a.clock).audit_log(action="publish_refused")}
    assert actors == {"console:ed", "console:other"}


async def test_stored_bytes_that_no_longer_match_their_hash_are_never_published(two: tuple[App, App]) -> None:
    a, b = two
    on_a = Chat(a, "ed")
    await send_file(on_a, "blood-pressure.md", edited_lesson())
    publish = on_a.choice("admin:publish:")
    async with a.engine.begin() as conn:  # the stored preview changed behind the button's back
        await conn.execute(update(t.admin_pending).values(digest="0" * 64))
    await Chat(b, "ed").tap(publish)
    assert await ContentRepo(a.engine, a.clock).live_number() == 1
    assert await refusals(a) == ["preview corrupt"]


async def test_a_preview_checked_against_an_older_live_version_is_refused(two: tuple[App, App]) -> None:
    a, b = two
    first, second = Chat(a, "ed"), Chat(b, "other")
    await send_file(first, "blood-pressure.md", edited_lesson())
    await send_file(second, "blood-pressure.md", edited_lesson().replace(b"rises", b"goes up", 1))
    await second.tap(second.choice("admin:publish:"))
    await first.tap(first.choice("admin:publish:"))
    assert "went live after this preview" in first.text()
    assert await ContentRepo(a.engine, a.clock).live_number() == 2
