"""Smaller things a patient meets: the help text, PHQ-9's count."""

from __future__ import annotations

from conftest import Chat


async def test_help_names_resume_and_the_longer_check_ins(chat: Chat) -> None:
    await chat.say("/help")
    assert "/resume" in chat.text() and "/checkin phq9" in chat.text()


async def test_phq9_says_nine_questions_and_counts_nine(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/checkin phq9")
    text = chat.text()
    assert "9 short questions" in text and "(1 of 9)" in text
    for _ in range(8):
        await chat.tap(chat.choice("checkin:a:"))
    assert "(9 of 9)" in chat.text()
