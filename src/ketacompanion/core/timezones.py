"""Finding a person's timezone from what they type: a city, a US state, a country in its
own language, an abbreviation, a zone name, or an offset such as "UTC+5:30".

Only canonical zone names come out (``America/Los_Angeles``, never ``US/Pacific``). When
the answer is not clear, the choices come back as (zone, label) pairs for buttons."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

from ketacompanion.core import placenames as names
from ketacompanion.core.places import country_names, zones_by_country

MAX_CHOICES = 8
_OFFSET = re.compile(r"^(?:utc|gmt|z)?\s*([+\-\u2212])\s*(\d{1,2})(?:\s*[:.h]?\s*(\d{2}))?$")


class Kind(StrEnum):
    FOUND = "found"  # one zone: set it
    CHOOSE = "choose"  # several places match: ask which
    OFFSET = "offset"  # an offset: places on it now, and the fixed offset
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Match:
    kind: Kind
    zone: str | None = None
    options: tuple[tuple[str, str], ...] = ()  # (zone, label)
    offset: str = ""  # "UTC+05:30", as understood
    suggestions: tuple[str, ...] = field(default=())


def _weighted(zones: tuple[str, ...] | list[str]) -> list[tuple[str, str, int]]:
    pops = names.population_by_zone()
    return [(z, names.zone_label(z), pops.get(z, 0)) for z in zones]


def _distinct(cands: list[tuple[str, str, int]], now: datetime) -> list[tuple[str, str]]:
    """One choice per clock: places whose clocks agree now and through the next year's
    changes are one answer (the most populous stands for them)."""
    best: dict[tuple[float, ...], tuple[str, str, int]] = {}
    for zone, label, weight in cands:
        key = names.behaviour(zone, now)
        if key not in best or weight > best[key][2]:
            best[key] = (zone, label, weight)
    ranked = sorted(best.values(), key=lambda c: -c[2])
    return [(z, label) for z, label, _ in ranked[:MAX_CHOICES]]


def country_choices(country: str | None, now: datetime) -> list[tuple[str, str]]:
    """The timezones people live in within a country, one per clock, west to east.
    The US gives Pacific, Mountain, Arizona, Central, Eastern, Alaska and Hawaii."""
    zones = zones_by_country().get(country or "", [])
    if not zones:
        return []
    pops = names.population_by_zone()
    cands = [(z, names.zone_label(z), pops.get(z, 0)) for z in zones]
    lived = [c for c in cands if c[2] > 0] or cands  # drop clocks no town in the table keeps
    best: dict[tuple[float, ...], tuple[str, str, int]] = {}
    for zone, label, weight in lived:
        key = names.behaviour(zone, now)
        if key not in best or weight > best[key][2]:
            best[key] = (zone, label, weight)
    by_offset = sorted(best.values(), key=lambda c: (_offset_now(c[0], now), -c[2]))
    return [(z, label) for z, label, _ in by_offset[:12]]


def _offset_now(zone: str, now: datetime) -> float:
    return now.astimezone(ZoneInfo(zone)).utcoffset().total_seconds()  # type: ignore[union-attr]


def find(text: str, country: str | None, now: datetime) -> Match:
    key = names.fold(text)[:80]
    if not key:
        return Match(Kind.UNKNOWN)
    offset = _parse_offset(text.strip().lower())
    if offset is not None:
        return _by_offset(offset, country, now)
    if key in ("utc", "gmt", "z", "zulu"):
        return Match(Kind.FOUND, zone="UTC")
    if key in names.abbreviations() and (text.strip().isupper() or key not in names.city_index()):
        # "EST" means New York's clock, not the old zone named EST (Panama, no summer time).
        cands = [(z, label, w, _zone_country().get(z, "")) for z, label, w in _weighted(names.abbreviations()[key])]
        return _settle(cands, country, now)
    exact = _zone_names().get(key)
    if exact:
        return Match(Kind.FOUND, zone=exact)
    cands = _candidates(key, text)
    if not cands and "," in text:
        head, _, tail = text.partition(",")
        cands = _narrow(_candidates(names.fold(head), head), names.fold(tail))
    if not cands:
        return Match(Kind.UNKNOWN, suggestions=_suggest(key))
    return _settle(cands, country, now, places=True)


def _settle(
    cands: list[tuple[str, str, int, str]], country: str | None, now: datetime, places: bool = False
) -> Match:
    """One zone, or choices. The person's own country comes first; for a place name, a
    much bigger place elsewhere is offered too (a US person typing Paris may mean France)."""
    choices: list[tuple[str, str]] = []
    mine = [c for c in cands if country and c[3] == country]
    if mine:
        choices = _distinct([(z, label, w) for z, label, w, _ in mine], now)
        if places:
            top = max(c[2] for c in mine)
            own_clocks = {names.behaviour(z, now) for z, _ in choices}
            bigger = [(z, label, w) for z, label, w, cc in cands if cc != country and w > 10 * top]
            choices += [c for c in _distinct(bigger, now) if names.behaviour(c[0], now) not in own_clocks]
    else:
        choices = _distinct([(z, label, w) for z, label, w, _ in cands], now)
    choices = choices[:MAX_CHOICES]
    if len(choices) == 1:
        return Match(Kind.FOUND, zone=choices[0][0])
    return Match(Kind.CHOOSE, options=tuple(choices))


def _candidates(key: str, raw: str) -> list[tuple[str, str, int, str]]:
    """(zone, label, weight, country) for every reading of ``key``."""
    found: list[tuple[str, str, int, str]] = []
    zone_of = _zone_country()
    code = names.native_country_names().get(key) if len(key) > 2 else None
    if code:
        # A country ("Brasil", "México"): its clocks, and a US state of that name (Georgia).
        now = datetime.now(ZoneInfo("UTC"))
        found += [(z, label, names.population_by_zone().get(z, 0), code) for z, label in country_choices(code, now)]
        found += [(z, label, w, "US") for z, label, w in _weighted(names.state_zones().get(key, ()))]
        return found
    for place in names.city_index().get(key, ()):
        found.append((place.zone, place.label, place.population, place.country))
    for zone in _tz_cities().get(key, ()):
        found.append((zone, names.zone_label(zone), names.population_by_zone().get(zone, 0), zone_of.get(zone, "")))
    for table in (names.state_zones(), names.abbreviations(), names.zone_names()):
        for zone, label, weight in _weighted(table.get(key, ())):
            found.append((zone, label, weight, zone_of.get(zone, "")))
    return found


def _narrow(cands: list[tuple[str, str, int, str]], qualifier: str) -> list[tuple[str, str, int, str]]:
    """"Paris, Texas" or "Paris, France": keep the places the second part names."""
    if not qualifier:
        return cands
    code = names.native_country_names().get(qualifier)
    if code is None and len(qualifier) == 2 and qualifier.upper() in country_names():
        code = qualifier.upper()
    return [c for c in cands if c[3] == code or qualifier in names.fold(c[1])]


@cache
def _zone_names() -> dict[str, str]:
    """Full zone names as typed ("europe berlin", "us pacific") to canonical zones."""
    out = {names.fold(z): z for z in names.canonical_zones()}
    for alias, target in names.links().items():
        out.setdefault(names.fold(alias), target)
    return out


@cache
def _tz_cities() -> dict[str, tuple[str, ...]]:
    """The city part of each canonical zone ("vincennes", "new york")."""
    out: dict[str, list[str]] = {}
    for zone in names.canonical_zones() - {"UTC"}:
        out.setdefault(names.fold(zone.rsplit("/", 1)[-1]), []).append(zone)
    return {k: tuple(v) for k, v in out.items()}


@cache
def _zone_country() -> dict[str, str]:
    return {z: code for code, zones in zones_by_country().items() for z in zones}


def _suggest(key: str) -> tuple[str, ...]:
    pool = {k: v[0] for k, v in _tz_cities().items()}
    close = difflib.get_close_matches(key, list(pool), n=3, cutoff=0.75)
    return tuple(dict.fromkeys(pool[c] for c in close))


def _parse_offset(text: str) -> timedelta | None:
    m = _OFFSET.match(text.replace("utc", "utc ").strip()) if text else None
    if m is None:
        return None
    hours, minutes = int(m[2]), int(m[3] or 0)
    if minutes >= 60 or hours > 14:
        return None
    value = timedelta(hours=hours, minutes=minutes)
    return -value if m[1] in "-\u2212" else value


def _by_offset(offset: timedelta, country: str | None, now: datetime) -> Match:
    """Places on this offset now, and, for whole hours, the fixed offset itself."""
    same = [z for z in names.canonical_zones() - {"UTC"} if now.astimezone(ZoneInfo(z)).utcoffset() == offset]
    if country:
        same = [z for z in same if _zone_country().get(z) == country] or same
    options = _distinct(_weighted(same), now)[: MAX_CHOICES - 1]
    seconds = int(offset.total_seconds())
    if seconds == 0:
        options.append(("UTC", "UTC all year"))
    elif seconds % 3600 == 0:
        fixed = f"Etc/GMT{-seconds // 3600:+d}"  # POSIX: Etc/GMT-5 is five hours ahead
        options.append((fixed, names.zone_label(fixed)))
    sign = "+" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    return Match(Kind.OFFSET, options=tuple(options), offset=f"UTC{sign}{hours:02d}:{rest // 60:02d}")


def valid_zone(zone: str) -> bool:
    """What may be stored: canonical zones and fixed offsets."""
    return zone in names.canonical_zones() or names.is_fixed_offset(zone)


def find_country_any_language(text: str) -> str | None:
    """A country typed in its own language ("Brasil", "Deutschland", "México")."""
    return names.native_country_names().get(names.fold(text)[:80])
