"""What the bot says when a message or an answer may mean danger, and what each
button leads to.

Every reply here is plain text at crisis or concern urgency. Anything that fails on
this path falls back to ``FALLBACK_CRISIS_TEXT``, which needs no file or database.
The full card is not repeated within the cooldown unless the level rises; a repeat
still gets a short answer with the lines, never silence."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.content.helplines import CountryLines
from ketacompanion.core.crisis.fallback import FALLBACK_CRISIS_TEXT, FALLBACK_LINKS
from ketacompanion.core.crisis.lines import contact_links, lines_text, resolve_country
from ketacompanion.core.crisis.typed_answer import typed_answer
from ketacompanion.core.events import EscalationEvent, Events
from ketacompanion.core.model import Choice, Inbound, Reply, Urgency
from ketacompanion.core.ports import Store, UserRecord
from ketacompanion.core.turn import Text, Turn, button

log = logging.getLogger(__name__)

CRISIS, CONCERN = 2, 1
_LEVEL_NAMES = {CRISIS: "crisis", CONCERN: "concern"}
_RANK = {"concern": CONCERN, "crisis": CRISIS}
FOLLOWUP_OUTCOMES = ("reached", "better", "struggling")
THOUGHTS_ANSWERS = ("yes", "no")  # the soft check's direct question
# The detector sees one message at a time: a method question on its own is only a soft
# check, but asked within this long of a recorded escalation it gets the full card.
RECENT_DISTRESS = timedelta(hours=6)
# A bare "yes" or "no" typed this soon after the card or the soft check answers its question.
TYPED_ANSWER_WINDOW = timedelta(minutes=30)
METHOD_CATEGORY = "means"


class CrisisPolicy:
    name = "crisis"
    needs_open_state = False  # crisis buttons must work from any old message

    def __init__(
        self,
        content: ContentHolder,
        store: Store,
        text: Callable[[str], Text],
        events: Events | None = None,
        cooldown: timedelta = timedelta(minutes=30),
        safety_plan: Callable[[Turn], Any] | None = None,
    ) -> None:
        self._content, self._store, self._text = content, store, text
        self._events = events or Events()
        self._cooldown = cooldown
        self._safety_plan = safety_plan  # async (turn) -> plain text of the plan, or None

    # --- the country and its lines -------------------------------------------------
    def _entry(self, user: UserRecord | None, language: str | None) -> tuple[CountryLines, bool]:
        helplines = self._content.current.helplines
        code = resolve_country(
            user.country if user else None, language, user.timezone if user else None, helplines.codes
        )
        return helplines.for_country(code), code is not None

    def _links(self, entry: CountryLines) -> tuple[Choice, ...]:
        return tuple(Choice(f"link:{i}", label, url) for i, (label, url) in enumerate(contact_links(entry)))

    def _card(
        self, t: Text, user: UserRecord | None, language: str | None, key: str, country: str | None = None
    ) -> Reply:
        if country is not None:
            entry, known = self._content.current.helplines.for_country(country), True
        else:
            entry, known = self._entry(user, language)
        lines = lines_text(entry)
        country_buttons: tuple[Choice, ...] = ()
        if not known:
            # Not knowing the country must not cost the person the biggest lines.
            helplines = self._content.current.helplines
            common = [helplines.for_country(c) for c in COMMON_COUNTRIES if c in helplines.codes]
            lines = "\n".join([lines, *(f"{e.name}: {_first_line(e)}" for e in common if _first_line(e))])
            country_buttons = tuple(button(e.name, "crisis", "country", e.code) for e in common)
        text = t(key, lines=lines)
        if not known:
            text = f"{text}\n\n{t('crisis.unknown_country')}"
        choices = (
            button(t("crisis.danger_button"), "crisis", "danger"),
            button(t("crisis.struggling_button"), "crisis", "struggling"),
            button(t("crisis.ok_button"), "crisis", "ok"),
            *self._links(entry),
            *country_buttons,
        )
        # Lines from a guess (language, timezone) or from no country at all: a community's
        # chosen default country may replace them (core.community).
        chosen = country is not None or bool(user and user.country)
        return Reply(text, choices=choices, urgency=Urgency.CRISIS, meta={} if chosen else {"country_guessed": "1"})

    def card_for(self, language: str, country: str) -> Reply:
        """The full card for ``country`` (a community's default when the person set none)."""
        lang = language.replace("_", "-").split("-", 1)[0].lower() or "en"
        try:
            t = self._text(lang)
            t("crisis.card", lines="")
        except Exception:
            t = self._text("en")
        return self._card(t, None, None, "crisis.card", country=country)

    def emergency_number(self, user: UserRecord | None, language: str | None) -> str:
        entry, _ = self._entry(user, language)
        return entry.emergency[0] if entry.emergency else ""

    # --- the contract with the companion --------------------------------------------
    async def respond(self, turn: Turn, screening: object) -> list[Reply]:
        level = int(getattr(screening, "level", CRISIS))
        category = getattr(screening, "category", None)
        try:
            if level == CONCERN and category == METHOD_CATEGORY and await self._recent_distress(turn):
                level = CRISIS
            replies = await self._escalate(turn, level, category, "message", turn.inbound.text)
        except Exception:
            log.exception("crisis reply failed; sending the built-in lines")
            return self.fallback(turn.inbound)
        return replies

    async def from_checkin(self, turn: Turn, category: str = "checkin_safety") -> list[Reply]:
        """A check-in answer that fires the crisis rule: the same policy as a message."""
        try:
            return await self._escalate(turn, CRISIS, category, "checkin", None)
        except Exception:
            log.exception("crisis reply failed; sending the built-in lines")
            return self.fallback(turn.inbound)

    async def _escalate(self, turn: Turn, level: int, category: str | None, source: str, words: str | None) -> list[Reply]:
        name = _LEVEL_NAMES.get(level, "crisis")
        repeat = await self._within_cooldown(turn, level)
        after_card = repeat and level < CRISIS and await self._last_level(turn) == "crisis"
        if category == "third_person" and level < CRISIS:
            reply = self._third_person(turn)
        elif after_card:
            # The card was shown minutes ago: a softer message gets the lines again, not
            # the soft question as if nothing had been said.
            reply = self._again(turn)
        elif level >= CRISIS:
            reply = self._again(turn) if repeat else self._card(turn.t, turn.user, turn.inbound.language, "crisis.card")
        else:
            reply = self._concern(turn)
        if turn.user is not None and not repeat:
            note = words if (words and turn.user.keep_notes) else None
            await turn.tx.escalations.record(turn.user.id, name, source, category, note, follow_up=level >= CRISIS)  # type: ignore[attr-defined]
            event = EscalationEvent(turn.inbound.address, name, source, shared_words=False)
            turn.after_commit.append(lambda: self._events.emit(event))
        return [reply]

    async def _recent_distress(self, turn: Turn) -> bool:
        """Whether this person's last escalation (concern or crisis) is recent."""
        if turn.user is None:
            return False
        last = await turn.tx.escalations.last(turn.user.id)  # type: ignore[attr-defined]
        return last is not None and _age(turn.now, last.created_at) < RECENT_DISTRESS

    async def _last_level(self, turn: Turn) -> str | None:
        if turn.user is None:
            return None
        last = await turn.tx.escalations.last(turn.user.id)  # type: ignore[attr-defined]
        return None if last is None else str(last.level)

    async def _within_cooldown(self, turn: Turn, level: int) -> bool:
        if turn.user is None or self._cooldown <= timedelta(0):
            return False
        last = await turn.tx.escalations.last(turn.user.id)  # type: ignore[attr-defined]
        if last is None:
            return False
        recent: bool = _age(turn.now, last.created_at) < self._cooldown
        return recent and level <= _RANK.get(last.level, CRISIS)

    async def answer_typed(self, turn: Turn) -> list[Reply] | None:
        """A typed "yes" or "no" soon after the card or the soft check asked whether the
        person is thinking of ending their life: the answer to that question, never a
        lesson search. None when the text is not such an answer."""
        answer = typed_answer(turn.inbound.text)
        if answer is None or turn.user is None:
            return None
        last = await turn.tx.escalations.last(turn.user.id)  # type: ignore[attr-defined]
        if last is None or not timedelta(0) <= _age(turn.now, last.created_at) < TYPED_ANSWER_WINDOW:
            return None
        t, entry = turn.t, self._entry(turn.user, turn.inbound.language)[0]
        lines = lines_text(entry)
        if last.level == "crisis":
            if answer == "yes":
                # Nothing new is recorded: the card's escalation stands, its follow-ups planned.
                text = t("crisis.typed_yes", emergency=_first(entry), lines=lines)
                choices = (
                    button(t("crisis.danger_button"), "crisis", "danger"),
                    button(t("crisis.struggling_button"), "crisis", "struggling"),
                    *self._links(entry),
                )
                return [Reply(text, choices=choices, urgency=Urgency.CRISIS)]
            return [Reply(t("crisis.ok", lines=lines), choices=self._links(entry), urgency=Urgency.CONCERN)]
        if answer == "yes":
            # The soft check is followed by an offer to check in, so a typed "yes" may
            # answer either: ask once more, with the buttons, rather than guess.
            question = self._concern(turn)
            return [Reply(t("crisis.typed_confirm"), choices=question.choices, urgency=Urgency.CONCERN)]
        return [Reply(t("crisis.thoughts_no"), choices=self._links(entry), urgency=Urgency.CONCERN)]

    def _again(self, turn: Turn) -> Reply:
        entry, _ = self._entry(turn.user, turn.inbound.language)
        return Reply(turn.t("crisis.again", lines=lines_text(entry)), choices=self._links(entry), urgency=Urgency.CRISIS)

    def _concern(self, turn: Turn) -> Reply:
        # Asked directly and kindly (clinical.md section 3): "yes" opens the crisis card.
        return Reply(
            turn.t("crisis.concern_question"),
            choices=(
                button(turn.t("crisis.thoughts_yes_button"), "crisis", "thoughts", "yes"),
                button(turn.t("crisis.thoughts_no_button"), "crisis", "thoughts", "no"),
                button(turn.t("crisis.unsafe_button"), "crisis", "unsafe"),
            ),
            urgency=Urgency.CONCERN,
        )

    async def _thoughts(self, turn: Turn, answer: str) -> list[Reply]:
        """The answer to the direct question, kept like a check-in answer."""
        if turn.user is not None:
            await turn.tx.concern_answers.record(turn.user.id, answer)  # type: ignore[attr-defined]
        if answer == "yes":
            return await self._escalate(turn, CRISIS, "said_thoughts", "button", None)
        entry, _ = self._entry(turn.user, turn.inbound.language)
        return [Reply(turn.t("crisis.thoughts_no"), choices=self._links(entry), urgency=Urgency.CONCERN)]

    def _third_person(self, turn: Turn) -> Reply:
        entry, _ = self._entry(turn.user, turn.inbound.language)
        text = turn.t("crisis.third_person", emergency=_first(entry), lines=lines_text(entry))
        return Reply(text, choices=self._links(entry), urgency=Urgency.CONCERN)

    async def command(self, inbound: Inbound) -> list[Reply]:
        user: UserRecord | None = None
        try:
            # A read no writer can hold up: /crisis never waits for a busy database.
            user = await self._store.peek_user(inbound.address.platform, inbound.user_id)
        except Exception:
            # The lines matter more than the person's settings: carry on without them.
            log.warning("crisis command without stored settings")
        try:
            lang = (user.language if user else None) or "en"
            return [self._card(self._text(lang), user, inbound.language, "crisis.command")]
        except Exception:
            log.exception("crisis command failed; sending the built-in lines")
            return self.fallback(inbound)

    def fallback(self, inbound: Inbound) -> list[Reply]:
        links = tuple(Choice(f"link:{i}", label, url) for i, (label, url) in enumerate(FALLBACK_LINKS))
        return [Reply(FALLBACK_CRISIS_TEXT, choices=links, urgency=Urgency.CRISIS)]

    # --- buttons -------------------------------------------------------------------------
    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        try:
            return await self._choice(turn, action, args)
        except Exception:
            log.exception("crisis button failed; sending the built-in lines")
            return self.fallback(turn.inbound)

    async def _choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        t, entry = turn.t, self._entry(turn.user, turn.inbound.language)[0]
        lines = lines_text(entry)
        if action == "unsafe":
            return await self._escalate(turn, CRISIS, "said_unsafe", "button", None)
        if action == "thoughts" and args and args[0] in THOUGHTS_ANSWERS:
            return await self._thoughts(turn, args[0])
        if action == "danger":
            await self._outcome(turn, None, "danger")
            text = t("crisis.danger", emergency=_first(entry), lines=lines)
            return [Reply(text, choices=self._links(entry), urgency=Urgency.CRISIS)]
        if action == "struggling":
            await self._outcome(turn, None, "struggling")
            return [
                Reply(t("crisis.struggling", lines=lines), choices=self._links(entry), urgency=Urgency.CRISIS),
                await self._plan_reply(turn),
                Reply(t("crisis.grounding"), urgency=Urgency.CRISIS),
            ]
        if action == "ok":
            # "I'm OK" keeps the lines in view and the follow-up planned: one tap never ends it.
            await self._outcome(turn, None, "ok")
            return [Reply(t("crisis.ok", lines=lines), choices=self._links(entry), urgency=Urgency.CONCERN)]
        if action == "safe":
            return [Reply(t("crisis.safe"), urgency=Urgency.CONCERN)]
        if action == "country" and args and args[0] in self._content.current.helplines.codes:
            if turn.user is not None and not turn.user.country:
                turn.user.country = args[0]
                await turn.tx.users.update(turn.user.id, country=args[0])
            return [self._card(t, turn.user, turn.inbound.language, "crisis.command", country=args[0])]
        if action == "fu" and len(args) == 2 and args[1] in FOLLOWUP_OUTCOMES and args[0].isdigit():
            await self._outcome(turn, int(args[0]), args[1])
            if args[1] == "struggling":
                return [self._card(t, turn.user, turn.inbound.language, "crisis.card")]
            return [Reply(t("crisis.followup_glad", lines=lines), choices=self._links(entry), urgency=Urgency.CONCERN)]
        return [self._card(t, turn.user, turn.inbound.language, "crisis.command")]

    async def _outcome(self, turn: Turn, checkin_id: int | None, outcome: str) -> None:
        if turn.user is not None:
            await turn.tx.escalations.set_outcome(turn.user.id, checkin_id, outcome)  # type: ignore[attr-defined]

    async def _plan_reply(self, turn: Turn) -> Reply:
        plan: str | None = None
        if self._safety_plan is not None and turn.user is not None:
            try:
                plan = await self._safety_plan(turn)
            except Exception:
                log.exception("safety plan unavailable in the crisis flow")
        if plan:
            return Reply(f"{turn.t('crisis.safety_plan_intro')}\n{plan}", urgency=Urgency.CRISIS)
        return Reply(turn.t("crisis.no_safety_plan"), urgency=Urgency.CRISIS)

    async def on_text(self, turn: Turn) -> list[Reply]:
        return [self._card(turn.t, turn.user, turn.inbound.language, "crisis.command")]

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return [self._card(turn.t, turn.user, turn.inbound.language, "crisis.command")]


COMMON_COUNTRIES = ("US", "GB", "CA", "AU", "IE", "IN", "DE", "NZ")


def _first_line(entry: CountryLines) -> str:
    line = entry.lines[0] if entry.lines else None
    if line is None:
        return ""
    return f"{line.name}, {line.call}" if line.call else line.name


def _first(entry: CountryLines) -> str:
    return entry.emergency[0] if entry.emergency else "your local emergency number"


def _age(now: datetime, then: datetime) -> timedelta:
    return now - then
