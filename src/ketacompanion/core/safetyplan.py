"""``/safetyplan``: a personal safety plan in seven parts, written when calm, shown when not.

Button ids: ``plan:all`` (walk every part in order), ``plan:edit:<part>``,
``plan:skip|keep|clear:<part>``, ``plan:stop`` and ``plan:view``. The dialogue state
holds only the part being asked and the mode ("all" or "one"); the plan itself lives
encrypted in ``tx.safety_plans`` and is saved after every part, so stopping loses nothing.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.core.crisis.lines import lines_text, resolve_country
from ketacompanion.core.model import Choice, Reply
from ketacompanion.core.ports import UserRecord
from ketacompanion.core.safetyplan_record import MAX_CHARS, MAX_ENTRIES, PARTS, SafetyPlan
from ketacompanion.core.turn import Turn, button

log = logging.getLogger(__name__)


# A list marker typed at the start of a line ("- ", "* ", "1. "): not part of the entry.
# The trailing space is required so that "*bold*" or "-5 degrees" stay whole.
_BULLET = re.compile(r"^\s*(?:[-*•·‣▪]|\d{1,2}[.)])\s+")


# Built-in English headings: the crisis flow must be able to show a plan even when the
# interface strings fail to load. The flow itself uses the headings from the content.
TITLES: Mapping[str, str] = {
    "warning_signs": "Warning signs",
    "coping": "Things I can do on my own to cope",
    "distractions": "People and places that help take my mind off things",
    "helpers": "People I can ask for help",
    "professionals": "Professionals and crisis lines",
    "safer_surroundings": "Making my surroundings safer",
    "reasons": "My reasons for living",
}


def render_plan(plan: SafetyPlan, titles: Mapping[str, str] | None = None, empty: str | None = None) -> str:
    """The plan as plain text (no markup): numbered headings and "- " entries.

    Parts with no entries are left out unless ``empty`` gives a placeholder for them;
    an empty plan renders as "" so the caller can say something kinder instead.
    """
    if plan.is_empty and empty is None:
        return ""
    heads = titles or TITLES
    blocks: list[str] = []
    for number, key in enumerate(PARTS, start=1):
        entries = plan.part(key)
        if not entries and empty is None:
            continue
        lines = [f"- {entry}" for entry in entries] or [f"- {empty}"]
        blocks.append("\n".join([f"{number}. {heads.get(key, TITLES[key])}", *lines]))
    return "\n\n".join(blocks)


# A comma inside a sentence ("When I'm tired, I withdraw") is not a list: lines that open
# with one of these words, or whose later parts open with a pronoun, stay whole.
_CLAUSE_OPENERS = frozenset(
    "when whenever if because after before while once until since though although as".split()
)
_PRONOUNS = frozenset("i i'm i've i'd i'll im we you he she they it".split())


def _pieces(line: str) -> list[str]:
    parts = line.split(",")
    if len(parts) == 1:
        return parts
    words = [p.strip().lower().split() for p in parts]
    first = words[0][0] if words[0] else ""
    if first in _CLAUSE_OPENERS or any(w and w[0].replace("’", "'") in _PRONOUNS for w in words[1:]):
        return [line]
    return parts


def _trimmed(piece: str) -> str:
    """``piece`` without spaces or invisible format characters at either end: pasted text
    often ends in a zero-width space, which ``str.strip`` keeps and nobody typed."""
    start, end = 0, len(piece)
    while start < end and (piece[start].isspace() or unicodedata.category(piece[start]) == "Cf"):
        start += 1
    while end > start and (piece[end - 1].isspace() or unicodedata.category(piece[end - 1]) == "Cf"):
        end -= 1
    return piece[start:end]


def parse_entries(text: str) -> tuple[tuple[str, ...], bool]:
    """Typed text as entries: one per line or comma-separated item, blanks dropped.

    Returns the entries, at most ``MAX_ENTRIES`` of at most ``MAX_CHARS`` characters,
    and whether anything had to be cut. Nothing else is changed: markup characters
    and emoji are kept exactly as typed.
    """
    items: list[str] = []
    for line in text.splitlines():
        for piece in _pieces(_BULLET.sub("", line)):
            item = _trimmed(piece)
            if item:
                items.append(item)
    trimmed = len(items) > MAX_ENTRIES or any(len(item) > MAX_CHARS for item in items)
    kept = tuple(item[:MAX_CHARS].rstrip() for item in items[:MAX_ENTRIES])
    return kept, trimmed


async def plan_text(turn: Turn) -> str | None:
    """The person's plan as plain text for the crisis flow; None when there is nothing to show."""
    if turn.user is None:
        return None
    plan = await turn.tx.safety_plans.get(turn.user.id)
    if plan is None or plan.is_empty:
        return None
    try:
        titles: Mapping[str, str] | None = {key: turn.t(f"safetyplan.title_{key}") for key in PARTS}
    except Exception:
        log.warning("safety plan headings missing; using the built-in ones")
        titles = None  # the built-in English headings: the plan matters more than its wording
    return render_plan(plan, titles)


