"""Parsing typed answers, totals and bands, and the rules check-in answers fire."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketacompanion.content.instruments import Action, Instrument, Item, ItemKind, load_instruments
from ketacompanion.core.scoring import (
    MAX_TEXT,
    Answer,
    describe_change,
    fired_rules,
    parse_answer,
    score,
)

CHECKINS = Path(__file__).resolve().parents[1] / "content" / "checkins"
INSTRUMENTS = load_instruments(CHECKINS)
DAILY, PHQ9, GAD7 = INSTRUMENTS["daily"], INSTRUMENTS["phq9"], INSTRUMENTS["gad7"]

MOOD = Item(id="mood", kind=ItemKind.SCALE, prompt="Mood?", min=0, max=10)
FIVE = Item(id="five", kind=ItemKind.SCALE, prompt="1 to 5?", min=1, max=5)
PHQ_Q1 = PHQ9.item("q1")
EFFECTS = DAILY.item("side_effects")
NOTE = DAILY.item("note")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7),
        ("seven", 7),
        ("Seven", 7),
        ("7/10", 7),
        ("7 / 10", 7),
        ("7 out of 10", 7),
        ("seven out of ten", 7),
        (" 7 ", 7),
        ("7.", 7),
        ("0", 0),
        ("10", 10),
        ("10/10", 10),
        ("\uff17", 7),  # full-width 7
        ("\uff11\uff10", 10),  # full-width 10
        ("7\ufe0f\u20e3", 7),  # keycap emoji
        ("\u200b7\u200b", 7),  # zero-width spaces
        ("\u00a07\u00a0", 7),  # no-break spaces
        ("\u0667", 7),  # Arabic-Indic 7
        ("78", None),
        ("11", None),
        ("-1", None),
        ("\u22121", None),  # minus sign
        ("6 or 7", None),
        ("6-7", None),
        ("7.5", None),
        ("7,5", None),
        ("3/5", None),
        ("7/100", None),
        ("", None),
        ("   ", None),
        ("good", None),
        ("7 \U0001f600", None),
        ("1e1", None),
        ("0x7", None),
        ("9" * 50, None),
    ],
)
def test_scale_answers(text: str, expected: int | None) -> None:
    answer = parse_answer(MOOD, text)
    assert (answer.value if answer else None) == expected


def test_a_fraction_must_match_the_scale_it_answers() -> None:
    assert parse_answer(FIVE, "3/5") == Answer(value=3)
    assert parse_answer(FIVE, "3/10") is None
    assert parse_answer(FIVE, "0") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Not at all", "not_at_all"),
        ("not   AT all", "not_at_all"),
        ("not_at_all", "not_at_all"),
        ("NEARLY EVERY DAY", "nearly_every_day"),
        ("More than half the days.", "more_than_half"),
        ("1", "not_at_all"),
        ("2", "several_days"),
        ("4", "nearly_every_day"),
        ("four", "nearly_every_day"),
        ("\uff14", "nearly_every_day"),
        ("0", None),  # numbers count options from 1; a score of 0 is not an option number
        ("5", None),
        ("several", None),
        ("1 or 2", None),
        ("Not at all, several days", None),
        ("N\u043et at all", None),  # Cyrillic o
    ],
)
def test_choice_answers(text: str, expected: str | None) -> None:
    answer = parse_answer(PHQ_Q1, text)
    assert (answer.options[0] if answer else None) == expected
    if answer is not None:
        chosen = PHQ_Q1.option(answer.options[0])
        assert chosen is not None and answer.value == chosen.score


def _position(item: Item, option_id: str) -> int:
    return [o.id for o in item.options].index(option_id) + 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("None of these", ("none",)),
        ("none", ("none",)),
        ("nausea", ("nausea",)),
        ("Blood in my pee", ("urine_blood",)),
        ("blood in my pee, i can\u2019t pee", ("urine_blood", "cannot_pee")),
        ("I can't pee; dizzy", ("dizzy", "cannot_pee")),
        ("nausea and dizzy", ("nausea", "dizzy")),
        ("nausea & dizzy", ("nausea", "dizzy")),
        ("nausea dizzy", ("nausea", "dizzy")),
        ("nausea, nausea", ("nausea",)),
        ("none, nausea", None),  # contradicts itself
        ("nausea, rash", None),
        ("rash", None),
        (",,,", None),
        ("", None),
    ],
)
def test_multi_answers_by_label_or_id(text: str, expected: tuple[str, ...] | None) -> None:
    answer = parse_answer(EFFECTS, text)
    assert (answer.options if answer else None) == expected
    if answer is not None:
        assert answer.value is None


def test_multi_answers_by_number() -> None:
    ids = [o.id for o in EFFECTS.options]
    answer = parse_answer(EFFECTS, "2, 4")
    assert answer is not None and answer.options == (ids[1], ids[3])
    answer = parse_answer(EFFECTS, "4 2")
    assert answer is not None and answer.options == (ids[1], ids[3])
    assert parse_answer(EFFECTS, f"2, {len(ids) + 1}") is None
    assert parse_answer(EFFECTS, "1, 2") is None  # "None of these" is option 1


def test_text_answers_are_trimmed_and_capped() -> None:
    assert parse_answer(NOTE, "  slept badly\n") == Answer(text="slept badly")
    assert parse_answer(NOTE, "   ") is None
    huge = parse_answer(NOTE, "a" * 1_000_000)
    assert huge is not None and huge.text == "a" * MAX_TEXT


@pytest.mark.parametrize("item", [MOOD, PHQ_Q1, EFFECTS], ids=lambda i: i.id)
def test_huge_input_is_refused_quickly(item: Item) -> None:
    started = time.perf_counter()
    for text in ("7" * 1_000_000, "nausea, " * 200_000, " " * 1_000_000 + "7"):
        assert parse_answer(item, text) is None
    assert time.perf_counter() - started < 1.0


# --- property tests ---------------------------------------------------------------------

SAFETY_ITEMS = [ins.safety_item for ins in INSTRUMENTS.values()]
ANY_ITEMS = [MOOD, FIVE, PHQ_Q1, EFFECTS, NOTE, DAILY.item("sleep"), *SAFETY_ITEMS]
LABELS = sorted({o.label for it in ANY_ITEMS for o in it.options})
TYPED = st.one_of(
    st.text(max_size=60),
    st.integers(-20, 120).map(str),
    st.sampled_from(LABELS),
    st.lists(st.sampled_from([*LABELS, "1", "3", "none", "and"]), max_size=4).map(", ".join),
    st.text(alphabet="0123456789 /,.-\uff10\uff17\u0667ofutn", max_size=12),
)


def _check_in_range(item: Item, answer: Answer) -> None:
    if item.kind is ItemKind.SCALE:
        assert answer.value is not None and item.min is not None and item.max is not None
        assert item.min <= answer.value <= item.max
    elif item.kind is ItemKind.CHOICE:
        assert len(answer.options) == 1
        chosen = item.option(answer.options[0])
        assert chosen is not None and answer.value == chosen.score
    elif item.kind is ItemKind.MULTI:
        assert answer.options and len(set(answer.options)) == len(answer.options)
        chosen = [item.option(o) for o in answer.options]
        assert all(c is not None for c in chosen)
        assert len(chosen) == 1 or not any(c.exclusive for c in chosen if c)
    else:
        assert answer.text is not None and 0 < len(answer.text) <= MAX_TEXT


@given(item=st.sampled_from(ANY_ITEMS), text=TYPED)
def test_parse_never_raises_and_stays_in_range(item: Item, text: str) -> None:
    answer = parse_answer(item, text)
    if answer is not None:
        _check_in_range(item, answer)


@given(value=st.integers(0, 10), spelling=st.sampled_from(["{}", " {} ", "{}/10", "{} out of 10"]))
def test_every_value_on_the_scale_can_be_typed(value: int, spelling: str) -> None:
    assert parse_answer(MOOD, spelling.format(value)) == Answer(value=value)


# --- scores and bands -------------------------------------------------------------------

# Published cut-offs (clinical.md section 1), written out here rather than read from
# the content files under test.
PHQ9_BANDS = [
    (20, "severe"),
    (15, "moderately severe"),
    (10, "moderate"),
    (5, "mild"),
    (0, "minimal"),
]
GAD7_BANDS = [(15, "severe"), (10, "moderate"), (5, "mild"), (0, "minimal")]


def _expected_band(total: int, bands: list[tuple[int, str]]) -> str:
    return next(label for low, label in bands if total >= low)


def _answers(ins: Instrument, item_ids: list[str], total: int) -> dict[str, Answer]:
    """Answers to ``item_ids`` (each 0-3) adding up to ``total``, filled from the front."""
    answers = {}
    for item_id in item_ids:
        value = min(3, total)
        total -= value
        opt = next(o for o in ins.item(item_id).options if o.score == value)
        answers[item_id] = Answer(value=value, options=(opt.id,))
    assert total == 0
    return answers


PHQ_ITEMS = [f"q{n}" for n in range(1, 10)]
GAD_ITEMS = [f"q{n}" for n in range(1, 8)]


@pytest.mark.parametrize("total", [0, 4, 5, 9, 10, 14, 15, 19, 20, 26, 27])
def test_phq9_bands_at_their_edges(total: int) -> None:
    result = score(PHQ9, _answers(PHQ9, PHQ_ITEMS, total))
    assert result is not None
    assert (result.total, result.max_total) == (total, 27)
    assert result.band == _expected_band(total, PHQ9_BANDS)


@pytest.mark.parametrize("total", [0, 4, 5, 9, 10, 14, 15, 21])
def test_gad7_bands_at_their_edges(total: int) -> None:
    answers = _answers(GAD7, GAD_ITEMS, total)
    answers["safety"] = Answer(value=3, options=("nearly_every_day",))  # not part of the total
    result = score(GAD7, answers)
    assert result is not None
    assert (result.total, result.max_total) == (total, 21)
    assert result.band == _expected_band(total, GAD7_BANDS)


def test_no_total_when_an_item_is_skipped_or_impossible() -> None:
    answers = _answers(PHQ9, PHQ_ITEMS, 12)
    skipped = {k: v for k, v in answers.items() if k != "q4"}
    assert score(PHQ9, skipped) is None
    assert score(PHQ9, {**answers, "q4": Answer(value=None, options=())}) is None
    assert score(PHQ9, {**answers, "q4": Answer(value=4)}) is None


def test_no_total_for_instruments_without_scoring() -> None:
    assert score(DAILY, {"mood": Answer(value=5)}) is None


# --- rules ------------------------------------------------------------------------------


def _actions(ins: Instrument, answers: dict[str, Answer]) -> list[Action]:
    return [hit.action for hit in fired_rules(ins, answers)]


@pytest.mark.parametrize("instrument_id", sorted(INSTRUMENTS))
def test_any_safety_answer_above_zero_fires_crisis(instrument_id: str) -> None:
    ins = INSTRUMENTS[instrument_id]
    safety = ins.safety_item
    for n, opt in enumerate(safety.options, start=1):
        answer = parse_answer(safety, str(n))
        assert answer is not None and answer.value == opt.score
        hits = fired_rules(ins, {safety.id: answer})
        crisis = [h for h in hits if h.action is Action.CRISIS]
        if opt.score:
            assert [h.item_id for h in crisis] == [safety.id]
        else:
            assert crisis == []


@pytest.mark.parametrize("instrument_id", ["daily", "post_session", "next_day"])
def test_a_red_flag_fires_urgent_medical_and_routine_effects_fire_nothing(
    instrument_id: str,
) -> None:
    ins = INSTRUMENTS[instrument_id]
    multi = next(it for it in ins.items if it.kind is ItemKind.MULTI)
    for opt in multi.options:
        actions = _actions(ins, {multi.id: Answer(options=(opt.id,))})
        assert (Action.URGENT_MEDICAL in actions) == opt.red_flag, opt.id


def test_blood_in_urine_typed_in_the_daily_check_is_urgent() -> None:
    answer = parse_answer(EFFECTS, "nausea, blood in my pee")
    assert answer is not None
    assert _actions(DAILY, {"side_effects": answer}) == [Action.URGENT_MEDICAL]


def test_misuse_fires_crisis_before_urgent_medical() -> None:
    answer = parse_answer(EFFECTS, "cravings for ketamine")
    assert answer is not None
    assert _actions(DAILY, {"side_effects": answer}) == [Action.CRISIS, Action.URGENT_MEDICAL]


def test_crisis_is_listed_first_whatever_the_rule_order() -> None:
    answers = {
        "safety": Answer(value=1, options=("briefly",)),
        "side_effects": Answer(options=("chest_breathing",)),
    }
    hits = fired_rules(DAILY, answers)
    assert [h.action for h in hits] == [Action.CRISIS, Action.EMERGENCY, Action.URGENT_MEDICAL]
    reordered = DAILY.model_copy(update={"rules": tuple(reversed(DAILY.rules))})
    assert [h.action for h in fired_rules(reordered, answers)] == [
        Action.CRISIS,
        Action.EMERGENCY,
        Action.URGENT_MEDICAL,
    ]


@pytest.mark.parametrize(("total", "fires"), [(19, False), (20, True), (27, True)])
def test_phq9_severe_total_asks_for_the_care_team_soon(total: int, fires: bool) -> None:
    answers = _answers(PHQ9, PHQ_ITEMS[:8], min(total, 24))
    answers |= _answers(PHQ9, ["q9"], total - min(total, 24))
    actions = _actions(PHQ9, answers)
    assert (Action.CARE_TEAM_SOON in actions) == fires
    assert (Action.CRISIS in actions) == (total > 24)
    assert actions == sorted(actions, key=lambda a: a.rank)


def test_a_severe_total_fires_before_every_item_is_answered() -> None:
    answers = _answers(PHQ9, PHQ_ITEMS[:7], 21)
    assert score(PHQ9, answers) is None
    assert _actions(PHQ9, answers) == [Action.CARE_TEAM_SOON]
    assert _actions(PHQ9, _answers(PHQ9, PHQ_ITEMS[:7], 19)) == []


def test_no_answers_fire_nothing() -> None:
    for ins in INSTRUMENTS.values():
        assert fired_rules(ins, {}) == []


# --- describing change ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("mood", 6, 4, "last week"), {"out_of": 10}, "mood 6/10, up from 4 last week"),
        (("mood", 3, 5, "yesterday"), {"out_of": 10}, "mood 3/10, down from 5 yesterday"),
        (("anxiety", 5, 5, "last week"), {}, "anxiety 5, the same as last week"),
        (("PHQ-9", 12, None), {"out_of": 27}, "PHQ-9 12/27"),
        (("mood", 0, 10), {}, "mood 0, down from 10 last time"),
    ],
)
def test_describe_change(args: tuple, kwargs: dict, expected: str) -> None:
    assert describe_change(*args, **kwargs) == expected
