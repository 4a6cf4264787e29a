"""Enrolment codes (content/enrolment.yaml): a clinic's link presets country, language and
check-in times.

A clinic hands patients ``https://t.me/<bot>?start=<code>``; Telegram passes the code on
as ``/start <code>``. Codes are what Telegram allows in a start parameter (letters, digits,
``_`` and ``-``), lowercase, and short enough for the ``users.enrolment`` column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ketacompanion.content.problems import ContentError, Problem, Severity, errors
from ketacompanion.content.yamlnodes import duplicate_keys, node_and_data
from ketacompanion.core.places import country_names

MAX_CODE = 32  # users.enrolment is String(32)
CODE = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_CODE - 1}}}")
RESERVED = frozenset({"group"})  # the group notice's "continue privately" link uses it
CLOCK = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
LANGUAGE = re.compile(r"[a-z]{2,3}")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Enrolment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    clinic: str | None = Field(default=None, min_length=1, max_length=80)
    country: str
    language: str
    # Local "HH:MM" times in the person's own timezone, as /schedule keeps them.
    daily_time: str | None = None
    weekly_day: str | None = None
    weekly_time: str | None = None

    @property
    def weekday(self) -> int | None:
        """0 Monday .. 6 Sunday, as ``ScheduleSettings.weekly_day``."""
        return WEEKDAYS.index(self.weekly_day) if self.weekly_day in WEEKDAYS else None

    @property
    def has_schedule(self) -> bool:
        return self.daily_time is not None or self.weekly_time is not None


class Enrolments:
    """The codes in force. Lookups forgive case and spaces: people retype links."""

    def __init__(self, codes: Mapping[str, Enrolment] | None = None) -> None:
        self._codes = dict(codes or {})

    def find(self, code: str) -> Enrolment | None:
        return self._codes.get(code.strip().lower())

    def __len__(self) -> int:
        return len(self._codes)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.find(code) is not None


def validate_enrolment(path: Path, messages_dir: Path | None = None) -> list[Problem]:
    """Every problem in the file, with line numbers. No file means no codes, which is fine."""
    return _scan(path, messages_dir)[1]


def load_enrolment(path: Path, messages_dir: Path | None = None) -> Enrolments:
    codes, problems = _scan(path, messages_dir)
    if errors(problems):
        raise ContentError(errors(problems))
    return Enrolments(codes)


def _scan(path: Path, messages_dir: Path | None) -> tuple[dict[str, Enrolment], list[Problem]]:
    path = Path(path)
    if not path.exists():
        return {}, []
    try:
        text = path.read_text(encoding="utf-8")
        root, data = node_and_data(text)
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [Problem(path, 0, f"cannot read: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        return {}, [Problem(path, line, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")]
    problems = [Problem(path, line, msg) for line, msg in duplicate_keys(root)] if root else []
    if data is None:
        return {}, problems
    if not isinstance(data, dict) or not isinstance(data.get("codes"), dict):
        return {}, [*problems, Problem(path, _line(root), "expected a mapping with a 'codes' mapping")]
    if set(data) - {"codes"}:
        problems.append(Problem(path, _line(root), f"unknown top-level keys: {sorted(set(data) - {'codes'})}"))
    languages = _languages(messages_dir)
    codes: dict[str, Enrolment] = {}
    nodes = _child(root, "codes")
    for key_node, value_node in nodes.value if isinstance(nodes, yaml.MappingNode) else []:
        code = key_node.value
        found = _check_entry(path, code, data["codes"].get(code), key_node, value_node, languages)
        problems += found
        if not errors(found):
            codes[code] = Enrolment.model_validate(data["codes"][code])
    return codes, problems


def _check_entry(
    path: Path, code: str, raw: Any, key: yaml.Node, node: yaml.Node, languages: set[str]
) -> list[Problem]:
    found: list[Problem] = []

    def error(where: yaml.Node | None, message: str) -> None:
        found.append(Problem(path, _line(where or node), f"{code}: {message}"))

    if not CODE.fullmatch(code):
        error(key, f"a code is 1-{MAX_CODE} lowercase letters, digits, '_' or '-', starting with a letter or digit")
    elif code in RESERVED:
        error(key, "this code is reserved by the bot")
    if not isinstance(raw, dict):
        error(node, "expected a mapping (country, language, times)")
        return found
    for name in ("daily_time", "weekly_time"):
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            # YAML reads an unquoted 20:00 as the number 1200.
            error(_child(node, name), f"{name}: write the time in quotes, like \"20:00\"")
    if found:
        return found
    try:
        entry = Enrolment.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "entry"
            error(_child(node, str(err["loc"][0])) if err["loc"] else node, f"{where}: {err['msg']}")
        return found
    if entry.country not in country_names():
        error(_child(node, "country"), f"unknown country {entry.country!r}: use an ISO 3166 code such as US or DE")
    if not LANGUAGE.fullmatch(entry.language):
        error(_child(node, "language"), f"language {entry.language!r} is not a code such as en or de")
    elif languages and entry.language not in languages:
        found.append(Problem(
            path, _line(_child(node, "language")),
            f"{code}: no messages/{entry.language}.yaml yet; people will read English", Severity.WARNING,
        ))  # fmt: skip
    for name in ("daily_time", "weekly_time"):
        value = getattr(entry, name)
        if value is not None and not CLOCK.fullmatch(value):
            error(_child(node, name), f"{name}: {value!r} is not a 24-hour time like \"08:30\"")
    if entry.weekly_day is not None and entry.weekly_day not in WEEKDAYS:
        error(_child(node, "weekly_day"), f"weekly_day: {entry.weekly_day!r} is not a day such as sunday")
    if (entry.weekly_day is None) != (entry.weekly_time is None):
        error(node, "weekly_day and weekly_time go together: give both or neither")
    return found


def _languages(messages_dir: Path | None) -> set[str]:
    if messages_dir is None or not messages_dir.is_dir():
        return set()
    return {p.stem for p in messages_dir.glob("*.yaml")}


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if key_node.value == key:
                return value
    return None
