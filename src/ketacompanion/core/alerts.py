"""Moderator alerts that share only what the member agreed to.

After a crisis card in a server with an alert channel (or /crisis there), the member is
asked privately whether to let a moderator know, and what to share:
- ``nothing``: no alert at all;
- ``asked``: that they asked for support, with their name, the channel and the time;
- ``words``: that, plus the words of their own message (only when there was one).
Only the chosen fields are stored in the alert and handed to the adapter to post; the
words wait, encrypted, for the choice and are wiped when the member says no or does not
answer within ``OFFER_TTL``. A moderator (the server's role, or Manage Server) takes an
alert with "I'm on it" and resolves it; one untaken after ``REPING_AFTER`` is pinged once
more. One alert per member per ``cooldown``. Moderators never see check-ins: nothing here
reads them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ketacompanion.core.community import CommunitySetup, Outcome
from ketacompanion.core.model import Choice, Inbound, Reply, Urgency
from ketacompanion.core.ports import Clock
from ketacompanion.core.turn import Text, button, text_in

log = logging.getLogger(__name__)

SHARES = ("nothing", "asked", "words")
REPING_AFTER = timedelta(minutes=5)
OFFER_TTL = timedelta(hours=1)
MAX_WORDS = 1000  # of the member's words in an alert


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    user_id: int
    community: int
    community_id: str
    source: str
    status: str
    share: str | None
    fields: dict[str, Any]
    created_at: datetime
    alert_channel_id: str | None = None
    message_id: str | None = None
    sent_at: datetime | None = None
    repinged_at: datetime | None = None
    taken_by: str | None = None
    resolved_by: str | None = None


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One alert as the alert channel shows it: only the fields the member chose."""

    alert_id: int
    channel_id: str  # the alert channel
    role_id: str | None
    title: str
    status: str
    labels: dict[str, str]  # field name -> its label, in the server's language
    member_id: str | None = None
    channel: str | None = None  # where the member was
    at: datetime | None = None
    words: str | None = None
    taken_by: str | None = None
    resolved_by: str | None = None
    message_id: str | None = None  # set when an existing alert is edited
    reping: bool = False
    choices: tuple[Choice, ...] = ()


