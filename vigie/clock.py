"""What time it is for Vigie: the system clock, or a simulated one that runs faster, for soak runs.

A soak (`bench/soak.py`) runs the real service through weeks of simulated time in minutes. Every process of
the service (the scheduler, the crawls, the dashboard) reads `VIGIE_SIM_CLOCK` from its environment,
`<simulated origin, ISO 8601>@<real origin, Unix seconds>x<speed>`: at real time `real origin` it was `simulated
origin`, and simulated time runs `speed` times faster. Being anchored to the real clock, it reads the same in
every process without any of them talking to another. Unset (the default), `now()` is the system clock.

Only "what time it is" and the schedule's intervals are simulated (`utcnow()`, hence posts' collection dates,
crawl runs, alert windows, the retention cut-off, and `scheduler.simclock` for the jobs). How long work may take
(timeouts, grace periods, politeness delays) stays in real seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

ENV = "VIGIE_SIM_CLOCK"


class ClockError(ValueError):
    """`VIGIE_SIM_CLOCK` cannot be read; the message says what is expected."""


@dataclass(frozen=True)
class SimClock:
    origin: datetime
    """The simulated time at `real_origin`."""
    real_origin: float
    """Unix seconds."""
    speed: float
    """Simulated seconds per real second."""

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ClockError(f"{ENV}: speed must be positive, not {self.speed:g}")
        if self.origin.tzinfo is None:
            raise ClockError(f"{ENV}: the simulated origin needs a time zone ({self.origin.isoformat()})")

    def now(self) -> datetime:
        return self.to_sim(datetime.now(UTC))

    def to_sim(self, real: datetime) -> datetime:
        """The simulated time at a real moment."""
        return (self.origin + timedelta(seconds=(real.timestamp() - self.real_origin) * self.speed)).astimezone(UTC)

    def to_real(self, sim: datetime) -> datetime:
        """The real moment a simulated time comes."""
        return datetime.fromtimestamp(self.real_origin + (sim - self.origin).total_seconds() / self.speed, UTC)

    def real_duration(self, sim: timedelta) -> timedelta:
        return sim / self.speed

    def env_value(self) -> str:
        return f"{self.origin.isoformat()}@{self.real_origin!r}x{self.speed!r}"

    @classmethod
    def parse(cls, value: str) -> SimClock:
        try:
            origin, rest = value.split("@", 1)
            real, speed = rest.split("x", 1)
            return cls(datetime.fromisoformat(origin), float(real), float(speed))
        except ValueError as exc:
            raise ClockError(f"{ENV}={value!r}: expected <simulated origin ISO 8601>@<real origin Unix seconds>x<speed> ({exc})") from None

    @classmethod
    def starting_now(cls, origin: datetime, speed: float) -> SimClock:
        """A clock at `origin` now, running `speed` times faster than real time."""
        return cls(origin, datetime.now(UTC).timestamp(), speed)


@lru_cache(maxsize=4)
def _parsed(value: str) -> SimClock:
    return SimClock.parse(value)


def simulated() -> SimClock | None:
    """The simulated clock this process runs on, or None (the system clock)."""
    value = os.environ.get(ENV)
    return _parsed(value) if value else None


def now() -> datetime:
    clock = simulated()
    return clock.now() if clock is not None else datetime.now(UTC)
