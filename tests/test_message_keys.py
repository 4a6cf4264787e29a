"""Every interface string the code asks for exists in en.yaml: a missing one must fail
here, not in front of a patient."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ketacompanion.content.messages import validate_messages

from conftest import CONTENT, ROOT

SRC = ROOT / "src" / "ketacompanion"
_KEY = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)+$")
_KEY_HEAD = re.compile(r"^[a-z_]+\.[a-z0-9_.]*$")
_NOT_KEYS = (".yaml", ".id")  # file names and table.column references


def _english() -> dict[str, str]:
    catalogues, problems = validate_messages(CONTENT / "messages")
    assert problems == []
    return catalogues["en"]


def _pattern(node: ast.JoinedStr) -> re.Pattern[str]:
    parts = [re.escape(v.value) if isinstance(v, ast.Constant) else r"[a-z0-9_]+" for v in node.values]
    return re.compile("^" + "".join(parts) + "$")


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def requested_keys(path: Path, sections: set[str]) -> list[tuple[int, str | re.Pattern[str]]]:
    """Dotted strings naming a catalogue section: constants, and f-strings as patterns."""
    found: list[tuple[int, str | re.Pattern[str]]] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and _called(node) == "t":
            # t("...") always takes a key, whatever its section.
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.split(".", 1)[0] not in sections:
                found.append((node.lineno, first.value))
            elif isinstance(first, ast.JoinedStr) and first.values and isinstance(first.values[0], ast.Constant):
                if str(first.values[0].value).split(".", 1)[0] not in sections:
                    found.append((node.lineno, _pattern(first)))
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            head = str(node.values[0].value)
            if "." in head and head.split(".", 1)[0] in sections and _KEY_HEAD.match(head):
                found.append((node.lineno, _pattern(node)))
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_fstrings
            and _KEY.match(node.value) and not node.value.endswith(_NOT_KEYS)
            and node.value.split(".", 1)[0] in sections
        ):
            found.append((node.lineno, node.value))
    return found


def missing_keys(root: Path, english: dict[str, str]) -> list[str]:
    sections = {key.split(".", 1)[0] for key in english}
    missing = []
    for path in sorted(root.rglob("*.py")):
        for line, key in requested_keys(path, sections):
            ok = key in english if isinstance(key, str) else any(key.match(k) for k in english)
            if not ok:
                shown = key if isinstance(key, str) else key.pattern
                missing.append(f"{path.relative_to(root)}:{line}: {shown}")
    return missing


def test_every_key_the_code_asks_for_exists() -> None:
    assert missing_keys(SRC, _english()) == []


def test_the_audit_catches_a_missing_key(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(
        'def f(turn):\n'
        '    a = turn.t("checkins.history.none")\n'
        '    b = turn.t("history.none")\n'  # the key /summary used to ask for
        '    c = t(f"checkins.label_{x}")\n'
        '    d = t(f"nowhere.label_{x}")\n'
        '    return "common.not_a_key"\n',
        encoding="utf-8",
    )
    found = missing_keys(tmp_path, _english())
    assert any("history.none" in m and ":3:" in m for m in found)
    assert any("nowhere" in m for m in found)
    assert any("common.not_a_key" in m for m in found)
    assert not any(":2:" in m or ":4:" in m for m in found)
