"""Adherence figures for admins: counts only, per platform and per enrolment code.

No figure ever describes one person: a cell that counts fewer than ``MIN_PEOPLE``
distinct people is suppressed (``None``), and no answer's value is read at all."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ketacompanion.storage import tables as t

MIN_PEOPLE = 5
WINDOWS = (7, 30)
CHECKIN_OUTCOMES = ("due", "answered", "missed", "unreachable")


@dataclass(frozen=True, slots=True)
class Activity:
    """Rows with no health values: who (an internal id), which group, what kind, when."""

    people: dict[int, tuple[str, str]]  # user id -> (platform, enrolment code)
    checkins: list[tuple[int, str, datetime]]  # user, status, due_at
    lessons: list[tuple[int, datetime]]  # user, completed_at
    escalations: list[tuple[int, datetime]]  # user, created_at
    seen: list[tuple[int, datetime]]  # user, a moment they used the bot


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def read_activity(engine: AsyncEngine, since: datetime) -> Activity:
    u, c, lp, e, d = t.users, t.checkins, t.lesson_progress, t.escalations, t.dialogue
    async with engine.connect() as raw:
        conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
        people = {
            r.id: (r.platform, r.enrolment or "none")
            for r in await conn.execute(select(u.c.id, u.c.platform, u.c.enrolment).where(u.c.consent_at.is_not(None)))
        }
        checkins = [(r.user_id, r.status, _aware(r.due_at)) for r in
                    await conn.execute(select(c.c.user_id, c.c.status, c.c.due_at).where(c.c.due_at >= since))]
        lessons = [(r.user_id, _aware(r.completed_at)) for r in await conn.execute(
            select(lp.c.user_id, lp.c.completed_at).where(lp.c.completed_at >= since))]
        escalations = [(r.user_id, _aware(r.created_at)) for r in await conn.execute(
            select(e.c.user_id, e.c.created_at).where(e.c.created_at >= since))]
        seen = [(r.user_id, _aware(r.updated_at)) for r in await conn.execute(
            select(d.c.user_id, d.c.updated_at).where(d.c.updated_at >= since))]
    return Activity(people, checkins, lessons, escalations, seen)


def _outcome(status: str) -> str | None:
    if status in ("answered", "missed", "unreachable"):
        return status
    return None


def _cell(users: Iterable[int], count: int) -> int | None:
    return count if len(set(users)) >= MIN_PEOPLE else None


def figures(activity: Activity, now: datetime) -> dict[str, Any]:
    """``{"all": {...}, "platform": {name: {...}}, "enrolment": {code: {...}}}``."""
    groups: dict[tuple[str, str], set[int]] = defaultdict(set)
    for user, (platform, code) in activity.people.items():
        groups[("all", "all")].add(user)
        groups[("platform", platform)].add(user)
        groups[("enrolment", code)].add(user)
    out: dict[str, Any] = {"min_people": MIN_PEOPLE, "at": now.isoformat(), "all": {}, "platform": {}, "enrolment": {}}
    for (kind, name), members in sorted(groups.items()):
        cell: dict[str, Any] = {"enrolled": _cell(members, len(members))}
        for days in WINDOWS:
            since = now - timedelta(days=days)
            active = {u for u, at in activity.seen if u in members and at >= since}
            active |= {u for u, s, at in activity.checkins if u in members and since <= at <= now and s == "answered"}
            window: dict[str, int | None] = {"active": _cell(active, len(active))}
            due = [(u, s) for u, s, at in activity.checkins if u in members and since <= at <= now
                   and s not in ("pending", "cancelled")]
            window["checkins_due"] = _cell((u for u, _ in due), len(due))
            for outcome in CHECKIN_OUTCOMES[1:]:
                rows = [u for u, s in due if _outcome(s) == outcome]
                # Suppressed on the people due, and on the people in the cell itself.
                window[f"checkins_{outcome}"] = _cell(rows, len(rows)) if _cell((u for u, _ in due), 1) else None
            read = [u for u, at in activity.lessons if u in members and at >= since]
            window["lessons_read"] = _cell(read, len(read))
            crises = [u for u, at in activity.escalations if u in members and at >= since]
            window["crisis_escalations"] = _cell(crises, len(crises))
            cell[f"{days}d"] = window
        if kind == "all":
            out["all"] = cell
        else:
            out[kind][name] = cell
    return out


def weekly_adherence(activity: Activity, now: datetime, weeks: int = 8) -> list[tuple[str, float | None]]:
    """(week starting, share of due check-ins answered), None where under ``MIN_PEOPLE``."""
    out = []
    for back in range(weeks - 1, -1, -1):
        end = now - timedelta(weeks=back)
        start = end - timedelta(weeks=1)
        due = [(u, s) for u, s, at in activity.checkins if start <= at < end and s not in ("pending", "cancelled")]
        answered = sum(1 for _, s in due if s == "answered")
        share = answered / len(due) if due and len({u for u, _ in due}) >= MIN_PEOPLE else None
        out.append((start.date().isoformat(), share))
    return out


def adherence_png(series: list[tuple[str, float | None]]) -> bytes:
    import matplotlib  # heavy: only when a chart is asked for

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), dpi=100)
    ax = fig.add_subplot()
    labels = [w for w, _ in series]
    values = [(v * 100 if v is not None else 0.0) for _, v in series]
    bars = ax.bar(labels, values, color="#4a7ebb")
    for bar, (_, v) in zip(bars, series, strict=True):
        if v is None:
            bar.set_color("#dddddd")
            ax.text(bar.get_x() + bar.get_width() / 2, 2, "<5", ha="center", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("check-ins answered (%)")
    ax.set_title("Weekly adherence (weeks with fewer than 5 people hidden)")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def figure_lines(found: dict[str, object]) -> list[str]:
    def show(value: object) -> str:
        return "<5" if value is None else str(value)

    def row(name: str, cell: dict[str, object]) -> str:
        parts = [f"{name:<24} enrolled {show(cell['enrolled'])}"]
        for days in ("7d", "30d"):
            w = cell[days]
            assert isinstance(w, dict)
            parts.append(
                f"  {days}: active {show(w['active'])}, check-ins due {show(w['checkins_due'])} / answered "
                f"{show(w['checkins_answered'])} / missed {show(w['checkins_missed'])} / unreachable "
                f"{show(w['checkins_unreachable'])}, lessons read {show(w['lessons_read'])}, crisis escalations "
                f"{show(w['crisis_escalations'])}"
            )
        return "\n".join(parts)

    lines = [row("everyone", found["all"])] if found["all"] else ["nobody is enrolled yet"]  # type: ignore[arg-type]
    for kind in ("platform", "enrolment"):
        for name, cell in found[kind].items():  # type: ignore[attr-defined]
            lines.append(row(f"{kind} {name}", cell))
    return lines
