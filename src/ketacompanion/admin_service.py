"""The chat admin surface's backend: roles, status, uploads, publishing, rollback, grants.

A checked upload waits for its Publish button in the database (the exact bytes and
their hash, the uploader, the live version it was checked against) for 30 minutes, so
the press may land on any process; it publishes exactly what was previewed, once. A
press that is stale, forged or someone else's is refused kindly and audited.
Announcement drafts wait in this process's memory (their text is kept nowhere in the
clear)."""

from __future__ import annotations

import asyncio
import io
import secrets
import tempfile
import zipfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path, PurePosixPath

from ketacompanion.announcements import MAX_TEXT as ANNOUNCE_MAX
from ketacompanion.announcements import Announcements, AudienceError
from ketacompanion.content.bundle import (
    MAX_FILE_BYTES,
    BundleError,
    Files,
    content_hash,
    read_zip,
    write_files,
    zip_files,
)
from ketacompanion.content.lessons import scan_lessons
from ketacompanion.content_live import LiveContent
from ketacompanion.core.admin import AdminRefused, CardPreview, UploadCheck
from ketacompanion.core.ports import Clock
from ketacompanion.figures import (
    adherence_png,
    figure_lines,
    figures,
    read_activity,
    weekly_adherence,
)
from ketacompanion.publishing import Publisher, PublishRefused
from ketacompanion.reviews import Reviews
from ketacompanion.storage.admin_repo import ROLES, AdminRepo, parse_who
from ketacompanion.storage.content_repo import ContentRepo, VersionInfo
from ketacompanion.storage.pending_repo import PendingRepo, Taken

PENDING_FOR = timedelta(minutes=30)
SEEN_WITHIN = timedelta(minutes=5)


STALE = "That preview has expired or was already used. Send the file again to check it anew."
def _when(info: VersionInfo) -> str:
    return info.published_at.strftime("%Y-%m-%d %H:%M UTC")


