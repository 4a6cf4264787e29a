"""``/setup`` for a community server, and a member's own screening opt-out.

Only a member who may manage the server changes its setup (the platform also hides the
command from others, but a server can override that, so the rule is checked here too).
Every value is checked here: the platform's own option limits are not enforced on the
bot's side."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from ketacompanion.core.community import CommunitySetup, Outcome
from ketacompanion.core.model import Inbound, Reply
from ketacompanion.core.ports import Clock
from ketacompanion.core.turn import Text, text_in

CHANNEL_MODES = ("screened", "venting", "off")
MAX_ID = 20  # platform ids are 64-bit numbers


def _is_id(value: str | None) -> bool:
    return value is not None and value.isdigit() and 0 < len(value) <= MAX_ID and value.isascii()


class ServerSetup:
    def __init__(
        self,
        store: Any,
        clock: Clock,
        text: Callable[[str], Text],
        countries: Callable[[], Collection[str]],
        screening_available: bool,
        default_language: str = "en",
    ) -> None:
        """``screening_available``: whether the deployment receives message text in servers
        (Discord's privileged message-content intent)."""
        self._store, self._clock, self._text = store, clock, text
        self._countries, self._screening = countries, screening_available
        self._lang = default_language

    def _t(self, inbound: Inbound) -> Text:
        return text_in(self._text, inbound.language, self._lang, "community.setup_saved")

    def _refused(self, inbound: Inbound) -> Outcome | None:
        t = self._t(inbound)
        if inbound.place is None:
            return Outcome(here=[Reply(t("community.setup_in_server"))])
        if not inbound.place.manager:
            return Outcome(here=[Reply(t("community.setup_not_manager"))])
        return None

    async def alerts(self, inbound: Inbound, channel_id: str | None, role_id: str | None, bot_can_post: bool) -> Outcome:
        if (refused := self._refused(inbound)) is not None:
            return refused
        t = self._t(inbound)
        if (channel_id is not None and not _is_id(channel_id)) or (role_id is not None and not _is_id(role_id)):
            return Outcome(here=[Reply(t("community.setup_bad_value"))])
        await self._save(inbound, alert_channel_id=channel_id, moderator_role_id=role_id)
        lines = [t("community.setup_saved")]
        if channel_id is None:
            lines.append(t("community.setup_alerts_off"))
        elif not bot_can_post:
            lines.append(t("community.setup_cannot_post"))
        return Outcome(here=[Reply("\n".join(lines))])

    async def country(self, inbound: Inbound, code: str) -> Outcome:
        if (refused := self._refused(inbound)) is not None:
            return refused
        t, wanted = self._t(inbound), code.strip().upper()[:8]
        if wanted not in self._countries():
            return Outcome(here=[Reply(t("community.setup_bad_country", codes=", ".join(sorted(self._countries()))))])
        await self._save(inbound, country=wanted)
        return Outcome(here=[Reply(t("community.setup_saved"))])

    async def channel(self, inbound: Inbound, channel_id: str, mode: str) -> Outcome:
        if (refused := self._refused(inbound)) is not None:
            return refused
        t = self._t(inbound)
        if not _is_id(channel_id) or mode not in CHANNEL_MODES:
            return Outcome(here=[Reply(t("community.setup_bad_value"))])
        assert inbound.place is not None
        async with self._store.transaction() as tx:
            setup = await tx.communities.save(inbound.address.platform, inbound.place.community, self._clock.now())
            await tx.communities.set_channel(setup.id, channel_id, None if mode == "off" else mode)
        lines = [t("community.setup_saved")]
        if mode == "screened" and not self._screening:
            lines.append(t("community.setup_no_intent"))
        return Outcome(here=[Reply("\n".join(lines))])

    async def show(self, inbound: Inbound) -> Outcome:
        if (refused := self._refused(inbound)) is not None:
            return refused
        t = self._t(inbound)
        assert inbound.place is not None
        async with self._store.transaction() as tx:
            setup: CommunitySetup | None = await tx.communities.get(inbound.address.platform, inbound.place.community)
        if setup is None:
            return Outcome(here=[Reply(t("community.setup_none"))])
        modes = {m: sorted(c for c, v in setup.channels.items() if v == m) for m in ("screened", "venting")}
        text = t(
            "community.setup_show",
            alerts=setup.alert_channel_id or "-", role=setup.moderator_role_id or "-", country=setup.country or "-",
            screened=", ".join(modes["screened"]) or "-", venting=", ".join(modes["venting"]) or "-",
        )  # fmt: skip
        return Outcome(here=[Reply(text)])

    async def _save(self, inbound: Inbound, **fields: Any) -> None:
        assert inbound.place is not None
        async with self._store.transaction() as tx:
            await tx.communities.save(inbound.address.platform, inbound.place.community, self._clock.now(), **fields)

    async def screening(self, inbound: Inbound, on: bool) -> Outcome:
        """A member's own choice: whether the bot reads their messages in this server."""
        t = self._t(inbound)
        if inbound.place is None:
            return Outcome(here=[Reply(t("community.setup_in_server"))])
        async with self._store.transaction() as tx:
            setup = await tx.communities.save(inbound.address.platform, inbound.place.community, self._clock.now())
            found = await tx.users.find(inbound.address.platform, inbound.user_id)
            if found is None:
                if on:
                    return Outcome(here=[Reply(t("community.screening_on"))])
                user = await tx.users.create(inbound.address.platform, inbound.user_id, inbound.user_id, inbound.language)
            else:
                user = found[0]
            await tx.communities.set_optout(user.id, setup.id, not on, self._clock.now())
        return Outcome(here=[Reply(t("community.screening_on" if on else "community.screening_off"))])
