"""Timezones for everyone: cities, states, abbreviations, native names, offsets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ketacompanion.adapters.console import ConsoleAdapter
from ketacompanion.app import App
from ketacompanion.core import placenames
from ketacompanion.core.timezones import Kind, country_choices, find, valid_zone

from conftest import Chat

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.mark.parametrize(("typed", "country", "zone"), [
    ("San Francisco, California", None, "America/Los_Angeles"),
    ("California", None, "America/Los_Angeles"),
    ("Mumbai", None, "Asia/Kolkata"),
    ("Pacific", None, "America/Los_Angeles"),
    ("US/Pacific", None, "America/Los_Angeles"),
    ("Asia/Calcutta", None, "Asia/Kolkata"),
    ("PST", "US", "America/Los_Angeles"),
    ("PST", "CA", "America/Vancouver"),
    ("EST", "US", "America/New_York"),
    ("CET", "DE", "Europe/Berlin"),
    ("Deutschland", None, "Europe/Berlin"),
    ("München", None, "Europe/Berlin"),
    ("Paris", "FR", "Europe/Paris"),
    ("Vancouver", "CA", "America/Vancouver"),
    ("Springfield, Illinois", None, "America/Chicago"),
    ("Paris, Texas", None, "America/Chicago"),
    ("Texas", None, "America/Chicago"),
])
def test_what_people_type_finds_a_canonical_zone(typed: str, country: str | None, zone: str) -> None:
    found = find(typed, country, NOW)
    assert found.kind is Kind.FOUND and found.zone == zone
    assert found.zone in placenames.canonical_zones()


@pytest.mark.parametrize(("typed", "zones"), [
    ("Paris", {"Europe/Paris", "America/Chicago"}),
    ("IST", {"Asia/Kolkata", "Asia/Jerusalem", "Europe/Dublin"}),
    ("Brasil", {"America/Sao_Paulo", "America/Manaus"}),
    ("México", {"America/Mexico_City", "America/Tijuana"}),
])
def test_several_matches_are_choices(typed: str, zones: set[str]) -> None:
    found = find(typed, None, NOW)
    assert found.kind is Kind.CHOOSE and zones <= {z for z, _ in found.options}
    assert all(valid_zone(z) and not z.startswith("US/") for z, _ in found.options)


def test_the_own_country_comes_first_and_a_much_bigger_place_elsewhere_is_offered() -> None:
    found = find("Paris", "US", NOW)
    assert found.kind is Kind.CHOOSE
    assert [z for z, _ in found.options][:2] == ["America/Chicago", "Europe/Paris"]


def test_an_offset_offers_places_on_it_and_the_fixed_offset() -> None:
    found = find("GMT-3", None, NOW)
    assert found.kind is Kind.OFFSET and found.offset == "UTC-03:00"
    zones = [z for z, _ in found.options]
    assert "America/Sao_Paulo" in zones and zones[-1] == "Etc/GMT+3" and valid_zone("Etc/GMT+3")
    half = find("UTC+5:30", None, NOW)
    assert half.kind is Kind.OFFSET and "Asia/Kolkata" in [z for z, _ in half.options]
    assert find("UTC+25", None, NOW).kind is not Kind.FOUND


def test_every_zone_in_the_tz_database_is_reachable_by_its_city() -> None:
    for zone in placenames.canonical_zones() - {"UTC"}:
        assert find(zone, None, NOW).zone == zone
        city = zone.rsplit("/", 1)[-1].replace("_", " ")
        by_city = find(city, None, NOW)
        offered = [by_city.zone] if by_city.zone else [z for z, _ in by_city.options]
        # The zone itself, or one that keeps the same clock all year (Petersburg, Indiana
        # and Petersburg, Virginia are one answer).
        clock = placenames.behaviour(zone, NOW)
        assert any(placenames.behaviour(z, NOW) == clock for z in offered), zone


def test_country_buttons_cover_every_clock_people_live_on() -> None:
    us = {z for z, _ in country_choices("US", NOW)}
    assert us == {"America/Los_Angeles", "America/Denver", "America/Phoenix", "America/Chicago",
                  "America/New_York", "America/Anchorage", "Pacific/Honolulu"}
    for country, expected in (("CA", {"America/Vancouver", "America/Toronto", "America/Halifax", "America/St_Johns",
                                      "America/Regina", "America/Winnipeg", "America/Edmonton"}),
                              ("AU", {"Australia/Perth", "Australia/Sydney", "Australia/Brisbane", "Australia/Adelaide"}),
                              ("BR", {"America/Sao_Paulo", "America/Manaus"}),
                              ("RU", {"Europe/Moscow", "Asia/Vladivostok", "Europe/Kaliningrad"})):
        assert expected <= {z for z, _ in country_choices(country, NOW)}, country


async def _send(console: ConsoleAdapter, **request: object) -> list[dict[str, object]]:
    out = await console.json_request(json.dumps(request))
    return [o for o in out if o["type"] == "reply"]


def _texts(replies: list[dict[str, object]]) -> str:
    return "\n".join(str(r["text"]) for r in replies)


def _ids(replies: list[dict[str, object]]) -> list[str]:
    return [str(c["id"]) for r in replies for c in r["choices"]]  # type: ignore[attr-defined]


async def test_onboarding_through_the_json_chat_with_bad_timezone_input(app: App, tmp_path: Path) -> None:
    console = ConsoleAdapter(app.companion.handle, "tz", tmp_path)
    await _send(console, text="/start")
    await _send(console, choice="start:agree")
    replies = await _send(console, text="Brasil")  # the country in its own language
    assert "Brazil" in _texts(replies) and "start:tz:America|Sao_Paulo" in _ids(replies)
    replies = await _send(console, text="/help")  # a command at the timezone question
    assert "/crisis" in _texts(replies) and "start:tz:America|Manaus" in _ids(replies)
    replies = await _send(console, text="/checkin")  # no check-in before the timezone
    assert "timezone" in _texts(replies) and not any(i.startswith("checkin:") for i in _ids(replies))
    replies = await _send(console, text="UTC-3")
    assert "move their clocks" in _texts(replies) and "start:tz:Etc|GMT+3" in _ids(replies)
    replies = await _send(console, text="Paris")  # a city in two countries
    assert {"start:tz:Europe|Paris", "start:tz:America|Chicago"} <= set(_ids(replies))
    replies = await _send(console, press="1")
    assert "Timezone: Europe/Paris" in _texts(replies)
    replies = await _send(console, text="/settings")
    assert "Europe/Paris" in _texts(replies)


async def test_changing_country_asks_for_that_countrys_timezone(app: App, tmp_path: Path) -> None:
    console = ConsoleAdapter(app.companion.handle, "mover", tmp_path)
    for request in ({"text": "/start"}, {"choice": "start:agree"}, {"choice": "start:country:GB"}):
        await _send(console, **request)
    await _send(console, choice="set:country")
    replies = await _send(console, choice="start:country:US")
    assert "start:tz:America|Los_Angeles" in _ids(replies)
    replies = await _send(console, text="Arizona")
    assert "America/Phoenix" in _texts(replies)


async def test_a_city_typed_after_a_refused_checkin_sets_the_timezone(app: App, tmp_path: Path) -> None:
    console = ConsoleAdapter(app.companion.handle, "later", tmp_path)
    for request in ({"text": "/start"}, {"choice": "start:agree"}, {"choice": "start:country:US"}):
        await _send(console, **request)
    await _send(console, text="/checkin")
    replies = await _send(console, text="Berlin")
    assert "Timezone: Europe/Berlin" in _texts(replies) and "number from 0 to 10" not in _texts(replies)
    replies = await _send(console, text="/checkin")
    assert any(i.startswith("checkin:") for i in _ids(replies))


async def test_an_old_timezone_button_after_set_up_does_not_reopen_the_country_question(chat: Chat) -> None:
    # Set up already: a stale button from the timezone list must not ask the country
    # again (answering it would move the person's crisis lines and clocks).
    await chat.onboard("US", "America/New_York")
    replies = await chat.tap("start:tz:America|Chicago")
    assert not any(c.id.startswith("start:country:") for r in replies for c in r.choices)
    async with chat.app.store.transaction() as tx:
        found = await tx.users.find("console", chat.user)
    assert found is not None and found[0].timezone == "America/New_York"
    assert found[1].flow is None