class AdminService:
    def __init__(
        self, repo: ContentRepo, admin: AdminRepo, publisher: Publisher, clock: Clock,
        live: LiveContent | None = None, extra_roles: Mapping[tuple[str, str], frozenset[str]] | None = None,
    ) -> None:  # fmt: skip
        self._repo, self._admin, self._publisher, self._clock = repo, admin, publisher, clock
        self._live, self._extra = live, dict(extra_roles or {})
        self._pending = PendingRepo(repo.engine, clock)
        self._reviews = Reviews(repo, admin, publisher)
        self.announcements: Announcements | None = None  # set once the outbox exists
        self._drafts: dict[str, tuple[str, str, str]] = {}  # token -> (who, audience, text)

    async def roles(self, platform: str, user_id: str) -> frozenset[str]:
        granted = await self._admin.roles(platform, user_id)
        return frozenset(granted) | self._extra.get((platform, user_id), frozenset())

    async def status(self) -> list[str]:
        live = await self._repo.live()
        if live is None:
            return ["No content version is live yet."]
        lines = [f"Live: version {live.number} ({live.hash[:12]}), published {_when(live)} by {live.published_by}: {live.note}"]
        since = self._clock.now() - SEEN_WITHIN
        loads = await self._repo.loads(since=since)
        latest: dict[str, list[str]] = {}
        for load in loads:
            mark = "loaded" if load.status == "loaded" else f"FAILED ({load.detail})"
            latest.setdefault(load.process, []).append(f"v{load.version} {mark}")
        for process, states in sorted(latest.items()):
            lines.append(f"Process {process}: {'; '.join(states[-2:])}")
        return lines

    async def check_upload(self, who: str, filename: str, data: bytes) -> UploadCheck:
        try:
            files = await self._upload_files(filename, data)
        except BundleError as exc:
            refused = await self._publisher.refuse_unreadable(who, exc)
            return UploadCheck(False, refused.problems)
        preview = await self._publisher.check(files)
        if not preview.checked.ok:
            await self._admin.audit(who, "publish_refused", False,
                                    {"reason": preview.checked.errors[0][:300], "hash": preview.hash,
                                     "live": preview.live.number if preview.live else None})
            return UploadCheck(False, preview.checked.errors)
        # Long enough that a guessed or replayed token finds nothing.
        token = secrets.token_hex(8)
        live = preview.live.number if preview.live else None
        await self._pending.put(token, "upload", who, preview.hash, live, zip_files(files), PENDING_FOR)
        changed = preview.changes.lessons_changed + preview.changes.lessons_added
        return UploadCheck(True, preview.checked.warnings, preview.changes.lines(), _first_card(files, changed), token, live)

    async def _upload_files(self, filename: str, data: bytes) -> Files:
        name = PurePosixPath(filename).name
        if name.lower().endswith(".zip"):
            return read_zip(data)
        if not name.lower().endswith(".md"):
            raise BundleError([f"{name}: send a lesson .md file or a content .zip"])
        if len(data) > MAX_FILE_BYTES:
            raise BundleError([f"{name}:1: {len(data):,} bytes; a content file may hold at most {MAX_FILE_BYTES:,}"])
        live = await self._repo.live()
        files = dict(await self._repo.files(live.number)) if live else {}
        # The lesson replaces the one of the same name, in whichever language holds it.
        path = next((p for p in sorted(files) if p.startswith("lessons/") and p.endswith(f"/{name}")), f"lessons/en/{name}")
        files[path] = data
        return files

    async def publish_upload(self, who: str, token: str) -> str:
        try:
            pending = await self._pending.take(token, "upload", who)
        except Taken as exc:
            await self._admin.audit(who, "publish_refused", False, {"reason": f"preview {exc.why}", "token": token[:16]})
            raise AdminRefused(STALE) from None
        files = _unpack(pending.payload)
        if content_hash(files) != pending.digest:  # never publish anything but what was shown
            await self._admin.audit(who, "publish_refused", False, {"reason": "preview corrupt", "hash": pending.digest})
            raise AdminRefused(STALE)
        try:
            info = await self._publisher.publish(files, who, "published in chat", expect_live=pending.live)
        except PublishRefused as exc:
            raise AdminRefused(exc.reason) from None
        return f"Published version {info.number} ({info.hash[:12]}). Every process switches within seconds."

    async def rollback_target(self, target: int | None) -> tuple[int, int]:
        live = await self._repo.live()
        if live is None:
            raise AdminRefused("rollback refused: no version is live yet")
        number = target if target is not None else live.number - 1
        if number == live.number or await self._repo.version(number) is None:
            raise AdminRefused(f"rollback refused: there is no earlier version {number}")
        return number, live.number

    async def rollback(self, who: str, target: int, expect_live: int) -> str:
        if await self._repo.live_number() != expect_live:
            raise AdminRefused("rollback refused: another version went live since you asked; ask again")
        try:
            info = await self._publisher.rollback(who, target)
        except PublishRefused as exc:
            raise AdminRefused(exc.reason) from None
        return f"Rolled back: version {info.number} restores version {target} exactly."

    async def grant(self, who: str, target: str, role: str, name: str) -> str:
        platform, user_id = self._target(target, role)
        await self._admin.grant(platform, user_id, role, who, name)
        return f"{platform}:{user_id} is now {role}."

    async def revoke(self, who: str, target: str, role: str) -> str:
        platform, user_id = self._target(target, role)
        gone = await self._admin.revoke(platform, user_id, role, who)
        return f"{platform}:{user_id} is no longer {role}." if gone else f"{platform}:{user_id} did not have {role}."

    async def unreviewed(self) -> list[str]:
        return [item.lesson for item in await self._reviews.unreviewed()]

    async def review_detail(self, lesson: str) -> tuple[list[str], CardPreview | None]:
        found = await self._reviews.sources(lesson)
        if found is None:
            raise AdminRefused(f"There is no lesson {lesson} in the live version.")
        live = await self._repo.live()
        files = await self._repo.files(live.number) if live else {}
        return found[1], _first_card(files, [found[0].removeprefix("lessons/").removesuffix(".md")])

    async def approve(self, who: str, lesson: str) -> str:
        platform, user_id = parse_who(who)
        reviewer = (await self._admin.roles(platform, user_id)).get("reviewer")
        if reviewer is None or not reviewer.name:
            raise AdminRefused("Only a registered reviewer with a name can sign off lessons (ketacompanion admin grant ... reviewer --name ...).")
        try:
            info = await self._reviews.approve(reviewer, lesson, self._clock.now().date())
        except PublishRefused as exc:
            raise AdminRefused(exc.reason) from None
        return f"Signed off {lesson} as {reviewer.name}: version {info.number}."

    async def announce_preview(self, who: str, audience: str, text: str) -> tuple[str, int, int]:
        if self.announcements is None:
            raise AdminRefused("Announcements are not available in this process.")
        try:
            reach, unreachable = await self.announcements.audience_size(audience)
        except AudienceError as exc:
            raise AdminRefused(str(exc)) from None
        if len(text.strip()) > ANNOUNCE_MAX:
            raise AdminRefused(f"An announcement is at most {ANNOUNCE_MAX} characters.")
        token = secrets.token_hex(4)
        self._drafts[token] = (who, audience, text.strip())
        return token, reach, unreachable

    async def announce_send(self, who: str, token: str) -> str:
        draft = self._drafts.pop(token, None)
        if draft is None or draft[0] != who or self.announcements is None:
            raise AdminRefused("That preview has expired. Write the announcement again.")
        report = await self.announcements.send(draft[2], draft[1], who)
        return (f"Announcement {report.id} queued for {report.pending} people "
                f"({report.unreachable} unreachable). It goes out within the platforms' limits, "
                f"after each person's quiet hours and pause.")

    async def stats(self, who: str) -> tuple[list[str], bytes]:
        now = self._clock.now()
        activity = await read_activity(self._repo.engine, now - timedelta(weeks=8))
        lines = figure_lines(figures(activity, now))
        png = await asyncio.to_thread(adherence_png, weekly_adherence(activity, now))
        await self._admin.audit(who, "stats_view", True, {"people": len(activity.people), "chart": True})
        return lines, png

    def _target(self, target: str, role: str) -> tuple[str, str]:
        if role not in ROLES:
            raise AdminRefused(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        try:
            return parse_who(target)
        except ValueError as exc:
            raise AdminRefused(str(exc)) from None


def _unpack(payload: bytes) -> Files:
    """A stored preview's files (our own archive; its hash is checked by the caller)."""
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _first_card(files: Files, lessons: list[str]) -> CardPreview | None:
    if not lessons:
        return None
    lang, lesson_id = lessons[0].split("/", 1)
    with tempfile.TemporaryDirectory(prefix="ketacompanion-preview-") as scratch:
        write_files({p: b for p, b in files.items() if p.startswith(f"lessons/{lang}/")}, Path(scratch))
        library, _ = scan_lessons(Path(scratch) / "lessons")
    lesson = library.shelf(lang).lessons.get(lesson_id)
    if lesson is None or not lesson.cards:
        return None
    card = lesson.cards[0]
    return CardPreview(lesson.meta.title, card.heading, card.body, 1, len(lesson.cards))
