"""The shipped check-in instruments, and validation of broken instrument files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from ketacompanion.content.instruments import (
    Action,
    Instrument,
    ItemKind,
    load_instruments,
    validate_instruments,
)
from ketacompanion.content.problems import ContentError, Severity

CHECKINS = Path(__file__).resolve().parents[1] / "content" / "checkins"
FREQUENCY = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


@pytest.fixture(scope="module")
def shipped() -> dict[str, Instrument]:
    return load_instruments(CHECKINS)


def test_shipped_files_validate_without_errors_or_warnings() -> None:
    assert [str(p) for p in validate_instruments(CHECKINS)] == []


def test_every_check_in_the_design_calls_for_is_shipped(shipped: dict[str, Instrument]) -> None:
    assert set(shipped) == {"daily", "phq9", "gad7", "post_session", "next_day"}


@pytest.mark.parametrize(
    ("instrument_id", "count", "mins", "labels"),
    [
        (
            "phq9",
            9,
            [0, 5, 10, 15, 20],
            ["minimal", "mild", "moderate", "moderately severe", "severe"],
        ),
        ("gad7", 7, [0, 5, 10, 15], ["minimal", "mild", "moderate", "severe"]),
    ],
)
def test_standard_questionnaires_score_as_published(
    shipped: dict[str, Instrument],
    instrument_id: str,
    count: int,
    mins: list[int],
    labels: list[str],
) -> None:
    ins = shipped[instrument_id]
    assert ins.scoring is not None
    scored = [ins.item(i) for i in ins.scoring.items]
    assert len(scored) == count == len(set(ins.scoring.items))
    for item in scored:
        assert item.kind is ItemKind.CHOICE
        assert [o.label for o in item.options] == FREQUENCY
        assert [o.score for o in item.options] == [0, 1, 2, 3]
    assert [b.min for b in ins.scoring.bands] == mins
    assert [b.label for b in ins.scoring.bands] == labels


def test_phq9_item_9_is_the_scored_safety_item(shipped: dict[str, Instrument]) -> None:
    phq9 = shipped["phq9"]
    assert phq9.safety_item.id == "q9"
    assert phq9.scoring is not None and "q9" in phq9.scoring.items
    assert "better off dead" in phq9.safety_item.prompt


def test_gad7_asks_the_safety_item_without_scoring_it(shipped: dict[str, Instrument]) -> None:
    gad7 = shipped["gad7"]
    assert gad7.scoring is not None
    assert gad7.safety_item.id not in gad7.scoring.items
    assert [o.score for o in gad7.safety_item.options] == [0, 1, 2, 3]


def test_every_instrument_asks_one_required_safety_item_routed_to_crisis(
    shipped: dict[str, Instrument],
) -> None:
    for ins in shipped.values():
        safety = [it for it in ins.items if it.safety]
        assert len(safety) == 1, ins.id
        assert not safety[0].optional, ins.id
        assert any(
            r.action is Action.CRISIS and r.when.item == safety[0].id and r.when.above == 0
            for r in ins.rules
        ), ins.id


def test_daily_has_the_quick_check_items(shipped: dict[str, Instrument]) -> None:
    daily = shipped["daily"]
    for scale in ("mood", "anxiety"):
        item = daily.item(scale)
        assert (item.kind, item.min, item.max) == (ItemKind.SCALE, 0, 10)
    note = daily.item("note")
    assert note.kind is ItemKind.TEXT and note.optional and note.sensitive


@pytest.mark.parametrize(
    ("instrument_id", "item_id", "red", "routine"),
    [
        (
            "daily",
            "side_effects",
            {"detached_days", "hallucinations", "confused", "bad_headache", "chest_breathing",
             "vision_weakness", "urine_blood", "cannot_pee", "bladder_pain", "fog_daily_life",
             "cravings", "extra_ketamine", "saving_ketamine"},
            {"nausea", "dizzy", "headache", "drowsy", "foggy", "bladder_change"},
        ),
        (
            "post_session",
            "side_effects",
            {"bad_headache", "chest_breathing", "vision_weakness", "hard_to_wake", "hallucinations",
             "confused", "cravings", "extra_ketamine"},
            {"still_detached", "nausea", "dizzy", "headache", "drowsy"},
        ),
        (
            "next_day",
            "lingering",
            {"detached", "hallucinations", "urine_blood", "cannot_pee", "bladder_pain",
             "chest_breathing", "cravings"},
            {"tired", "foggy", "nausea", "bladder_change"},
        ),
    ],
)  # fmt: skip
def test_side_effects_mark_the_clinical_red_flags(
    shipped: dict[str, Instrument],
    instrument_id: str,
    item_id: str,
    red: set[str],
    routine: set[str],
) -> None:
    item = shipped[instrument_id].item(item_id)
    flagged = {o.id for o in item.options if o.red_flag}
    assert red <= flagged
    assert not routine & flagged
    assert routine <= {o.id for o in item.options}
    assert [o.id for o in item.options if o.exclusive] == ["none"]


def test_misuse_goes_to_the_crisis_path(shipped: dict[str, Instrument]) -> None:
    for instrument_id in ("daily", "post_session", "next_day"):
        crisis_options = {
            o
            for r in shipped[instrument_id].rules
            if r.action is Action.CRISIS and r.when.any_of
            for o in r.when.any_of
        }
        assert {"cravings", "extra_ketamine"} <= crisis_options, instrument_id


# --- broken files -------------------------------------------------------------------------

VALID = """\
id: mini
title: Mini
intro: Hi
period: today
items:
  - id: mood
    kind: scale
    prompt: Mood?
    min: 0
    max: 10
  - id: feel
    kind: choice
    prompt: Feel?
    options:
      - {id: bad, label: Bad, score: 0}
      - {id: good, label: Good, score: 1}
  - id: fx
    kind: multi
    prompt: Effects?
    options:
      - {id: none, label: None of these, exclusive: true}
      - {id: blood, label: Blood, red_flag: true}
  - id: note
    kind: text
    prompt: Note?
    optional: true
  - id: safety
    kind: choice
    safety: true
    prompt: Safe?
    options:
      - {id: no_thoughts, label: "No", score: 0}
      - {id: thoughts, label: "Yes", score: 1}
