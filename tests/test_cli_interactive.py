"""The interactive terminal chat as a person runs it: no log lines, Ctrl-C leaves at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CONTENT, TEST_KEY


@pytest.mark.slow
def test_ctrl_c_leaves_at_once_and_no_log_line_reaches_the_chat(tmp_path: Path) -> None:
    env = {**os.environ, "KETACOMPANION_DATA_KEY": TEST_KEY, "KETACOMPANION_CONTENT_DIR": str(CONTENT),
           "KETACOMPANION_EXPORT_DIR": str(tmp_path / "exports"), "KETACOMPANION_LOG_LEVEL": "DEBUG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ketacompanion", "chat", "--db", str(tmp_path / "c.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"/start\n")
    proc.stdin.flush()
    seen = b""
    deadline = time.monotonic() + 60
    while b"[1] I agree" not in seen and time.monotonic() < deadline:
        seen += os.read(proc.stdout.fileno(), 65536)
    assert b"[1] I agree" in seen
    time.sleep(0.2)  # back at the prompt, blocked reading the next line
    proc.send_signal(signal.SIGINT)
    try:
        rest, err = proc.communicate(timeout=5)  # stdin stays open: no Enter is coming
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("Ctrl-C waited for Enter") from None
    shown = (seen + rest).decode()
    assert proc.returncode == 130
    assert "Traceback" not in err.decode() and '"level"' not in shown and '"level"' not in err.decode()
