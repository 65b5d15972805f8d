"""The schedule on a simulated clock (`vigie.clock`): APScheduler keeps waiting in real time, and each trigger
is asked its next fire time in simulated time, the answer converted back to the real moment it comes.

So a crawl `every: 1h` runs once per simulated hour and the digest at 08:00 simulated, with APScheduler's own
loop, executors, job store, coalescing and max-instances rules unchanged.
"""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.base import BaseTrigger

from vigie import clock
from vigie.clock import SimClock


class SimulatedTrigger(BaseTrigger):
    """`trigger`'s fire times, worked out in `clock`'s simulated time, as the real moments they come."""

    def __init__(self, trigger: BaseTrigger, clock: SimClock) -> None:
        self.trigger = trigger
        self.clock = clock

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        previous = self.clock.to_sim(previous_fire_time) if previous_fire_time is not None else None
        fire = self.trigger.get_next_fire_time(previous, self.clock.to_sim(now))
        return self.clock.to_real(fire) if fire is not None else None

    def __str__(self) -> str:
        return f"{self.trigger} on a simulated clock (x{self.clock.speed:g})"

    def __repr__(self) -> str:
        return f"<SimulatedTrigger ({self.trigger!r}, speed={self.clock.speed:g})>"


def scheduled_time(real: datetime | None) -> datetime | None:
    """A stored job's next run time (real) in the time Vigie runs on (simulated, when it is)."""
    sim = clock.simulated()
    return sim.to_sim(real) if sim is not None and real is not None else real
