"""Discord bad input: forged and stale buttons, fuzzed payloads, long text boxes, closed
DMs mid-check-in, scheduled check-ins through the outbox, and check-ins switched off."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ketacompanion.app import build_app
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock
from test_delivery import rows, set_schedule
from test_discord_community import alert_offer, dms, screened_server
from test_discord_flows import close_dms, export_of, first, ids, onboard, text, write

from conftest import make_settings
from fakes.discord_harness import Harness, message_dict


async def harness(database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content, **extra: Any) -> Harness:
    settings = make_settings(database_url, tmp_path, discord_token="x", discord_message_content=True, **extra)
    app = await build_app(settings, clock, content_set)
    bot = Harness(app)
    await bot.start()
    return bot


@pytest.fixture
async def bot(
    database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    monkeypatch.chdir(tmp_path)  # dpytest writes each attachment it sees to the working directory
    made = await harness(database_url, tmp_path, clock, content_set)
    try:
        yield made
    finally:
        await made.stop()
        await made.app.close()


FORGED = [
    "kc:checkin:a:99999:0:1", "kc:alert:share:1:words", "kc:alert:take:1", "kc:alert:share:abc:asked",
    "kc:alert:share:99999999999999999999999:asked", "kc:delete:confirm", "kc:plan:edit:../../etc",
    "kc:start:country:ZZ", "kc:nope", "kc:" + "x" * 97,
]  # fmt: skip


async def test_forged_and_stale_custom_ids_change_nothing(bot: Harness) -> None:
    await onboard(bot)
    await screened_server(bot)
    await alert_offer(bot)  # an alert offered to ann: bo must not be able to answer it
    before = await export_of(bot, bot.ann.id)
    for custom_id in FORGED:
        sent = await bot.press(custom_id, bot.bo)
        assert len([s for s in sent if s.kind != "callback"]) <= 3  # answered, briefly
        await bot.press(custom_id, bot.bo, guild=True)
    assert await export_of(bot, bot.ann.id) == before
    async with bot.app.store.transaction() as tx:
        found = await tx.users.find("discord", str(bot.bo.id))
    assert found is None or not found[0].consented


async def test_a_press_the_pressed_message_does_not_carry_is_not_answered(bot: Harness) -> None:
    # As discord.py's own dispatch: Discord only sends presses of buttons on the message.
    for custom_id in ("kc:go:help", "kcw"):
        payload = bot._base(3, bot.ann, False)
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        other = {"type": 2, "style": 2, "label": "x", "custom_id": "kc:something:else"}
        payload["message"] = message_dict({"content": "card", "components": [{"type": 1, "components": [other]}]})
        assert await bot.raw(payload) == []
        assert await bot.press(custom_id) != []  # the same press on a message that carries it


def _shuffle(value: Any, rng: random.Random) -> Any:
    choices = [None, "", 0, -1, 2**70, "x" * 5000, [], {}, True, "\u202e\u0000"]
    return rng.choice(choices + [value])


async def test_fuzzed_interaction_payloads_raise_nothing_and_write_nothing(bot: Harness) -> None:
    rng = random.Random(12)
    base = bot._base(2, bot.ann, True)
    base["data"] = {"id": "1", "name": "checkin", "type": 1, "options": []}
    for round_ in range(150):
        payload = dict(base)
        payload["id"] = str(1000 + round_)
        for key in rng.sample(sorted(payload), 3):
            payload[key] = _shuffle(payload[key], rng)
        try:
            await bot.raw(payload)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # discord.py refuses a payload Discord never sends: it must not reach us
    exported_tables = 0
    async with bot.app.engine.connect() as conn:
        from sqlalchemy import func, select

        from ketacompanion.storage import tables as t

        exported_tables = (await conn.execute(select(func.count()).select_from(t.checkins))).scalar_one()
    assert exported_tables == 0  # no consent, so no check-in was ever opened


async def test_a_4000_character_text_box_reaches_the_safety_plan(bot: Harness) -> None:
    await onboard(bot)
    sent = await bot.command("safetyplan")
    sent = await bot.press(first(sent, "plan:edit:"))
    assert "kcw" in [c for s in sent for c in s.custom_ids()]
    long = ("calm " * 800)[:4000]
    sent = await write(bot, long)
    assert text(sent)  # answered: saved, or trimmed with a notice
    exported = await export_of(bot, bot.ann.id)
    assert exported["safety_plans"], "the entry was stored"


async def test_closing_dms_mid_checkin_keeps_the_answers(bot: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await onboard(bot)
    bot.sent_messages()
    await bot.command("checkin", guild=True)
    question = [m for m in dms(bot.sent_messages()) if bot.buttons(m)]
    answer = [b for m in question for b in bot.buttons(m) if b.startswith("kc:checkin:a:")][0]
    await bot.press(answer)  # the first answer, in the DM
    close_dms(bot, monkeypatch)
    sent = await bot.command("checkin", guild=True)  # they come back from the server
    assert "Direct Messages" in text(sent)
    exported = await export_of(bot, bot.ann.id)
    assert len(exported["checkin_answers"]) == 1  # nothing lost


async def test_scheduled_checkins_go_out_as_dms_through_the_outbox(bot: Harness, clock: FakeClock,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    await onboard(bot)
    uid = await set_schedule(bot.app, str(bot.ann.id), "America/New_York")
    bot.sent_messages()
    clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    await bot.app.delivery.tick()
    sent = dms(bot.sent_messages())
    assert len(sent) == 1 and any(b.startswith("kc:checkin:start:") for b in bot.buttons(sent[0]))
    assert [s for _, s, _ in await rows(bot.app, uid)][0] == "sent"
    close_dms(bot, monkeypatch)
    clock.set(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    await bot.app.delivery.tick()
    async with bot.app.store.transaction() as tx:
        found = await tx.users.find("discord", str(bot.ann.id))
    assert found is not None and found[0].unreachable_at is not None


async def test_checkins_switched_off(database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content) -> None:
    bot = await harness(database_url, tmp_path, clock, content_set, discord_checkins=False)
    try:
        for where in (False, True):
            sent = await bot.command("checkin", guild=where)
            assert "aren't offered here" in text(sent) and not any(c.startswith("checkin:") for c in ids(sent))
        sent = await bot.command("learn", guild=True)
        assert any(c.startswith("learn:") for c in ids(sent))
    finally:
        await bot.stop()
        await bot.app.close()


async def test_crisis_text_gets_the_card_even_with_the_database_down(bot: Harness) -> None:
    await screened_server(bot)
    await bot.app.store.close()  # the worst case: storage gone mid-run
    for guild in (False, True):
        sent = await bot.command("crisis", guild=guild)
        assert "988" in text(sent) or "emergency" in text(sent).lower(), text(sent)
