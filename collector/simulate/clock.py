"""The simulated clock: every request is answered at the moment of its own simulated visit."""

from __future__ import annotations

import contextvars

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

_NOW: contextvars.ContextVar[float | None] = contextvars.ContextVar("simulated_now", default=None)


class SimulatedClock:
    """The collector's clock during a simulation.

    Visits run in worker tasks, each of which sets the time of its next request
    (`at`, a context variable), so concurrent visits each see their own moment;
    anything else (the salt janitor) sees `now`, moved forward day by day.
    """

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        local = _NOW.get()
        return self.now if local is None else local

    @staticmethod
    def at(seconds: float) -> None:
        _NOW.set(seconds)
