"""The words and buttons of each scheduled message."""

from __future__ import annotations

from collections.abc import Callable

from ketacompanion.core.model import Choice, Reply, Urgency
from ketacompanion.core.turn import Text, button
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
