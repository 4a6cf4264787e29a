"""Choosing the person's country, and the crisis lines as plain text and one-tap links."""

from __future__ import annotations

from datetime import date

import pytest

from ketacompanion.content.helplines import CountryLines, Line, TextContact
from ketacompanion.core.crisis import lines
from ketacompanion.core.crisis.fallback import FALLBACK_CRISIS_TEXT, FALLBACK_LINKS
from ketacompanion.core.crisis.lines import (
    contact_links,
    lines_text,
    resolve_country,
)
from ketacompanion.core.crisis.tztables import iso_country_codes

KNOWN = {"US", "GB", "DE", "AT", "CH", "JP", "BR", "CA", "FR"}


def entry(**overrides: object) -> CountryLines:
    fields: dict[str, object] = {
        "code": "US",
        "name": "United States",
        "emergency": ["911"],
        "lines": [
            Line(name="Lifeline", call="988", text=TextContact(number="988"), hours="24/7"),
            Line(
                name="Crisis Text Line",
                text=TextContact(number="741741", keyword="HOME"),
                hours="24/7",
            ),
            Line(name="Web chat", chat="https://example.org/chat", hours="evenings only"),
        ],
        "source": "https://example.org",
        "verified_on": date(2026, 11, 21),
    }
    fields.update(overrides)
    return CountryLines.model_validate(fields)


@pytest.mark.parametrize(
    ("explicit", "language", "timezone", "expected"),
    [
        ("gb", "de", "Europe/Vienna", "GB"),  # the person's own setting wins over everything
        (None, "de", "Europe/Vienna", "AT"),  # not Germany: the timezone decides first
        (None, "de-DE", "Europe/Zurich", "CH"),
        (None, None, "America/New_York", "US"),
        (None, "en-GB", "America/New_York", "US"),  # timezone before the language region
        (None, "en-GB", None, "GB"),
        (None, "pt_BR", None, "BR"),
        (None, "ja", None, "JP"),
        (None, "fr-CA", "Not/AZone", "CA"),
        (None, "de", None, None),  # German alone could be Germany, Austria or Switzerland
        (None, "en", None, None),
        (None, None, None, None),
        (None, "en-NZ", "Pacific/Auckland", None),  # NZ not among the known codes
        ("XX", None, None, None),
    ],
)
def test_resolve_country(
    explicit: str | None, language: str | None, timezone: str | None, expected: str | None
) -> None:
    assert resolve_country(explicit, language, timezone, KNOWN) == expected


def test_shared_zone_lets_the_language_choose(monkeypatch: pytest.MonkeyPatch) -> None:
    # zone.tab names one country per zone; only zones taken from zone1970.tab can be
    # shared. Stand one in to check that the language then picks among its countries.
    shared = {"Europe/Zurich": ("CH", "DE", "LI")}
    monkeypatch.setattr(lines, "_zone_countries", lambda: shared)
    assert resolve_country(None, "de-DE", "Europe/Zurich", KNOWN) == "DE"
    assert resolve_country(None, "fr", "Europe/Zurich", KNOWN) == "CH"
    assert resolve_country(None, None, "Europe/Zurich", KNOWN) == "CH"
    assert resolve_country(None, "de-DE", "Europe/Zurich", KNOWN - {"DE"}) == "CH"


def test_real_zone_table_gives_berlin_to_germany() -> None:
    assert resolve_country(None, "sv", "Europe/Berlin", KNOWN | {"SE"}) == "DE"


def test_iso_table_is_available() -> None:
    codes = iso_country_codes()
    assert {"US", "GB", "AT", "JP"} <= codes
    assert "ZZ" not in codes and "UK" not in codes


def test_lines_text_puts_emergency_first_and_has_no_markup() -> None:
    text = lines_text(entry(emergency=["999", "112"]))
    rows = text.splitlines()
    assert "999 or 112" in rows[0]
    assert "Lifeline" in rows[1] and "call 988" in rows[1] and "24/7" in rows[1]
    assert "text HOME to 741741" in rows[2]
    assert "https://example.org/chat" in rows[3] and "evenings only" in rows[3]
    assert not set(text) & set("*_[]`<>")
    assert len(rows) == 4


def test_lines_text_without_emergency_number_says_local() -> None:
    assert "local emergency number" in lines_text(entry(emergency=[])).splitlines()[0]


def test_contact_links_formats_and_order() -> None:
    links = contact_links(entry(emergency=["911"]))
    urls = [url for _, url in links]
    assert urls == [
        "tel:911",
        "tel:988",
        "sms:988",
        "sms:741741?&body=HOME",
        "https://example.org/chat",
    ]
    assert "911" in links[0][0]


def test_contact_links_strip_spaces_and_dashes() -> None:
    lines = [Line(name="Samaritans", call="116 123", hours="24/7")]
    links = contact_links(entry(emergency=["000"], lines=lines))
    assert [url for _, url in links] == ["tel:000", "tel:116123"]
    lines = [Line(name="Lifeline", text=TextContact(number="0477 13-11-14"), hours="24/7")]
    assert contact_links(entry(lines=lines))[-1][1] == "sms:0477131114"


def test_keyword_is_url_encoded() -> None:
    lines = [Line(name="X", text=TextContact(number="85258", keyword="HELLO THERE"), hours="24/7")]
    assert contact_links(entry(lines=lines))[-1][1] == "sms:85258?&body=HELLO%20THERE"


def test_fallback_text_is_short_and_names_the_key_lines() -> None:
    assert len(FALLBACK_CRISIS_TEXT) < 700
    for needle in ("988", "116 123", "911", "999", "112", "000", "findahelpline.com"):
        assert needle in FALLBACK_CRISIS_TEXT
    assert "not an emergency service" in FALLBACK_CRISIS_TEXT
    assert not set(FALLBACK_CRISIS_TEXT) & set("*_[]`<>")


def test_fallback_links_dial_988_and_samaritans() -> None:
    urls = [url for _, url in FALLBACK_LINKS]
    assert "tel:988" in urls and "tel:116123" in urls
