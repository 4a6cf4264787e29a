"""The terminal chat's JSON protocol, through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import CONTENT, TEST_KEY


def run_chat(tmp_path: Path, lines: list[str], *extra: str) -> list[dict[str, object]]:
    env = {
        **os.environ,
        "KETACOMPANION_DATA_KEY": TEST_KEY,
        "KETACOMPANION_CONTENT_DIR": str(CONTENT),
        "KETACOMPANION_EXPORT_DIR": str(tmp_path / "exports"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "ketacompanion", "chat", "--json", "--db", str(tmp_path / "chat.db"), *extra],
        input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_scripted_conversation(tmp_path: Path) -> None:
    out = run_chat(tmp_path, [
        json.dumps({"text": "/start"}),
        json.dumps({"choice": "start:agree"}),
        json.dumps({"choice": "start:country:GB"}),
        "not json",
        json.dumps({"text": "/export"}),
    ])
    dones = [i for i, o in enumerate(out) if o["type"] == "done"]
    assert len(dones) == 5
    first = out[: dones[0]]
    assert first[0]["type"] == "reply" and first[0]["urgency"] == "normal"
    assert {c["id"] for c in first[0]["choices"]} >= {"start:agree", "start:decline"}  # type: ignore[union-attr]
    assert any("Europe/London" in str(o.get("text")) for o in out)
    assert any(o["type"] == "error" for o in out)
    export = next(o for o in out if o.get("file"))
    data = json.loads(Path(str(export["file"])).read_text(encoding="utf-8"))
    assert data["tables"]["users"][0]["country"] == "GB"


def test_state_persists_between_runs(tmp_path: Path) -> None:
    run_chat(tmp_path, [json.dumps({"text": "/start"}), json.dumps({"choice": "start:agree"}),
                        json.dumps({"choice": "start:country:US"})])
    out = run_chat(tmp_path, [json.dumps({"text": "Denver"})])
    assert any("America/Denver" in str(o.get("text")) for o in out)


def test_crisis_message_through_the_cli(tmp_path: Path) -> None:
    out = run_chat(tmp_path, [json.dumps({"text": "I want to kill myself"})], "--user", "someone")
    assert out[0]["urgency"] == "crisis"
