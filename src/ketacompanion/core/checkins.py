"""``/checkin`` and the check-in flow: one question at a time, each answer saved as it comes.

A small state machine over the instrument's items. The dialogue state holds only the
check-in id and the current item id; answers live encrypted in ``checkin_answers``. The
next question is always the first unanswered item (a skip is stored as an empty answer),
so "Back" and coming back later both land where the person left off.

Rules: the crisis and urgent-medical rules fire the moment an answer sets them off; the
rest (a severe total) at the end, with a short summary that compares with earlier
check-ins. Button ids: ``checkin:start|later|resume:<id>``, ``checkin:gad7:<phq9 id>``
and the question buttons in ``questions.py``."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Protocol

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.content.instruments import Action, Instrument, ItemKind
from ketacompanion.core.checkin_summary import summary_lines
from ketacompanion.core.model import Reply, Urgency
from ketacompanion.core.ports import CheckinRecord, UserRecord
from ketacompanion.core.questions import ask_again, button_answer, question
from ketacompanion.core.scoring import Answer, fired_rules, parse_answer
from ketacompanion.core.turn import Turn, button

COMPARE_DAYS = 120  # how far back the summary looks for an earlier answer
_NAMED = {"": "daily", "daily": "daily", "phq9": "phq9", "gad7": "gad7"}
_NOW_ACTIONS = (Action.CRISIS, Action.EMERGENCY, Action.URGENT_MEDICAL)  # never wait for the end of the check-in


class CheckinCrisis(Protocol):
    async def from_checkin(self, turn: Turn, category: str = "checkin_safety") -> list[Reply]: ...

    def emergency_number(self, user: UserRecord | None, language: str | None) -> str: ...


def _immediate(ins: Instrument, answers: Mapping[str, Answer]) -> dict[Action, str]:
    """Item rules (not totals) of the urgent kinds that these answers fire: action -> rule id."""
    found: dict[Action, str] = {}
    for hit in fired_rules(ins, answers):
        if hit.item_id is not None and hit.action in _NOW_ACTIONS:
            found.setdefault(hit.action, hit.rule_id)
    return found


def _first_unanswered(ins: Instrument, answers: Mapping[str, Answer]) -> int | None:
    return next((i for i, item in enumerate(ins.items) if item.id not in answers), None)


class CheckinFlow:
    name = "checkin"
    needs_consent = True  # its buttons act on health data: a stranger's press asks for consent
    needs_open_state = False  # buttons carry the check-in id and are checked against its row

    def __init__(self, content: ContentHolder, crisis: CheckinCrisis) -> None:
        self._content, self._crisis = content, crisis

    async def keeps_flagged_text(self, turn: Turn) -> bool:
        """A note written during a check-in is kept even when it also needs the crisis card."""
        found = await self._open_checkin(turn)
        item = next((it for it in found[1].items if it.id == turn.state.step), None) if found else None
        return item is not None and item.kind is ItemKind.TEXT

    def _instrument(self, record: CheckinRecord) -> Instrument | None:
        content = self._content.at(record.content_version) or self._content.current
        return content.instruments.get(record.instrument or "")

    def _worded_from(self, record: CheckinRecord | None) -> AbstractContextManager[object]:
        """A check-in is asked, answered and scored wholly from the content version its
        prompt came from, even after a newer one went live (while this process holds it)."""
        content = self._content.at(record.content_version) if record is not None else None
        return self._content.pinned_to(content) if content is not None else nullcontext()

    # --- entry points ---------------------------------------------------------------------
    async def command(self, turn: Turn) -> list[Reply]:
        """``/checkin`` runs the daily check; ``/checkin phq9`` and ``/checkin gad7`` those."""
        user = turn.require_user()
        wanted = _NAMED.get(turn.inbound.text.strip().lower().replace("-", "").replace(" ", ""))
        if wanted is None or wanted not in self._content.current.instruments:
            return [Reply(turn.t("checkins.unknown_instrument"))]
        # Never two open prompts of one instrument: continue the one already open.
        record = await turn.tx.checkins.find_answerable(user.id, wanted, turn.now)
        if record is None:
            record = await turn.tx.checkins.create_manual(user.id, wanted, turn.now, self._content.version)
        elif record.status != "open":
            await turn.tx.checkins.mark_open(record.id, turn.now, self._content.version)
        with self._worded_from(record):
            return await self._run(turn, record, intro=True)

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        user = turn.require_user()
        if action == "later":
            return [Reply(turn.t("checkins.later"))]
        if not args or not args[0].isdigit():
            return await self.reprompt(turn)
        record = await turn.tx.checkins.get(user.id, int(args[0]))
        with self._worded_from(record):
            return await self._on_checkin_choice(turn, action, args, record)

    async def _on_checkin_choice(
        self, turn: Turn, action: str, args: list[str], record: CheckinRecord | None
    ) -> list[Reply]:
        if action == "gad7" and record is not None and record.status == "answered":
            return await self._gad7_after(turn, record)
        if record is None or not record.answerable(turn.now) or self._instrument(record) is None:
            return self._closed(turn)
        if action in ("start", "resume"):
            if record.status != "open":
                await turn.tx.checkins.mark_open(record.id, turn.now, self._content.version)
            return await self._run(turn, record, intro=action == "start")
        if len(args) < 2 or not args[1].isdigit():
            return await self.reprompt(turn)
        return await self._question_button(turn, record, action, int(args[1]), args[2:])

    async def _open_checkin(self, turn: Turn) -> tuple[CheckinRecord, Instrument] | None:
        """The check-in the dialogue state points at, if it can still be answered."""
        checkin_id = turn.state.data.get("id")
        if turn.user is None or not isinstance(checkin_id, int):
            return None
        record = await turn.tx.checkins.get(turn.user.id, checkin_id)
        ins = self._instrument(record) if record else None
        if record is None or ins is None or not record.answerable(turn.now):
            return None
        return record, ins

    async def on_text(self, turn: Turn) -> list[Reply]:
        found = await self._open_checkin(turn)
        if found is None:
            turn.state.clear()
            return self._closed(turn)
        with self._worded_from(found[0]):
            return await self._on_answer_text(turn, *found)

    async def _on_answer_text(self, turn: Turn, record: CheckinRecord, ins: Instrument) -> list[Reply]:
        answers = await turn.tx.checkins.answers(turn.require_user().id, record.id)
        index = next((i for i, it in enumerate(ins.items) if it.id == turn.state.step), None)
        if index is None:
            return await self._continue(turn, ins, record, answers, [])
        item = ins.items[index]
        typed = turn.inbound.text
        # A typed "1" on the safety item would mean its first answer, "No": too easy to
        # mistake for "once". Digits there are refused and the buttons asked for.
        answer = None if item.safety and any(c.isdigit() for c in typed) else parse_answer(item, typed)
        if answer is None:
            return [Reply(ask_again(turn.t, item)), question(turn.t, ins, index, record.id, answers)]
        replies = await self._save(turn, ins, record, answers, index, answer)
        return replies if _paused(replies) else await self._continue(turn, ins, record, answers, replies)

    async def reprompt(self, turn: Turn) -> list[Reply]:
        found = await self._open_checkin(turn)
        if found is None:
            turn.state.clear()
            return self._closed(turn)
        with self._worded_from(found[0]):
            return await self._run(turn, found[0], intro=False)

    # --- steps ----------------------------------------------------------------------------
    async def _run(self, turn: Turn, record: CheckinRecord, intro: bool) -> list[Reply]:
        ins = self._instrument(record)
        if ins is None:
            return self._closed(turn)
        answers = await turn.tx.checkins.answers(turn.require_user().id, record.id)
        head: list[Reply] = []
        if answers:
            head.append(Reply(turn.t("checkins.resumed")))
        elif intro:
            head.append(Reply(f"{ins.title}\n{ins.intro.strip()}"))
        return await self._continue(turn, ins, record, answers, head)

    async def _continue(
        self, turn: Turn, ins: Instrument, record: CheckinRecord, answers: Mapping[str, Answer], head: list[Reply]
    ) -> list[Reply]:
        index = _first_unanswered(ins, answers)
        if index is None:
            return head + await self._finish(turn, ins, record, answers)
        return head + [self._ask(turn, ins, record, index, answers)]

    def _ask(
        self, turn: Turn, ins: Instrument, record: CheckinRecord, index: int, answers: Mapping[str, Answer]
    ) -> Reply:
        turn.state.open(self.name, ins.items[index].id, id=record.id)
        return question(turn.t, ins, index, record.id, answers)

    async def _question_button(
        self, turn: Turn, record: CheckinRecord, action: str, index: int, rest: list[str]
    ) -> list[Reply]:
        ins = self._instrument(record)
        if ins is None or not 0 <= index < len(ins.items):
            return await self.reprompt(turn)
        item = ins.items[index]
        answers = await turn.tx.checkins.answers(turn.require_user().id, record.id)
        if action == "back":
            return [self._ask(turn, ins, record, max(index - 1, 0), answers)]
        if action == "skip":
            if item.safety:  # asked at every check-in: no skipping it
                return [Reply(turn.t("checkins.no_skip_safety")), self._ask(turn, ins, record, index, answers)]
            await self._save(turn, ins, record, answers, index, Answer())
            return await self._continue(turn, ins, record, answers, [])
        if action == "done" and item.kind is ItemKind.MULTI:
            if item.id not in answers:
                await self._save(turn, ins, record, answers, index, Answer())
            return await self._continue(turn, ins, record, answers, [])
        if action != "a" or not rest or not rest[0].isdigit():
            return await self.reprompt(turn)
        answer = button_answer(item, int(rest[0]), answers.get(item.id))
        if answer is None:
            return [self._ask(turn, ins, record, index, answers)]
        replies = await self._save(turn, ins, record, answers, index, answer)
        if item.kind is ItemKind.MULTI and not any(r.urgency is Urgency.CRISIS for r in replies):
            # Toggles stay on the same question (updated in place) until Done.
            card = self._ask(turn, ins, record, index, answers)
            return [*replies, Reply(card.text, choices=card.choices, replaces_card=not replies)]
        return replies if _paused(replies) else await self._continue(turn, ins, record, answers, replies)

    async def _save(
        self, turn: Turn, ins: Instrument, record: CheckinRecord, answers: dict[str, Answer], index: int,
        answer: Answer,
    ) -> list[Reply]:
        """Store one answer and fire, right away, any urgent rule it newly sets off."""
        item = ins.items[index]
        before = _immediate(ins, answers)
        answers[item.id] = answer
        await turn.tx.checkins.save_answer(turn.require_user().id, record.id, item.id, answer, turn.now)
        fired = {a: r for a, r in _immediate(ins, answers).items() if a not in before}
        replies: list[Reply] = []
        if Action.EMERGENCY in fired:
            replies.append(self._urgent(turn, emergency=True))
        elif Action.URGENT_MEDICAL in fired and Action.EMERGENCY not in before:
            replies.append(self._urgent(turn))
        if Action.CRISIS in fired:
            category = "checkin_safety" if item.safety else f"checkin_{fired[Action.CRISIS]}"
            replies[:0] = await self._crisis.from_checkin(turn, category)
            # The check-in waits: the crisis card should not be followed by the next question.
            turn.state.clear()
            replies.append(
                Reply(
                    turn.t("checkins.paused_for_crisis"),
                    choices=(button(turn.t("checkins.resume_button"), "checkin", "resume", record.id),),
                    urgency=Urgency.CRISIS,
                )
            )
        return replies

    def _urgent(self, turn: Turn, emergency: bool = False) -> Reply:
        """Same-day care, or, for the lesson's emergency list, the emergency number now."""
        number = self._crisis.emergency_number(turn.user, turn.inbound.language)
        where = number or turn.t("checkins.local_emergency")
        key = "checkins.emergency_medical" if emergency else "checkins.urgent_medical"
        return Reply(turn.t(key, emergency=where), urgency=Urgency.CONCERN)

    async def _finish(
        self, turn: Turn, ins: Instrument, record: CheckinRecord, answers: Mapping[str, Answer]
    ) -> list[Reply]:
        user = turn.require_user()
        await turn.tx.checkins.finish(record.id, turn.now)
        turn.state.clear()
        history = await turn.tx.checkins.history(user.id, turn.now - timedelta(days=COMPARE_DAYS))
        lines = summary_lines(turn.t, ins, record.id, answers, history, turn.now, user.timezone or "UTC")
        text = "\n".join([turn.t("checkins.thanks"), *lines])
        choices = ()
        if ins.id == "phq9" and "gad7" in self._content.current.instruments:
            choices = (
                button(turn.t("checkins.gad7_button"), "checkin", "gad7", record.id),
                button(turn.t("checkins.not_now_button"), "checkin", "later", record.id),
            )
        replies = [Reply(text, choices=choices)]
        actions = {hit.action for hit in fired_rules(ins, answers)}
        if Action.CRISIS in actions:
            # Already answered with the crisis card; keep help one tap away at the end too.
            replies.append(
                Reply(
                    turn.t("checkins.crisis_reminder"),
                    choices=(button(turn.t("checkins.crisis_button"), "go", "crisis"),),
                    urgency=Urgency.CRISIS,
                )
            )
        if Action.EMERGENCY in actions:
            replies.append(self._urgent(turn, emergency=True))
        elif Action.URGENT_MEDICAL in actions:
            replies.append(self._urgent(turn))
        if Action.CARE_TEAM_SOON in actions:
            replies.append(Reply(turn.t("checkins.care_team_soon"), urgency=Urgency.CONCERN))
        return replies

    async def _gad7_after(self, turn: Turn, phq9: CheckinRecord) -> list[Reply]:
        """GAD-7 straight after a PHQ-9: its safety question takes the PHQ-9 item 9 answer,
        so the same question is not asked twice in a row."""
        user = turn.require_user()
        gad7 = self._content.current.instruments.get("gad7")
        source = self._instrument(phq9)
        if gad7 is None or source is None:
            return self._closed(turn)
        record = await turn.tx.checkins.find_answerable(user.id, "gad7", turn.now)
        if record is None:
            record = await turn.tx.checkins.create_manual(user.id, "gad7", turn.now, self._content.version)
        same = (await turn.tx.checkins.answers(user.id, phq9.id)).get(source.safety_item.id)
        if same is not None and same.value is not None:
            await turn.tx.checkins.save_answer(user.id, record.id, gad7.safety_item.id, same, turn.now)
        return await self._run(turn, record, intro=True)

    def _closed(self, turn: Turn) -> list[Reply]:
        return [Reply(turn.t("checkins.closed"), choices=(button(turn.t("checkins.new_button"), "go", "checkin"),))]


def _paused(replies: list[Reply]) -> bool:
    return any(r.urgency is Urgency.CRISIS for r in replies)
