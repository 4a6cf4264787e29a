"""What the bot says when a message may mean danger, and what each button leads to.

Every reply here is plain text at crisis or concern urgency. Anything that fails on
this path falls back to ``FALLBACK_CRISIS_TEXT``, which needs no file or database."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.content.helplines import CountryLines
from ketacompanion.core.crisis.fallback import FALLBACK_CRISIS_TEXT, FALLBACK_LINKS
from ketacompanion.core.crisis.lines import contact_links, lines_text, resolve_country
from ketacompanion.core.model import Choice, Inbound, Reply, Urgency
from ketacompanion.core.ports import Store, UserRecord
from ketacompanion.core.turn import Text, Turn, button

log = logging.getLogger(__name__)

CRISIS, CONCERN = 2, 1


class CrisisPolicy:
    name = "crisis"
    needs_open_state = False  # crisis buttons must work from any old message

    def __init__(self, content: ContentHolder, store: Store, text: Callable[[str], Text]) -> None:
        self._content, self._store, self._text = content, store, text

    # --- the country and its lines -------------------------------------------------
    def _entry(self, user: UserRecord | None, language: str | None) -> tuple[CountryLines, bool]:
        helplines = self._content.current.helplines
        code = resolve_country(
            user.country if user else None, language, user.timezone if user else None, helplines.codes
        )
        return helplines.for_country(code), code is not None

    def _links(self, entry: CountryLines) -> tuple[Choice, ...]:
        return tuple(Choice(f"link:{i}", label, url) for i, (label, url) in enumerate(contact_links(entry)))

    def _card_choices(self, t: Text, entry: CountryLines) -> tuple[Choice, ...]:
        return (
            button(t("crisis.danger_button"), "crisis", "danger"),
            button(t("crisis.struggling_button"), "crisis", "struggling"),
            button(t("crisis.ok_button"), "crisis", "ok"),
            *self._links(entry),
        )

    def _card(self, t: Text, user: UserRecord | None, language: str | None, key: str) -> Reply:
        entry, known = self._entry(user, language)
        text = t(key, lines=lines_text(entry))
        if not known:
            text = f"{text}\n\n{t('crisis.unknown_country')}"
        return Reply(text, choices=self._card_choices(t, entry), urgency=Urgency.CRISIS)

    # --- the contract with the companion --------------------------------------------
    async def respond(self, turn: Turn, screening: object) -> list[Reply]:
        level = int(getattr(screening, "level", CRISIS))
        category = getattr(screening, "category", None)
        try:
            if category == "third_person" and level < CRISIS:
                entry, _ = self._entry(turn.user, turn.inbound.language)
                text = turn.t("crisis.third_person", emergency=_first(entry), lines=lines_text(entry))
                return [Reply(text, choices=self._links(entry), urgency=Urgency.CONCERN)]
            if level >= CRISIS:
                return [self._card(turn.t, turn.user, turn.inbound.language, "crisis.card")]
            return [
                Reply(
                    turn.t("crisis.concern"),
                    choices=(
                        button(turn.t("crisis.safe_button"), "crisis", "safe"),
                        button(turn.t("crisis.unsafe_button"), "crisis", "unsafe"),
                    ),
                    urgency=Urgency.CONCERN,
                )
            ]
        except Exception:
            log.exception("crisis reply failed; sending the built-in lines")
            return self.fallback(turn.inbound)

    async def command(self, inbound: Inbound) -> list[Reply]:
        user: UserRecord | None = None
        try:
            async with self._store.transaction() as tx:
                found = await tx.users.find(inbound.address.platform, inbound.user_id)
                user = found[0] if found else None
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
            return self._choice(turn, action)
        except Exception:
            log.exception("crisis button failed; sending the built-in lines")
            return self.fallback(turn.inbound)

    def _choice(self, turn: Turn, action: str) -> list[Reply]:
        t, entry = turn.t, self._entry(turn.user, turn.inbound.language)[0]
        lines = lines_text(entry)
        if action in ("unsafe",):
            return [self._card(t, turn.user, turn.inbound.language, "crisis.card")]
        if action == "danger":
            text = t("crisis.danger", emergency=_first(entry), lines=lines)
            return [Reply(text, choices=self._links(entry), urgency=Urgency.CRISIS)]
        if action == "struggling":
            return [
                Reply(t("crisis.struggling", lines=lines), choices=self._links(entry), urgency=Urgency.CRISIS),
                Reply(t("crisis.no_safety_plan"), urgency=Urgency.CRISIS),
                Reply(t("crisis.grounding"), urgency=Urgency.CRISIS),
            ]
        if action == "ok":
            return [Reply(t("crisis.ok", lines=lines), choices=self._links(entry), urgency=Urgency.CONCERN)]
        if action == "safe":
            return [Reply(t("crisis.safe"), urgency=Urgency.CONCERN)]
        return [self._card(t, turn.user, turn.inbound.language, "crisis.command")]

    async def on_text(self, turn: Turn) -> list[Reply]:
        return [self._card(turn.t, turn.user, turn.inbound.language, "crisis.command")]

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return [self._card(turn.t, turn.user, turn.inbound.language, "crisis.command")]


def _first(entry: CountryLines) -> str:
    return entry.emergency[0] if entry.emergency else "your local emergency number"