class Alerts:
    def __init__(
        self,
        store: Any,
        clock: Clock,
        text: Callable[[str], Text],
        cooldown: timedelta = timedelta(minutes=60),
        default_language: str = "en",
    ) -> None:
        self._store, self._clock, self._text = store, clock, text
        self._cooldown, self._lang = cooldown, default_language

    def _t(self, inbound: Inbound | None = None) -> Text:
        return text_in(self._text, inbound.language if inbound else None, self._lang, "community.alert_title")

    # --- asking the member -------------------------------------------------------------
    async def offer(self, inbound: Inbound, setup: CommunitySetup | None, *, source: str, words: str | None) -> list[Reply]:
        """The private question "let a moderator know?", or nothing when the server has no
        alert channel or this member already had an alert within the cooldown."""
        if setup is None or not setup.alert_channel_id or inbound.place is None:
            return []
        now = self._clock.now()
        try:
            async with self._store.transaction() as tx:
                user = await self._member(tx, inbound)
                last = await tx.communities.last_alert(user.id, setup.id)
                if last is not None and now - last.created_at < self._cooldown and last.status != "declined":
                    return []
                fields = {"member": inbound.user_id, "channel": inbound.place.channel, "at": now.isoformat()}
                if words and words.strip():
                    fields["words"] = words.strip()[:MAX_WORDS]
                alert_id = await tx.communities.offer_alert(user.id, setup.id, source, fields, now)
        except Exception:
            log.exception("could not offer a moderator alert")
            return []
        t = self._t(inbound)
        choices = [
            button(t("community.share_nothing"), "alert", "share", alert_id, "nothing"),
            button(t("community.share_asked"), "alert", "share", alert_id, "asked"),
        ]
        if "words" in fields:
            choices.append(button(t("community.share_words"), "alert", "share", alert_id, "words"))
        return [Reply(t("community.alert_offer"), choices=tuple(choices), urgency=Urgency.CONCERN)]

    async def _member(self, tx: Any, inbound: Inbound) -> Any:
        """The member's row: created without consent when needed, since the alert they asked
        for is data about them that export and delete must reach."""
        found = await tx.users.find(inbound.address.platform, inbound.user_id)
        if found is not None:
            return found[0]
        return await tx.users.create(inbound.address.platform, inbound.user_id, inbound.user_id, inbound.language)

    # --- buttons ---------------------------------------------------------------------------
    async def on_choice(self, inbound: Inbound) -> Outcome:
        parts = inbound.choice.split(":")
        t = self._t(inbound)
        stale = Outcome(here=[Reply(t("community.alert_stale"))])
        if len(parts) < 3 or not parts[2].isdigit() or len(parts[2]) > 18:
            return stale
        action, alert_id = parts[1], int(parts[2])
        if action == "share" and len(parts) == 4 and parts[3] in SHARES:
            return await self._share(inbound, alert_id, parts[3], stale)
        if action in ("take", "resolve") and len(parts) == 3:
            return await self._moderate(inbound, alert_id, action, stale)
        return stale

    async def _share(self, inbound: Inbound, alert_id: int, share: str, stale: Outcome) -> Outcome:
        t, now = self._t(inbound), self._clock.now()
        async with self._store.transaction() as tx:
            found = await tx.users.find(inbound.address.platform, inbound.user_id)
            alert = await tx.communities.alert(alert_id)
            if found is None or alert is None or alert.user_id != found[0].id or alert.status != "offered":
                return stale
            if share == "words" and "words" not in alert.fields:
                return stale
            if share == "nothing":
                await tx.communities.update_alert(alert_id, fields=None, status="declined", share=share, decided_at=now)
                return Outcome(here=[Reply(t("community.alert_declined"))])
            chosen = {k: alert.fields[k] for k in ("member", "channel", "at") if k in alert.fields}
            if share == "words":
                chosen["words"] = alert.fields["words"]
            setup = await tx.communities.get(inbound.address.platform, alert.community_id)
            channel = setup.alert_channel_id if setup else None
            status = "sending" if channel else "failed"
            await tx.communities.update_alert(
                alert_id, fields=chosen, status=status, share=share, decided_at=now, alert_channel_id=channel
            )
        if channel is None:
            return Outcome(here=[Reply(t("community.alert_failed"))])
        updated = replace_fields(alert, chosen, share, channel)
        return Outcome(alert=self.notice(updated, setup.moderator_role_id if setup else None))

    async def delivered(self, alert_id: int, message_id: str) -> list[Reply]:
        async with self._store.transaction() as tx:
            await tx.communities.update_alert(alert_id, status="sent", message_id=message_id, sent_at=self._clock.now())
        return [Reply(self._t()("community.alert_sent"))]

    async def failed(self, alert_id: int) -> list[Reply]:
        """The alert channel is gone or closed to the bot: the member is told, not left waiting."""
        async with self._store.transaction() as tx:
            await tx.communities.update_alert(alert_id, status="failed")
        return [Reply(self._t()("community.alert_failed"))]

    async def _moderate(self, inbound: Inbound, alert_id: int, action: str, stale: Outcome) -> Outcome:
        t, now, place = self._t(inbound), self._clock.now(), inbound.place
        if place is None:
            return Outcome(here=[Reply(t("community.alert_not_moderator"))])
        async with self._store.transaction() as tx:
            setup = await tx.communities.get(inbound.address.platform, place.community)
            role = setup.moderator_role_id if setup else None
            if not (place.manager or (role is not None and role in place.roles)):
                return Outcome(here=[Reply(t("community.alert_not_moderator"))])
            alert = await tx.communities.alert(alert_id)
            if alert is None or alert.community_id != place.community or alert.status not in ("sent", "taken"):
                return stale
            if action == "take":
                if alert.taken_by is not None:
                    return Outcome(here=[Reply(t("community.alert_already_taken"))])
                await tx.communities.update_alert(alert_id, status="taken", taken_by=inbound.user_id, taken_at=now)
                reply = t("community.alert_taken_thanks")
            else:
                await tx.communities.update_alert(alert_id, status="resolved", resolved_by=inbound.user_id, resolved_at=now)
                reply = t("community.alert_resolved_thanks")
            alert = await tx.communities.alert(alert_id)
        return Outcome(here=[Reply(reply)], alert=self.notice(alert, role))

    # --- what the alert channel sees ----------------------------------------------------
    def notice(self, alert: AlertRecord, role_id: str | None, reping: bool = False) -> AlertNotice:
        t, f = self._t(), alert.fields
        labels = {k: t(f"community.alert_{k}") for k in ("member", "channel", "at", "words")}
        at = datetime.fromisoformat(f["at"]) if isinstance(f.get("at"), str) else None
        choices: tuple[Choice, ...] = ()
        if alert.status in ("sending", "sent"):
            choices = (button(t("community.alert_take"), "alert", "take", alert.id),
                       button(t("community.alert_resolve"), "alert", "resolve", alert.id))  # fmt: skip
        elif alert.status == "taken":
            choices = (button(t("community.alert_resolve"), "alert", "resolve", alert.id),)
        status = {"taken": t("community.alert_status_taken"), "resolved": t("community.alert_status_resolved")}.get(
            alert.status, t("community.alert_status_open")
        )
        if reping:
            status = t("community.alert_reping")
        return AlertNotice(
            alert.id, alert.alert_channel_id or "", role_id, t("community.alert_title"), status, labels,
            member_id=f.get("member"), channel=f.get("channel"), at=at, words=f.get("words"),
            taken_by=alert.taken_by, resolved_by=alert.resolved_by, message_id=alert.message_id,
            reping=reping, choices=choices,
        )  # fmt: skip

    async def due(self) -> list[AlertNotice]:
        """Alerts untaken for ``REPING_AFTER``, each pinged once more; old unanswered offers
        lose the words they held."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            await tx.communities.expire_offers(now - OFFER_TTL)
            due = await tx.communities.due_repings(now - REPING_AFTER)
            notices = []
            for alert in due:
                await tx.communities.update_alert(alert.id, repinged_at=now)
                setup = await tx.communities.get_by_id(alert.community)
                notices.append(self.notice(alert, setup.moderator_role_id if setup else None, reping=True))
        return notices


def replace_fields(alert: AlertRecord, fields: dict[str, Any], share: str, channel: str) -> AlertRecord:
    from dataclasses import replace

    return replace(alert, fields=fields, share=share, status="sending", alert_channel_id=channel)
