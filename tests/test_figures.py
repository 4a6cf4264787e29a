"""Adherence figures: counts only, cells under five people suppressed, a real PNG chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from ketacompanion.app import App
from ketacompanion.figures import Activity, adherence_png, figures, read_activity, weekly_adherence
from ketacompanion.storage import tables as t

from conftest import Chat

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def activity(telegram: int, console: int) -> Activity:
    people = {i: ("telegram", "clinic-a") for i in range(telegram)}
    people |= {100 + i: ("console", "none") for i in range(console)}
    checkins = [(u, "answered" if u % 2 == 0 else "missed", NOW - timedelta(days=2)) for u in people]
    checkins += [(u, "pending", NOW + timedelta(days=1)) for u in people]
    return Activity(people, checkins, [(u, NOW - timedelta(days=1)) for u in people], [(0, NOW - timedelta(days=3))],
                    [(u, NOW - timedelta(hours=5)) for u in people])


def test_counts_per_group_and_small_cells_suppressed() -> None:
    found = figures(activity(telegram=6, console=3), NOW)
    everyone = found["all"]
    assert everyone["enrolled"] == 9
    assert everyone["7d"]["checkins_due"] == 9  # the pending one is not due yet
    assert everyone["7d"]["checkins_answered"] == 5
    assert everyone["7d"]["checkins_missed"] is None  # four people missed one: too few to show
    assert everyone["7d"]["lessons_read"] == 9
    assert everyone["7d"]["crisis_escalations"] is None  # one person: never shown
    assert found["platform"]["telegram"]["enrolled"] == 6
    assert found["platform"]["console"]["enrolled"] is None  # three people
    assert found["platform"]["console"]["7d"]["checkins_due"] is None
    assert found["enrolment"]["clinic-a"]["7d"]["active"] == 6


def test_weekly_chart_is_a_png_with_small_weeks_hidden() -> None:
    series = weekly_adherence(activity(telegram=6, console=0), NOW)
    assert series[-1][1] == 0.5 and all(v is None for _, v in series[:-1])
    assert adherence_png(series).startswith(b"\x89PNG")


async def test_read_from_the_database(app: App) -> None:
    for i in range(5):
        await Chat(app, f"p{i}").onboard()
    async with app.engine.begin() as conn:
        await conn.execute(insert(t.checkins), [
            {"user_id": i, "kind": "daily", "due_at": app.clock.now() - timedelta(days=1),
             "expires_at": app.clock.now(), "status": "answered", "created_at": app.clock.now()}
            for i in range(1, 6)
        ])  # fmt: skip
    found = figures(await read_activity(app.engine, app.clock.now() - timedelta(days=60)), app.clock.now())
    assert found["all"]["enrolled"] == 5
    assert found["all"]["7d"]["checkins_answered"] == 5
    assert found["all"]["30d"]["active"] == 5
