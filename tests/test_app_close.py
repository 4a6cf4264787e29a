"""Closing the app waits for start-up's background warm-ups, within a bound: a process that
stops seconds after it started must not finalize under a daemon thread still inside
matplotlib's C++ code, which aborts it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

import ketacompanion.app as app_module
from ketacompanion.app import build_app
from ketacompanion.core.clock import FakeClock

from conftest import make_settings


async def test_after_close_no_warm_up_is_still_running(
    database_url: str, tmp_path: Path, clock: FakeClock, content_set: object
) -> None:
    app = await build_app(make_settings(database_url, tmp_path), clock, content_set)  # type: ignore[arg-type]
    assert [t.name for t in app.warming] == ["placenames-warm", "charts-warm", "heap-freeze"]
    await app.close()
    assert not any(t.is_alive() for t in app.warming)


async def test_a_warm_up_that_outlasts_the_bound_is_left_and_logged(
    database_url: str, tmp_path: Path, clock: FakeClock, content_set: object,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    app = await build_app(make_settings(database_url, tmp_path), clock, content_set)  # type: ignore[arg-type]
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="stuck-warm-up", daemon=True)
    stuck.start()
    app.warming = (stuck,)
    monkeypatch.setattr(app_module, "WARM_JOIN_S", 0.05)
    try:
        with caplog.at_level(logging.WARNING, logger="ketacompanion.app"):
            await app.close()  # returns: a hung warm-up never holds a stop
        assert "a start-up warm-up was still running at close" in caplog.text
    finally:
        release.set()
        stuck.join()
