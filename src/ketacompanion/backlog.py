"""Updates a chat platform was told were received but that a stop left unhandled.

Polling acknowledges an update when the next batch is asked for, and a webhook answers
200 as soon as an update is queued: from then on the platform will not send it again.
What the stop's drain could not finish is kept here, encrypted (it is what someone wrote),
and handed back at the next start before anything new is read, in the order it came, once:
taking deletes the rows in the same transaction. Platform-neutral: payloads are the
platform's own JSON, as text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ketacompanion.storage.store import SqlStore

log = logging.getLogger(__name__)


class Backlog:
    def __init__(self, store: SqlStore, platform: str) -> None:
        self._store, self.platform = store, platform

    async def keep(self, items: Sequence[tuple[str | None, str]]) -> bool:
        """Keep ``(sender's platform user id or None, payload)`` pairs, oldest first."""
        if not items:
            return True
        try:
            async with self._store.transaction() as tx:
                await tx.pending_updates.keep(self.platform, items)
        except Exception as exc:
            log.error("accepted updates could not be kept; they are lost",
                      extra={"count": len(items), "error": type(exc).__name__})  # fmt: skip
            return False
        log.warning("updates left unhandled at shutdown; kept for the next start", extra={"count": len(items)})
        return True

    async def take(self) -> list[str]:
        """What the last stop kept, oldest first; none of it will be handed out again."""
        try:
            async with self._store.transaction() as tx:
                payloads = await tx.pending_updates.take(self.platform)
        except Exception as exc:
            # Left in place: the next start tries again.
            log.error("kept updates could not be read", extra={"error": type(exc).__name__})
            return []
        if payloads:
            log.info("updates kept at the last stop handed back", extra={"count": len(payloads)})
        return payloads
