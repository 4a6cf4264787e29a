"""The terminal chat on a simulated clock: a week of check-ins in a few seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import CONTENT, TEST_KEY


def simulate(tmp_path: Path, lines: list[dict[str, object]], start: str) -> list[list[dict[str, object]]]:
    """Run ``chat --json --simulate``; return the output grouped per input line."""
    env = {**os.environ, "KETACOMPANION_DATA_KEY": TEST_KEY, "KETACOMPANION_CONTENT_DIR": str(CONTENT),
           "KETACOMPANION_EXPORT_DIR": str(tmp_path / "exports")}
    proc = subprocess.run(
        [sys.executable, "-m", "ketacompanion", "chat", "--json", "--db", str(tmp_path / "sim.db"),
         "--simulate", start],
        input="\n".join(json.dumps(line) for line in lines) + "\n",
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    groups: list[list[dict[str, object]]] = [[]]
    for raw in proc.stdout.splitlines():
        obj = json.loads(raw)
        if obj["type"] == "done":
            groups.append([])
        else:
            groups[-1].append(obj)
    return groups[:-1]


def test_a_daily_checkin_set_for_20_arrives_when_the_clock_passes_20(tmp_path: Path) -> None:
    # Monday 23 November 2026, 08:00 in New York (13:00 UTC).
    out = simulate(tmp_path, [
        {"text": "/start"}, {"choice": "start:agree"}, {"choice": "start:country:US"},
        {"choice": "start:tz:America|New_York"},
        {"text": "/schedule"}, {"choice": "sched:daily"}, {"text": "20:00"},
        {"advance_clock": "PT11H59M"},  # 19:59 local: nothing yet
        {"advance_clock": "PT2M"},  # 20:01 local
        {"advance_clock": "P1D"},  # the next evening's prompt (and a reminder for the first)
    ], "2026-11-23T13:00:00+00:00")
    before, at_eight, next_day = out[7], out[8], out[9]
    assert before == []
    assert len(at_eight) == 1 and at_eight[0]["scheduled"] is True
    assert "daily check-in" in str(at_eight[0]["text"]).lower()
    assert any(str(c["id"]).startswith("checkin:start:") for c in at_eight[0]["choices"])  # type: ignore[union-attr]
    texts = [str(o["text"]).lower() for o in next_day]
    assert any("reminder" in t for t in texts) and any("daily check-in" in t for t in texts)


def test_advance_clock_without_simulation_is_refused_kindly(tmp_path: Path) -> None:
    env = {**os.environ, "KETACOMPANION_DATA_KEY": TEST_KEY, "KETACOMPANION_CONTENT_DIR": str(CONTENT)}
    proc = subprocess.run(
        [sys.executable, "-m", "ketacompanion", "chat", "--json", "--db", str(tmp_path / "x.db")],
        input='{"advance_clock": "P1D"}\n', capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    first = json.loads(proc.stdout.splitlines()[0])
    assert first["type"] == "error" and "--simulate" in first["error"]
