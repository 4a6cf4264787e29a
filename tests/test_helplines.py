"""The crisis lines file: the shipped copy is clean, and each kind of mistake is caught."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from textwrap import dedent

import pytest

from ketacompanion.content import helplines as helplines_module
from ketacompanion.content.helplines import (
    FALLBACK_CODE,
    Helplines,
    load_helplines,
    validate_helplines,
)
from ketacompanion.content.problems import ContentError, Problem, Severity, errors

SHIPPED = Path(__file__).resolve().parents[1] / "content" / "crisis" / "helplines.yaml"
TODAY = date(2026, 11, 21)

GOOD = """\
countries:
  - code: GB
    name: United Kingdom
    emergency: ["999", "112"]
    lines:
      - name: Samaritans
        call: "116 123"
        hours: 24/7
    source: https://www.samaritans.org/
    verified_on: 2026-11-01
  - code: ZZ
    name: Worldwide
    emergency: []
    lines:
      - name: Find A Helpline
        chat: https://findahelpline.com
        hours: any time
    source: https://findahelpline.com
    verified_on: 2026-11-01
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "helplines.yaml"
    path.write_text(dedent(text), encoding="utf-8")
    return path


def messages(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_file_has_no_errors() -> None:
    problems = validate_helplines(SHIPPED, date.today())
    assert errors(problems) == [], messages(problems)


def test_shipped_file_covers_25_countries_and_the_fallback() -> None:
    helplines = load_helplines(SHIPPED)
    assert len(helplines.codes) >= 25
    assert helplines.fallback.code == FALLBACK_CODE
    assert {"US", "CA", "GB", "IE", "AU", "DE", "AT", "CH", "JP", "IN", "BR"} <= helplines.codes


def test_shipped_file_keeps_the_us_discord_keyword_note() -> None:
    notes = load_helplines(SHIPPED).for_country("US").notes or ""
    assert "DISCORD" in notes and "741741" in notes


def test_good_fixture_is_clean(tmp_path: Path) -> None:
    assert validate_helplines(write(tmp_path, GOOD), TODAY) == []


def test_for_country_falls_back_to_worldwide_entry(tmp_path: Path) -> None:
    helplines = load_helplines(write(tmp_path, GOOD))
    assert helplines.for_country("gb").code == "GB"
    assert helplines.for_country("FR").code == FALLBACK_CODE
    assert helplines.for_country(None).code == FALLBACK_CODE


def test_yaml_error_reports_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("    name: Worldwide", "    name: [Worldwide")
    problems = validate_helplines(write(tmp_path, text), TODAY)
    assert len(problems) == 1
    assert "invalid YAML" in problems[0].message
    assert problems[0].line >= line_of(text, "name: [Worldwide")


def test_schema_error_points_at_the_field(tmp_path: Path) -> None:
    text = GOOD.replace("        hours: 24/7\n", "")
    problems = validate_helplines(write(tmp_path, text), TODAY)
    assert [p.severity for p in problems] == [Severity.ERROR]
    assert "hours" in problems[0].message
    assert problems[0].line == line_of(text, "- name: Samaritans")


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace("        hours: 24/7", "        hour: 24/7")
    assert any(
        "hour" in p.message for p in errors(validate_helplines(write(tmp_path, text), TODAY))
    )


def test_missing_source_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace("    source: https://www.samaritans.org/\n", "")
    problems = errors(validate_helplines(write(tmp_path, text), TODAY))
    assert len(problems) == 1 and "no source" in problems[0].message


def test_non_https_source_is_an_error_on_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("https://www.samaritans.org/", "http://www.samaritans.org/")
    problems = errors(validate_helplines(write(tmp_path, text), TODAY))
    assert len(problems) == 1 and "https" in problems[0].message
    assert problems[0].line == line_of(text, "http://www.samaritans")


def test_verification_older_than_a_year_is_a_warning(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    verified_on: 2026-11-01\n  - code: ZZ", "    verified_on: 2025-11-20\n  - code: ZZ"
    )
    problems = validate_helplines(write(tmp_path, text), TODAY)
    assert [p.severity for p in problems] == [Severity.WARNING]
    assert problems[0].line == line_of(text, "2025-11-20")
    assert "GB" in problems[0].message


def test_verification_exactly_a_year_old_is_not_yet_stale(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    verified_on: 2026-11-01\n  - code: ZZ", "    verified_on: 2025-11-21\n  - code: ZZ"
    )
    assert validate_helplines(write(tmp_path, text), TODAY) == []


def test_duplicate_code_is_an_error(tmp_path: Path) -> None:
    text = GOOD + (
        "  - code: GB\n"
        "    name: Britain again\n"
        '    emergency: ["999"]\n'
        "    lines:\n"
        "      - name: Samaritans\n"
        '        call: "116 123"\n'
        "        hours: 24/7\n"
        "    source: https://www.samaritans.org/\n"
        "    verified_on: 2026-11-01\n"
    )
    problems = errors(validate_helplines(write(tmp_path, text), TODAY))
    assert len(problems) == 1 and "duplicate code GB" in problems[0].message
    assert problems[0].line == line_of(text, "name: Britain again") - 1


def test_unknown_iso_code_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace("code: GB", "code: UK")
    problems = errors(validate_helplines(write(tmp_path, text), TODAY))
    assert len(problems) == 1 and "'UK'" in problems[0].message
    assert problems[0].line == line_of(text, "code: UK")


def test_missing_fallback_is_an_error(tmp_path: Path) -> None:
    text = GOOD.split("  - code: ZZ")[0]
    problems = errors(validate_helplines(write(tmp_path, text), TODAY))
    assert len(problems) == 1 and "fallback" in problems[0].message


def test_country_without_any_contact_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace('        call: "116 123"\n', "")
    problems = errors(validate_helplines(write(tmp_path, text), TODAY))
    assert any("no line to call, text or chat" in p.message and "GB" in p.message for p in problems)


def test_country_without_emergency_number_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace('    emergency: ["999", "112"]', "    emergency: []")
    problems = errors(validate_helplines(write(tmp_path, text), TODAY))
    assert len(problems) == 1 and "no emergency number" in problems[0].message
    assert problems[0].line == line_of(text, "emergency: []")


def test_undiallable_number_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace('call: "116 123"', 'call: "116 123 (free)"')
    problems = errors(validate_helplines(write(tmp_path, text), TODAY))
    assert len(problems) == 1 and "cannot dial" in problems[0].message


def test_load_raises_with_every_error(tmp_path: Path) -> None:
    text = GOOD.replace("code: GB", "code: UK").replace(
        "https://findahelpline.com\n    verified", "ftp://x\n    verified"
    )
    with pytest.raises(ContentError) as caught:
        load_helplines(write(tmp_path, text))
    assert len(caught.value.problems) == 2
    assert all(p.severity is Severity.ERROR for p in caught.value.problems)


def test_loaded_model_round_trips(tmp_path: Path) -> None:
    helplines = load_helplines(write(tmp_path, GOOD))
    assert isinstance(helplines, Helplines)
    assert helplines.for_country("GB").lines[0].call == "116 123"
    assert helplines.for_country("GB").emergency == ["999", "112"]


def test_missing_iso_table_warns_instead_of_failing_every_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helplines_module, "iso_country_codes", frozenset)
    problems = validate_helplines(write(tmp_path, GOOD), TODAY)
    assert [p.severity for p in problems] == [Severity.WARNING]
    assert "not checked" in problems[0].message
