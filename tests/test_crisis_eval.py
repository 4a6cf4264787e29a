"""Evaluation arithmetic, file reading, and the detector's targets on the labelled sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketacompanion.core.crisis.detector import Detector, RiskLevel, Screening
from ketacompanion.core.crisis.evaluation import (
    LabelledRow,
    check_lines,
    evaluate,
    read_labelled,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
PHRASES = ROOT / "content" / "crisis" / "phrases.yaml"


class FixedAnswers:
    """Answers a level chosen per text, so the arithmetic can be checked by hand."""

    def __init__(self, levels: dict[str, RiskLevel]) -> None:
        self.levels = levels

    def screen(self, text: str) -> Screening:
        level = self.levels[text]
        return Screening(level, None if level is RiskLevel.NONE else "ideation", ())


def test_read_tsv_and_csv(tmp_path: Path) -> None:
    tsv = tmp_path / "rows.tsv"
    tsv.write_text(
        'text\tlabel\tslice\nshe said "hi", ok\tnone\teveryday\nI want to die\tCrisis\t\n'
    )
    rows = read_labelled(tsv)
    assert rows == [
        LabelledRow('she said "hi", ok', "none", "everyday"),
        LabelledRow("I want to die", "crisis", "unsliced"),
    ]
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text('text,label,slice\n"well, no",none,negation\n')
    assert read_labelled(csv_file) == [LabelledRow("well, no", "none", "negation")]


def test_read_rejects_unknown_labels_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\tslice\nfine\tnone\tx\nhmm\tmaybe\tx\n")
    with pytest.raises(ValueError, match=r"bad.tsv:3: label"):
        read_labelled(bad)
    missing = tmp_path / "missing.tsv"
    missing.write_text("message\tlabel\nfine\tnone\n")
    with pytest.raises(ValueError, match="missing column"):
        read_labelled(missing)


def test_evaluate_counts_by_label_and_slice() -> None:
    C, W, N = RiskLevel.CRISIS, RiskLevel.CONCERN, RiskLevel.NONE
    rows = [
        LabelledRow("c1", "crisis", "explicit"),  # found
        LabelledRow("c2", "crisis", "explicit"),  # only concern: missed
        LabelledRow("w1", "concern", "passive"),  # found at crisis
        LabelledRow("w2", "concern", "passive"),  # missed
        LabelledRow("n1", "none", "idiom"),  # crisis card: false alarm
        LabelledRow("n2", "none", "idiom"),  # soft check
        LabelledRow("n3", "none", "idiom"),
        LabelledRow("n4", "none", "everyday"),
    ]
    answers = {"c1": C, "c2": W, "w1": C, "w2": N, "n1": C, "n2": W, "n3": N, "n4": N}
    report = evaluate(rows, FixedAnswers(answers))
    crisis, concern, none = (report.labels[k] for k in ("crisis", "concern", "none"))
    assert (crisis.count, crisis.recall) == (2, 0.5)
    assert (concern.recall, concern.concern_shown_crisis) == (0.5, 0.5)
    assert (none.false_alarm_crisis, none.false_alarm_flagged) == (0.25, 0.5)
    assert report.label_precision("crisis") == pytest.approx(1 / 3)  # c1 of c1, w1, n1
    assert report.label_precision("concern") == 0.0  # c2 and n2, neither labelled concern
    assert report.slices["idiom"].false_alarm_flagged == pytest.approx(2 / 3)
    assert report.total.precision == pytest.approx(3 / 5)  # flagged: c1 c2 w1 n1 n2
    assert [m.text for m in report.mistakes] == ["c2", "w2", "n1", "n2"]
    as_dict = report.to_dict()
    assert as_dict["rows"] == 8
    assert as_dict["labels"]["none"]["none_shown_crisis"] == 0.25
    assert set(as_dict["slices"]) == {"explicit", "passive", "idiom", "everyday"}
    table = report.format_table()
    assert "slice:idiom" in table and "label:crisis" in table and "25.0%" in table


def test_check_lines_skips_blank_lines() -> None:
    fixed = FixedAnswers({"help": RiskLevel.CRISIS, "hello": RiskLevel.NONE})
    out = list(check_lines(["help\n", "\n", "  ", "hello"], fixed))
    assert out == [
        {"text": "help", "level": "crisis", "category": "ideation", "reasons": []},
        {"text": "hello", "level": "none", "category": None, "reasons": []},
    ]


# ---- targets on the labelled sets ------------------------------------------------------


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_file(PHRASES)


def test_labelled_set_is_large_and_varied() -> None:
    rows = read_labelled(DATA / "crisis_labelled.tsv")
    counts = {label: sum(r.label == label for r in rows) for label in ("crisis", "concern", "none")}
    assert counts["crisis"] >= 160 and counts["concern"] >= 110 and counts["none"] >= 160
    slices = {r.slice for r in rows}
    expected = {"explicit", "obfuscated", "slang", "method_seeking", "passive", "third_person",
                "misuse", "negation", "idiom", "gaming", "lyrics", "grief", "session_talk",
                "everyday"}  # fmt: skip
    assert expected <= slices
    assert len({r.text for r in rows}) == len(rows)


def test_targets_on_labelled_set(detector: Detector) -> None:
    report = evaluate(read_labelled(DATA / "crisis_labelled.tsv"), detector)
    print("\ncrisis_labelled.tsv\n" + report.format_table())
    for m in report.mistakes:
        print(f"  {m.label}->{m.level} [{m.slice}] {m.text[:90]}")
    assert report.labels["crisis"].recall >= 0.98
    assert report.slices["explicit"].recall >= 0.98
    assert report.labels["none"].false_alarm_crisis <= 0.01
    assert report.labels["concern"].recall >= 0.80


@pytest.mark.parametrize(
    "name", ["crisis_holdout.tsv", "crisis_holdout2.tsv", "crisis_holdout3.tsv", "crisis_holdout4.tsv", "crisis_paraphrase.tsv"]
)
def test_holdout_sets(detector: Detector, name: str) -> None:
    """Regression floors. Both sets were written after the rules; their first, blind
    figures are in the project's history, and rules were later widened where they
    showed general gaps, so these floors guard against losing ground."""
    report = evaluate(read_labelled(DATA / name), detector)
    print(f"\n{name}\n" + report.format_table())
    for m in report.mistakes:
        print(f"  {m.label}->{m.level} [{m.slice}] {m.text[:90]}")
    assert report.labels["none"].false_alarm_crisis == 0
    assert report.labels["crisis"].recall >= 0.9
    assert report.labels["concern"].recall >= 0.8


# ---- floors for the whole screen (rules, then the shipped model) --------------------------
# crisis_labelled, crisis_holdout and crisis_holdout2 are part of the model's training data
# (content/crisis/training/regression_sets.tsv); holdout3, holdout4, implicit and paraphrase
# are not, so for the model they are unseen (though not blind: the rules were tuned on them).
# The floors below are the figures measured for the committed model (none shown the card
# on none of these sets), and the rules alone keep their own floors above.
WHOLE_SCREEN_FLOORS = {
    # file: (crisis card >=, concern flagged >=, none shown the card <=, none flagged <=)
    "crisis_labelled.tsv": (1.0, 1.0, 0.0, 0.06),  # 10/188 flagged
    "crisis_holdout.tsv": (1.0, 1.0, 0.0, 0.05),  # 1/24
    "crisis_holdout2.tsv": (1.0, 1.0, 0.0, 0.05),  # 1/24
    "crisis_holdout3.tsv": (1.0, 1.0, 0.0, 0.06),  # 2/35
    "crisis_holdout4.tsv": (1.0, 1.0, 0.0, 0.09),  # 3/35
    # 28/30 concern flagged; 7/30 none flagged. 2/30 none carded since the crisis score
    # weighs crisis against none alone and the weak-slice rows were added: "I made sure my
    # affairs are sorted before the move", "I want the ground to swallow me up, I tripped".
    "crisis_implicit.tsv": (None, 0.9, 0.067, 0.24),
    "crisis_paraphrase.tsv": (1.0, 1.0, 0.0, 0.1),  # 2/20 flagged (1/20 before the weak-slice rows)
}


@pytest.mark.parametrize("name", sorted(WHOLE_SCREEN_FLOORS))
def test_whole_screen_floors(real_screen: object, name: str) -> None:
    report = evaluate(read_labelled(DATA / name), real_screen)  # type: ignore[arg-type]
    print(f"\n{name} (rules + model)\n" + report.format_table())
    crisis, concern, none_shown, none_flagged = WHOLE_SCREEN_FLOORS[name]
    labels = report.labels
    if crisis is not None:
        assert labels["crisis"].recall >= crisis
    assert labels["concern"].recall >= concern
    assert labels["none"].false_alarm_crisis <= none_shown + 1e-9
    assert labels["none"].false_alarm_flagged <= none_flagged + 1e-9


# ---- the development set and the cross-validated record -------------------------------
# crisis_blind5.tsv was blind on its first run (docs/crisis.md keeps those figures); it has
# since been used to choose between designs, so it is a development set. These floors are
# its figures for the committed model, a little below, so a worse model fails here.
DEVELOPMENT_FLOORS = {
    # crisis card >=, crisis flagged >=, concern flagged >=, none carded <=, none flagged <=
    "all": (0.84, 0.97, 0.9, 0.015, 0.12),  # carded 136/160 (120, then 131 when crisis was weighed against none)
    # none carded 2/174 (all) and 1/90 (en) since the rules lower recovery stories, topic
    # questions and quoted speech (9/174 and 7/90 before).
    "en": (0.78, 0.96, 0.9, 0.012, 0.13),
    # Concern flagged 5/8 (the concern threshold moved from 0.78 to 0.791) and look-alikes
    # carded 2/12 (1/12 before crisis was weighed against none).
    "hi": (0.5, 0.9, 0.62, 0.09, 0.34),  # none carded 0/12 since the look-alike contexts
}


def test_development_set_floors(real_screen: object) -> None:
    rows = read_labelled(DATA / "crisis_blind5.tsv")
    by_lang: dict[str, list[tuple[LabelledRow, RiskLevel]]] = {}
    levels = [real_screen.screen(r.text).level for r in rows]  # type: ignore[attr-defined]
    for row, level in zip(rows, levels, strict=True):
        by_lang.setdefault("all", []).append((row, level))
        by_lang.setdefault(row.lang, []).append((row, level))

    def share(pairs: list[tuple[LabelledRow, RiskLevel]], label: str, at_least: RiskLevel) -> float:
        mine = [level for row, level in pairs if row.label == label]
        return sum(level >= at_least for level in mine) / len(mine)

    for lang, pairs in sorted(by_lang.items()):
        card, flagged, concern, none_card, none_flagged = DEVELOPMENT_FLOORS.get(lang, (0.5, 0.9, 0.7, 0.09, 0.34))
        assert share(pairs, "crisis", RiskLevel.CRISIS) >= card, lang
        assert share(pairs, "crisis", RiskLevel.CONCERN) >= flagged, lang
        assert share(pairs, "concern", RiskLevel.CONCERN) >= concern, lang
        assert share(pairs, "none", RiskLevel.CRISIS) <= none_card, lang
        assert share(pairs, "none", RiskLevel.CONCERN) <= none_flagged, lang
        everyday = [(row, level) for row, level in pairs if row.slice == "everyday"]
        assert all(level is RiskLevel.NONE for _, level in everyday), lang  # 0 of 47 flagged


def test_the_recorded_cross_validation_meets_its_floors() -> None:
    """The figures `crisis train` wrote beside the committed weights (family folds, out of
    fold): a retrain that does worse must be looked at, not committed silently."""
    import json

    record = json.loads((ROOT / "content" / "crisis" / "model.json").read_text(encoding="utf-8"))
    cv = record["cross_validated"]["summary"]
    assert record["split"] == "by family" and record["folds"] == 5
    assert cv["labels"]["crisis"]["recall"] >= 0.64  # carded (65.2% since crisis is weighed against none)
    assert cv["labels"]["crisis"]["flagged"] >= 0.86
    assert cv["labels"]["concern"]["recall"] >= 0.82
    assert cv["everyday_slice"]["none_card"] <= 0.01
    assert cv["everyday_slice"]["none_flagged"] <= 0.05


def test_blind_set_6_keeps_its_first_run_figures(real_screen: object) -> None:
    """crisis_blind6.tsv was run once, blind, on the committed model (docs/crisis.md keeps
    the figures). They are floors now, never targets: the set is not tuned on, so a model
    that does worse on it is worse on unseen words."""
    rows = read_labelled(DATA / "crisis_blind6.tsv")
    levels = [real_screen.screen(r.text).level for r in rows]  # type: ignore[attr-defined]

    def share(label: str, at_least: RiskLevel, slice_: str | None = None) -> float:
        mine = [lv for r, lv in zip(rows, levels, strict=True) if r.label == label and slice_ in (None, r.slice)]
        return sum(lv >= at_least for lv in mine) / len(mine)

    assert share("crisis", RiskLevel.CRISIS) >= 0.77  # first run: 139/225; 175/225 since the weak-slice rows
    assert share("crisis", RiskLevel.CONCERN) >= 0.93  # 210/225
    # 139/154 on the first run; 138/154 since the retrain that moved the concern threshold
    # from 0.78 to 0.791 (the crisis card rose from 139 to 160 of 225 in the same retrain);
    # 136/154 since the weak-slice rows (the crisis card rose to 175 of 225).
    assert share("concern", RiskLevel.CONCERN) >= 0.88
    # 17/241 first run, 18/241 since crisis is weighed against none, 17/241 since the
    # weak-slice rows, 8/241 since the rules lower recovery stories, topic questions and quotes
    assert share("none", RiskLevel.CRISIS) <= 0.034
    assert share("none", RiskLevel.CONCERN) <= 0.179  # 43/241
    assert share("none", RiskLevel.CRISIS, "everyday") == 0  # 0/30


def test_blind_set_7_keeps_its_first_run_figures(real_screen: object) -> None:
    """crisis_blind7.tsv was written before this round's training data and run once, blind,
    on the model before the round and on the model of the round (docs/crisis.md keeps both).
    Its figures are floors, never targets."""
    rows = read_labelled(DATA / "crisis_blind7.tsv")
    levels = [real_screen.screen(r.text).level for r in rows]  # type: ignore[attr-defined]

    def count(label: str, at_least: RiskLevel, slice_: str | None = None) -> tuple[int, int]:
        mine = [lv for r, lv in zip(rows, levels, strict=True) if r.label == label and slice_ in (None, r.slice)]
        return sum(lv >= at_least for lv in mine), len(mine)

    assert count("crisis", RiskLevel.CRISIS) >= (168, 225)
    assert count("crisis", RiskLevel.CONCERN) >= (201, 225)
    assert count("concern", RiskLevel.CONCERN) >= (144, 149)
    assert count("none", RiskLevel.CRISIS)[0] <= 9  # 16 on the first run; 9 since the look-alike contexts
    assert count("none", RiskLevel.CONCERN)[0] <= 47
    assert count("none", RiskLevel.CRISIS, "everyday") == (0, 104)
    assert count("none", RiskLevel.CONCERN, "everyday")[0] <= 2
