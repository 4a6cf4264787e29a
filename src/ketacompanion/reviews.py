"""Clinician review: which lessons changed since a reviewer signed them off, and the sign-off.

A sign-off stamps ``reviewed_by`` (the reviewer's name and role as registered) and
``reviewed_on`` into the lesson's front matter and publishes that as a new version;
the audit log keeps the lesson's SHA-256 at sign-off. A lesson whose bytes differ from
its last signed-off bytes (or that was never signed off) is unreviewed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from ketacompanion.content.bundle import file_hash
from ketacompanion.publishing import Publisher, PublishRefused
from ketacompanion.storage.admin_repo import AdminRepo, Grant
from ketacompanion.storage.content_repo import ContentRepo, VersionInfo

_LESSON = re.compile(r"^lessons/([^/]+)/([^/]+)\.md$")


@dataclass(frozen=True, slots=True)
class Unreviewed:
    path: str
    lesson: str  # lang/id
    reviewed_by: str  # what the file says now
    never: bool  # never signed off here


def lesson_path(files: dict[str, bytes], lesson: str) -> str | None:
    """``blood-pressure`` or ``en/blood-pressure`` to its path in the set."""
    wanted = lesson if "/" in lesson else f"en/{lesson}"
    path = f"lessons/{wanted}.md"
    return path if path in files else None


def stamp(data: bytes, by: str, on: date) -> bytes:
    """The lesson with ``reviewed_by`` and ``reviewed_on`` set, in the front matter only."""
    text = data.decode("utf-8")
    if not text.startswith("---"):
        raise ValueError("the lesson has no front matter")
    end = text.index("\n---", 3)
    front, rest = text[:end], text[end:]
    front = re.sub(r"(?m)^reviewed_by:.*$", "reviewed_by: " + json.dumps(by, ensure_ascii=False), front, count=1)
    front = re.sub(r"(?m)^reviewed_on:.*$", f"reviewed_on: {on.isoformat()}", front, count=1)
    return (front + rest).encode("utf-8")


def _field(data: bytes, name: str) -> str:
    found = re.search(rf"(?m)^{name}:\s*(.*)$", data.decode("utf-8", "replace"))
    return found.group(1).strip().strip('"') if found else ""


class Reviews:
    def __init__(self, repo: ContentRepo, admin: AdminRepo, publisher: Publisher) -> None:
        self._repo, self._admin, self._publisher = repo, admin, publisher

    async def _signed(self) -> dict[str, str]:
        signed: dict[str, str] = {}
        for entry in reversed(await self._admin.audit_log(limit=100_000, action="review")):
            if entry.ok and "path" in entry.detail:
                signed[entry.detail["path"]] = entry.detail["sha256"]
        return signed

    async def unreviewed(self) -> list[Unreviewed]:
        live = await self._repo.live()
        if live is None:
            return []
        files, signed = await self._repo.files(live.number), await self._signed()
        out = []
        for path in sorted(files):
            found = _LESSON.match(path)
            if found is None or signed.get(path) == file_hash(files[path]):
                continue
            out.append(Unreviewed(path, f"{found[1]}/{found[2]}", _field(files[path], "reviewed_by"), path not in signed))
        return out

    async def sources(self, lesson: str) -> tuple[str, list[str]] | None:
        live = await self._repo.live()
        files = await self._repo.files(live.number) if live else {}
        path = lesson_path(files, lesson)
        if path is None:
            return None
        text = files[path].decode("utf-8", "replace")
        return path, re.findall(r'(?m)^\s+url:\s*"?([^"\s]+)"?', text.split("\n---", 1)[0])

    async def approve(self, reviewer: Grant, lesson: str, today: date) -> VersionInfo:
        who = reviewer.who
        live = await self._repo.live()
        files = dict(await self._repo.files(live.number)) if live else {}
        path = lesson_path(files, lesson)
        if path is None:
            await self._admin.audit(who, "review_refused", False, {"lesson": lesson[:64], "reason": "no such lesson"})
            raise PublishRefused(f"review refused: there is no lesson {lesson!r} in the live version")
        label = reviewer.name + (f", {reviewer.title}" if reviewer.title else "")
        stamped = stamp(files[path], label, today)
        if stamped == files[path] and live is not None:
            info = live  # stamped already (the same reviewer, the same day): record the sign-off only
        else:
            files[path] = stamped
            info = await self._publisher.publish(files, who, f"{path} reviewed by {label}", kind="reviewed")
        await self._admin.audit(who, "review", True, {"path": path, "sha256": file_hash(stamped), "version": info.number})
        return info


async def find_reviewer(admin: AdminRepo, who: str) -> Grant | None:
    """A registered reviewer by ``platform:user_id`` or by the name they registered."""
    for grant in await admin.grants():
        if grant.role == "reviewer" and who in (grant.who, grant.name):
            return grant
    return None