scoring:
  items: [mood, feel]
  bands:
    - {min: 0, label: low}
    - {min: 5, label: high}
rules:
  - {id: safety, when: {item: safety, above: 0}, action: crisis}
  - {id: flag, when: {item: fx, red_flag: true}, action: urgent_medical}
  - {id: high, when: {total_at_least: 9}, action: care_team_soon}
"""
HERE = "⟨!⟩"

# Each case swaps one fragment of VALID; HERE in the replacement marks the line the
# problem must be reported at.
BROKEN = [
    ("yaml_syntax", "    prompt: Mood?", "    prompt: Mood: how?⟨!⟩", "YAML"),
    ("schema_enum", "    kind: scale", "    kind: slider⟨!⟩", "kind"),
    ("unknown_field", "{id: blood, label: Blood, red_flag: true}",
     "{id: blood, label: Blood, red_flg: true}⟨!⟩", "red_flg"),
    ("bare_no", '{id: no_thoughts, label: "No"', "{id: no_thoughts, label: No⟨!⟩", "quotes"),
    ("duplicate_item", "  - id: note", "  - id: mood⟨!⟩", "duplicate item id"),
    ("no_safety", "    safety: true\n", "", "no safety item"),
    ("two_safety", "scoring:\n",
     "  - {id: again, kind: choice, prompt: Again, options: [{id: a, label: A, score: 0}],\n"
     "     safety: true}⟨!⟩\nscoring:\n", "more than one safety item"),
    ("safety_optional", "    safety: true\n", "    safety: true\n    optional: true⟨!⟩\n",
     "cannot be optional"),
    ("safety_no_crisis", "{item: safety, above: 0}, action: crisis}",
     "{item: safety, above: 0}, action: care_team_soon}", "no rule sends"),
    ("rule_unknown_item", "{item: fx, red_flag: true}",
     "{item: effects, red_flag: true}⟨!⟩", "unknown item 'effects'"),
    ("rule_unknown_option", "{item: fx, red_flag: true}",
     "{item: fx, any_of: [blood, rash]}⟨!⟩", "no option 'rash'"),
    ("rule_two_tests", "{item: fx, red_flag: true}",
     "{item: fx, red_flag: true, above: 1}⟨!⟩", "exactly one"),
    ("rule_above_multi", "{item: fx, red_flag: true}", "{item: fx, above: 0}⟨!⟩",
     "numeric"),
    ("scoring_unknown", "  items: [mood, feel]", "  items: [mood, feeling]⟨!⟩",
     "unknown item 'feeling'"),
    ("scoring_text", "  items: [mood, feel]", "  items: [mood, note]⟨!⟩", "no numeric"),
    ("scoring_multi", "  items: [mood, feel]", "  items: [mood, fx]⟨!⟩", "no numeric"),
    ("bands_order", "    - {min: 5, label: high}", "    - {min: 0, label: high}⟨!⟩",
     "must increase"),
    ("scale_min_max", "    min: 0\n    max: 10", "    min: 10⟨!⟩\n    max: 10",
     "below max"),
    ("choice_no_options", "    options:\n      - {id: bad, label: Bad, score: 0}\n"
     "      - {id: good, label: Good, score: 1}\n", "    options: []⟨!⟩\n", "needs options"),
    ("duplicate_option", "{id: good, label: Good, score: 1}",
     "{id: bad, label: Good, score: 1}⟨!⟩", "duplicate option id 'bad'"),
    ("duplicate_key", "    prompt: Mood?", "    prompt: Mood?\n    prompt: Again?⟨!⟩",
     "duplicate key 'prompt'"),
    ("missing_field", "title: Mini\n", "", "title"),
]  # fmt: skip


def _mark(text: str) -> tuple[str, int]:
    """The text without HERE, and the 1-based line HERE was on (0 if none)."""
    lines = text.splitlines(keepends=True)
    marked = [n for n, line in enumerate(lines, start=1) if HERE in line]
    return text.replace(HERE, ""), (marked[0] if marked else 0)


def test_the_valid_fixture_is_clean(tmp_path: Path) -> None:
    (tmp_path / "mini.yaml").write_text(VALID)
    assert validate_instruments(tmp_path) == []
    assert set(load_instruments(tmp_path)) == {"mini"}


@pytest.mark.parametrize(
    ("old", "new", "fragment"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_each_broken_file_is_reported_at_its_line(
    tmp_path: Path, old: str, new: str, fragment: str
) -> None:
    assert VALID.count(old) == 1
    text, line = _mark(VALID.replace(old, new))
    path = tmp_path / "mini.yaml"
    path.write_text(text)
    problems = validate_instruments(tmp_path)
    matching = [p for p in problems if fragment in p.message]
    assert matching, [str(p) for p in problems]
    assert all(p.path == path and p.severity is Severity.ERROR for p in matching)
    if line > 0:
        assert line in {p.line for p in matching}, [str(p) for p in problems]
    with pytest.raises(ContentError) as raised:
        load_instruments(tmp_path)
    assert any(fragment in p.message for p in raised.value.problems)


def test_duplicate_instrument_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID)
    (tmp_path / "b.yaml").write_text(VALID)
    problems = validate_instruments(tmp_path)
    dupes = [p for p in problems if "duplicate instrument id" in p.message]
    assert [(p.path.name, p.line) for p in dupes] == [("b.yaml", 1)]


def test_an_id_unlike_the_file_name_is_only_a_warning(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text(VALID)
    problems = validate_instruments(tmp_path)
    assert [p.severity for p in problems] == [Severity.WARNING]
    assert set(load_instruments(tmp_path)) == {"mini"}


def test_load_reports_every_problem_from_every_file(tmp_path: Path) -> None:
    (tmp_path / "mini.yaml").write_text(VALID.replace("    kind: scale", "    kind: slider"))
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ContentError) as raised:
        load_instruments(tmp_path)
    assert {p.path.name for p in raised.value.problems} == {"mini.yaml", "empty.yaml"}


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ContentError):
        load_instruments(tmp_path / "nowhere")


def test_built_in_code_the_same_checks_apply() -> None:
    import yaml

    data = yaml.safe_load(VALID)
    assert Instrument.model_validate(data).id == "mini"
    data["items"] = [it for it in data["items"] if not it.get("safety")]
    with pytest.raises(ValidationError, match="no safety item"):
        Instrument.model_validate(data)


def test_aliased_options_are_checked_once_per_node(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        items: &x
          - {id: a, id: b}
        again: *x
        """
    )
    (tmp_path / "x.yaml").write_text(text)
    dupes = [p for p in validate_instruments(tmp_path) if "duplicate key" in p.message]
    assert [p.line for p in dupes] == [2]
