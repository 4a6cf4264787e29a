"""``/history``: recent check-ins, and correcting an answer within a week.

A correction is kept as a new version (the earlier answer goes to
``checkin_answer_versions`` and into the export) and is screened like any answer: a
safety answer raised above 0 opens the safety follow-up, a new red flag the urgent
advice. Button ids: ``edit:pick:<checkin>``, ``edit:item:<checkin>:<index>``,
``edit:a:<checkin>:<index>:<n>``, ``edit:done:<checkin>:<index>``, ``edit:cancel``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.content.instruments import Action, Instrument, ItemKind
from ketacompanion.core.checkins import CheckinCrisis
from ketacompanion.core.model import Choice, Reply, Urgency
from ketacompanion.core.ports import CheckinRecord, PastCheckin
from ketacompanion.core.questions import ask_again, button_answer, question
from ketacompanion.core.scoring import Answer, fired_rules, parse_answer
from ketacompanion.core.summary_page import option_label
from ketacompanion.core.turn import Turn, button

EDIT_WINDOW = timedelta(days=7)
LISTED_DAYS = 14
LISTED = 8


def shown_answer(ins: Instrument, item_id: str, answer: Answer) -> str:
    item = next(i for i in ins.items if i.id == item_id)
    if item.kind is ItemKind.SCALE:
        return "-" if answer.value is None else str(answer.value)
    if item.kind is ItemKind.MULTI:
        labels = [o.label for o in item.options if o.id in answer.options]
        return ", ".join(labels) or "-"
    if item.kind is ItemKind.TEXT:
        return answer.text or "-"
    return option_label(item, answer) or "-"


def _urgent_actions(ins: Instrument, answers: Mapping[str, Answer]) -> set[Action]:
    return {h.action for h in fired_rules(ins, answers) if h.item_id is not None}


class HistoryEditFlow:
    name = "edit"
    needs_open_state = False  # buttons carry the check-in id; its owner and age are checked

    def __init__(self, content: ContentHolder, crisis: CheckinCrisis) -> None:
        self._content, self._crisis = content, crisis

    def _ins(self, record: CheckinRecord) -> Instrument | None:
        return self._content.current.instruments.get(record.instrument or "")

    def _editable(self, turn: Turn, record: CheckinRecord | None) -> bool:
        return (
            record is not None and record.status == "answered" and record.answered_at is not None
            and turn.now - record.answered_at <= EDIT_WINDOW and self._ins(record) is not None
        )

    async def command(self, turn: Turn) -> list[Reply]:
        user = turn.require_user()
        past = await turn.tx.checkins.history(user.id, turn.now - timedelta(days=LISTED_DAYS))
        done = [p for p in past if p.record.status == "answered" and self._ins(p.record)][-LISTED:]
        if not done:
            return [Reply(turn.t("history_edit.empty"))]
        zone = ZoneInfo(user.timezone or "UTC")
        replies = [Reply(turn.t("history_edit.intro", days=EDIT_WINDOW.days))]
        for p in reversed(done):
            replies.append(self._line(turn, p, zone))
        return replies

    def _line(self, turn: Turn, past: PastCheckin, zone: ZoneInfo) -> Reply:
        ins = self._ins(past.record)
        assert ins is not None
        parts = [f"{_short(turn, i.id, i.prompt)}: {shown_answer(ins, i.id, past.answers[i.id])}"
                 for i in ins.items if i.id in past.answers and i.kind is not ItemKind.TEXT]
        when = past.record.when.astimezone(zone).strftime("%a %b %d, %H:%M")
        text = f"{when} · {ins.title.split(':', 1)[0]}\n" + "\n".join(parts)
        choices: tuple[Choice, ...] = ()
        if self._editable(turn, past.record):
            choices = (button(turn.t("history_edit.correct"), self.name, "pick", past.record.id),)
        return Reply(text, choices=choices)

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        user = turn.user
        if action == "cancel":
            turn.state.clear()
            return [Reply(turn.t("history_edit.cancelled"))]
        if user is None or not user.consented or not args or not args[0].isdigit():
            return [Reply(turn.t("common.closed"))]
        record = await turn.tx.checkins.get(user.id, int(args[0]))
        if not self._editable(turn, record):
            return [Reply(turn.t("history_edit.too_old", days=EDIT_WINDOW.days))]
        assert record is not None
        ins = self._ins(record)
        assert ins is not None
        answers = await turn.tx.checkins.answers(user.id, record.id)
        if action == "pick":
            return [self._items(turn, ins, record, answers)]
        index = int(args[1]) if len(args) > 1 and args[1].isdigit() else -1
        if not 0 <= index < len(ins.items):
            return [self._items(turn, ins, record, answers)]
        if action == "item":
            turn.state.open(self.name, ins.items[index].id, id=record.id, kept=False)
            return [self._ask(turn, ins, record, index, answers)]
        if action == "done":
            turn.state.clear()
            return [Reply(turn.t("history_edit.saved"))]
        if action == "a" and len(args) > 2 and args[2].lstrip("-").isdigit():
            answer = button_answer(ins.items[index], int(args[2]), answers.get(ins.items[index].id))
            if answer is not None:
                return await self._save(turn, ins, record, answers, index, answer)
        return [self._ask(turn, ins, record, index, answers)]

    def _items(self, turn: Turn, ins: Instrument, record: CheckinRecord, answers: Mapping[str, Answer]) -> Reply:
        choices = [
            button(f"{_short(turn, i.id, i.prompt)}: {shown_answer(ins, i.id, answers[i.id])}"[:60],
                   self.name, "item", record.id, n)
            for n, i in enumerate(ins.items) if i.id in answers
        ]
        choices.append(button(turn.t("common.cancel"), self.name, "cancel"))
        return Reply(turn.t("history_edit.which"), choices=tuple(choices))

    def _ask(self, turn: Turn, ins: Instrument, record: CheckinRecord, index: int, answers: Mapping[str, Answer]) -> Reply:
        asked = question(turn.t, ins, index, record.id, answers)
        keep = ("checkin:a:", "checkin:done:")
        choices = [Choice("edit:" + c.id.removeprefix("checkin:"), c.label) for c in asked.choices if c.id.startswith(keep)]
        choices.append(button(turn.t("common.cancel"), self.name, "cancel"))
        return Reply(turn.t("history_edit.asking") + "\n" + asked.text, choices=tuple(choices))

    async def on_text(self, turn: Turn) -> list[Reply]:
        user = turn.require_user()
        checkin_id = turn.state.data.get("id")
        record = await turn.tx.checkins.get(user.id, checkin_id) if isinstance(checkin_id, int) else None
        if not self._editable(turn, record):
            turn.state.clear()
            return [Reply(turn.t("history_edit.too_old", days=EDIT_WINDOW.days))]
        assert record is not None
        ins = self._ins(record)
        assert ins is not None
        index = next((n for n, i in enumerate(ins.items) if i.id == turn.state.step), None)
        if index is None:
            turn.state.clear()
            return [Reply(turn.t("common.closed"))]
        item, typed = ins.items[index], turn.inbound.text
        answers = await turn.tx.checkins.answers(user.id, record.id)
        answer = None if item.safety and any(c.isdigit() for c in typed) else parse_answer(item, typed)
        if answer is None:
            return [Reply(ask_again(turn.t, item)), self._ask(turn, ins, record, index, answers)]
        return await self._save(turn, ins, record, answers, index, answer)

    async def _save(
        self, turn: Turn, ins: Instrument, record: CheckinRecord, answers: dict[str, Answer], index: int, answer: Answer
    ) -> list[Reply]:
        user, item = turn.require_user(), ins.items[index]
        before = _urgent_actions(ins, answers)
        first = not (turn.state.flow == self.name and turn.state.data.get("kept"))
        await turn.tx.corrections.correct(user.id, record.id, item.id, answer, turn.now, keep_old=first)
        answers[item.id] = answer
        fired = _urgent_actions(ins, answers) - before
        replies: list[Reply] = []
        if Action.CRISIS in fired:
            turn.state.clear()
            return await self._crisis.from_checkin(turn, "checkin_safety" if item.safety else "checkin_correction")
        if Action.URGENT_MEDICAL in fired:
            number = self._crisis.emergency_number(turn.user, turn.inbound.language)
            emergency = number or turn.t("checkins.local_emergency")
            replies.append(Reply(turn.t("checkins.urgent_medical", emergency=emergency), urgency=Urgency.CONCERN))
        if item.kind is ItemKind.MULTI:
            # Toggles stay on the question until Done; one version keeps what was there before.
            turn.state.open(self.name, item.id, id=record.id, kept=True)
            card = self._ask(turn, ins, record, index, answers)
            return [*replies, Reply(card.text, choices=card.choices, replaces_card=not replies)]
        turn.state.clear()
        shown = shown_answer(ins, item.id, answer)
        return [*replies, Reply(turn.t("history_edit.saved_answer", answer=shown))]

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return await self.command(turn)


def _short(turn: Turn, item_id: str, prompt: str) -> str:
    for key in (f"history_edit.label_{item_id}", f"checkins.label_{item_id}"):
        try:
            return turn.t(key).capitalize()
        except KeyError:
            continue
    words = prompt.split()
    return " ".join(words[:5]) + ("…" if len(words) > 5 else "")
