"""``ketacompanion content validate``: exit codes, problems with lines, and the lesson table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketacompanion.cli import cli

CONTENT = Path(__file__).resolve().parents[1] / "content"
LESSONS = sorted(p.stem for p in (CONTENT / "lessons" / "en").glob("*.md"))


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    return root


def validate(directory: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["content", "validate", str(directory)])
    return result.exit_code, result.output.splitlines()


def test_shipped_content_is_clean_and_every_lesson_is_listed() -> None:
    code, lines = validate(CONTENT)
    assert code == 0, lines
    assert lines[-1] == "0 errors, 0 warnings"
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("en/")}
    assert sorted(rows) == [f"en/{name}" for name in LESSONS]
    for cards, words, grade in rows.values():
        assert int(cards) >= 1 and int(words) > 0 and 0 < float(grade) <= 9
    average = next(line for line in lines if "average grade" in line)
    assert average.startswith(f"{len(LESSONS)} lessons, average grade ")
    assert float(average.rsplit(" ", 1)[1]) <= 8


def test_a_broken_lesson_fails_with_its_path_and_line(content_copy: Path) -> None:
    lesson = content_copy / "lessons" / "en" / "blood-pressure.md"
    text = lesson.read_text(encoding="utf-8")
    lesson.write_text(text.replace("related: [", "related: [no-such-lesson, ", 1), encoding="utf-8")
    line = next(i for i, x in enumerate(lesson.read_text().splitlines(), 1) if x.startswith("related:"))
    code, lines = validate(content_copy)
    assert code == 1
    assert lines[0] == f"{lesson}:{line}: related lesson 'no-such-lesson' does not exist"
    assert lines[-1] == "1 errors, 0 warnings"
    # The summary still shows every lesson, the broken one included.
    assert any(x.startswith("en/blood-pressure ") for x in lines)


def test_an_unreadable_lesson_is_reported_and_left_out_of_the_table(content_copy: Path) -> None:
    lesson = content_copy / "lessons" / "en" / "integration.md"
    lesson.write_text("## A card without front matter\n\nText.\n", encoding="utf-8")
    code, lines = validate(content_copy)
    assert code == 1
    assert f"{lesson}:1: no front matter: start with '---', end it with '---'" in lines
    assert not any(x.startswith("en/integration ") for x in lines)


def test_warnings_alone_do_not_fail(content_copy: Path) -> None:
    topics = content_copy / "lessons" / "en" / "topics.yaml"
    topics.write_text(topics.read_text() + "- id: spare\n  title: A topic with no lessons\n")
    code, lines = validate(content_copy)
    assert code == 0
    assert any(x.startswith(f"{topics}:") and "warning: topic 'spare' has no lessons" in x for x in lines)
    assert lines[-1] == "0 errors, 1 warnings"


def test_a_missing_folder_fails(tmp_path: Path) -> None:
    code, _ = validate(tmp_path / "nowhere")
    assert code == 1
