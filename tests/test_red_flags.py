"""The check-ins' red flags give the advice the side-effects lesson and its quiz give."""

from __future__ import annotations

import re

import pytest
import yaml

from ketacompanion.app import App
from ketacompanion.content.instruments import Action, ItemKind, load_instruments
from ketacompanion.core.model import Urgency
from ketacompanion.core.scoring import Answer, fired_rules

from conftest import CONTENT, Chat

LESSON = CONTENT / "lessons" / "en" / "side-effects-and-when-to-call.md"
INSTRUMENTS = load_instruments(CONTENT / "checkins")

# Each red-flag option and the words of the lesson line it stands for. A new red flag
# must be added here, which makes someone read the lesson to place it.
LESSON_LINE = {
    "chest_breathing": "Chest pain, trouble breathing",
    "bad_headache": "a sudden severe headache",
    "vision_weakness": "A sudden change in vision or speech, or new weakness",
    "hallucinations": "Seeing or hearing things",
    "confused": "strong fear that others mean harm",
    "hard_to_wake": "Someone who cannot be woken",
    "cannot_pee": "No way to pass urine at all",
    "detached_days": "Feeling detached or unreal that lasts for days",
    "detached": "Feeling detached or unreal that lasts for days",
    "fog_daily_life": "Fog that gets in the way of daily life",
    "urine_blood": "Blood in your urine",
    "bladder_pain": "bad bladder or side pain",
    "cravings": "Cravings for ketamine",
    "extra_ketamine": "using more than prescribed, or using ketamine from elsewhere",
    "saving_ketamine": "Cravings for ketamine, using more than prescribed",  # the misuse line
}


def _sections() -> tuple[str, str]:
    body = LESSON.read_text(encoding="utf-8")
    same_day = body.split("Red flag, so call your clinic the same day:", 1)[1].split("##", 1)[0]
    emergency = body.split("## When to call the emergency number", 1)[1].split("##", 1)[0]
    return same_day, emergency


def _red_flags() -> list[tuple[str, str, bool]]:
    found = []
    for ins in INSTRUMENTS.values():
        for item in ins.items:
            if item.kind is ItemKind.MULTI:
                found += [(ins.id, o.id, o.emergency) for o in item.options if o.red_flag]
    return found


def test_the_lesson_says_call_the_emergency_number_now_and_the_quiz_agrees() -> None:
    _, emergency = _sections()
    assert "Call your emergency number now" in emergency
    front = yaml.safe_load(LESSON.read_text(encoding="utf-8").split("---")[1])
    right = next(o for o in front["quiz"]["options"] if o["id"] == front["quiz"]["answer"])
    assert "Chest pain" in right["text"] and "emergency number now; do not wait" in right["explanation"]


@pytest.mark.parametrize(("instrument", "option", "emergency"), _red_flags())
def test_each_red_flag_is_in_the_lesson_list_its_advice_follows(instrument: str, option: str, emergency: bool) -> None:
    same_day, urgent = _sections()
    assert option in LESSON_LINE, f"{instrument}/{option}: place it against the lesson"
    line = LESSON_LINE[option]
    in_emergency = line in urgent
    assert in_emergency or line in same_day, f"{line!r} is not in the lesson"
    assert emergency == in_emergency, f"{instrument}/{option}: the lesson says {'now' if in_emergency else 'today'}"
    ins = INSTRUMENTS[instrument]
    multi = next(it for it in ins.items if it.kind is ItemKind.MULTI)
    actions = {h.action for h in fired_rules(ins, {multi.id: Answer(options=(option,))})}
    assert (Action.EMERGENCY in actions) == emergency


def _messages() -> dict[str, str]:
    return yaml.safe_load((CONTENT / "messages" / "en.yaml").read_text(encoding="utf-8"))["checkins"]


def test_the_emergency_message_says_what_the_lesson_says() -> None:
    text = _messages()["emergency_medical"]
    assert re.search(r"Call \{emergency\} now; do not wait", text)
    assert "clinic" not in text


async def test_every_emergency_red_flag_in_the_daily_check_says_call_now(app: App) -> None:
    daily = INSTRUMENTS["daily"]
    multi = next(i for i, it in enumerate(daily.items) if it.kind is ItemKind.MULTI)
    for n, option in enumerate(daily.items[multi].options):
        if not option.red_flag or option.id in ("cravings", "extra_ketamine"):
            continue
        chat = Chat(app, user=f"rf-{option.id}")
        await chat.onboard(country="DE", zone="Europe/Berlin")
        await chat.say("/checkin")
        cid = chat.choice("checkin:skip:").split(":")[2]
        for _ in range(multi):
            await chat.tap(chat.choice(f"checkin:skip:{cid}"))
        replies = await chat.tap(f"checkin:a:{cid}:{multi}:{n}")
        advice = [r.text for r in replies if r.urgency is Urgency.CONCERN]
        assert len(advice) == 1, option.id
        assert ("Call 112 now; do not wait" in advice[0]) == option.emergency, option.id
