"""``/start`` and ``/settings``: what the bot is, consent, country and timezone.

``/start <code>`` comes from a clinic's link (content/enrolment.yaml): the code is kept and
its country and language apply at once; its check-in times only once the person has
agreed and set their timezone, because check-ins are health questions."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from zoneinfo import ZoneInfo

from ketacompanion.content.enrolment import Enrolment, Enrolments
from ketacompanion.core import timezones
from ketacompanion.core.model import Choice, Reply
from ketacompanion.core.places import country_names, find_country
from ketacompanion.core.turn import Turn, button

# Offered as buttons first; any other country can be typed.
COMMON_COUNTRIES = ("US", "GB", "CA", "AU", "IE", "DE", "NL", "IN")

log = logging.getLogger(__name__)


def home(turn: Turn) -> list[Reply]:
    return [Reply(turn.t("start.done"), choices=menu(turn))]


def menu(turn: Turn) -> tuple[Choice, ...]:
    return (
        button(turn.t("common.menu_learn"), "go", "learn"),
        button(turn.t("common.menu_checkin"), "go", "checkin"),
        button(turn.t("common.menu_help"), "go", "help"),
        button(turn.t("common.menu_crisis"), "go", "crisis"),
    )


class Onboarding:
    """Consent first, then country and timezone. Also serves ``/settings`` edits."""

    name = "start"
    needs_open_state = False  # the consent buttons stay valid on an old message

    def __init__(self, enrolments: Callable[[], Enrolments] | None = None) -> None:
        # A callable, so a content reload brings new codes without rebuilding the flow.
        self._enrolments = enrolments or Enrolments
        self._country_listeners: list[Callable[[Turn, str | None], Awaitable[None]]] = []

    def on_country_change(self, listener: Callable[[Turn, str | None], Awaitable[None]]) -> None:
        """Called with the old country after a change (the safety plan's crisis lines)."""
        self._country_listeners.append(listener)

    async def start(self, turn: Turn) -> list[Reply]:
        inbound = turn.inbound
        code = inbound.text.strip()[:64]
        enrolment = self._enrolments().find(code) if code else None
        if code and enrolment is None:
            # A mistyped or retired link: carry on as if there were none.
            log.info("unknown enrolment code")
        if turn.user is None:
            turn.user = await turn.tx.users.create(
                inbound.address.platform, inbound.user_id, inbound.address.chat_id,
                enrolment.language if enrolment else turn.lang,
            )  # fmt: skip
        set_up = turn.user.consented and turn.user.timezone
        said = await self._enrol(turn, code, enrolment) if enrolment else []
        if set_up:
            turn.state.clear()
            return [*said, Reply(turn.t("start.welcome_back"), choices=menu(turn))]
        if turn.user.consented:
            return [*said, *await self._next_question(turn)]
        return [*said, *await self.consent_prompt(turn, intro=True)]

    async def _enrol(self, turn: Turn, code: str, enrolment: Enrolment) -> list[Reply]:
        """Keep the code; before set-up is finished, take its country and language too.
        Someone already set up keeps their own choices."""
        user = turn.require_user()
        code = code.lower()
        if user.consented and user.timezone:
            if user.enrolment is None:
                user.enrolment = code
                await turn.tx.users.update(user.id, enrolment=code)
            return []
        user.enrolment, user.country, user.language = code, enrolment.country, enrolment.language
        await turn.tx.users.update(
            user.id, enrolment=code, country=enrolment.country, language=enrolment.language
        )
        turn.lang = enrolment.language
        country = country_names().get(enrolment.country, enrolment.country)
        if enrolment.clinic:
            return [Reply(turn.t("enrolment.welcome", clinic=enrolment.clinic, country=country))]
        return [Reply(turn.t("enrolment.welcome_unnamed", country=country))]

    async def _next_question(self, turn: Turn) -> list[Reply]:
        """After consent: the timezone when a clinic's link already gave the country."""
        user = turn.require_user()
        if user.country and user.country in country_names():
            zones = timezones.country_choices(user.country, turn.now)
            if len(zones) == 1:
                return await self._set_timezone(turn, zones[0][0])
            return self._ask_timezone(turn, user.country)
        return self._ask_country(turn)

    async def setup_prompt(self, turn: Turn) -> list[Reply]:
        """Before a health command: consent first, then the timezone."""
        if turn.user is None or not turn.user.consented:
            return await self.consent_prompt(turn)
        return [Reply(turn.t("start.finish_setup")), *await self._next_question(turn)]

    def needs_timezone(self, turn: Turn) -> bool:
        user = turn.user
        return user is not None and user.consented and not user.timezone and not turn.deleted

    async def ask_again(self, turn: Turn) -> list[Reply]:
        """After another command answered at the timezone question: the question again."""
        return [Reply(turn.t("start.timezone_still_needed")), *await self._next_question(turn)]

    async def consent_prompt(self, turn: Turn, intro: bool = False) -> list[Reply]:
        # Someone unknown has not seen what the bot is and is not: the whole intro, so
        # that their "I agree" can count at once.
        intro = intro or turn.user is None
        text = turn.t("start.intro") if intro else turn.t("start.consent_needed")
        return [
            Reply(
                text,
                choices=(
                    button(turn.t("start.agree"), "start", "agree"),
                    button(turn.t("start.decline"), "start", "decline"),
                    button(turn.t("start.privacy"), "go", "privacy"),
                ),
            )
        ]

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        if action == "agree":
            return await self._agree(turn)
        if action == "decline":
            turn.state.clear()
            return [Reply(turn.t("start.declined"))]
        if turn.user is None or not turn.user.consented or turn.state.flow != self.name:
            return [Reply(turn.t("common.closed")), *await self.reprompt(turn)]
        if action == "country" and args:
            if args[0] == "other":
                turn.state.open(self.name, "country_typed", mode=turn.state.data.get("mode", "onboard"))
                return [Reply(turn.t("start.ask_country"))]
            return await self._set_country(turn, args[0])
        if action == "tz" and args:
            zone = args[0].replace("|", "/")
            if timezones.valid_zone(zone):
                return await self._set_timezone(turn, zone)
        return [Reply(turn.t("common.closed")), *await self.reprompt(turn)]

    async def on_text(self, turn: Turn) -> list[Reply]:
        text = turn.inbound.text.strip()[:100]
        if turn.state.step in ("country", "country_typed"):
            code = find_country(text) or timezones.find_country_any_language(text)
            if code is None:
                return [Reply(turn.t("start.country_unknown", text=text[:40]))]
            return await self._set_country(turn, code)
        if turn.state.step == "timezone":
            return await self._typed_timezone(turn, text)
        return await self.reprompt(turn)

    async def _typed_timezone(self, turn: Turn, text: str) -> list[Reply]:
        user = turn.require_user()
        found = timezones.find(text, user.country, turn.now)
        if found.kind is timezones.Kind.FOUND and found.zone:
            return await self._set_timezone(turn, found.zone)
        buttons = tuple(_zone_button(z, label) for z, label in found.options)
        if found.kind is timezones.Kind.CHOOSE:
            return [Reply(turn.t("start.timezone_choose"), choices=buttons)]
        if found.kind is timezones.Kind.OFFSET:
            if not buttons:
                return [Reply(turn.t("start.timezone_offset_unknown", offset=found.offset))]
            return [Reply(turn.t("start.timezone_offset", offset=found.offset), choices=buttons)]
        said = turn.t("start.timezone_unknown", text=text[:40])
        if found.suggestions:
            return [Reply(f"{said}\n{turn.t('start.timezone_suggest')}", choices=tuple(_zone_button(z) for z in found.suggestions))]
        return [Reply(said), *self._ask_timezone(turn, user.country)]

    async def reprompt(self, turn: Turn) -> list[Reply]:
        if turn.user is None or not turn.user.consented:
            return await self.consent_prompt(turn)
        if turn.state.flow != self.name and turn.user.country and turn.user.timezone:
            # Set up already (an old button from the country or timezone list): the menu,
            # not the country question, which would move their crisis lines and clocks.
            return home(turn)
        if turn.state.step == "timezone":
            return self._ask_timezone(turn, turn.user.country)
        return self._ask_country(turn)

    async def _agree(self, turn: Turn) -> list[Reply]:
        if turn.user is None:
            # "I agree" under the intro shown to someone unknown (a health command before
            # /start, or after /delete): the record is made and the OK counts.
            inbound = turn.inbound
            turn.user = await turn.tx.users.create(
                inbound.address.platform, inbound.user_id, inbound.address.chat_id, turn.lang
            )
        user = turn.user
        if not user.consented:
            user.consent_at = turn.now
            await turn.tx.users.update(user.id, consent_at=turn.now)
        if user.country and user.timezone:
            turn.state.clear()
            return home(turn)
        return [Reply(turn.t("start.agreed")), *await self._next_question(turn)]

    def _ask_country(self, turn: Turn, mode: str = "onboard") -> list[Reply]:
        turn.state.open(self.name, "country", mode=turn.state.data.get("mode", mode))
        names = country_names()
        choices = [button(names[c], "start", "country", c) for c in COMMON_COUNTRIES]
        choices.append(button(turn.t("start.other_country"), "start", "country", "other"))
        return [Reply(turn.t("start.ask_country"), choices=tuple(choices))]

    async def _set_country(self, turn: Turn, code: str) -> list[Reply]:
        names = country_names()
        if code not in names:
            return [Reply(turn.t("start.country_unknown", text=code[:8])), *self._ask_country(turn)]
        user = turn.require_user()
        old, user.country = user.country, code
        await turn.tx.users.update(user.id, country=code)
        for listener in self._country_listeners:
            await listener(turn, old)
        said = Reply(turn.t("start.country_set", name=names[code]))
        # A new country means new clocks (in /settings too): its zones are offered at once.
        zones = timezones.country_choices(code, turn.now)
        if len(zones) == 1:
            return [said, *await self._set_timezone(turn, zones[0][0])]
        return [said, *self._ask_timezone(turn, code)]

    def _ask_timezone(self, turn: Turn, country: str | None) -> list[Reply]:
        turn.state.open(self.name, "timezone", mode=turn.state.data.get("mode", "onboard"))
        zones = timezones.country_choices(country, turn.now)
        return [Reply(turn.t("start.ask_timezone"), choices=tuple(_zone_button(z, label) for z, label in zones))]

    async def _set_timezone(self, turn: Turn, zone: str) -> list[Reply]:
        user = turn.require_user()
        user.timezone = zone
        await turn.tx.users.update(user.id, timezone=zone)
        # Daily and weekly times are local: move the pending slots with the timezone.
        await turn.tx.schedules.replan(user.id, turn.now)
        local = turn.now.astimezone(ZoneInfo(zone))
        said = Reply(turn.t("start.timezone_set", zone=zone, local=local.strftime("%H:%M")))
        settings_mode = turn.state.data.get("mode") == "settings"
        turn.state.clear()
        if settings_mode:
            return [said]
        return [said, *await self._clinic_schedule(turn), *home(turn)]

    async def _clinic_schedule(self, turn: Turn) -> list[Reply]:
        """The clinic's check-in times, once: after consent and the timezone, and only
        when the person has not chosen times of their own."""
        user = turn.require_user()
        enrolment = self._enrolments().find(user.enrolment) if user.enrolment else None
        if enrolment is None or not enrolment.has_schedule or not user.consented or not user.timezone:
            return []
        current = await turn.tx.schedules.get(user.id)
        if current.daily_time or current.weekly_time:
            return []
        wanted = replace(
            current, daily_time=enrolment.daily_time,
            weekly_day=enrolment.weekday, weekly_time=enrolment.weekly_time,
        )  # fmt: skip
        await turn.tx.schedules.save(user.id, wanted, turn.now)
        parts = []
        if enrolment.daily_time:
            parts.append(turn.t("enrolment.daily", time=enrolment.daily_time))
        if enrolment.weekly_time and enrolment.weekday is not None:
            day = turn.t("checkins.schedule.day_names").split(",")[enrolment.weekday].strip()
            parts.append(turn.t("enrolment.weekly", day=day, time=enrolment.weekly_time))
        return [Reply(turn.t("enrolment.schedule_set", when=turn.t("enrolment.joiner").join(parts)))]

    # /settings
    async def settings(self, turn: Turn) -> list[Reply]:
        user = turn.require_user()
        unset = turn.t("settings.unset")
        country = country_names().get(user.country or "", unset)
        text = turn.t("settings.show", country=country, timezone=user.timezone or unset, language=turn.lang)
        notes = turn.t("settings.notes_on" if user.keep_notes else "settings.notes_off")
        return [
            Reply(
                f"{text}\n{notes}",
                choices=(
                    button(turn.t("settings.change_country"), "set", "country"),
                    button(turn.t("settings.change_timezone"), "set", "timezone"),
                    button(turn.t("settings.change_language"), "set", "language"),
                    button(turn.t("settings.toggle_notes"), "set", "notes"),
                    button(turn.t("settings.toggle_announcements"), "ann", "toggle"),
                ),
            )
        ]


def _zone_button(zone: str, label: str | None = None) -> Choice:
    shown = label or zone.rsplit("/", 1)[-1].replace("_", " ")
    return button(shown, "start", "tz", zone.replace("/", "|"))


class SettingsFlow:
    """Buttons under ``/settings``; country and timezone reuse the onboarding steps."""

    name = "set"
    needs_open_state = False

    def __init__(self, onboarding: Onboarding, languages: list[str]) -> None:
        self._onboarding, self._languages = onboarding, languages

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        user = turn.user
        if user is None or not user.consented:
            return await self._onboarding.consent_prompt(turn)
        if action == "country":
            turn.state.open("start", "country", mode="settings")
            return self._onboarding._ask_country(turn, mode="settings")
        if action == "timezone":
            turn.state.open("start", "timezone", mode="settings")
            return self._onboarding._ask_timezone(turn, user.country)
        if action == "language" and not args:
            choices = tuple(button(lang, "set", "language", lang) for lang in self._languages)
            return [Reply(turn.t("settings.ask_language"), choices=choices)]
        if action == "notes":
            # Whether a crisis record may keep the person's own words: off unless they say so.
            user.keep_notes = not user.keep_notes
            await turn.tx.users.update(user.id, keep_notes=user.keep_notes)
            return [Reply(turn.t("settings.notes_on" if user.keep_notes else "settings.notes_off"))]
        if action == "language" and args and args[0] in self._languages:
            user.language = args[0]
            await turn.tx.users.update(user.id, language=args[0])
            return [Reply(turn.t("settings.language_set", language=args[0]))]
        return [Reply(turn.t("common.closed")), *await self._onboarding.settings(turn)]

    async def on_text(self, turn: Turn) -> list[Reply]:
        return await self._onboarding.settings(turn)

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return await self._onboarding.settings(turn)
