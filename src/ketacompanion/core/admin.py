"""Admin in chat, for any platform: ``/admin`` status, uploads with a preview, rollback, grants.

Only people with a role see any of it: to everyone else ``/admin`` and its buttons
answer exactly as an unknown command and a stale button do. Work that writes to the
database (publishing, the audit log) runs after the turn's transaction has committed
(``turn.later``), so it never waits on the lock the turn holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ketacompanion.core.model import Attachment, Reply
from ketacompanion.core.turn import Turn, button

EDIT_ROLES = frozenset({"owner", "editor"})


@dataclass(frozen=True, slots=True)
class CardPreview:
    title: str
    heading: str
    body: str
    number: int
    total: int


@dataclass(frozen=True, slots=True)
class UploadCheck:
    ok: bool
    problems: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    card: CardPreview | None = None
    token: str = ""
    live: int | None = None


class AdminRefused(Exception):
    """One line for the admin saying why nothing changed."""


class AdminBackend(Protocol):
    async def roles(self, platform: str, user_id: str) -> frozenset[str]: ...

    async def status(self) -> list[str]: ...

    async def check_upload(self, who: str, filename: str, data: bytes) -> UploadCheck: ...

    async def publish_upload(self, who: str, token: str) -> str: ...

    async def rollback_target(self, target: int | None) -> tuple[int, int]:
        """(the version to restore, the live version); AdminRefused if there is none."""
        ...

    async def rollback(self, who: str, target: int, expect_live: int) -> str: ...

    async def grant(self, who: str, target: str, role: str, name: str) -> str: ...

    async def unreviewed(self) -> list[str]:
        """Lessons (``lang/id``) changed since their last clinician sign-off."""
        ...

    async def review_detail(self, lesson: str) -> tuple[list[str], CardPreview | None]:
        """A lesson's sources and first card; AdminRefused if there is no such lesson."""
        ...

    async def approve(self, who: str, lesson: str) -> str: ...

    async def announce_preview(self, who: str, audience: str, text: str) -> tuple[str, int, int]:
        """(token, people it reaches, people unreachable); AdminRefused on a bad audience."""
        ...

    async def announce_send(self, who: str, token: str) -> str: ...

    async def stats(self, who: str) -> tuple[list[str], bytes]:
        """Adherence figures as lines and a weekly chart (PNG); counts only."""
        ...

    async def revoke(self, who: str, target: str, role: str) -> str: ...


def _who(turn: Turn) -> str:
    return f"{turn.inbound.address.platform}:{turn.inbound.user_id}"


