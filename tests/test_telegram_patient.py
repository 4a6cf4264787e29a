"""Free-text answers, the journal, corrections and the clinician summary as Telegram
shows them: the real adapter against the fake Bot API on loopback."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from test_telegram_http import api, fake_time, polling, shown, tg_app  # noqa: F401, F811 - fixtures
from test_telegram_support import LiveRig

pytestmark = pytest.mark.slow

RTL_EMOJI = "היום היה קשה 😔 اليوم كان صعبا"


def _buttons(call: object) -> list[str]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}  # type: ignore[attr-defined]
    return [b.get("callback_data", "") for row in markup["inline_keyboard"] for b in row]


async def test_a_question_gets_a_lesson_card_and_its_button(polling: LiveRig) -> None:  # noqa: F811
    await polling.onboard(42)
    sent = await polling.say(42, "am I ok to drive home after my infusion?")
    text = "\n".join(shown(c) for c in sent)
    assert "Source:" in text and "drive" in text.lower() and "I read text and buttons" not in text
    assert any(b.startswith("learn:open:") for c in sent for b in _buttons(c))
    opened = await polling.press(42, "learn:open:")
    assert opened and any(b.startswith("learn:next:") for c in opened for b in _buttons(c))


async def test_a_feeling_is_noted_in_the_journal_exactly(polling: LiveRig) -> None:  # noqa: F811
    await polling.onboard(42)
    sent = await polling.say(42, RTL_EMOJI)  # not English: lessons are English, but it can be noted
    assert any("English for now" in shown(c) for c in sent)
    await polling.press(42, "journal:keep:")
    await polling.say(42, f"/journal {RTL_EMOJI} 🌧️")
    listed = await polling.say(42, "/journal")
    assert any(RTL_EMOJI in shown(c) and "🌧️" in shown(c) for c in listed)
    assert sum(RTL_EMOJI in shown(c) for c in listed) == 2


async def test_summary_pdf_with_a_name_arrives_as_a_document(polling: LiveRig) -> None:  # noqa: F811
    await polling.onboard(42)
    await polling.say(42, "/summary name A.B.")
    await polling.say(42, "/checkin")
    for typed in ("6", "3", "well", "none", "no", "skip"):
        await polling.say(42, typed)
    await polling.say(42, "/history")
    await polling.press(42, "edit:pick:")
    await polling.press(42, "edit:item:")
    corrected = await polling.say(42, "4")
    assert any("Corrected: 4" in shown(c) for c in corrected)
    # Drawing the page takes a few seconds of CPU on a busy machine: wait longer than a message.
    before = len(polling.api.calls)
    update = polling.api.message_update(42, "/summary")
    polling.api.inject_update(update)
    await polling.adapter.wait_handled(update["update_id"], timeout=60)
    sent = polling.api.calls[before:]
    document = next(c for c in sent if c.method == "sendDocument")
    pdf = PdfReader(io.BytesIO(document.files["document"].data))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert "For: A.B." in text and "Mood (0 worst, 10 best): 1 answers, from 4 to 4" in text
