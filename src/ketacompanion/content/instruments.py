"""Check-in instruments: typed models, loading from YAML, and validation with line numbers.

Each ``content/checkins/*.yaml`` file holds one instrument. Validation reports every
problem it finds as ``path:line: message`` so that whoever edits a file can fix it in
one pass; loading refuses the whole set if any error is left.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from ketacompanion.content.problems import ContentError, Problem, Severity, errors
from ketacompanion.content.yamlnodes import duplicate_keys

# Ids end up in button callbacks and database rows: keep them plain.
Id = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Text = Annotated[StrictStr, Field(min_length=1)]

# Passed as validation context while loading files, so that cross-field checks run
# afterwards with paths that map to line numbers instead of failing as one lump.
_DEFER = "defer_checks"


class ItemKind(StrEnum):
    SCALE = "scale"
    CHOICE = "choice"
    MULTI = "multi"
    TEXT = "text"


class Action(StrEnum):
    """What a fired rule asks the caller to do, most urgent first."""

    CRISIS = "crisis"
    EMERGENCY = "emergency"  # call the emergency number now (the side-effects lesson's list)
    URGENT_MEDICAL = "urgent_medical"
    CARE_TEAM_SOON = "care_team_soon"

    @property
    def rank(self) -> int:
        return list(Action).index(self)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Model):
    id: Id
    label: Text
    score: StrictInt | None = None
    red_flag: StrictBool = False
    # A red flag the side-effects lesson lists under "call your emergency number now".
    emergency: StrictBool = False
    exclusive: StrictBool = False  # "None of these": cannot be combined with other options

    @model_validator(mode="after")
    def _emergency_is_a_red_flag(self) -> Option:
        if self.emergency and not self.red_flag:
            raise ValueError("emergency: true needs red_flag: true")
        return self


class Item(_Model):
    id: Id
    kind: ItemKind
    prompt: Text
    min: StrictInt | None = None
    max: StrictInt | None = None
    low_label: Text | None = None
    high_label: Text | None = None
    options: tuple[Option, ...] = ()
    safety: StrictBool = False
    optional: StrictBool = False
    sensitive: StrictBool = False  # free text to store encrypted and keep out of logs

    @property
    def numeric(self) -> bool:
        """True when every answer carries a number (scales, fully scored choices)."""
        if self.kind is ItemKind.SCALE:
            return True
        return (
            self.kind is ItemKind.CHOICE
            and bool(self.options)
            and all(o.score is not None for o in self.options)
        )

    def value_range(self) -> tuple[int, int] | None:
        if self.kind is ItemKind.SCALE and self.min is not None and self.max is not None:
            return self.min, self.max
        if self.numeric and self.kind is ItemKind.CHOICE:
            scores = [o.score for o in self.options if o.score is not None]
            return min(scores), max(scores)
        return None

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


class Band(_Model):
    min: StrictInt
    label: Text


class Scoring(_Model):
    items: tuple[Id, ...] = Field(min_length=1)
    bands: tuple[Band, ...] = ()


class Condition(_Model):
    """One of: ``{item, above}``, ``{item, red_flag: true}``, ``{item, any_of}``,
    ``{total_at_least}``."""

    item: Id | None = None
    above: StrictInt | None = None
    red_flag: StrictBool | None = None
    emergency: StrictBool | None = None
    any_of: tuple[Id, ...] | None = None
    total_at_least: StrictInt | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        tests = [
            n
            for n in ("above", "red_flag", "emergency", "any_of", "total_at_least")
            if getattr(self, n) is not None
        ]
        if len(tests) != 1:
            raise ValueError("give exactly one of above, red_flag, any_of, total_at_least")
        if (self.item is None) != (tests[0] == "total_at_least"):
            raise ValueError("above, red_flag and any_of need an item; total_at_least takes none")
        if self.red_flag is False or self.emergency is False:
            raise ValueError("red_flag or emergency: false never fires; use true")
        return self


class Rule(_Model):
    id: Id
    when: Condition
    action: Action


class Instrument(_Model):
    id: Id
    title: Text
    intro: Text
    period: Text
    source: Text | None = None
    items: tuple[Item, ...] = Field(min_length=1)
    scoring: Scoring | None = None
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Instrument:
        if not (info.context or {}).get(_DEFER):
            found = [f"{'.'.join(map(str, p)) or 'instrument'}: {m}" for p, m in _checks(self)]
            if found:
                raise ValueError("; ".join(found))
        return self

    def item(self, item_id: str) -> Item:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    @property
    def safety_item(self) -> Item:
        return next(it for it in self.items if it.safety)


Path_ = tuple[str | int, ...]


def _checks(ins: Instrument) -> Iterator[tuple[Path_, str]]:
    """Cross-field checks a schema cannot express, each with the path of the offending node."""
    by_id: dict[str, Item] = {}
    for i, it in enumerate(ins.items):
        where: Path_ = ("items", i)
        if it.id in by_id:
            yield (*where, "id"), f"duplicate item id {it.id!r}"
        by_id.setdefault(it.id, it)
        yield from _item_checks(it, where)
    safety = [(i, it) for i, it in enumerate(ins.items) if it.safety]
    if not safety:
        yield ("items",), "no safety item: every check-in must ask it (mark one item safety: true)"
    for i, _ in safety[1:]:
        yield ("items", i, "safety"), "more than one safety item"
    if safety:
        yield from _safety_checks(ins, *safety[0])
    if ins.scoring:
        yield from _scoring_checks(ins.scoring, by_id)
    rule_ids: set[str] = set()
    for r, rule in enumerate(ins.rules):
        if rule.id in rule_ids:
            yield ("rules", r, "id"), f"duplicate rule id {rule.id!r}"
        rule_ids.add(rule.id)
        yield from _rule_checks(rule.when, ("rules", r, "when"), by_id, ins.scoring is not None)


def _item_checks(it: Item, where: Path_) -> Iterator[tuple[Path_, str]]:
    if it.kind is ItemKind.SCALE:
        if it.min is None or it.max is None:
            yield where, "a scale item needs min and max"
        elif it.min >= it.max:
            yield (*where, "min"), f"scale min {it.min} must be below max {it.max}"
    elif it.min is not None or it.max is not None:
        yield where, f"min and max only apply to scale items, not {it.kind}"
    if it.kind in (ItemKind.CHOICE, ItemKind.MULTI):
        if not it.options:
            yield (*where, "options"), f"a {it.kind} item needs options"
    elif it.options:
        yield (*where, "options"), f"a {it.kind} item takes no options"
    seen: set[str] = set()
    for o, opt in enumerate(it.options):
        if opt.id in seen:
            yield (*where, "options", o, "id"), f"duplicate option id {opt.id!r} in {it.id!r}"
        seen.add(opt.id)
        if opt.exclusive and it.kind is not ItemKind.MULTI:
            yield (*where, "options", o, "exclusive"), "exclusive only applies to multi items"
        if it.kind is ItemKind.MULTI and "," in opt.label:
            # Typed multi answers are split on commas.
            yield (*where, "options", o, "label"), "a multi option label must not contain a comma"


def _safety_checks(ins: Instrument, i: int, it: Item) -> Iterator[tuple[Path_, str]]:
    where: Path_ = ("items", i)
    rng = it.value_range()
    if not it.numeric or rng is None:
        yield where, "the safety item must be a scale or a choice with a score on every option"
    elif rng[0] != 0:
        yield where, "the safety item's lowest answer must score 0"
    if it.optional:
        yield (*where, "optional"), "the safety item cannot be optional"
    if not any(
        r.action is Action.CRISIS and r.when.item == it.id and r.when.above == 0 for r in ins.rules
    ):
        yield where, f"no rule sends {it.id!r} above 0 to action crisis"


def _scoring_checks(scoring: Scoring, by_id: dict[str, Item]) -> Iterator[tuple[Path_, str]]:
    low, seen = 0, set()
    for s, ref in enumerate(scoring.items):
        it = by_id.get(ref)
        if ref in seen:
            yield ("scoring", "items", s), f"{ref!r} is scored twice"
        seen.add(ref)
        if it is None:
            yield ("scoring", "items", s), f"scoring names unknown item {ref!r}"
        elif (rng := it.value_range()) is None:
            yield ("scoring", "items", s), f"scoring names {ref!r}, which has no numeric answers"
        else:
            low += rng[0]
    for b in range(1, len(scoring.bands)):
        if scoring.bands[b].min <= scoring.bands[b - 1].min:
            yield ("scoring", "bands", b, "min"), "band minimums must increase"
    if scoring.bands and scoring.bands[0].min > low:
        yield ("scoring", "bands", 0, "min"), f"first band starts above the lowest total {low}"


def _rule_checks(
    when: Condition, where: Path_, by_id: dict[str, Item], scored: bool
) -> Iterator[tuple[Path_, str]]:
    if when.total_at_least is not None and not scored:
        yield where, "total_at_least needs a scoring section"
    if when.item is None:
        return
    it = by_id.get(when.item)
    if it is None:
        yield (*where, "item"), f"rule names unknown item {when.item!r}"
    elif when.above is not None and not it.numeric:
        yield (*where, "above"), f"above needs a numeric item; {it.id!r} is not"
    elif when.red_flag and not any(o.red_flag for o in it.options):
        yield (*where, "red_flag"), f"{it.id!r} has no red-flag options"
    elif when.emergency and not any(o.emergency for o in it.options):
        yield (*where, "emergency"), f"{it.id!r} has no emergency options"
    elif when.any_of is not None:
        for k, oid in enumerate(when.any_of):
            if it.option(oid) is None:
                yield (*where, "any_of", k), f"{it.id!r} has no option {oid!r}"


# --- files -------------------------------------------------------------------------------


def _line(node: yaml.Node | None, path: Sequence[str | int]) -> int:
    """1-based line of the deepest node along ``path`` (pydantic locs or check paths)."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for step in path:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            nxt = node.value[step] if 0 <= step < len(node.value) else None
        if nxt is None:
            break
        node, line = nxt, nxt.start_mark.line + 1
    return line


