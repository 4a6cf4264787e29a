"""Typed answers to check-in items, totals and bands, and the rules answers fire.

Pure functions, no I/O. Parsing never guesses: anything that could mean two things,
or falls outside an item's range, gives ``None`` and the caller asks again.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from ketacompanion.content.instruments import Action, Instrument, Item, ItemKind, Option

# A free-text answer is kept as long as a turn's text may be (companion.MAX_TEXT; a
# Discord text box holds as much): what a person wrote whole is never cut silently.
MAX_TEXT = 4000
# A typed number or a few labels is short; anything longer is not an answer to a
# scale or a choice, and refusing it early keeps parsing cheap on pasted walls of text.
_MAX_TYPED = 400

_WORDS = {
    w: n
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
# Variation selector and keycap mark: "7️⃣" is an emoji spelling of 7.
_DROP = dict.fromkeys(map(ord, "\ufe0f\u20e3"))
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2212": "-"})
_SCALE = re.compile(r"(-?[^\s/-]+)\s*(?:(?:/|out of|of)\s*([^\s/]+))?")
_AND = re.compile(r"\s+(?:and|&|\+)\s+")


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: a number (scales, scored choices), option ids, or free text."""

    value: int | None = None
    options: tuple[str, ...] = ()
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Score:
    total: int
    max_total: int
    band: str | None


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule_id: str
    action: Action
    item_id: str | None = None


def _normalize(text: str) -> str:
    """Fold the ways the same answer can be typed: width, case, spacing, quotes."""
    s = unicodedata.normalize("NFKC", text).translate(_DROP).translate(_QUOTES)
    s = "".join(c for c in s if unicodedata.category(c) != "Cf")  # zero-width marks
    return " ".join(s.casefold().split()).strip(" .!?\"'")


# Option labels come from the content files, a few hundred in all: fold each once, not
# once per option per typed answer.
_label = functools.lru_cache(maxsize=2048)(_normalize)


def _number(token: str) -> int | None:
    sign = -1 if token.startswith("-") else 1
    body = token.removeprefix("-")
    if body.isdecimal() and len(body) <= 6:
        return sign * int(body)
    n = _WORDS.get(body)
    return None if n is None else sign * n


def _parse_scale(item: Item, s: str) -> Answer | None:
    m = _SCALE.fullmatch(s)
    if m is None or item.min is None or item.max is None:
        return None
    value = _number(m[1])
    if m[2] is not None and _number(m[2]) != item.max:
        return None  # "3/5" on a 0-10 scale: which scale did they mean?
    if value is None or not item.min <= value <= item.max:
        return None
    return Answer(value=value)


def _match_option(item: Item, s: str) -> Option | None:
    for opt in item.options:
        if s in (opt.id, opt.id.replace("_", " "), _label(opt.label)):
            return opt
    n = _number(s)
    if n is not None and 1 <= n <= len(item.options):
        return item.options[n - 1]
    return None


def _match_all(item: Item, parts: list[str]) -> list[Option] | None:
    found = [_match_option(item, p) for p in parts if p]
    if not found or any(o is None for o in found):
        return None
    return [o for o in found if o is not None]


def _parse_multi(item: Item, s: str) -> Answer | None:
    whole = _match_option(item, s)
    picked: list[Option] = [whole] if whole else []
    if whole is None:
        for chunk in filter(None, (c.strip() for c in re.split(r"[,;\n]", s))):
            got = (
                _match_all(item, [chunk])
                or _match_all(item, _AND.split(chunk))
                or _match_all(item, chunk.split())
            )
            if got is None:
                return None
            picked += got
    ids = {o.id for o in picked}
    if not ids or (len(ids) > 1 and any(o.exclusive for o in picked)):
        return None  # "none of these" together with a symptom contradicts itself
    return Answer(options=tuple(o.id for o in item.options if o.id in ids))


