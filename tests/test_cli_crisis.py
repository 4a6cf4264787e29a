"""``crisis check``, ``crisis eval`` and ``schedule list`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketacompanion.cli import cli

from conftest import CONTENT, TEST_KEY

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KETACOMPANION_CONTENT_DIR", str(CONTENT))
    monkeypatch.setenv("KETACOMPANION_DATA_KEY", TEST_KEY)
    monkeypatch.setenv("KETACOMPANION_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")


def test_check_prints_one_json_line_per_message() -> None:
    result = runner.invoke(cli, ["crisis", "check"], input="I want to kill myself\n\nwhat time is it\n")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["level"] for line in lines] == ["crisis", "none"]
    assert lines[0]["category"] and lines[0]["reasons"]


def test_eval_reports_labels_and_slices(tmp_path: Path) -> None:
    sample = tmp_path / "s.csv"
    sample.write_text("text,label,slice\nI want to end my life,crisis,explicit\nnice weather,none,everyday\n", encoding="utf-8")
    result = runner.invoke(cli, ["crisis", "eval", str(sample), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["labels"]["crisis"]["recall"] == 1.0
    assert set(report["slices"]) == {"explicit", "everyday"}


def test_eval_of_a_missing_file_fails_clearly() -> None:
    result = runner.invoke(cli, ["crisis", "eval", "/nonexistent.tsv"])
    assert result.exit_code == 1
    assert "no such file" in result.output


def test_schedule_list_on_an_empty_database() -> None:
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(cli, ["schedule", "list"])
    assert result.exit_code == 0
    assert "nothing scheduled" in result.stdout
