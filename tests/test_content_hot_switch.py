"""A publish from the command line reaches another running process, whole, within seconds."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from ketacompanion.content.bundle import read_directory, write_files
from ketacompanion.storage import tables as t

from conftest import CONTENT, TEST_KEY

UNKNOWN_COMMAND = 'unknown_command: "I don\'t know /{command}.'
TOO_LONG = 'too_long: "That was a long message:'


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KETACOMPANION_DATABASE_URL": database_url,
        "KETACOMPANION_DATA_KEY": TEST_KEY,
        "KETACOMPANION_CONTENT_DIR": str(CONTENT),
        "KETACOMPANION_EXPORT_DIR": str(tmp_path / "exports"),
        "KETACOMPANION_CONTENT_POLL_S": "0.2",
    }


def _edited(tmp_path: Path) -> Path:
    # Two strings that one turn shows together: a half-swapped set would mix them.
    files = read_directory(CONTENT)
    text = files["messages/en.yaml"].decode()
    assert UNKNOWN_COMMAND in text and TOO_LONG in text
    text = text.replace(UNKNOWN_COMMAND, UNKNOWN_COMMAND.replace('"', '"[v2] ', 1))
    text = text.replace(TOO_LONG, TOO_LONG.replace('"', '"[v2] ', 1))
    files["messages/en.yaml"] = text.encode()
    target = tmp_path / "edited"
    write_files(files, target)
    return target


class Serving:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ketacompanion", "chat", "--json", "--user", "reader"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=cwd,
        )  # fmt: skip

    def ask(self, text: str) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"text": text}) + "\n")
        self.proc.stdin.flush()
        out: list[str] = []
        while True:
            line = self.proc.stdout.readline()
            assert line, "the serving process stopped"
            obj = json.loads(line)
            if obj["type"] == "done":
                return out
            out.append(str(obj.get("text")))

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


@pytest.mark.slow
def test_a_cli_publish_reaches_a_serving_process_whole(database_url: str, tmp_path: Path) -> None:
    assert _publish_and_wait(_env(database_url, tmp_path), tmp_path) < 10


@pytest.mark.slow
def test_on_postgresql_a_publish_wakes_a_serving_process_without_waiting_for_its_poll(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite processes poll")
    env = _env(database_url, tmp_path) | {"KETACOMPANION_CONTENT_POLL_S": "60"}
    assert _publish_and_wait(env, tmp_path) < 5  # far sooner than the next poll


async def _load_lag(url: str) -> float:
    """Seconds from version 2's commit to the serving process recording it loaded."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            published = (await conn.execute(select(t.content_versions.c.published_at).where(t.content_versions.c.id == 2))).scalar_one()
            loaded = (await conn.execute(select(t.content_loads.c.at).where(t.content_loads.c.version == 2))).scalar_one()
    finally:
        await engine.dispose()
    return round((loaded.replace(tzinfo=None) - published.replace(tzinfo=None)).total_seconds(), 3)


def _publish_and_wait(env: dict[str, str], tmp_path: Path) -> float:
    """Seconds from a CLI publish's exit to the serving process answering from it."""
    serving = Serving(env, tmp_path)
    long_text = "/nosuch " + "hello there " * 400  # over the length limit: two strings in one answer
    try:
        first = serving.ask(long_text)
        assert len(first) == 2 and not any("[v2]" in r for r in first)
        published = subprocess.run(
            [sys.executable, "-m", "ketacompanion", "content", "publish", str(_edited(tmp_path)), "--note", "v2"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        assert "published version 2" in published.stdout
        start, answers = time.monotonic(), []
        while time.monotonic() - start < 10:
            replies = serving.ask(long_text)
            answers.append(replies)
            if all("[v2]" in r for r in replies):
                break
            time.sleep(0.05)
        reached = time.monotonic() - start
        lag = asyncio.run(_load_lag(env["KETACOMPANION_DATABASE_URL"]))
        print(json.dumps({"answered_from_v2_s": round(reached, 2), "answers": len(answers), "loaded_after_commit_s": lag}))
        assert all("[v2]" in r for r in answers[-1]), f"not switched after {reached:.1f}s"
        # Every answer was wholly old or wholly new.
        assert all(len({"[v2]" in r for r in replies}) == 1 for replies in answers)
        status = subprocess.run(
            [sys.executable, "-m", "ketacompanion", "content", "status"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
        )  # fmt: skip
        assert "version 2  loaded" in status.stdout
        return reached
    finally:
        serving.close()