def _read(path: Path) -> tuple[Instrument | None, yaml.Node | None, list[Problem]]:
    def problem(line: int, msg: str) -> Problem:
        return Problem(path, line, msg)

    try:
        loader = yaml.CSafeLoader(path.read_text(encoding="utf-8"))
        try:
            node = loader.get_single_node()
            data: Any = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        return None, None, [problem(mark.line + 1 if mark else 1, f"YAML: {e.problem or e}")]
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        return None, None, [problem(1, f"cannot read: {e}")]
    if node is None or not isinstance(data, dict):
        return None, node, [problem(1, "expected a mapping with id, title, items ...")]
    found = [problem(line, msg) for line, msg in duplicate_keys(node)]
    try:
        ins = Instrument.model_validate(data, context={_DEFER: True})
    except ValidationError as e:
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if isinstance(err.get("input"), bool) and err["type"] == "string_type":
                msg += " (YAML reads bare yes/no/on/off as true/false: put it in quotes)"
            found.append(problem(_line(node, err["loc"]), f"{loc}: {msg}" if loc else msg))
        return None, node, sorted(found, key=lambda p: p.line)
    found += [problem(_line(node, p), m) for p, m in _checks(ins)]
    return ins, node, sorted(found, key=lambda p: p.line)


def _scan(directory: Path) -> tuple[dict[str, Instrument], list[Problem]]:
    instruments: dict[str, Instrument] = {}
    problems: list[Problem] = []
    if not directory.is_dir():
        return {}, [Problem(directory, 1, "instrument directory not found")]
    for path in sorted(directory.glob("*.yaml")):
        ins, node, found = _read(path)
        problems += found
        if ins is None:
            continue
        if ins.id in instruments:
            problems.append(
                Problem(path, _line(node, ["id"]), f"duplicate instrument id {ins.id!r}")
            )
            continue
        if ins.id != path.stem:
            problems.append(
                Problem(
                    path,
                    _line(node, ["id"]),
                    f"id {ins.id!r} differs from the file name",
                    Severity.WARNING,
                )
            )
        instruments[ins.id] = ins
    return instruments, problems


def validate_instruments(directory: Path) -> list[Problem]:
    """Every problem in the instrument files of ``directory`` (errors and warnings)."""
    return _scan(Path(directory))[1]


def load_instruments(directory: Path) -> dict[str, Instrument]:
    """Instruments by id; raises ``ContentError`` listing every error if any is found."""
    instruments, problems = _scan(Path(directory))
    if errors(problems):
        raise ContentError(errors(problems))
    return instruments
