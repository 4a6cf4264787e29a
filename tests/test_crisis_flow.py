"""Escalation end to end: local lines, buttons, cooldown, records, follow-ups."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ketacompanion.adapters.console import ConsoleAdapter
from ketacompanion.app import App
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.events import EscalationEvent
from ketacompanion.core.model import Urgency
from ketacompanion.core.ports import StoreUnavailable
from ketacompanion.delivery.simulation import Simulation
from ketacompanion.storage import tables as t

from conftest import Chat


async def test_us_user_gets_988_at_crisis_urgency(chat: Chat) -> None:
    await chat.onboard("US", "America/New_York")
    replies = await chat.say("I want to kill myself")
    assert replies[0].urgency is Urgency.CRISIS
    assert "988" in replies[0].text
    assert {c.id for c in replies[0].choices if c.url is None} == {"crisis:danger", "crisis:struggling", "crisis:ok"}
    assert any(c.url == "tel:988" for c in replies[0].choices)
    assert len(replies) == 1  # the normal answer waits


async def test_uk_user_gets_samaritans(chat: Chat) -> None:
    await chat.onboard("GB", "Europe/London")
    replies = await chat.say("i want to kill myself")
    assert replies[0].urgency is Urgency.CRISIS
    assert "116 123" in replies[0].text


async def test_unknown_country_gets_the_worldwide_entry_and_a_question(chat: Chat) -> None:
    chat.language = None
    replies = await chat.say("I'm going to end my life tonight")
    assert replies[0].urgency is Urgency.CRISIS
    assert "findahelpline" in replies[0].text.lower()


async def test_concern_gets_a_soft_question(chat: Chat) -> None:
    await chat.onboard()
    replies = await chat.say("I wish I could go to sleep and never wake up")
    assert replies[0].urgency in (Urgency.CONCERN, Urgency.CRISIS)
    if replies[0].urgency is Urgency.CONCERN:
        assert "thoughts of ending your life" in replies[0].text.lower()


async def test_repeated_messages_get_short_answers_not_a_flood(chat: Chat, clock: FakeClock) -> None:
    await chat.onboard()
    first = await chat.say("I want to kill myself")
    second = await chat.say("I want to kill myself")
    assert second and second[0].urgency is Urgency.CRISIS  # never silence
    assert "988" in second[0].text
    assert len(second[0].text) < len(first[0].text)
    assert not any(c.id == "crisis:danger" for c in second[0].choices)
    clock.advance(timedelta(hours=2))
    third = await chat.say("I want to kill myself")
    assert any(c.id == "crisis:danger" for c in third[0].choices)  # the cooldown ended


async def test_buttons_lead_on(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("I want to kill myself")
    danger = await chat.tap("crisis:danger")
    assert danger[0].urgency is Urgency.CRISIS and "911" in danger[0].text
    struggling = await chat.tap("crisis:struggling")
    assert "5 things you can see" in "\n".join(r.text for r in struggling)
    ok = await chat.tap("crisis:ok")
    assert "988" in ok[0].text  # the lines stay visible


async def test_escalation_is_recorded_without_the_words(chat: Chat) -> None:
    await chat.onboard()
    events: list[EscalationEvent] = []

    async def listen(event: EscalationEvent) -> None:
        events.append(event)

    chat.app.events.subscribe(listen)
    await chat.say("I want to kill myself, canary-words-91")
    async with chat.app.engine.connect() as conn:
        rows = (await conn.execute(select(t.escalations))).mappings().all()
        follow = (await conn.execute(select(t.checkins.c.kind).where(t.checkins.c.kind.like("followup%")))).all()
    assert len(rows) == 1 and rows[0]["note_enc"] is None
    # Level, source and category are stored encrypted; the export reads them back.
    assert b"crisis" not in rows[0]["level_enc"] and b"message" not in rows[0]["source_enc"]
    async with chat.app.store.transaction() as tx:
        exported = (await tx.users.export(rows[0]["user_id"]))["escalations"]
    assert [(r["level"], r["source"], r["note"]) for r in exported] == [("crisis", "message", None)]
    assert sorted(k for (k,) in follow) == ["followup_day", "followup_hour"]
    assert len(events) == 1 and events[0].level == "crisis" and not events[0].shared_words
    assert "canary" not in repr(events[0])


async def test_follow_up_arrives_an_hour_later_in_simulation(app: App, clock: FakeClock, tmp_path: Path) -> None:
    console = ConsoleAdapter(app.companion.handle, "sim", tmp_path, language="en", simulation=Simulation(clock, app.delivery))
    app.add_sender(console)
    for line in ('{"text": "/start"}', '{"choice": "start:agree"}', '{"choice": "start:country:US"}',
                 '{"choice": "start:tz:America|Chicago"}'):
        await console.json_request(line)
    out = await console.json_request('{"text": "I want to kill myself"}')
    assert out[0]["urgency"] == "crisis"
    early = await console.json_request('{"advance_clock": "PT59M"}')
    assert early == [{"type": "done"}]
    later = await console.json_request('{"advance_clock": "PT2M"}')
    assert later[0]["scheduled"] is True and "reach someone" in later[0]["text"]
    button = next(c["id"] for c in later[0]["choices"] if c["id"].endswith(":reached"))
    await console.json_request(json.dumps({"choice": button}))
    async with app.store.transaction() as tx:
        found = await tx.users.find("console", "sim")
        assert found is not None
        exported = (await tx.users.export(found[0].id))["escalations"]
    assert [o["outcome"] for o in exported[0]["outcomes"]] == ["reached"]
    nextday = await console.json_request('{"advance_clock": "P1D"}')
    assert any("yesterday" in str(o.get("text")) for o in nextday)


async def test_crisis_command_before_start_and_with_the_database_down(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    replies = await chat.say("/crisis")
    assert replies[0].urgency is Urgency.CRISIS

    def down() -> object:
        raise StoreUnavailable("disk gone")

    monkeypatch.setattr(chat.app.store, "transaction", down)
    replies = await chat.say("/crisis")
    assert replies[0].urgency is Urgency.CRISIS and "988" in replies[0].text
    replies = await chat.say("I want to kill myself")
    assert replies[0].urgency is Urgency.CRISIS
    assert "try again" in replies[-1].text.lower()  # and nothing is falsely confirmed


async def test_struggling_shows_the_persons_own_safety_plan(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap(chat.choice("plan:edit:"))  # the first part: warning signs
    await chat.say("I stop answering my phone")
    await chat.say("I want to kill myself")
    replies = await chat.tap("crisis:struggling")
    assert any("I stop answering my phone" in r.text for r in replies)


async def test_a_warning_sign_that_reads_like_a_crisis_is_kept_in_the_plan(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap(chat.choice("plan:edit:"))
    replies = await chat.say("when I start thinking I want to kill myself")
    assert replies[0].urgency is Urgency.CRISIS  # the card comes first
    await chat.say("/safetyplan")
    assert "when I start thinking I want to kill myself" in chat.text()


async def test_screen_only_answers_only_concerning_text(chat: Chat) -> None:
    from ketacompanion.core.model import Inbound

    group = Inbound.from_text(chat.address, "u1", "great meeting today", in_group=True)
    assert await chat.app.companion.screen_only(group) == []
    flagged = Inbound.from_text(chat.address, "u1", "I want to kill myself", in_group=True)
    replies = await chat.app.companion.screen_only(flagged)
    assert replies and replies[0].urgency is Urgency.CRISIS


async def test_words_are_kept_with_the_record_only_when_the_person_chose_it(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/settings")
    await chat.tap("set:notes")
    assert "keep your words" in chat.text()
    await chat.say("I want to kill myself, words-kept-42")
    replies = await chat.say("/export")
    exported = json.loads(replies[0].file.data)  # type: ignore[union-attr]
    assert "words-kept-42" in exported["tables"]["escalations"][0]["note"]
    async with chat.app.engine.connect() as conn:
        raw = (await conn.execute(select(t.escalations.c.note_enc))).scalar()
    assert raw is not None and b"words-kept-42" not in raw  # encrypted at rest


async def test_one_episode_keeps_every_outcome_in_the_export(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("I want to kill myself")
    await chat.tap("crisis:danger")
    await chat.tap("crisis:struggling")
    await chat.tap("crisis:ok")  # "ok" must not erase "danger"
    replies = await chat.say("/export")
    document = json.loads(replies[0].file.data)  # type: ignore[union-attr]
    (episode,) = document["tables"]["escalations"]
    assert [o["outcome"] for o in episode["outcomes"]] == ["danger", "struggling", "ok"]
    assert all(o["at"] for o in episode["outcomes"])
