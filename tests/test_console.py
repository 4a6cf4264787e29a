"""The interactive terminal chat's reading of typed numbers."""

from __future__ import annotations

from pathlib import Path

from ketacompanion.adapters.console import ConsoleAdapter
from ketacompanion.core.model import InboundKind


async def _nothing(_inbound: object) -> list[object]:
    return []


def test_a_number_that_is_a_button_label_means_that_button(tmp_path: Path) -> None:
    console = ConsoleAdapter(_nothing, "u", tmp_path)  # type: ignore[arg-type]
    scale = [(f"checkin:a:1:0:{n}", str(n)) for n in range(11)]
    assert console.parse("5", scale).choice == "checkin:a:1:0:5"
    assert console.parse("0", scale).choice == "checkin:a:1:0:0"


def test_otherwise_a_number_is_the_buttons_position(tmp_path: Path) -> None:
    console = ConsoleAdapter(_nothing, "u", tmp_path)  # type: ignore[arg-type]
    options = [("start:agree", "I agree"), ("start:decline", "Not now")]
    assert console.parse("2", options).choice == "start:decline"
    typed = console.parse("7", options)
    assert typed.kind is InboundKind.TEXT and typed.text == "7"
