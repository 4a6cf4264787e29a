"""APScheduler 3 wakes the process when the next thing is due, and on a safety interval.

Jobs hold no state: each wake-up runs a delivery pass from the database, then sets
the one-shot wake job to the next due moment. Late runs are never skipped
(``misfire_grace_time=None``) and piled-up runs collapse into one (``coalesce``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ketacompanion.delivery.engine import Delivery

log = logging.getLogger(__name__)

WAKE_JOB, SAFETY_JOB = "ketacompanion-wake", "ketacompanion-safety"


class WakeUps:
    def __init__(self, delivery: Delivery, safety_interval_s: int) -> None:
        self._delivery = delivery
        self._interval = safety_interval_s
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._lock = asyncio.Lock()

    def start(self) -> None:
        options = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1, "replace_existing": True}
        self._scheduler.add_job(
            self.run_pass, "interval", seconds=self._interval, id=SAFETY_JOB,
            next_run_time=datetime.now(UTC), **options,
        )
        self._scheduler.start()

    async def run_pass(self) -> None:
        async with self._lock:  # one pass at a time in this process
            try:
                stats = await self._delivery.tick()
                if stats.claimed or stats.drained.sent:
                    log.info("delivery pass", extra={"count": stats.claimed, "status": f"sent {stats.drained.sent}"})
            except Exception:
                log.exception("delivery pass failed; the safety interval will try again")
            await self._arm()

    async def _arm(self) -> None:
        try:
            wake = await self._delivery.next_wake()
        except Exception:
            log.exception("could not read the next due time")
            return
        if wake is None:
            return
        # The delivery clock may be simulated; APScheduler runs on real time.
        delay = max(timedelta(0), wake - self._delivery.clock.now())
        self._scheduler.add_job(
            self.run_pass, "date", run_date=datetime.now(UTC) + delay, id=WAKE_JOB,
            misfire_grace_time=None, coalesce=True, replace_existing=True,
        )

    def poke(self) -> None:
        """Something changed (a schedule, a crisis follow-up): look again soon."""
        self._scheduler.add_job(
            self.run_pass, "date", run_date=datetime.now(UTC), id=WAKE_JOB,
            misfire_grace_time=None, replace_existing=True,
        )

    async def stop(self) -> None:
        """No new passes; let a pass under way finish before the database closes.

        APScheduler's shutdown cancels the jobs still running, so it comes only after the
        pass under way (and any already waiting for the lock) has finished."""
        if not self._scheduler.running:
            return
        self._scheduler.pause()
        async with self._lock:
            self._scheduler.shutdown(wait=False)
