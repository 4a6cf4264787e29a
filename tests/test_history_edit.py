"""``/history`` and correcting a past check-in: a new version, the old one in the export,
screened like any answer, and closed after a week."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from ketacompanion.app import App
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Urgency
from month import checkin

from conftest import Chat


async def _export(chat: Chat) -> dict[str, list[dict[str, object]]]:
    replies = await chat.say("/export")
    return json.loads(replies[0].file.data)["tables"]  # type: ignore[union-attr]


async def test_history_lists_recent_checkins_with_plain_answers(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard()
    await checkin(chat)
    clock.advance(timedelta(days=1))
    await checkin(chat, ("4", "6", "poorly", "2", "no", "skip"))
    await chat.say("/history")
    text = chat.text()
    assert "Mood: 4" in text and "Mood: 7" in text and "Poorly" in text and "Feeling sick or throwing up" in text
    assert text.index("Mood: 4") < text.index("Mood: 7")  # newest first
    assert len([c for c in chat.choices() if c.id.startswith("edit:pick:")]) == 2


async def test_correcting_mood_keeps_the_old_answer_in_the_export(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard()
    await checkin(chat)
    clock.advance(timedelta(days=2))
    await chat.say("/history")
    await chat.tap(chat.choice("edit:pick:"))
    await chat.tap(chat.choice("edit:item:"))  # mood is the first answer
    await chat.say("3")
    assert "Corrected: 3" in chat.text()
    tables = await _export(chat)
    current = {r["item_id"]: r["value"] for r in tables["checkin_answers"]}
    assert current["mood"] == {"value": 3} or current["mood"]["value"] == 3  # type: ignore[index]
    versions = tables["checkin_answer_versions"]
    assert [(v["item_id"], v["value"]["value"]) for v in versions] == [("mood", 7)]  # type: ignore[index]
    await chat.say("/history")
    assert "Mood: 3" in chat.text()


async def test_a_raised_safety_answer_opens_the_safety_follow_up(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard()
    await checkin(chat)
    clock.advance(timedelta(hours=5))
    await chat.say("/history")
    await chat.tap(chat.choice("edit:pick:"))
    safety = next(c.id for c in chat.choices() if c.label.startswith("Thoughts of self-harm"))
    await chat.tap(safety)
    assert not any(c.label.lower().startswith("skip") for c in chat.choices())
    await chat.say("2")  # digits are refused on the safety question, as in a check-in
    assert "tap" in chat.text().lower()
    replies = await chat.tap(chat.choice("edit:a:").rsplit(":", 1)[0] + ":1")  # "Yes, once or twice"
    assert replies[0].urgency is Urgency.CRISIS
    tables = await _export(chat)
    assert tables["escalations"] and tables["checkin_answer_versions"]


async def test_a_new_red_flag_in_a_correction_gets_the_urgent_advice(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard()
    await checkin(chat)
    await chat.say("/history")
    await chat.tap(chat.choice("edit:pick:"))
    effects = next(c.id for c in chat.choices() if c.label.startswith("Side effects"))
    await chat.tap(effects)
    await chat.say("14")  # blood in pee
    assert any(r.urgency is Urgency.CONCERN for r in chat.last)
    await chat.tap(chat.choice("edit:done:"))
    assert "saved" in chat.text()


@pytest.mark.parametrize("days", [8])
async def test_after_a_week_it_cannot_be_corrected(app: App, chat: Chat, clock: FakeClock, days: int) -> None:
    await chat.onboard()
    await checkin(chat)
    await chat.say("/history")
    pick = chat.choice("edit:pick:")
    clock.advance(timedelta(days=days))
    await chat.tap(pick)
    assert "no longer be corrected" in chat.text()
    await chat.say("/history")
    assert not any(c.id.startswith("edit:pick:") for c in chat.choices())


async def test_someone_elses_checkin_cannot_be_corrected(app: App, clock: FakeClock) -> None:
    a, b = Chat(app, user="a"), Chat(app, user="b")
    await a.onboard()
    await b.onboard()
    await checkin(a)
    await a.say("/history")
    pick = a.choice("edit:pick:")
    await b.tap(pick)
    assert "no longer be corrected" in b.text()


@pytest.mark.slow
def test_correcting_through_the_terminal_chat(tmp_path: Path) -> None:
    from test_cli_chat import run_chat

    lines = [json.dumps({"text": "/start"}), json.dumps({"choice": "start:agree"}),
             json.dumps({"choice": "start:country:GB"}), json.dumps({"text": "/checkin"})]
    lines += [json.dumps({"text": x}) for x in ("7", "2", "well", "none", "no", "skip")]
    lines += [json.dumps({"text": "/history"})]
    out = run_chat(tmp_path, lines)
    pick = next(c["id"] for o in out if o["type"] == "reply" for c in o.get("choices", []) if c["id"].startswith("edit:pick:"))
    out = run_chat(tmp_path, [json.dumps({"choice": pick}), json.dumps({"choice": pick.replace("pick", "item") + ":0"}),
                              json.dumps({"text": "2"}), json.dumps({"text": "/history"})])
    texts = [str(o.get("text")) for o in out if o["type"] == "reply"]
    assert any("Corrected: 2" in x for x in texts) and any("Mood: 2" in x for x in texts)
