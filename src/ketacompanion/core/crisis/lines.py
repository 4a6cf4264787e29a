"""Which country's crisis lines to show, and how to show them as plain text and links.

Pure functions: no chat library, no database. The country tables come from the tz
database (``zone.tab``, ``zone1970.tab``, ``iso3166.tab``) as shipped by the ``tzdata``
package, or by the operating system when that package is missing.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import quote

from ketacompanion.core.crisis.tztables import rows as _rows
from ketacompanion.core.crisis.tztables import tz_table as _tz_table

if TYPE_CHECKING:
    from ketacompanion.content.helplines import CountryLines, Line

# Languages whose speakers overwhelmingly live in one country. Languages shared by
# several countries (en, es, pt, fr, de, nl, ar, zh, ru, ...) are left out on purpose:
# guessing Germany for a German speaker in Vienna would show the wrong lines.
_SINGLE_COUNTRY_LANGUAGES: dict[str, str] = {
    "ja": "JP",
    "ko": "KR",
    "it": "IT",
    "da": "DK",
    "sv": "SE",
    "fi": "FI",
    "nb": "NO",
    "nn": "NO",
    "no": "NO",
    "is": "IS",
    "pl": "PL",
    "cs": "CZ",
    "sk": "SK",
    "hu": "HU",
    "sl": "SI",
    "hr": "HR",
    "lt": "LT",
    "lv": "LV",
    "et": "EE",
    "uk": "UA",
    "he": "IL",
    "th": "TH",
    "vi": "VN",
    "id": "ID",
    "hi": "IN",
    "fil": "PH",
    "tl": "PH",
}

_REGION = re.compile(r"^[A-Za-z]{2}$")
_DIAL_CHARS = re.compile(r"[^0-9+*#]")


@cache
def _zone_countries() -> dict[str, tuple[str, ...]]:
    """Timezone name -> countries, principal country first.

    ``zone.tab`` names one country per zone, which is what we want (Europe/Berlin is
    Germany). ``zone1970.tab`` fills in zones missing from it, with all the countries
    that share the zone since 1970.
    """
    zones: dict[str, tuple[str, ...]] = {}
    for row in _rows(_tz_table("zone1970.tab")):
        if len(row) >= 3:
            zones[row[2]] = tuple(code.upper() for code in row[0].split(","))
    for row in _rows(_tz_table("zone.tab")):
        if len(row) >= 3:
            zones[row[2]] = (row[0].upper(),)
    return zones


def _language_parts(tag: str) -> tuple[str, str | None]:
    """("en", "GB") from "en-GB" or "en_GB"; the region is None when absent or numeric."""
    parts = [p for p in re.split(r"[-_]", tag.strip()) if p]
    if not parts:
        return "", None
    region = next((p.upper() for p in parts[1:] if _REGION.match(p)), None)
    return parts[0].lower(), region


def resolve_country(
    explicit: str | None,
    language: str | None,
    timezone: str | None,
    known: Collection[str],
) -> str | None:
    """Best guess of the person's country among ``known`` codes, or None.

    Order: the person's own setting, then the timezone, then a region in the language
    tag ("en-GB"), then a language spoken in only one country. The timezone comes
    before the language because a German speaker in Europe/Vienna needs Austria's
    lines. None means unknown: show the worldwide entry and ask.
    """
    codes = {code.upper() for code in known}
    if explicit and explicit.strip().upper() in codes:
        return explicit.strip().upper()

    lang, region = _language_parts(language) if language else ("", None)
    in_zone = _zone_countries().get(timezone.strip(), ()) if timezone else ()
    candidates = [code for code in in_zone if code in codes]
    if len(candidates) > 1:
        # A zone shared by several countries: let the language pick among them.
        by_language = region or _SINGLE_COUNTRY_LANGUAGES.get(lang)
        if by_language in candidates:
            return by_language
    if candidates:
        return candidates[0]

    if region and region in codes:
        return region
    by_language = _SINGLE_COUNTRY_LANGUAGES.get(lang)
    if by_language and by_language in codes:
        return by_language
    return None


def _or(numbers: list[str]) -> str:
    return numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " or " + numbers[-1]


def _ways(line: Line) -> str:
    ways: list[str] = []
    if line.call:
        ways.append(f"call {line.call}")
    if line.text:
        if line.text.keyword:
            ways.append(f"text {line.text.keyword} to {line.text.number}")
        else:
            ways.append(f"text {line.text.number}")
    if line.chat:
        ways.append(f"online at {line.chat}")
    return _or(ways) if ways else ""


def lines_text(entry: CountryLines) -> str:
    """A few short plain-text lines: the emergency number first, then each line.

    No markup at all, so that no chat platform can fail to parse it.
    """
    if entry.emergency:
        out = [f"In danger right now? Call {_or(entry.emergency)} (emergency)."]
    else:
        out = ["In danger right now? Call your local emergency number."]
    for line in entry.lines:
        ways = _ways(line)
        if ways:
            out.append(f"{line.name}: {ways} ({line.hours}).")
    return "\n".join(out)


def _tel(number: str) -> str:
    return "tel:" + _DIAL_CHARS.sub("", number)


def _sms(number: str, keyword: str | None) -> str:
    url = "sms:" + _DIAL_CHARS.sub("", number)
    # "?&body=" is the form that both iOS and Android fill in.
    return f"{url}?&body={quote(keyword)}" if keyword else url


def contact_links(entry: CountryLines) -> list[tuple[str, str]]:
    """(label, url) pairs for one-tap contact: emergency numbers first, then each line."""
    links = [(f"Call {number} (emergency)", _tel(number)) for number in entry.emergency]
    for line in entry.lines:
        if line.call:
            links.append((f"Call {line.name} ({line.call})", _tel(line.call)))
        if line.text:
            label = f"Text {line.name}"
            if line.text.keyword:
                label = f"Text {line.text.keyword} to {line.text.number}"
            links.append((label, _sms(line.text.number, line.text.keyword)))
        if line.chat:
            links.append((f"{line.name} (online)", line.chat))
    return links
