"""The crisis detector on the shipped phrase rules, its mechanics on small rule sets,
and validation of the phrase file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketacompanion.content.phrases import (
    PhraseError,
    compile_phrase,
    load_phrases,
    validate_phrases,
)
from ketacompanion.content.problems import ContentError
from ketacompanion.core.crisis.detector import Detector, RiskLevel, Screening

from conftest import detector_from

ROOT = Path(__file__).resolve().parents[1]
PHRASES = ROOT / "content" / "crisis" / "phrases.yaml"

CRISIS, CONCERN, NONE = RiskLevel.CRISIS, RiskLevel.CONCERN, RiskLevel.NONE


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_file(PHRASES)


def test_shipped_phrase_file_is_valid() -> None:
    assert validate_phrases(PHRASES) == []


def test_levels_have_labels_and_order() -> None:
    assert [lvl.label for lvl in RiskLevel] == ["none", "concern", "crisis"]
    assert NONE < CONCERN < CRISIS


def test_screening_is_frozen(detector: Detector) -> None:
    result = detector.screen("I want to die")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.level = NONE  # type: ignore[misc]


# ---- shipped rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "k i l l  m y s e l f",
        "su1c1de is all i think about",
        "i want to k1ll mys3lf",
        "I want to ki\u200bll my\u200bself",
        "I want to kіll myself",  # Cyrillic i
        "Ι wаnt tо kіll mysеlf",  # Greek and Cyrillic look-alikes
        "i want to dieeeeee",
        "ｉ ｗａｎｔ ｔｏ ｄｉｅ",
        "i want to \u202ekill myself\u202c",
        "I WANT TO KILL MYSELF!!!",
        "i want to kil myslef",
        "thinking about sewer slide",
        "gonna kms",
        "i want to unalive myself",
    ],
)
def test_obfuscated_statements_are_crisis(detector: Detector, text: str) -> None:
    assert detector.screen(text).level is CRISIS


def test_empty_and_blank_messages(detector: Detector) -> None:
    for text in ("", "   ", "\u200b\u200b", "?!"):
        assert detector.screen(text) == Screening(NONE, None, ())


def test_long_message_with_buried_signal(detector: Detector) -> None:
    filler = "The session went fine and the nurse was kind. " * 60
    text = filler[:2500] + " Honestly I am going to kill myself this weekend. " + filler[:2500]
    assert len(text) > 5000
    assert detector.screen(text).level is CRISIS
    assert detector.screen(filler[:5000]).level is NONE


def test_signal_past_one_window_is_still_screened(detector: Detector) -> None:
    # Long text is read in windows: a crisis at the end of a long message is not lost.
    assert detector.screen("a " * 6000 + "i want to die").level is CRISIS


def test_mixed_scripts(detector: Detector) -> None:
    assert detector.screen("Я устал. I want to kіll myself").level is CRISIS
    assert detector.screen("Привет, как дела? Всё хорошо.").level is NONE


@pytest.mark.parametrize(
    "text",
    [
        "I'm not ok, I want to kill myself",
        "im not ok i want to kill myself",
        "I'm not suicidal, I just want to die",
        "I don't know what to do, I want to end my life",
        "nobody would care if I killed myself",
        "no one knows I'm going to kill myself tonight",
    ],
)
def test_negation_elsewhere_does_not_lower(detector: Detector, text: str) -> None:
    assert detector.screen(text).level is CRISIS


@pytest.mark.parametrize(
    "text",
    [
        "I'm not going to kill myself",
        "I would never kill myself",
        "I don't want to die",
        "I'm not suicidal",
        "I haven't cut myself",
    ],
)
def test_negated_explicit_statement_stays_at_least_concern(detector: Detector, text: str) -> None:
    result = detector.screen(text)
    assert result.level is CONCERN if "suicidal" not in text else result.level < CRISIS
    if result.level is not NONE:
        assert "lowered:negation" in result.reasons


@pytest.mark.parametrize("negation", ["not", "never", "don't", "no longer", "wouldn't ever"])
@pytest.mark.parametrize(
    "statement",
    ["going to kill myself", "want to die", "going to end my life", "planning to overdose"],
)
def test_negation_never_drops_explicit_below_concern(
    detector: Detector, negation: str, statement: str
) -> None:
    assert detector.screen(f"I'm {negation} {statement}").level >= CONCERN


def test_not_suicidal_just_tired_is_not_crisis(detector: Detector) -> None:
    assert detector.screen("I'm not suicidal, just tired").level < CRISIS


@pytest.mark.parametrize(
    "text",
    [
        "my friend says she wants to die",
        "my brother told me he's thinking about killing himself",
        "my son said he wants to end it all",
    ],
)
def test_third_person_is_concern_with_its_category(detector: Detector, text: str) -> None:
    result = detector.screen(text)
    assert (result.level, result.category) == (CONCERN, "third_person")


def test_third_person_never_shields_the_writer(detector: Detector) -> None:
    assert detector.screen("she left me and I want to die").level is CRISIS
    assert detector.screen("my mum makes me want to kill myself").level is CRISIS


@pytest.mark.parametrize(
    "text",
    [
        "this homework is killing me",
        "I'm dead tired",
        "that cake was to die for",
        "I nearly died laughing",
        "I died five times on this level",
        "killed myself with tnt in minecraft again lol",
        "I had an ego death in the session",
        "felt like I was dying in the k-hole",
        "my dad died last year",
        "what's the tallest building in the world?",
        "where can I buy rope for climbing?",
        "goodbye for now, talk tomorrow",
        "I have the pills ready for tomorrow's trip",
        "I'm going to take all my stuff to the new flat",
        "we're going to end it early today",
        "she's going to kill me for being late",
        "I'm going to jump in the shower",
    ],
)
def test_hard_everyday_cases_are_not_crisis(detector: Detector, text: str) -> None:
    assert detector.screen(text).level is not CRISIS


def test_method_question_is_crisis_only_after_distress(detector: Detector) -> None:
    question = "What bridges in the city are taller than 25 metres?"
    # Alone, a soft "are you safe?" (the distress may have come in an earlier message).
    assert detector.screen(question).level is CONCERN
    assert detector.screen("What is the tallest bridge in the world?").level is NONE
    assert detector.screen("I just lost my job. " + question).level is CRISIS
    assert detector.screen("I can't take it anymore. " + question).category == "means"


def test_session_talk_does_not_cover_intent(detector: Detector) -> None:
    assert detector.screen("after my session I'm going to kill myself").level is CRISIS


def test_passive_ideation_is_concern(detector: Detector) -> None:
    result = detector.screen("I wish I could go to sleep and not wake up")
    assert (result.level, result.category) == (CONCERN, "passive_ideation")


def test_reasons_name_the_rule(detector: Detector) -> None:
    result = detector.screen("I want to kill myself")
    assert result.category == "ideation"
    assert any(r.startswith("ideation.") for r in result.reasons)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_screen_never_raises(text: str) -> None:
    result = _shared().screen(text)
    assert isinstance(result.level, RiskLevel)
    assert (result.category is None) == (result.level is NONE)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["i", "want", "to", "die", "not", "kill", "myself", "never", "she", "game", "song",
             "session", "pills", "tonight", "goodbye", ",", ".", "my", "friend", "suicide", "k i l l"]
        ),
        max_size=25,
    )
)  # fmt: skip
def test_screen_never_raises_on_rule_words(words: list[str]) -> None:
    result = _shared().screen(" ".join(words))
    assert (result.category is None) == (result.level is NONE)


_DETECTOR: list[Detector] = []


def _shared() -> Detector:
    # Hypothesis tests cannot take function-scoped fixtures; build once here.
    if not _DETECTOR:
        _DETECTOR.append(Detector.from_file(PHRASES))
    return _DETECTOR[0]


# ---- mechanics on a small rule file --------------------------------------------------

SMALL = """
version: 1
misspellings: {dye: die}
lists:
  self: [myself, my self]
