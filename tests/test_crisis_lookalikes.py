"""Look-alike families the phrase rules lower from the card to the soft check: recovery
stories long past, general questions about the subject, and someone else's words in
quotation marks. Each family holds more crisis near-misses, which must keep the card,
than look-alikes; and the mechanics behind them ("unless", "quoted", a clause's
blocked words) are tested on a small rule set."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketacompanion.core.crisis.detector import Detector, RiskLevel

from conftest import detector_from

ROOT = Path(__file__).resolve().parents[1]
PHRASES = ROOT / "content" / "crisis" / "phrases.yaml"

CRISIS, CONCERN, NONE = RiskLevel.CRISIS, RiskLevel.CONCERN, RiskLevel.NONE


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_file(PHRASES)


@pytest.mark.parametrize(
    "text",
    [
        "five years ago I tried to end it, and today I'm glad I'm here",
        "when I was 17 I overdosed on my mum's pills. I'm 35 now and grateful every day",
        "a decade ago I wrote a goodbye note; today I read it and felt proud of how far I've come",
        "in my twenties I cut myself a lot. these days I'm thriving",
        "back in 2012 I attempted suicide and these days I'm doing well and coaching football",
    ],
)
def test_recovery_story_long_past_gets_the_soft_check(detector: Detector, text: str) -> None:
    found = detector.screen(text)
    assert found.level is CONCERN
    assert "lowered:recovery" in found.reasons


@pytest.mark.parametrize(
    "text",
    [
        # no time long past
        "I tried to kill myself last week and I'm glad you're here to talk",
        "I overdosed on Sunday and I'm happy nobody noticed",
        # a present crisis said beside the story
        "ten years ago I tried to kill myself and I'm glad I survived, but I want to die again",
        "years ago I tried to take my life. I was happy for a while but lately I'm thinking about it again",
        "back in 2018 I attempted suicide. I'm proud of that, I will finish it tomorrow",
        "two years ago I overdosed and honestly I'm glad it's over, I'm going to end it this time",
        # not glad at all
        "years ago I overdosed and I'm not glad I lived",
        "when I was 19 I tried to kill myself, unfortunately it didn't work, so happy I'll get another go",
    ],
)
def test_recovery_story_with_present_risk_keeps_the_card(detector: Detector, text: str) -> None:
    found = detector.screen(text)
    assert found.level is CRISIS
    assert "lowered:recovery" not in found.reasons


@pytest.mark.parametrize(
    "text",
    [
        "is it true ketamine can ease suicidal thoughts within hours?",
        "how common are suicidal thoughts after giving birth?",
        "does esketamine really help with suicidal ideation?",
        "are there studies on ketamine and suicidal thoughts in veterans?",
        "why do antidepressants carry a black box warning about suicidal thinking in teens?",
    ],
)
def test_topic_question_gets_the_soft_check(detector: Detector, text: str) -> None:
    found = detector.screen(text)
    assert found.level is CONCERN
    assert "lowered:topic_question" in found.reasons


def test_topic_question_on_the_bare_word_gets_nothing(detector: Detector) -> None:
    found = detector.screen("what are the warning signs of suicide in teenagers?")
    assert found.level is NONE
    assert "lowered:topic_question" in found.reasons


@pytest.mark.parametrize(
    "text",
    [
        "is it true ketamine can ease suicidal thoughts? because I'm having them right now",
        "how common are suicidal thoughts? I've had them every day this week",
        "does ketamine help with my suicidal thoughts",
        "how common is it to feel suicidal like me",
        "is it true ketamine stops suicidal urges? mine are really bad tonight",
        "can ketamine help with suicidal thoughts? asking for myself",
        "is it true esketamine works for suicidal ideation, I need it to work tonight",
    ],
)
def test_topic_question_with_first_person_keeps_the_card(detector: Detector, text: str) -> None:
    found = detector.screen(text)
    assert found.level is CRISIS
    assert "lowered:topic_question" not in found.reasons


@pytest.mark.parametrize(
    "text",
    [
        'she told me "I want to die" was just a joke at school',
        "my sister texted “I'm going to kill myself” with a laughing emoji about her thesis",
        "my husband said 'if the printer jams once more I'll throw myself out the window'",
        "my flatmate wrote 'I want to die' on the whiteboard next to the dirty dishes",
    ],
)
def test_quoted_speech_of_someone_else_is_third_person(detector: Detector, text: str) -> None:
    found = detector.screen(text)
    assert (found.level, found.category) == (CONCERN, "third_person")
    assert "lowered:quoted_speech" in found.reasons


@pytest.mark.parametrize(
    "text",
    [
        'I told my mum "I want to die"',
        "she asked how I was and I said 'I want to kill myself'",
        "my therapist said 'call us anytime' so I'm telling you I want to end my life tonight",
        "he texted 'you ok?' no. I'm going to kill myself",
        'my friend said "stop it" but I\'m going to overdose tonight',
        'my mum said "eat something" and I said I want to die',
    ],
)
def test_quoted_speech_near_misses_keep_the_card(detector: Detector, text: str) -> None:
    found = detector.screen(text)
    assert found.level is CRISIS
    assert "lowered:quoted_speech" not in found.reasons


def test_quoted_speech_needs_a_quotation_mark(detector: Detector) -> None:
    # Reported speech without quotation marks is about the writer as often as not.
    quoted = detector.screen("my sister texted 'I'm going to kill myself' with a laughing emoji")
    plain = detector.screen("my sister texted I'm going to kill myself with a laughing emoji")
    assert "lowered:quoted_speech" in quoted.reasons
    assert "lowered:quoted_speech" not in plain.reasons


SMALL = """
version: 1
categories:
  - id: ideation
    level: crisis
    rules:
      - id: ideation.die
        phrases: ["want to die"]
contexts:
  - id: story
    kind: story
    where: clause
    within: 5
    effect: lower
    blocked_by: [me]
    unless: ["again"]
    phrases: ["years ago"]
  - id: said
    kind: said
    where: before
    within: 2
    effect: lower
    quoted: true
    phrases: ["she said"]
"""


@pytest.fixture
def small(tmp_path: Path) -> Detector:
    return detector_from(tmp_path, SMALL)


def test_unless_anywhere_in_the_message_stops_a_context(small: Detector) -> None:
    assert small.screen("years ago I want to die").level is CONCERN
    assert small.screen("years ago I want to die. and again").level is CRISIS


def test_clause_context_blocked_by_a_word_of_the_match_clause(small: Detector) -> None:
    assert small.screen("years ago, want to die").level is CRISIS  # context in another clause
    assert small.screen("years ago they want to die, tell me").level is CONCERN  # other clause
    assert small.screen("years ago me want to die").level is CRISIS


def test_quoted_context_needs_an_opening_quotation_mark(small: Detector) -> None:
    assert small.screen("she said 'I want to die'").level is CONCERN
    assert small.screen('she said "I want to die"').level is CONCERN
    assert small.screen("she said I want to die").level is CRISIS
    assert small.screen("she said I want to die, it's her's").level is CRISIS  # apostrophes
