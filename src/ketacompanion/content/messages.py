"""Interface strings from ``content/messages/<lang>.yaml``, falling back to English."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ketacompanion.content.problems import ContentError, Problem

FALLBACK_LANGUAGE = "en"


class Messages:
    def __init__(self, catalogues: Mapping[str, Mapping[str, str]]) -> None:
        if FALLBACK_LANGUAGE not in catalogues:
            raise ValueError("the English catalogue is required")
        self._catalogues = {lang: dict(items) for lang, items in catalogues.items()}

    @property
    def languages(self) -> list[str]:
        return sorted(self._catalogues)

    def text(self, key: str, lang: str | None = None, **values: Any) -> str:
        catalogue = self._catalogues.get(lang or FALLBACK_LANGUAGE) or {}
        template = catalogue.get(key) or self._catalogues[FALLBACK_LANGUAGE].get(key)
        if template is None:
            raise KeyError(f"no interface string {key!r}")
        return template.format(**values) if values else template

    def has(self, key: str) -> bool:
        return key in self._catalogues[FALLBACK_LANGUAGE]


def _flatten(prefix: str, node: Any, out: dict[str, str], path: Path, problems: list[Problem]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out, path, problems)
    elif isinstance(node, str):
        out[prefix] = node.rstrip("\n")
    else:
        problems.append(Problem(path, 1, f"{prefix}: expected text, found {type(node).__name__}"))


def validate_messages(directory: Path) -> tuple[dict[str, dict[str, str]], list[Problem]]:
    problems: list[Problem] = []
    catalogues: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)  # noqa: S506
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 1
            problems.append(Problem(path, line, f"cannot read: {exc}".splitlines()[0]))
            continue
        flat: dict[str, str] = {}
        _flatten("", raw or {}, flat, path, problems)
        catalogues[path.stem] = flat
    english = catalogues.get(FALLBACK_LANGUAGE)
    if english is None:
        problems.append(Problem(directory / "en.yaml", 1, "the English catalogue is missing"))
    else:
        for lang, flat in catalogues.items():
            for key in sorted(set(flat) - set(english)):
                problems.append(Problem(directory / f"{lang}.yaml", 1, f"{key}: not in en.yaml"))
    return catalogues, problems


def load_messages(directory: Path) -> Messages:
    catalogues, problems = validate_messages(directory)
    if problems:
        raise ContentError(problems)
    return Messages(catalogues)
