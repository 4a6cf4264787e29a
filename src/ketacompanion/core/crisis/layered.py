"""Rules and model together: the higher of the two, except where the rules proved a look-alike.

The model may raise what the rules found; it never lowers it. The rules may hold the
level down against the model only where a lowering context of a family that tests
show the rules judge better matched: a negation or denial ("I'm not going to kill
myself, just tired"), and someone else's words (a quote, a song, a film).
"""

from __future__ import annotations

from ketacompanion.core.crisis.detector import RiskLevel, Screening

# Context kinds (content/crisis/phrases.yaml) whose lowering the model may not undo.
# Each is held by a family test in tests/test_crisis_layered.py.
TRUSTED_LOWERING = frozenset({"negation", "denial", "quote"})


def rules_proved_lookalike(rules: Screening) -> bool:
    return any(r.removeprefix("lowered:") in TRUSTED_LOWERING for r in rules.reasons if r.startswith("lowered:"))


def combine(rules: Screening, model: Screening | None) -> Screening:
    if model is None or model.level <= rules.level:
        return rules
    if rules_proved_lookalike(rules):
        return rules
    if rules.level is RiskLevel.NONE:
        return model
    # Keep the rules' category (recorded with the escalation) and both sets of reasons.
    return Screening(model.level, rules.category or model.category, (*rules.reasons, *model.reasons))