def parse_answer(item: Item, text: str) -> Answer | None:
    """The answer ``text`` gives to ``item``, or ``None`` if it is not a clear answer."""
    if item.kind is ItemKind.TEXT:
        trimmed = text.strip()
        return Answer(text=trimmed[:MAX_TEXT]) if trimmed else None
    if len(text) > _MAX_TYPED:
        return None
    s = _normalize(text)
    if not s:
        return None
    if item.kind is ItemKind.SCALE:
        return _parse_scale(item, s)
    if item.kind is ItemKind.CHOICE:
        opt = _match_option(item, s)
        return None if opt is None else Answer(value=opt.score, options=(opt.id,))
    return _parse_multi(item, s)


def _valid_value(item: Item, answer: Answer | None) -> int | None:
    """The answer's number if it is one the item can give; stored data is not trusted."""
    rng = item.value_range()
    if answer is None or answer.value is None or rng is None:
        return None
    return answer.value if rng[0] <= answer.value <= rng[1] else None


def score(instrument: Instrument, answers: Mapping[str, Answer]) -> Score | None:
    """Total and band, or ``None`` without scoring or when a scored item is unanswered.

    No proration of skipped items: clinical.md gives no rule for it, and a total made
    up from part of the answers would be a wrong fact.
    """
    if instrument.scoring is None:
        return None
    total = top = 0
    for item_id in instrument.scoring.items:
        item = instrument.item(item_id)
        value = _valid_value(item, answers.get(item_id))
        rng = item.value_range()
        if value is None or rng is None:
            return None
        total += value
        top += rng[1]
    band = None
    for b in instrument.scoring.bands:
        if total >= b.min:
            band = b.label
    return Score(total=total, max_total=top, band=band)


def _lowest_total(instrument: Instrument, answers: Mapping[str, Answer]) -> int | None:
    """The least the total can be given the answers so far (missing items at their lowest).

    A severe total already reached by part of the answers must not wait for the rest.
    """
    if instrument.scoring is None:
        return None
    low = 0
    for item_id in instrument.scoring.items:
        item = instrument.item(item_id)
        value = _valid_value(item, answers.get(item_id))
        rng = item.value_range()
        low += value if value is not None else (rng[0] if rng else 0)
    return low


def fired_rules(instrument: Instrument, answers: Mapping[str, Answer]) -> list[RuleHit]:
    """Rules the answers fire, most urgent action first (crisis before anything else)."""
    hits: list[RuleHit] = []
    for rule in instrument.rules:
        when = rule.when
        answer = answers.get(when.item) if when.item else None
        chosen = set(answer.options) if answer else set()
        if when.total_at_least is not None:
            low = _lowest_total(instrument, answers)
            fired = low is not None and low >= when.total_at_least
        elif when.above is not None:
            # Any number above the threshold counts, even one outside the item's range:
            # for the safety item a false alarm is far cheaper than a missed one.
            fired = answer is not None and answer.value is not None and answer.value > when.above
        elif when.red_flag:
            item = instrument.item(when.item) if when.item else None
            fired = item is not None and any(
                (opt := item.option(o)) is not None and opt.red_flag for o in chosen
            )
        elif when.emergency:
            item = instrument.item(when.item) if when.item else None
            fired = item is not None and any(
                (opt := item.option(o)) is not None and opt.emergency for o in chosen
            )
        else:
            fired = bool(chosen & set(when.any_of or ()))
        if fired:
            hits.append(RuleHit(rule.id, rule.action, when.item))
    return sorted(hits, key=lambda h: h.action.rank)


def describe_change(
    label: str,
    current: int,
    previous: int | None,
    when: str = "last time",
    *,
    out_of: int | None = None,
) -> str:
    """A short neutral phrase such as "mood 6/10, up from 4 last week".

    "Up" and "down" carry no praise or blame: for anxiety, up is the harder direction.
    """
    now = f"{label} {current}/{out_of}" if out_of is not None else f"{label} {current}"
    if previous is None:
        return now
    if current == previous:
        return f"{now}, the same as {when}"
    direction = "up" if current > previous else "down"
    return f"{now}, {direction} from {previous} {when}"