ConsentPrompt = Callable[[Turn], Awaitable[list[Reply]]]


class SafetyPlanFlow:
    name = "plan"
    needs_open_state = False  # view and edit buttons stay usable; part buttons check the step

    def __init__(self, content: ContentHolder, consent_prompt: ConsentPrompt) -> None:
        self._content, self._consent_prompt = content, consent_prompt

    async def keeps_flagged_text(self, turn: Turn) -> bool:
        """A warning sign may read like a crisis message; it still belongs in the plan."""
        return turn.state.flow == self.name and bool(turn.state.step)

    # --- entry points ---------------------------------------------------------------------
    async def command(self, turn: Turn) -> list[Reply]:
        """``/safetyplan``: the plan as it stands (or an intro), with a button per part."""
        if turn.state.flow == self.name:
            turn.state.clear()
        return await self._view(turn)

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        refused = await self._refuse(turn)
        if refused is not None:
            return refused
        part = args[0] if args and args[0] in PARTS else None
        if action == "all":
            return await self._ask(turn, PARTS[0], "all")
        if action == "edit" and part is not None:
            return await self._ask(turn, part, "one")
        if action == "stop":
            turn.state.clear()
            return [Reply(turn.t("safetyplan.stopped"))]
        if action in ("skip", "keep", "clear"):
            if part is None or turn.state.flow != self.name or turn.state.step != part:
                return [Reply(turn.t("common.closed")), *await self.reprompt(turn)]
            notice: list[Reply] = []
            plan, stored = await self._plan(turn)
            if action == "clear":
                await self._save(turn, plan.with_part(part, ()))
                notice = [Reply(turn.t("safetyplan.cleared"))]
            elif action == "keep" and not stored:
                await self._save(turn, plan)  # keeping the suggested crisis lines makes them the person's own
            return notice + await self._advance(turn, part)
        turn.state.clear()
        return await self._view(turn)

    async def on_text(self, turn: Turn) -> list[Reply]:
        refused = await self._refuse(turn)
        if refused is not None:
            return refused
        part = turn.state.step
        if part not in PARTS:
            return await self.reprompt(turn)
        entries, trimmed = parse_entries(turn.inbound.text)
        if not entries:
            return [Reply(turn.t("safetyplan.nothing_typed")), *await self._ask(turn, part, self._mode(turn))]
        plan, _ = await self._plan(turn)
        await self._save(turn, plan.with_part(part, entries))
        said = [Reply(turn.t("safetyplan.saved"))]
        if trimmed:
            said.append(Reply(turn.t("safetyplan.trimmed", items=MAX_ENTRIES, chars=MAX_CHARS)))
        return said + await self._advance(turn, part)

    async def reprompt(self, turn: Turn) -> list[Reply]:
        refused = await self._refuse(turn)
        if refused is not None:
            return refused
        if turn.state.flow == self.name and turn.state.step in PARTS:
            return await self._ask(turn, turn.state.step, self._mode(turn))  # type: ignore[arg-type]
        return await self._view(turn)

    # --- steps ------------------------------------------------------------------------------
    async def _refuse(self, turn: Turn) -> list[Reply] | None:
        # The plan is private: never shown or taken in a group, never before consent.
        if turn.inbound.in_group:
            return [Reply(turn.t("common.group_only_dm"))]
        if turn.user is None or not turn.user.consented:
            return await self._consent_prompt(turn)
        return None

    def _mode(self, turn: Turn) -> str:
        return "all" if turn.state.data.get("mode") == "all" else "one"

    async def _advance(self, turn: Turn, part: str) -> list[Reply]:
        index = PARTS.index(part)
        if self._mode(turn) == "all" and index + 1 < len(PARTS):
            return await self._ask(turn, PARTS[index + 1], "all")
        finished = self._mode(turn) == "all"
        turn.state.clear()
        return await self._view(turn, finished=finished)

    async def _ask(self, turn: Turn, part: str, mode: str) -> list[Reply]:
        turn.state.open(self.name, part, mode=mode)
        plan, _ = await self._plan(turn)
        t, entries = turn.t, plan.part(part)
        pieces = [
            t("safetyplan.step", number=PARTS.index(part) + 1, total=len(PARTS), title=self._title(turn, part)),
            t(f"safetyplan.ask_{part}"),
        ]
        if entries:
            pieces.append(t("safetyplan.current", entries="\n".join(f"- {e}" for e in entries)))
        pieces.append(t("safetyplan.how", items=MAX_ENTRIES))
        choices: list[Choice] = []
        if entries:
            choices.append(button(t("safetyplan.keep_button"), self.name, "keep", part))
            choices.append(button(t("safetyplan.clear_button"), self.name, "clear", part))
        else:
            choices.append(button(t("safetyplan.skip_button"), self.name, "skip", part))
        if mode == "all":
            choices.append(button(t("safetyplan.stop_button"), self.name, "stop"))
        return [Reply("\n\n".join(pieces), choices=tuple(choices), asks_text=True)]

    async def _view(self, turn: Turn, finished: bool = False) -> list[Reply]:
        plan, stored = await self._plan(turn)
        t = turn.t
        titles = {key: self._title(turn, key) for key in PARTS}
        body = render_plan(plan, titles, empty=t("safetyplan.empty_part"))
        if not stored:
            text = t("safetyplan.intro")
            if plan.professionals:
                text = f"{text}\n\n{t('safetyplan.prefilled')}"
        elif finished:
            text = t("safetyplan.finished", plan=body)
        else:
            text = t("safetyplan.view", plan=body)
        choices = [button(t("safetyplan.all_button"), self.name, "all")]
        choices += [button(titles[key], self.name, "edit", key) for key in PARTS]
        return [Reply(text, choices=tuple(choices))]

    def _title(self, turn: Turn, part: str) -> str:
        return turn.t(f"safetyplan.title_{part}")

    # --- storage ------------------------------------------------------------------------------
    async def _plan(self, turn: Turn) -> tuple[SafetyPlan, bool]:
        """The stored plan, or a new one with the local crisis lines filled in; and
        whether it was stored."""
        user = turn.require_user()
        stored = await turn.tx.safety_plans.get(user.id)
        if stored is not None:
            return stored, True
        return SafetyPlan(professionals=self._local_lines(user, turn.inbound.language)), False

    async def _save(self, turn: Turn, plan: SafetyPlan) -> None:
        await turn.tx.safety_plans.save(turn.require_user().id, plan)

    async def country_changed(self, turn: Turn, old_country: str | None) -> None:
        """A move: the old country's crisis lines in the plan become the new country's.
        Entries the person wrote themselves stay as they are."""
        user = turn.require_user()
        plan = await turn.tx.safety_plans.get(user.id)
        if plan is None or old_country == user.country:
            return
        old = set(self._local_lines(replace(user, country=old_country), turn.inbound.language))
        new = self._local_lines(user, turn.inbound.language)
        if not old & set(plan.professionals):
            return
        own = tuple(e for e in plan.professionals if e not in old)
        merged = tuple(dict.fromkeys(new + own))[:MAX_ENTRIES]
        await self._save(turn, plan.with_part("professionals", merged))

    def _local_lines(self, user: UserRecord, language: str | None) -> tuple[str, ...]:
        try:
            helplines = self._content.current.helplines
            code = resolve_country(user.country, language, user.timezone, helplines.codes)
            text = lines_text(helplines.for_country(code))
        except Exception:
            # A suggestion only: the plan works without it, and /crisis has its own fallback.
            log.exception("could not prefill the crisis lines in a safety plan")
            return ()
        lines = [line.strip()[:MAX_CHARS] for line in text.splitlines() if line.strip()]
        return tuple(lines[:MAX_ENTRIES])
