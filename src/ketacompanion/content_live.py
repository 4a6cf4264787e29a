"""Keeping this process on the live content version.

At start the newest live version in the database wins over the ``content/`` folder
(a fresh database is seeded from the folder as version 1). A service then polls the
one-row ``content_live`` table, and on PostgreSQL also wakes at a publish's NOTIFY;
when it names another version, the version's files are read, checked against their
hash, loaded and validated off the event loop, and swapped into the holder in one step. A version that fails to load is recorded as
failed for this process, which keeps serving the set it has."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from ketacompanion.content.bundle import BundleError, content_hash, read_directory, write_files
from ketacompanion.content.catalog import Content, ContentHolder
from ketacompanion.content.problems import ContentError
from ketacompanion.core.ports import Clock
from ketacompanion.storage.content_repo import ContentRepo, PublishConflict

log = logging.getLogger(__name__)

Loader = Callable[[Path], Content]
HEARTBEAT = timedelta(seconds=30)


def process_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(2)}"


class LiveContent:
    def __init__(self, repo: ContentRepo, holder: ContentHolder, load: Loader, clock: Clock,
                 process: str | None = None) -> None:  # fmt: skip
        self._repo, self._holder, self._load, self._clock = repo, holder, load, clock
        self.process = process or process_name()
        self.loaded: int | None = None  # the version this process serves
        self.failed: int | None = None  # the last version that would not load here
        self._workdir = Path(tempfile.mkdtemp(prefix="ketacompanion-content-"))
        self._beat = clock.now()

    async def start(self) -> None:
        """Serve the live version, seeding version 1 from the shipped folder if none."""
        shipped = self._holder.current
        try:
            files: dict[str, bytes] | None = read_directory(shipped.root)
        except BundleError as exc:
            log.warning("content folder cannot be stored as a version: %s", exc)
            files = None
        live = await self._repo.live()
        if live is None:
            if files is None:
                return
            try:
                live = await self._repo.publish(
                    files, by="system", note=f"seeded from {shipped.root.name}/", kind="seed",
                    validation={"errors": 0, "seeded": True}, changes={}, base=None,
                )  # fmt: skip
            except PublishConflict:  # another process seeded first
                live = await self._repo.live()
            if live is None:
                return
        if files is not None and content_hash(files) != live.hash:
            # Edits to the folder reach the bot by publishing, never by a restart.
            log.warning("content/ differs from live version %s, which is served; publish the folder to use it",
                        live.number)
        if files is not None and content_hash(files) == live.hash:
            self.loaded = live.number
            self._holder.mark(live.number)
            await self._repo.record_load(self.process, live.number, "loaded")
        else:
            await self.switch(live.number)

    async def poll(self) -> bool:
        """Switch if the live version changed; True when a new set went in."""
        number = await self._repo.live_number()
        if number is None or number in (self.loaded, self.failed):
            await self._heartbeat()
            return False
        return await self.switch(number)

    async def switch(self, number: int) -> bool:
        target = self._workdir / f"v{number}"
        try:
            files = await self._repo.files(number)
            shutil.rmtree(target, ignore_errors=True)
            write_files(files, target)
            content = await asyncio.to_thread(self._load, target)
        except ContentError as exc:
            first = str(exc.problems[0]) if exc.problems else "invalid"
            return await self._failed(number, f"does not validate here: {first} ({len(exc.problems)} errors)")
        except Exception as exc:  # a version that will not load must never stop serving
            log.exception("content version failed to load", extra={"version": number})
            return await self._failed(number, f"{type(exc).__name__}: {exc}")
        self._holder.swap(content, number)
        previous, self.loaded, self.failed = self.loaded, number, None
        log.info("content version live here", extra={"version": number, "previous": previous})
        await self._repo.record_load(self.process, number, "loaded")
        self._tidy(keep={f"v{number}", f"v{previous}"})
        return True

    async def _failed(self, number: int, detail: str) -> bool:
        self.failed = number
        log.warning("kept content version %s; version %s failed: %s", self.loaded, number, detail)
        await self._repo.record_load(self.process, number, "failed", detail)
        return False

    async def _heartbeat(self) -> None:
        now = self._clock.now()
        if self.loaded is not None and now - self._beat >= HEARTBEAT:
            self._beat = now
            await self._repo.heartbeat(self.process, self.loaded)

    def _tidy(self, keep: set[str]) -> None:
        for child in self._workdir.iterdir():
            if child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)

    async def serve(self, stop: asyncio.Event, interval_s: float) -> None:
        """Poll until ``stop``, and at once when PostgreSQL notifies a new live version;
        a failed poll (database away) is retried next time. If the listening connection
        dies, the poll still finds every version, only later."""
        nudged = asyncio.Event()
        async with self._repo.listen(nudged.set):
            while not stop.is_set():
                nudged.clear()
                try:
                    await self.poll()
                except Exception:
                    log.warning("content poll failed; retrying", exc_info=True)
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(nudged.wait())]
                await asyncio.wait(waits, timeout=interval_s, return_when=asyncio.FIRST_COMPLETED)
                for waiting in waits:
                    waiting.cancel()

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)
