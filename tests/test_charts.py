"""Charts are real files a phone can show: PNG and PDF signatures, size, empty history."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from ketacompanion.app import App, texts
from ketacompanion.charts import render_mood, render_summary
from ketacompanion.core.history import ClinicianSummary, MoodHistory, Series, clinician_summary

from conftest import Chat

PNG = b"\x89PNG\r\n\x1a\n"
END = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
START = END - timedelta(days=30)
PHQ9_BANDS = ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe"))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def history(points: int) -> MoodHistory:
    days = [START + timedelta(days=i + 1) for i in range(points)]
    return MoodHistory(
        title="Your check-ins: last 30 days",
        start=START, end=END, zone="America/New_York",
        scales=(
            Series("Mood", tuple((d, (i * 3) % 11) for i, d in enumerate(days)), 10),
            Series("Anxiety", tuple((d, (i * 7) % 11) for i, d in enumerate(days)), 10),
        ),
        scores=(Series("PHQ-9", tuple((d, 12) for d in days[::7]), 27, PHQ9_BANDS),),
        sessions=(START + timedelta(days=10),) if points else (),
        labels={"empty": "No check-ins yet"},
    )


def test_mood_chart_is_a_phone_sized_png() -> None:
    assert png_size(render_mood(history(30))) == (1080, 1350)


def test_empty_history_renders_a_friendly_chart() -> None:
    empty = history(0)
    assert empty.empty
    assert png_size(render_mood(empty)) == (1080, 1350)


def test_summary_is_png_and_pdf() -> None:
    page = ClinicianSummary("Summary", tuple(f"line {i}" for i in range(20)), history(30), "Self-reported.")
    png, pdf = render_summary(page)
    assert png_size(png) == (1080, 1350)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")


async def test_mood_command_sends_a_png(app: App, chat: Chat) -> None:
    await chat.onboard()
    replies = await chat.say("/mood")
    image = next(r.image for r in replies if r.image)
    assert image.mime == "image/png" and png_size(image.data) == (1080, 1350)
    assert "No check-ins yet" in chat.text()
    await chat.tap(chat.choice("hist:mood:90"))
    assert "90 days" in chat.text()


async def test_summary_command_after_a_checkin(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/checkin")
    for typed in ("6", "3", "2", "3, 14", "no", "ok"):  # dizzy, and blood in pee (a red flag)
        await chat.say(typed)
    replies = await chat.say("/summary")
    reply = next(r for r in replies if r.image)
    assert png_size(reply.image.data) == (1080, 1350)  # type: ignore[union-attr]
    assert reply.file is not None and reply.file.data.startswith(b"%PDF-")


async def test_summary_page_lists_counts_side_effects_and_red_flags(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/checkin")
    for typed in ("6", "3", "2", "3, 14", "no", "ok"):
        await chat.say(typed)
    async with app.store.transaction() as tx:
        found = await tx.users.find("console", "u1")
        assert found is not None
        past = await tx.checkins.history(found[0].id, START)
    t = texts(app.content)("en")
    page = clinician_summary(t, app.content.current.instruments, past, [], START, END, "America/New_York")
    text = "\n".join(page.lines)
    assert "Check-ins answered: 1. Missed: 0." in text
    assert "Dizzy or unsteady: 1" in text
    assert "Nov 23: Blood in my pee" in text
    assert "not a diagnosis" in page.footer.lower()


async def test_drawing_a_chart_holds_no_lock_on_other_peoples_messages(app) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import threading

    from conftest import Chat

    release, started = threading.Event(), threading.Event()
    flow = app.companion._flows["hist"]
    real = flow._renderer

    class SlowRenderer:
        def mood_png(self, data):  # type: ignore[no-untyped-def]
            started.set()
            release.wait(10)
            return real.mood_png(data)

    flow._renderer = SlowRenderer()
    a, b = Chat(app, user="a"), Chat(app, user="b")
    await a.onboard()
    await b.onboard()
    drawing = asyncio.create_task(a.say("/mood"))
    await asyncio.to_thread(started.wait, 10)
    replies = await asyncio.wait_for(b.say("/help"), timeout=5)  # not stuck behind the drawing
    assert replies and "/learn" in replies[0].text
    release.set()
    charts = await drawing
    assert charts and charts[0].image is not None and charts[0].image.data.startswith(b"\x89PNG")


async def test_an_empty_panel_on_the_clinician_summary_speaks_to_the_clinician(app: App) -> None:
    t = texts(app.content)("en")
    page = clinician_summary(t, app.content.current.instruments, [], [], START, END, "America/New_York")
    assert page.chart.labels["empty"] == t("checkins.history.summary_empty")
    assert "/checkin" not in page.chart.labels["empty"]
    png, pdf = render_summary(page)  # still draws, empty panels and all
    assert png.startswith(b"\x89PNG") and pdf.startswith(b"%PDF")
