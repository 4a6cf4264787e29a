"""The clinician summary of a simulated month, rendered and read back with a PDF text
extractor, as a clinician's printer would see it."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

from bidi import get_display
from pypdf import PdfReader

from ketacompanion.app import App
from ketacompanion.core.clock import FakeClock
from month import checkin, month, phq9_and_gad7

from conftest import Chat

RTL_EMOJI = "שבוע טוב 🙂 أسبوع جيد"
KEEP = os.environ.get("KETACOMPANION_KEEP_SUMMARY")


async def _simulated_month(app: App, chat: Chat, clock: FakeClock, country: str, zone: str) -> bytes:
    await chat.onboard(country, zone)
    async with app.store.transaction() as tx:
        found = await tx.users.find("console", chat.user)
        assert found is not None
        for offset in (5, 19):
            await tx.schedules.add_session(found[0].id, clock.now() + timedelta(days=offset, hours=2), zone, clock.now())
    await chat.say("/summary name J.D.")
    await phq9_and_gad7(chat, "2")
    await month(chat, clock, days=12, busy=True)
    clock.advance(timedelta(days=6))  # six days without an answer: a gap
    await checkin(chat, ("3", "7", "OK", "none", "yes, once or twice"))  # the safety follow-up opens
    await chat.say(f"/journal {RTL_EMOJI}")
    await chat.tap(chat.choice("journal:share:"))
    await chat.say("/journal not for the summary")
    clock.advance(timedelta(days=1))
    await phq9_and_gad7(chat, "1")
    replies = await chat.say("/summary")
    page = next(r for r in replies if r.file is not None)
    assert page.file is not None and page.image is not None
    return page.file.data


def _text(pdf: bytes) -> tuple[str, list[tuple[float, float]]]:
    reader = PdfReader(io.BytesIO(pdf))
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    return "\n".join(p.extract_text() for p in reader.pages), sizes


async def test_a_simulated_month_reads_back_from_the_pdf(app: App, chat: Chat, clock: FakeClock) -> None:
    pdf = await _simulated_month(app, chat, clock, "US", "America/New_York")
    text, sizes = _text(pdf)
    assert all(size == (612.0, 792.0) for size in sizes)  # US Letter
    assert "For: J.D." in text
    assert "Made on Dec 12, 2026" in text
    assert "Dosing sessions" in text and "Nov 28" in text
    assert "PHQ-9" in text and "GAD-7" in text and "8 of 27" in text and "0 of 27" in text
    assert "Yes, once or twice" in text and "answer 1 of 3" not in text
    assert "Sleep" in text and "Well: " in text and "Poorly: " in text
    assert "Check-ins answered:" in text
    assert "Blood in my pee" in text
    # The shared entry, printed in reading order: the PDF holds the glyphs as they are seen.
    if KEEP:  # for looking at the page: KETACOMPANION_KEEP_SUMMARY=dir
        (Path(KEEP) / "summary-month.pdf").write_bytes(pdf)
    assert "Dec 11:" in text and ("שבוע" in text or get_display("שבוע") in text)
    assert "not for the summary" not in text
    if KEEP:  # for looking at the page: KETACOMPANION_KEEP_SUMMARY=dir
        (Path(KEEP) / "summary-month.pdf").write_bytes(pdf)


async def test_a4_outside_north_america_and_a_quiet_month_prints_no_empty_sections(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await chat.onboard("GB", "Europe/London")
    await month(chat, clock, days=5)
    replies = await chat.say("/summary")
    pdf = next(r for r in replies if r.file is not None).file.data  # type: ignore[union-attr]
    text, sizes = _text(pdf)
    assert all(abs(w - 595.4) < 1 and abs(h - 841.7) < 1 for w, h in sizes), sizes  # A4
    assert "Check-ins answered: 5" in text
    for empty in ("Warning signs", "Side effects", "Journal", "Dosing sessions", "PHQ-9 and GAD-7", "none"):
        assert empty not in text, empty
    assert "Answers: No: 5" in text  # the safety question's history, even when all "No"