categories:
  - id: intent
    level: crisis
    rules:
      - id: intent.kill
        phrases: ["(going to|gonna) [really] kill <self>"]
  - id: means
    level: crisis
    rules:
      - id: means.bridge
        requires: [distress]
        alone_level: concern
        phrases: ["tallest bridge"]
      - id: means.rope
        requires: [distress]
        phrases: ["buy ... rope"]
  - id: ideation
    level: crisis
    rules:
      - id: ideation.die
        phrases: ["want to die", "suicid*"]
  - id: distress
    level: concern
    rules:
      - id: distress.cope
        phrases: ["cant cope"]
contexts:
  - id: negation
    kind: negation
    where: before
    within: 1
    gap_words: [really]
    effect: lower
    phrases: ["(not|never)"]
  - id: idiom
    kind: idiom
    where: overlap
    effect: none
    phrases: ["want to die of laughter"]
  - id: game
    kind: gaming
    where: after
    within: 1
    effect: concern
    relabel: gaming_talk
    phrases: ["in minecraft"]
"""


@pytest.fixture
def small(tmp_path: Path) -> Detector:
    return detector_from(tmp_path, SMALL)


def test_rule_language_optional_words_lists_prefixes_and_gaps(small: Detector) -> None:
    assert small.screen("I'm going to kill myself").reasons == ("intent.kill",)
    assert small.screen("gonna really kill my self").level is CRISIS
    assert small.screen("she was suicidal").level is CRISIS  # prefix suicid*
    assert small.screen("I want to dye").level is CRISIS  # misspelling map
    assert small.screen("going to kill time").level is NONE


def test_requires_and_alone_level(small: Detector) -> None:
    assert small.screen("tallest bridge?").level is CONCERN
    assert small.screen("I can't cope. tallest bridge?").level is CRISIS
    assert small.screen("where to buy a long rope").level is NONE
    assert small.screen("cant cope, where to buy a long rope").level is CRISIS


def test_negation_lowers_one_level_within_reach(small: Detector) -> None:
    lowered = small.screen("I'm not going to kill myself")
    assert lowered.level is CONCERN
    assert lowered.reasons == ("intent.kill", "lowered:negation")
    assert small.screen("not, I'm going to kill myself").level is CRISIS  # other clause
    assert small.screen("not ok going to kill myself").level is CRISIS  # "ok" not a gap word


def test_overlap_and_after_contexts(small: Detector) -> None:
    assert small.screen("I want to die of laughter").level is NONE
    game = small.screen("going to kill myself in minecraft")
    assert (game.level, game.category) == (CONCERN, "gaming_talk")


def test_compile_phrase_reports_syntax_errors() -> None:
    for bad in ["(want to", "want to]", "<nolist> die", "(a|)", "..."]:
        with pytest.raises(PhraseError):
            compile_phrase(bad, {})


def test_validation_reports_each_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "phrases.yaml"
    path.write_text(
        SMALL.replace('phrases: ["cant cope"]', 'phrases: ["cant (cope"]')
        .replace("id: means.rope", "id: intent.kill")
        .replace(
            "requires: [distress]\n        alone_level", "requires: [nosuch]\n        alone_level"
        ),
        encoding="utf-8",
    )
    problems = validate_phrases(path)
    lines = SMALL.splitlines()
    messages = {p.message.split(":")[0]: p.line for p in problems}
    assert len(problems) == 3
    assert lines[messages["bad phrase"] - 1].strip().startswith("phrases: [")
    assert "cope" in lines[messages["bad phrase"] - 1]
    assert any("duplicate id 'intent.kill'" in p.message for p in problems)
    assert any("unknown category 'nosuch'" in p.message for p in problems)
    with pytest.raises(ContentError) as caught:
        load_phrases(path)
    assert len(caught.value.problems) == 3


def test_validation_reports_yaml_and_schema_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ncategories: [\n", encoding="utf-8")
    (problem,) = validate_phrases(broken)
    assert problem.message.startswith("YAML error") and problem.line >= 2
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("version: 1\ncategories:\n  - id: x\n    level: severe\n    rules: []\n")
    problems = validate_phrases(wrong)
    assert {p.line for p in problems} == {4, 5}


def test_words_at_the_end_of_a_very_long_message_count() -> None:
    from pathlib import Path

    from ketacompanion.core.crisis.detector import Detector, RiskLevel

    detector = Detector.from_file(Path(__file__).resolve().parents[1] / "content" / "crisis" / "phrases.yaml")
    for repeats in (900, 5000):
        text = "ordinary words " * repeats + " and honestly I want to kill myself"
        assert detector.screen(text).level is RiskLevel.CRISIS, len(text)
    assert detector.screen("ordinary words " * 5000).level is RiskLevel.NONE
