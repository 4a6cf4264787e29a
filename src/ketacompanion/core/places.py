"""Countries and timezones from the tz database that ships in the ``tzdata`` package."""

from __future__ import annotations

import difflib
import unicodedata
from functools import cache
from importlib import resources


def _tab(name: str) -> list[list[str]]:
    text = resources.files("tzdata.zoneinfo").joinpath(name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


# The tz database's short forms, as people would write them.
_PLAIN_NAMES = {"GB": "United Kingdom", "KR": "South Korea", "KP": "North Korea",
                "CD": "Democratic Republic of the Congo", "CG": "Republic of the Congo"}


@cache
def country_names() -> dict[str, str]:
    return {code: _PLAIN_NAMES.get(code, name) for code, name, *_ in _tab("iso3166.tab")}


@cache
def zones_by_country() -> dict[str, list[str]]:
    zones: dict[str, list[str]] = {}
    for code, _coords, zone, *_ in _tab("zone.tab"):
        zones.setdefault(code, []).append(zone)
    return zones


@cache
def country_of_zone() -> dict[str, str]:
    return {zone: code for code, zones in zones_by_country().items() for zone in zones}


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.replace("_", " ").replace("/", " / ").lower().split())


def find_country(text: str) -> str | None:
    """An ISO code for a typed code or name ("uk", "Germany", "United States")."""
    key = _fold(text)[:80]
    aliases = {"uk": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
               "usa": "US", "united states of america": "US", "america": "US", "holland": "NL"}
    if key in aliases:
        return aliases[key]
    names = country_names()
    if len(key) == 2 and key.upper() in names:
        return key.upper()
    by_name = {_fold(name): code for code, name in names.items()}
    if key in by_name:
        return by_name[key]
    close = difflib.get_close_matches(key, list(by_name), n=1, cutoff=0.85)
    return by_name[close[0]] if close else None
