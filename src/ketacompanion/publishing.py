"""Publishing content: validate a whole set, store it as a version, make it live.

Every refusal names the problem, leaves the live version as it was, and writes an
audit row (the refusal's reason and hashes, never file contents)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from ketacompanion.content.bundle import BundleError, Files, content_hash
from ketacompanion.content.versions import Changes, Checked, changes_between, check_set
from ketacompanion.storage.admin_repo import AdminRepo
from ketacompanion.storage.content_repo import (
    ContentRepo,
    PublishConflict,
    VersionCorrupt,
    VersionInfo,
)

log = logging.getLogger(__name__)


class PublishRefused(Exception):
    """One line saying why, and the problems found (``file:line: message``)."""

    def __init__(self, reason: str, problems: list[str] | None = None) -> None:
        self.reason, self.problems = reason, problems or []
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Preview:
    files: Files = field(repr=False)
    hash: str
    checked: Checked
    changes: Changes
    live: VersionInfo | None


class Publisher:
    def __init__(self, repo: ContentRepo, admin: AdminRepo, today: Callable[[], date]) -> None:
        self._repo, self._admin, self._today = repo, admin, today

    async def check(self, files: Files) -> Preview:
        """Validate against the running code and compare with the live version."""
        live = await self._repo.live()
        live_files = await self._repo.files(live.number) if live else None
        # The validator is CPU work (reading grades): off the event loop, so a serving
        # process keeps answering while an editor's upload is checked.
        checked = await asyncio.to_thread(check_set, files, self._today(), live_files)
        return Preview(files, content_hash(files), checked, changes_between(live_files, files), live)

    async def publish(
        self, files: Files, by: str, note: str, kind: str = "publish", restored_from: int | None = None,
        expect_live: int | None = None,
    ) -> VersionInfo:
        """``expect_live``: refuse if the live version moved since a preview was shown."""
        preview = await self.check(files)
        live = preview.live
        if not preview.checked.ok:
            first = preview.checked.errors[0]
            more = len(preview.checked.errors) - 1
            reason = f"publish refused: {first}" + (f" (and {more} more)" if more else "")
            await self._refuse(by, kind, reason, preview.hash, live)
            raise PublishRefused(reason, preview.checked.errors)
        if expect_live is not None and live is not None and live.number != expect_live:
            reason = f"publish refused: version {live.number} went live after this preview; check it again"
            await self._refuse(by, kind, reason, preview.hash, live)
            raise PublishRefused(reason)
        if live is not None and live.hash == preview.hash:
            reason = f"publish refused: identical to the live version {live.number}"
            await self._refuse(by, kind, reason, preview.hash, live)
            raise PublishRefused(reason)
        try:
            return await self._repo.publish(
                files, by=by, note=note, kind=kind, validation=preview.checked.summary(),
                changes=preview.changes.as_dict(), base=live.number if live else None, restored_from=restored_from,
            )  # fmt: skip
        except PublishConflict as exc:
            reason = f"publish refused: {exc}; check the new live version and publish again"
            await self._refuse(by, kind, reason, preview.hash, live)
            raise PublishRefused(reason) from None
        except Exception as exc:  # a crash half-way: the transaction rolled back whole
            kept = f"version {live.number} is still live" if live else "no version is live"
            reason = f"publish failed half-way ({type(exc).__name__}); nothing was stored and {kept}"
            try:
                await self._refuse(by, kind, reason, preview.hash, live)
            except Exception:  # the database itself may be what failed
                log.warning("could not audit a failed publish", exc_info=True)
            raise PublishRefused(reason) from exc

    async def rollback(self, by: str, target: int | None = None) -> VersionInfo:
        live = await self._repo.live()
        if live is None:
            raise PublishRefused("rollback refused: no version is live yet")
        number = target if target is not None else live.number - 1
        try:
            files = await self._repo.files(number)
        except KeyError:
            reason = f"rollback refused: there is no version {number}"
            await self._refuse(by, "rollback", reason, None, live)
            raise PublishRefused(reason) from None
        except VersionCorrupt as exc:
            await self._refuse(by, "rollback", f"rollback refused: {exc}", None, live)
            raise PublishRefused(f"rollback refused: {exc}") from None
        try:
            return await self.publish(
                files, by, f"rollback to version {number}", kind="rollback", restored_from=number
            )
        except PublishRefused as exc:
            raise PublishRefused(exc.reason.replace("publish refused", f"rollback to version {number} refused", 1),
                                 exc.problems) from None

    async def refuse_unreadable(self, by: str, error: BundleError) -> PublishRefused:
        """A set that could not even be read (bad archive, oversized file): audited too."""
        first = error.problems[0] if error.problems else "unreadable"
        more = len(error.problems) - 1
        reason = f"publish refused: {first}" + (f" (and {more} more)" if more else "")
        await self._refuse(by, "publish", reason, None, await self._repo.live())
        return PublishRefused(reason, error.problems)

    async def _refuse(self, by: str, kind: str, reason: str, digest: str | None, live: VersionInfo | None) -> None:
        await self._admin.audit(
            by, f"{kind}_refused", False,
            {"reason": reason[:300], "hash": digest, "live": live.number if live else None},
        )  # fmt: skip
