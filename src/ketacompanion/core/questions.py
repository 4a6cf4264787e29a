"""One check-in question as a message with buttons, and the kind "please try again" text.

Button ids: ``checkin:a:<checkin>:<item index>:<n>`` (a scale value, or an option's
position), ``checkin:done|skip|back:<checkin>:<item index>``. Item positions rather than
ids keep every id well inside the 64-byte limit."""

from __future__ import annotations

from collections.abc import Mapping

from ketacompanion.content.instruments import Instrument, Item, ItemKind
from ketacompanion.core.model import Choice, Reply
from ketacompanion.core.scoring import Answer
from ketacompanion.core.turn import Text, button, choice_id

CHECK = "✓"


def _mark(label: str, on: bool) -> str:
    return f"{CHECK} {label}" if on else label


def _answer_buttons(ins: Instrument, index: int, checkin_id: int, answer: Answer | None) -> list[Choice]:
    item = ins.items[index]
    chosen = set(answer.options) if answer else set()
    if item.kind is ItemKind.SCALE and item.min is not None and item.max is not None:
        value = answer.value if answer else None
        numbers = range(item.min, item.max + 1)
        ids = _ids(checkin_id, index, numbers)
        return [Choice(i, _mark(str(n), n == value)) for i, n in zip(ids, numbers, strict=True)]
    # Numbered from 1, as typed numbers are read (see scoring.parse_answer).
    ids = _ids(checkin_id, index, range(len(item.options)))
    return [
        Choice(i, _mark(f"{n}. {opt.label}", opt.id in chosen))
        for i, (n, opt) in zip(ids, enumerate(item.options, start=1), strict=True)
    ]


def _ids(checkin_id: int, index: int, numbers: range) -> list[str]:
    """``checkin:a:<checkin>:<index>:<n>`` for each n: up to a dozen a question, so the
    prefix is built once, and only the longest id is checked against the size limit
    (they differ only in the last number)."""
    prefix = f"checkin:a:{checkin_id}:{index}:"
    ids = [f"{prefix}{n}" for n in numbers]
    if ids:
        choice_id(max(ids, key=len))
    return ids


def question(t: Text, ins: Instrument, index: int, checkin_id: int, answers: Mapping[str, Answer]) -> Reply:
    item = ins.items[index]
    answer = answers.get(item.id)
    # Only the hint for this item's kind is made (each is a formatted string).
    if item.kind is ItemKind.SCALE:
        hint = t("checkins.hint_scale", min=item.min, max=item.max)
    elif item.kind is ItemKind.CHOICE:
        hint = t("checkins.hint_safety") if item.safety else t("checkins.hint_choice")
    elif item.kind is ItemKind.MULTI:
        hint = t("checkins.hint_multi")
    else:
        hint = t("checkins.hint_text")
    # Optional extras (PHQ-9's difficulty question, a note) are not counted: the intro's
    # "9 short questions" and the counter's "of 9" agree.
    counted = [i for i, it in enumerate(ins.items) if not it.optional]
    if index in counted:
        progress = t("checkins.progress", number=counted.index(index) + 1, total=len(counted))
    else:
        progress = t("checkins.progress_optional")  # "optional"
    text = t("checkins.question", prompt=item.prompt.strip(), hint=hint, progress=progress)
    choices: list[Choice] = []
    if item.kind is not ItemKind.TEXT:
        choices += _answer_buttons(ins, index, checkin_id, answer)
    if item.kind is ItemKind.MULTI:
        choices.append(button(t("checkins.done_button"), "checkin", "done", checkin_id, index))
    if not item.safety:
        choices.append(button(t("checkins.skip_button"), "checkin", "skip", checkin_id, index))
    if index > 0:
        choices.append(button(t("common.back"), "checkin", "back", checkin_id, index))
    return Reply(text, choices=tuple(choices), asks_text=item.kind is ItemKind.TEXT)


def ask_again(t: Text, item: Item) -> str:
    """Why a typed answer was not taken, with what would be."""
    if item.safety:
        return t("checkins.again_safety")
    if item.kind is ItemKind.SCALE:
        return t("checkins.again_scale", min=item.min, max=item.max)
    if item.kind is ItemKind.CHOICE:
        return t("checkins.again_choice", count=len(item.options))
    return t("checkins.again_multi")


def button_answer(item: Item, n: int, current: Answer | None) -> Answer | None:
    """The answer a tap on button ``n`` gives; for a multi item, the toggled selection."""
    if item.kind is ItemKind.SCALE:
        if item.min is None or item.max is None or not item.min <= n <= item.max:
            return None
        return Answer(value=n)
    if not 0 <= n < len(item.options):
        return None
    opt = item.options[n]
    if item.kind is ItemKind.CHOICE:
        return Answer(value=opt.score, options=(opt.id,))
    if item.kind is not ItemKind.MULTI:
        return None
    chosen = set(current.options) if current else set()
    if opt.id in chosen:
        chosen.discard(opt.id)
    elif opt.exclusive:
        chosen = {opt.id}  # "None of these" clears the rest
    else:
        exclusive = {o.id for o in item.options if o.exclusive}
        chosen = (chosen - exclusive) | {opt.id}
    return Answer(options=tuple(o.id for o in item.options if o.id in chosen))
