"""The crisis message that needs nothing else to work.

Sent when the crisis lines file, the database or anything else on the crisis path
fails: it is a constant, so it cannot fail to load. Plain text, no markup, so no
platform can reject it.
"""

from __future__ import annotations

FALLBACK_CRISIS_TEXT = (
    "I'm really glad you told me, and I want you to be safe.\n"
    "If you are in danger now, call your local emergency number: 911 in the US and "
    "Canada, 999 or 112 in the UK, 112 in the EU, 000 in Australia.\n"
    "US and Canada: call or text 988, any time.\n"
    "UK and Ireland: call Samaritans free on 116 123, any time.\n"
    "Anywhere else: findahelpline.com lists free, confidential lines for your country.\n"
    "I'm a bot, not an emergency service, and no one reads these messages around the "
    "clock. Please reach out to one of these people now."
)

FALLBACK_LINKS: list[tuple[str, str]] = [
    ("Call or text 988 (US and Canada)", "tel:988"),
    ("Call Samaritans 116 123 (UK and Ireland)", "tel:116123"),
    ("Find a helpline in your country", "https://findahelpline.com"),
]
