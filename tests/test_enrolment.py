"""Enrolment codes: a clinic's link presets country and language at once, and check-in
times once the person has agreed and set their timezone; the file is validated with
line numbers."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

import ketacompanion.app as app_module
from ketacompanion.app import App
from ketacompanion.content.catalog import Content, validate_content
from ketacompanion.content.enrolment import WEEKDAYS, load_enrolment, validate_enrolment
from ketacompanion.content.problems import ContentError, Severity
from ketacompanion.core.onboarding import Onboarding
from ketacompanion.core.ports import ScheduleSettings, UserRecord
from test_telegram_support import FakeTime, live_rig

from conftest import CONTENT, Chat
from fakes.telegram_api import FakeBotAPI


@pytest.fixture(autouse=True)
def clinic_links(monkeypatch: pytest.MonkeyPatch, content_set: Content) -> None:
    # Runs before the app is built, so its onboarding knows the shipped codes.
    monkeypatch.setattr(
        app_module, "Onboarding", functools.partial(Onboarding, enrolments=lambda: content_set.enrolment)
    )


async def stored(app: App, platform: str, user: str) -> tuple[UserRecord, ScheduleSettings, int]:
    async with app.store.transaction() as tx:
        found = await tx.users.find(platform, user)
        assert found is not None
        record = found[0]
        schedule = await tx.schedules.get(record.id)
        upcoming = await tx.schedules.upcoming(record.id, app.clock.now(), limit=50)
    return record, schedule, len(upcoming)


def button_ids(chat: Chat) -> list[str]:
    return [c.id for c in chat.choices()]


# --- /start <code> through the core -----------------------------------------------------------


async def test_a_clinic_link_presets_country_and_language_but_asks_nothing_before_consent(
    chat: Chat, content_set: Content
) -> None:
    clinic = content_set.enrolment.find("demo-clinic")
    assert clinic is not None and clinic.clinic
    await chat.say("/start demo-clinic")
    assert clinic.clinic in chat.text()
    assert "start:agree" in button_ids(chat)
    assert not any(i.startswith(("checkin", "sched")) for i in button_ids(chat))
    user, schedule, upcoming = await stored(chat.app, "console", chat.user)
    assert (user.enrolment, user.country, user.language) == ("demo-clinic", clinic.country, clinic.language)
    assert not user.consented
    assert schedule.daily_time is None and schedule.weekly_time is None and upcoming == 0


async def test_after_consent_and_timezone_the_clinic_schedule_applies(
    chat: Chat, content_set: Content
) -> None:
    clinic = content_set.enrolment.find("demo-clinic")
    assert clinic is not None and clinic.weekday is not None
    await chat.say("/start demo-clinic")
    await chat.tap("start:agree")
    # The country came with the link: the next question is the timezone.
    assert not any(i.startswith("start:country:") for i in button_ids(chat))
    _, schedule, _ = await stored(chat.app, "console", chat.user)
    assert schedule.daily_time is None  # consent alone is not enough: no timezone yet
    await chat.tap(chat.choice("start:tz:America|"))
    assert "/schedule" in chat.text()
    user, schedule, upcoming = await stored(chat.app, "console", chat.user)
    assert user.consented and user.timezone and user.timezone.startswith("America/")
    assert schedule.daily_time == clinic.daily_time
    assert (schedule.weekly_day, schedule.weekly_time) == (clinic.weekday, clinic.weekly_time)
    assert WEEKDAYS[schedule.weekly_day] == clinic.weekly_day
    assert upcoming > 0


async def test_declining_consent_after_a_clinic_link_schedules_nothing(chat: Chat) -> None:
    await chat.say("/start demo-clinic")
    await chat.tap("start:decline")
    _, schedule, upcoming = await stored(chat.app, "console", chat.user)
    assert schedule.daily_time is None and upcoming == 0


async def test_an_unknown_code_is_ignored_kindly(app: App) -> None:
    plain, coded = Chat(app, "plain"), Chat(app, "coded")
    await plain.say("/start")
    await coded.say("/start no-such-clinic")
    assert coded.text() == plain.text()  # the usual welcome, nothing about the code
    assert button_ids(coded) == button_ids(plain)
    user, _, _ = await stored(app, "console", "coded")
    assert user.enrolment is None and user.country is None
    await coded.tap("start:agree")
    assert any(i.startswith("start:country:") for i in button_ids(coded))


async def test_someone_already_set_up_keeps_their_own_choices(chat: Chat) -> None:
    await chat.onboard(country="DE", zone="Europe/Berlin")
    await chat.say("/schedule 08:00")
    await chat.say("/start demo-clinic")
    user, schedule, _ = await stored(chat.app, "console", chat.user)
    assert (user.country, user.timezone) == ("DE", "Europe/Berlin")
    assert user.enrolment == "demo-clinic"  # remembered for the clinic's sake
    assert schedule.daily_time == "08:00" and schedule.weekly_time is None


async def test_a_code_is_read_whatever_its_case(chat: Chat) -> None:
    await chat.say("/start Demo-Clinic")
    user, _, _ = await stored(chat.app, "console", chat.user)
    assert user.enrolment == "demo-clinic"


# --- over Telegram: the deep link arrives as /start <code> ------------------------------------


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


async def test_a_telegram_deep_link_enrols(api: FakeBotAPI, app: App, content_set: Content) -> None:
    clinic = content_set.enrolment.find("demo-clinic")
    assert clinic is not None and clinic.clinic
    async with live_rig(api, app, "polling", FakeTime()) as rig:
        welcome = await rig.say(301, "/start demo-clinic")
        assert any(clinic.clinic in c.params.get("text", "") for c in welcome)
        await rig.press(301, "start:agree")
        await rig.press(301, "start:tz:America|")
    user, schedule, upcoming = await stored(app, "telegram", "301")
    assert (user.enrolment, user.country) == ("demo-clinic", clinic.country)
    assert schedule.daily_time == clinic.daily_time and upcoming > 0


# --- the file ------------------------------------------------------------------------------


def test_the_shipped_file_is_clean_and_has_the_demo_code() -> None:
    assert validate_enrolment(CONTENT / "enrolment.yaml", CONTENT / "messages") == []
    assert "demo-clinic" in load_enrolment(CONTENT / "enrolment.yaml")


BAD = """\
codes:
  ok-clinic:
    country: GB
    language: en
  nowhere:
    country: XX
    language: en
  unquoted:
    country: US
    language: en
    daily_time: 20:00
  late:
    country: US
    language: en
    daily_time: "25:00"
  half-week:
    country: US
    language: en
    weekly_day: sunday
  someday:
    country: US
    language: en
    weekly_day: caturday
    weekly_time: "09:00"
  "Not A Code!":
    country: US
    language: en
  group:
    country: US
    language: en
  typo:
    country: US
    language: en
    dayly_time: "08:00"
  german:
    country: DE
    language: de
