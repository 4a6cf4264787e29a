"""``/start`` and ``/settings``: what the bot is, consent, country and timezone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ketacompanion.core.model import Choice, Reply
from ketacompanion.core.places import country_names, find_country, find_timezone, zones_by_country
from ketacompanion.core.turn import Turn, button

# Offered as buttons first; any other country can be typed.
COMMON_COUNTRIES = ("US", "GB", "CA", "AU", "IE", "DE", "NL", "IN")
MAX_ZONE_BUTTONS = 6


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

    async def start(self, turn: Turn) -> list[Reply]:
        inbound = turn.inbound
        if turn.user is None:
            turn.user = await turn.tx.users.create(
                inbound.address.platform, inbound.user_id, inbound.address.chat_id, turn.lang
            )
        if turn.user.consented and turn.user.timezone:
            turn.state.clear()
            return [Reply(turn.t("start.welcome_back"), choices=menu(turn))]
        if turn.user.consented:
            return self._ask_country(turn)
        return await self.consent_prompt(turn, intro=True)

    async def consent_prompt(self, turn: Turn, intro: bool = False) -> list[Reply]:
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
            if zone in _all_zones():
                return await self._set_timezone(turn, zone)
        return [Reply(turn.t("common.closed")), *await self.reprompt(turn)]

    async def on_text(self, turn: Turn) -> list[Reply]:
        text = turn.inbound.text.strip()[:100]
        if turn.state.step in ("country", "country_typed"):
            code = find_country(text)
            if code is None:
                return [Reply(turn.t("start.country_unknown", text=text[:40]))]
            return await self._set_country(turn, code)
        if turn.state.step == "timezone":
            zone, suggestions = find_timezone(text)
            if zone:
                return await self._set_timezone(turn, zone)
            if suggestions:
                return [Reply(turn.t("start.timezone_suggest"), choices=tuple(_zone_button(z) for z in suggestions))]
            return [Reply(turn.t("start.timezone_unknown", text=text[:40]))]
        return await self.reprompt(turn)

    async def reprompt(self, turn: Turn) -> list[Reply]:
        if turn.user is None or not turn.user.consented:
            return await self.consent_prompt(turn)
        if turn.state.step == "timezone":
            return self._ask_timezone(turn, turn.user.country)
        return self._ask_country(turn)

    async def _agree(self, turn: Turn) -> list[Reply]:
        user = turn.user
        if user is None:
            return await self.start(turn)
        if not user.consented:
            user.consent_at = turn.now
            await turn.tx.users.update(user.id, consent_at=turn.now)
        if user.country and user.timezone:
            turn.state.clear()
            return home(turn)
        return [Reply(turn.t("start.agreed")), *self._ask_country(turn)]

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
        user.country = code
        await turn.tx.users.update(user.id, country=code)
        said = Reply(turn.t("start.country_set", name=names[code]))
        if turn.state.data.get("mode") == "settings":
            turn.state.clear()
            return [said]
        zones = zones_by_country().get(code, [])
        if len(zones) == 1:
            return [said, *await self._set_timezone(turn, zones[0])]
        return [said, *self._ask_timezone(turn, code)]

    def _ask_timezone(self, turn: Turn, country: str | None) -> list[Reply]:
        turn.state.open(self.name, "timezone", mode=turn.state.data.get("mode", "onboard"))
        zones = zones_by_country().get(country or "", [])[:MAX_ZONE_BUTTONS]
        return [Reply(turn.t("start.ask_timezone"), choices=tuple(_zone_button(z) for z in zones))]

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
        return [said, *home(turn)]

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
                ),
            )
        ]


def _zone_button(zone: str) -> Choice:
    return button(zone.rsplit("/", 1)[-1].replace("_", " "), "start", "tz", zone.replace("/", "|"))


def _all_zones() -> set[str]:
    return {z for zones in zones_by_country().values() for z in zones} | {"UTC"}


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
