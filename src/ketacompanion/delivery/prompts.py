"""The words and buttons of each scheduled message."""

from __future__ import annotations

from collections.abc import Callable

from ketacompanion.core.model import Choice, Reply, Urgency
from ketacompanion.core.turn import Text, button
from ketacompanion.delivery.outbox import encode_reply
from ketacompanion.storage.planner import Due

_FOLLOWUPS = ("followup_hour", "followup_day")


def prompt(due: Due, text_for: Callable[[str], Text]) -> Reply:
    t = text_for(due.language or "en")
    if due.kind in _FOLLOWUPS:
        return Reply(
            t(f"delivery.{due.kind}"),
            choices=(
                button(t("delivery.fu_reached"), "crisis", "fu", due.checkin_id, "reached"),
                button(t("delivery.fu_better"), "crisis", "fu", due.checkin_id, "better"),
                button(t("delivery.fu_struggling"), "crisis", "fu", due.checkin_id, "struggling"),
            ),
            urgency=Urgency.CONCERN,
            scheduled=True,
        )
    key = {"manual": "daily"}.get(due.kind, due.kind)
    text = t(f"delivery.{key}")
    choices: tuple[Choice, ...] = ()
    if due.instrument:
        choices = _start_buttons(t, due.checkin_id)
    return Reply(text, choices=choices, scheduled=True)


def reminder(due: Due, text_for: Callable[[str], Text]) -> Reply:
    t = text_for(due.language or "en")
    return Reply(t("delivery.reminder"), choices=_start_buttons(t, due.checkin_id), scheduled=True)


def _start_buttons(t: Text, checkin_id: int) -> tuple[Choice, ...]:
    return (
        button(t("delivery.start_button"), "checkin", "start", checkin_id),
        button(t("delivery.later_button"), "checkin", "later", checkin_id),
    )


_ID = "{checkin}"


class Templates:
    """Encoded prompts, worded once per kind and language: a fan-out of thousands of
    the same prompt differs only in the check-in id inside its buttons, so each is kept
    cut at the id and joined around it."""

    def __init__(self, text_for: Callable[[str], Text]) -> None:
        self._text_for = text_for
        self._cache: dict[tuple[str, str, str, bool, int | None], list[str]] = {}

    def encoded(self, due: Due, purpose: str) -> str:
        key = (purpose, due.kind, due.language or "en", due.instrument is not None, due.content_version)
        parts = self._cache.get(key)
        if parts is None:
            stand_in = due._replace(checkin_id=_ID)  # type: ignore[arg-type]
            build = reminder if purpose == "reminder" else prompt
            parts = self._cache[key] = encode_reply(build(stand_in, self._text_for)).split(_ID)
        return str(due.checkin_id).join(parts)
