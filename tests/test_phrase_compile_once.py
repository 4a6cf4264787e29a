"""Each crisis phrase is compiled once and the detector runs that very pattern."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketacompanion.content.phrases import PhraseError, load_phrases, parse_phrase, validate_phrases
from ketacompanion.core.crisis.detector import Detector, RiskLevel

PHRASES = Path(__file__).resolve().parents[1] / "content" / "crisis" / "phrases.yaml"


def test_detector_uses_the_patterns_validation_compiled() -> None:
    rules = load_phrases(PHRASES)
    compiled = {id(c.pattern) for c in rules._compiled.values()}
    detector = Detector(rules)
    used = {id(p) for _, p in detector._rule_index.patterns + detector._context_index.patterns}
    assert used and used <= compiled
    assert detector.screen("i want to kill myself").level is RiskLevel.CRISIS


def test_list_entries_are_expanded_once_and_still_checked(tmp_path: Path) -> None:
    rules = load_phrases(PHRASES)
    assert "self" in rules._expanded  # expanded once, shared by every phrase naming it
    for bad in ["[really]", "...", "(a|)", "<nosuch>"]:
        with pytest.raises(PhraseError):
            parse_phrase(bad, {"x": ["a"]})
    text = PHRASES.read_text(encoding="utf-8")
    head, sep, tail = text.partition("lists:\n")
    assert sep
    broken = tmp_path / "phrases.yaml"
    broken.write_text(head + sep + "  broken: ['[only optional]']\n" + tail, encoding="utf-8")
    messages = [p.message for p in validate_phrases(broken)]
    assert any("bad phrase" in m and "only optional" in m for m in messages)