"""


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_problems_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "enrolment.yaml"
    path.write_text(BAD, encoding="utf-8")
    messages = tmp_path / "messages"
    messages.mkdir()
    (messages / "en.yaml").write_text("common: {}\n", encoding="utf-8")
    problems = validate_enrolment(path, messages)
    found = {(p.line, p.severity) for p in problems}
    for needle in ("country: XX", "daily_time: 20:00", 'daily_time: "25:00"', "weekly_day: caturday",
                   '"Not A Code!":', "group:", "dayly_time"):  # fmt: skip
        assert (line_of(BAD, needle), Severity.ERROR) in found, (needle, [str(p) for p in problems])
    assert any(p.line == line_of(BAD, "half-week:") + 1 for p in problems)  # its mapping
    assert (line_of(BAD, "language: de"), Severity.WARNING) in found  # no German strings yet
    assert not any(p.line in range(2, 5) for p in problems)  # ok-clinic is fine
    unquoted = next(p for p in problems if p.line == line_of(BAD, "daily_time: 20:00"))
    assert "quotes" in unquoted.message
    with pytest.raises(ContentError):
        load_enrolment(path, messages)


def test_duplicate_codes_are_reported(tmp_path: Path) -> None:
    text = "codes:\n  a:\n    country: US\n    language: en\n  a:\n    country: GB\n    language: en\n"
    path = tmp_path / "enrolment.yaml"
    path.write_text(text, encoding="utf-8")
    (problem,) = validate_enrolment(path)
    assert problem.line == 5 and "duplicate" in problem.message


def test_enrolment_is_checked_with_the_rest_of_the_content(tmp_path: Path) -> None:
    path = tmp_path / "enrolment.yaml"
    path.write_text("codes:\n  x:\n    country: ZZZ\n    language: en\n", encoding="utf-8")
    mine = [p for p in validate_content(tmp_path, date(2026, 11, 23)) if p.path == path]
    assert [p.line for p in mine] == [3]
