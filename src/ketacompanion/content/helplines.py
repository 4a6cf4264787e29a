"""Crisis lines per country (content/crisis/helplines.yaml): models, loading, validation.

A wrong or missing number here can cost a life, so validation is strict: every entry
names the page its numbers came from and when they were last checked against it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ketacompanion.content.problems import ContentError, Problem, Severity, errors
from ketacompanion.content.yamlnodes import node_and_data
from ketacompanion.core.crisis.tztables import iso_country_codes

FALLBACK_CODE = "ZZ"
STALE_AFTER = timedelta(days=365)
_DIALABLE = re.compile(r"^\+?[0-9][0-9 \-]*[0-9]$|^[0-9]$")


class _Strict(BaseModel):
    # Unknown keys are typos (say "hour" for "hours"): reject them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextContact(_Strict):
    number: str
    keyword: str | None = None


class Line(_Strict):
    name: str
    call: str | None = None
    text: TextContact | None = None
    chat: str | None = None
    hours: str
    languages: list[str] = []


class CountryLines(_Strict):
    code: str
    name: str
    # Empty lists and a missing source are reported by validate_helplines with their
    # own messages rather than as generic schema errors.
    emergency: list[str] = []
    lines: list[Line] = []
    source: str | None = None
    verified_on: date
    notes: str | None = None


class Helplines(_Strict):
    countries: list[CountryLines]

    def for_country(self, code: str | None) -> CountryLines:
        """The entry for ``code``, or the worldwide fallback when there is none."""
        wanted = (code or "").strip().upper()
        for entry in self.countries:
            if entry.code == wanted:
                return entry
        return self.fallback

    @property
    def fallback(self) -> CountryLines:
        for entry in self.countries:
            if entry.code == FALLBACK_CODE:
                return entry
        raise LookupError("no worldwide fallback entry")  # validation guarantees one

    @property
    def codes(self) -> frozenset[str]:
        """Country codes with their own entry (the fallback excluded)."""
        return frozenset(e.code for e in self.countries if e.code != FALLBACK_CODE)


def load_helplines(path: Path) -> Helplines:
    """Load and validate the file; raise ContentError listing every error found."""
    found = errors(validate_helplines(path, date.today()))
    if found:
        raise ContentError(found)
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)  # noqa: S506
    return Helplines.model_validate(data)


def validate_helplines(path: Path, today: date) -> list[Problem]:
    """Every problem in the file: errors, and warnings for stale verification dates."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(path, 0, f"cannot read: {exc}")]
    try:
        root, data = node_and_data(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        return [Problem(path, line, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")]

    report = _Report(path)
    if not isinstance(data, dict) or not isinstance(data.get("countries"), list):
        report.error(root, "expected a mapping with a 'countries' list")
        return report.problems
    if set(data) - {"countries"}:
        report.error(root, f"unknown top-level keys: {sorted(set(data) - {'countries'})}")

    nodes = _child(root, "countries")
    seen: dict[str, int] = {}
    for index, raw in enumerate(data["countries"]):
        node = _child(nodes, index)
        try:
            entry = CountryLines.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(part) for part in err["loc"]) or "entry"
                report.error(_walk(node, err["loc"]), f"{where}: {err['msg']}")
            continue
        _check_entry(entry, node, today, report)
        if entry.code in seen:
            report.error(
                _child(node, "code"),
                f"duplicate code {entry.code} (first at line {seen[entry.code]})",
            )
        else:
            seen[entry.code] = _line(_child(node, "code"))

    if not iso_country_codes():
        # Without the tz tables no code can be checked; say so rather than fail every entry.
        report.warn(root, "ISO 3166 table not found (install tzdata); country codes not checked")
    if FALLBACK_CODE not in seen:
        report.error(root, f"no worldwide fallback entry (code {FALLBACK_CODE})")
    return report.problems


def _check_entry(entry: CountryLines, node: yaml.Node | None, today: date, report: _Report) -> None:
    is_fallback = entry.code == FALLBACK_CODE
    iso = iso_country_codes()
    if not is_fallback and iso and entry.code not in iso:
        report.error(_child(node, "code"), f"{entry.code!r} is not an ISO 3166-1 alpha-2 code")

    source = _child(node, "source") or node
    if not entry.source:
        report.error(source, f"{entry.code}: no source page for these numbers")
    elif not _is_https(entry.source):
        report.error(source, f"{entry.code}: source must be an https URL, got {entry.source!r}")

    if today - entry.verified_on > STALE_AFTER:
        report.warn(
            _child(node, "verified_on"),
            f"{entry.code}: last verified {entry.verified_on}, over a year ago; re-check it",
        )

    # The fallback stands for "your local emergency number", which has no single value.
    if not entry.emergency and not is_fallback:
        report.error(_child(node, "emergency") or node, f"{entry.code}: no emergency number")
    for i, number in enumerate(entry.emergency):
        if not _DIALABLE.match(number):
            report.error(_walk(node, ("emergency", i)), f"{entry.code}: cannot dial {number!r}")

    if not any(line.call or line.text or line.chat for line in entry.lines):
        report.error(_child(node, "lines") or node, f"{entry.code}: no line to call, text or chat")
    for i, line in enumerate(entry.lines):
        _check_line(entry.code, line, _walk(node, ("lines", i)), report)


def _check_line(code: str, line: Line, node: yaml.Node | None, report: _Report) -> None:
    if not (line.call or line.text or line.chat):
        report.error(node, f"{code}: {line.name} has no call, text or chat contact")
    if line.call and not _DIALABLE.match(line.call):
        report.error(_child(node, "call"), f"{code}: cannot dial {line.call!r}")
    if line.text and not _DIALABLE.match(line.text.number):
        report.error(_walk(node, ("text", "number")), f"{code}: cannot text {line.text.number!r}")
    if line.chat and not _is_https(line.chat):
        report.error(_child(node, "chat"), f"{code}: chat must be an https URL")
    if not line.hours.strip():
        report.error(_child(node, "hours"), f"{code}: {line.name} has no hours")


def _is_https(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme == "https" and bool(parsed.netloc)


class _Report:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def error(self, node: yaml.Node | None, message: str) -> None:
        self.problems.append(Problem(self.path, _line(node), message))

    def warn(self, node: yaml.Node | None, message: str) -> None:
        self.problems.append(Problem(self.path, _line(node), message, Severity.WARNING))


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    """The value node under a mapping key or a sequence index, if there is one."""
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for key_node, value in node.value:
            if key_node.value == key:
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None


def _walk(node: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    """The deepest node along ``loc`` (a pydantic error location) that exists."""
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return node
