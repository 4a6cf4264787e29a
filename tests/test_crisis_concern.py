"""The soft check asks directly whether the person is thinking of ending their life;
"yes" opens the crisis card, and the answer is kept like a check-in answer."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from ketacompanion.app import build_app
from ketacompanion.core.model import Urgency
from ketacompanion.storage import tables

from conftest import Chat, make_settings

SOFT = "I wish I could go to sleep and never wake up"  # a concern for the rules


async def _concern(chat: Chat) -> None:
    await chat.onboard()
    replies = await chat.say(SOFT)
    assert replies[0].urgency is Urgency.CONCERN
    assert "are you having thoughts of ending your life?" in replies[0].text.lower()
    assert {c.id for c in replies[0].choices} >= {"crisis:thoughts:yes", "crisis:thoughts:no", "crisis:unsafe"}


async def test_yes_opens_the_crisis_card_and_is_kept(chat: Chat) -> None:
    await _concern(chat)
    replies = await chat.tap("crisis:thoughts:yes")
    assert replies[0].urgency is Urgency.CRISIS
    assert "988" in replies[0].text and any(c.id == "crisis:danger" for c in replies[0].choices)
    async with chat.app.store.transaction() as tx:
        user, _ = await tx.users.find("console", "u1")  # type: ignore[misc]
        assert await tx.concern_answers.answers(user.id) == ["yes"]
        last = await tx.escalations.last(user.id)
        assert last is not None and last.level == "crisis"


async def test_no_gets_a_kind_answer_with_the_lines_in_reach(chat: Chat) -> None:
    await _concern(chat)
    replies = await chat.tap("crisis:thoughts:no")
    assert replies[0].urgency is Urgency.CONCERN
    assert "/crisis" in replies[0].text
    assert any(c.url for c in replies[0].choices)  # one tap to a line
    async with chat.app.store.transaction() as tx:
        user, _ = await tx.users.find("console", "u1")  # type: ignore[misc]
        assert await tx.concern_answers.answers(user.id) == ["no"]
        assert (await tx.escalations.last(user.id)).level == "concern"  # type: ignore[union-attr]


async def test_a_made_up_answer_changes_nothing(chat: Chat) -> None:
    await _concern(chat)
    replies = await chat.tap("crisis:thoughts:maybe")
    assert replies[0].urgency is Urgency.CRISIS  # an unknown crisis button shows the lines
    async with chat.app.store.transaction() as tx:
        user, _ = await tx.users.find("console", "u1")  # type: ignore[misc]
        assert await tx.concern_answers.answers(user.id) == []


async def test_answers_are_encrypted_exported_and_deleted(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "bot.db"
    app = await build_app(make_settings(f"sqlite+aiosqlite:///{db}", tmp_path), clock)
    try:
        chat = Chat(app)
        await _concern(chat)
        await chat.tap("crisis:thoughts:no")
        async with app.engine.connect() as conn:
            stored = (await conn.execute(select(tables.concern_answers.c.answer_enc))).scalars().all()
        assert len(stored) == 1 and b"no" not in stored[0][:2] and len(stored[0]) > 20  # ciphertext
        replies = await chat.say("/export")
        document = json.loads(replies[0].file.data)  # type: ignore[union-attr]
        exported = document["tables"]["concern_answers"]
        assert [row["answer"] for row in exported] == ["no"]
        assert exported[0]["escalation_id"] is not None
        await chat.say("/delete")
        await chat.tap("delete:yes")
        async with app.engine.connect() as conn:
            assert (await conn.execute(select(tables.concern_answers))).first() is None
    finally:
        await app.close()
