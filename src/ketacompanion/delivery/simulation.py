"""A simulated clock for the terminal chat: step through a week of check-ins in a minute."""

from __future__ import annotations

from datetime import timedelta

from pydantic import TypeAdapter

from ketacompanion.core.clock import FakeClock
from ketacompanion.delivery.engine import Delivery

_DURATION = TypeAdapter(timedelta)
MAX_STEPS = 100_000


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration such as ``P1D`` or ``PT20H30M``."""
    value = _DURATION.validate_python(text)
    if value < timedelta(0):
        raise ValueError("the clock only moves forward")
    return value


class Simulation:
    def __init__(self, clock: FakeClock, delivery: Delivery) -> None:
        self.clock, self.delivery = clock, delivery

    async def advance(self, delta: timedelta) -> None:
        """Move the clock to now + delta, running a delivery pass at every moment
        something falls due on the way, in order."""
        target = self.clock.now() + delta
        for _ in range(MAX_STEPS):
            wake = await self.delivery.next_wake()
            if wake is None or wake > target:
                break
            if wake > self.clock.now():
                self.clock.set(wake)
            stats = await self.delivery.tick()
            busy = stats.claimed or stats.reminded or stats.expired or stats.drained.passes
            if not busy:
                # Something is due that cannot move yet (a retry waiting on an adapter):
                # step past it rather than spin.
                self.clock.set(min(target, self.clock.now() + timedelta(minutes=1)))
        self.clock.set(target)
        await self.delivery.tick()