class AdminFlow:
    name = "admin"
    needs_open_state = False

    def __init__(self, backend: AdminBackend) -> None:
        self._backend = backend

    async def visible(self, turn: Turn) -> bool:
        return bool(await self._roles(turn))

    async def _roles(self, turn: Turn) -> frozenset[str]:
        return await self._backend.roles(turn.inbound.address.platform, turn.inbound.user_id)

    async def command(self, turn: Turn) -> list[Reply]:
        roles = await self._roles(turn)
        word, _, rest = turn.inbound.text.strip().partition(" ")
        args = rest.split()
        if word == "rollback" and roles & EDIT_ROLES:
            return self._later(turn, lambda: self._ask_rollback(turn, args))
        if word == "announce" and roles & EDIT_ROLES:
            return self._later(turn, lambda: self._announce(turn, rest))
        if word == "stats" and roles & {"owner", "analyst"}:
            return self._later(turn, lambda: self._stats(turn))
        if word == "review" and "reviewer" in roles:
            return self._later(turn, lambda: self._unreviewed(turn))
        if word in ("grant", "revoke") and "owner" in roles:
            return self._later(turn, lambda: self._grant(turn, word, args))
        if word in ("", "status"):
            return self._later(turn, lambda: self._status(turn, roles))
        return [Reply(turn.t("admin.usage"))]

    async def document(self, turn: Turn) -> list[Reply] | None:
        """A file sent in chat: None (handled as before) unless the sender may edit content."""
        attachment = turn.inbound.attachment
        if attachment is None or not (await self._roles(turn)) & EDIT_ROLES:
            return None
        return self._later(turn, lambda: self._check(turn, attachment.filename, attachment.data))

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        roles = await self._roles(turn)
        if action == "cancel":
            return [Reply(turn.t("admin.cancelled"))]
        if action in ("review", "approve") and args and "reviewer" in roles:
            step = self._show_review if action == "review" else self._approve
            return self._later(turn, lambda: step(turn, args[0]))
        if not roles & EDIT_ROLES:
            return [Reply(turn.t("admin.not_allowed"))]
        if action == "publish" and args:
            return self._later(turn, lambda: self._publish(turn, args[0]))
        if action == "announce" and args:
            return self._later(turn, lambda: self._announce_send(turn, args[0]))
        if action == "rollback" and len(args) == 2 and all(a.isdigit() for a in args):
            return self._later(turn, lambda: self._rollback(turn, int(args[0]), int(args[1])))
        return [Reply(turn.t("admin.usage"))]

    async def on_text(self, turn: Turn) -> list[Reply]:
        return [Reply(turn.t("admin.usage"))]

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return [Reply(turn.t("admin.usage"))]

    # --- steps, each run after the turn's commit ------------------------------------------
    def _later(self, turn: Turn, make: object) -> list[Reply]:
        turn.later.append(make)  # type: ignore[arg-type]
        return []

    async def _status(self, turn: Turn, roles: frozenset[str]) -> list[Reply]:
        lines = await self._backend.status()
        return [Reply(turn.t("admin.status", roles=", ".join(sorted(roles)), status="\n".join(lines)))]

    async def _check(self, turn: Turn, filename: str, data: bytes) -> list[Reply]:
        found = await self._backend.check_upload(_who(turn), filename, data)
        if not found.ok:
            shown = found.problems[:15]
            more = len(found.problems) - len(shown)
            text = turn.t("admin.upload_problems", count=len(found.problems), problems="\n".join(shown))
            return [Reply(text + (f"\n(+{more})" if more else ""))]
        replies: list[Reply] = []
        if found.card is not None:
            c = found.card
            position = turn.t("lessons.position", number=c.number, total=c.total)
            card = turn.t("lessons.card", title=c.title, heading=c.heading, body=c.body, position=position)
            replies.append(Reply(turn.t("admin.preview_card") + "\n\n" + card))
        choices = (
            button(turn.t("admin.publish"), self.name, "publish", found.token),
            button(turn.t("common.cancel"), self.name, "cancel"),
        )
        replies.append(Reply(turn.t("admin.preview", changes="\n".join(found.changes)), choices=choices))
        return replies

    async def _publish(self, turn: Turn, token: str) -> list[Reply]:
        try:
            return [Reply(await self._backend.publish_upload(_who(turn), token))]
        except AdminRefused as exc:
            return [Reply(str(exc))]

    async def _ask_rollback(self, turn: Turn, args: list[str]) -> list[Reply]:
        if args and not args[0].isdigit():
            return [Reply(turn.t("admin.usage"))]
        try:
            target, live = await self._backend.rollback_target(int(args[0]) if args else None)
        except AdminRefused as exc:
            return [Reply(str(exc))]
        choices = (
            button(turn.t("admin.rollback_yes", version=target), self.name, "rollback", target, live),
            button(turn.t("common.cancel"), self.name, "cancel"),
        )
        return [Reply(turn.t("admin.rollback_confirm", version=target, live=live), choices=choices)]

    async def _rollback(self, turn: Turn, target: int, live: int) -> list[Reply]:
        try:
            return [Reply(await self._backend.rollback(_who(turn), target, live))]
        except AdminRefused as exc:
            return [Reply(str(exc))]

    async def _announce(self, turn: Turn, rest: str) -> list[Reply]:
        audience, _, text = rest.strip().partition(" ")
        if not text.strip():
            return [Reply(turn.t("admin.announce_usage"))]
        try:
            token, reach, unreachable = await self._backend.announce_preview(_who(turn), audience, text)
        except AdminRefused as exc:
            return [Reply(str(exc))]
        choices = (button(turn.t("admin.announce_yes", people=reach), self.name, "announce", token),
                   button(turn.t("common.cancel"), self.name, "cancel"))
        preview = turn.t("admin.announce_preview", audience=audience, people=reach, unreachable=unreachable)
        return [Reply(f"{preview}\n---\n{text.strip()}", choices=choices)]

    async def _announce_send(self, turn: Turn, token: str) -> list[Reply]:
        try:
            return [Reply(await self._backend.announce_send(_who(turn), token))]
        except AdminRefused as exc:
            return [Reply(str(exc))]

    async def _stats(self, turn: Turn) -> list[Reply]:
        lines, png = await self._backend.stats(_who(turn))
        return [Reply("\n".join(lines), image=Attachment("adherence.png", "image/png", png))]

    async def _unreviewed(self, turn: Turn) -> list[Reply]:
        lessons = await self._backend.unreviewed()
        if not lessons:
            return [Reply(turn.t("admin.all_reviewed"))]
        choices = tuple(button(x, self.name, "review", x) for x in lessons[:20])
        return [Reply(turn.t("admin.unreviewed", count=len(lessons)), choices=choices)]

    async def _show_review(self, turn: Turn, lesson: str) -> list[Reply]:
        try:
            sources, card = await self._backend.review_detail(lesson)
        except AdminRefused as exc:
            return [Reply(str(exc))]
        text = turn.t("admin.review_sources", lesson=lesson, sources="\n".join(sources))
        if card is not None:
            position = turn.t("lessons.position", number=card.number, total=card.total)
            text += "\n\n" + turn.t("lessons.card", title=card.title, heading=card.heading, body=card.body,
                                     position=position)
        choices = (button(turn.t("admin.approve"), self.name, "approve", lesson),
                   button(turn.t("common.cancel"), self.name, "cancel"))
        return [Reply(text, choices=choices)]

    async def _approve(self, turn: Turn, lesson: str) -> list[Reply]:
        try:
            return [Reply(await self._backend.approve(_who(turn), lesson))]
        except AdminRefused as exc:
            return [Reply(str(exc))]

    async def _grant(self, turn: Turn, word: str, args: list[str]) -> list[Reply]:
        if len(args) < 2:
            return [Reply(turn.t("admin.usage"))]
        try:
            if word == "grant":
                return [Reply(await self._backend.grant(_who(turn), args[0], args[1], " ".join(args[2:])))]
            return [Reply(await self._backend.revoke(_who(turn), args[0], args[1]))]
        except AdminRefused as exc:
            return [Reply(str(exc))]
