"""The turn saves the dialogue state only when ``snapshot`` says it changed."""

from __future__ import annotations

from ketacompanion.core.ports import DialogueState


def test_equal_state_gives_equal_snapshots_whatever_the_key_order() -> None:
    a = DialogueState("checkin", "q1", {"id": 3, "b": "x"})
    b = DialogueState("checkin", "q1", {"b": "x", "id": 3})
    assert a.snapshot() == b.snapshot()


def test_a_value_of_another_type_is_a_change() -> None:
    state = DialogueState("lesson", "card", {"n": 1})
    before = state.snapshot()
    state.data["n"] = True  # equal to 1 in Python, but stored as true
    assert state.snapshot() != before


def test_a_change_nested_inside_data_shows() -> None:
    state = DialogueState("plan", "edit", {"items": [1, 2], "id": 4})
    before = state.snapshot()
    state.data["items"].append(3)
    assert state.snapshot() != before


def test_a_nested_value_appearing_is_a_change() -> None:
    state = DialogueState("plan", "edit", {"id": 4})
    before = state.snapshot()
    state.data["items"] = []
    assert state.snapshot() != before


def test_flow_and_step_count() -> None:
    state = DialogueState("checkin", "q1", {"id": 3})
    before = state.snapshot()
    state.step = "q2"
    assert state.snapshot() != before
    state.clear()
    assert state.snapshot() == (None, None, "")
