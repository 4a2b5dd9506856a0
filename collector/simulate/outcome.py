"""What a simulation answers: its `Result`, or a `SimulationError` saying why it stopped."""

from __future__ import annotations

from dataclasses import dataclass, field


class SimulationError(Exception):
    """The simulation could not run, or the collector refused a request."""

    exit_code = 1


class BadArguments(SimulationError):
    """Arguments the simulation cannot run with; nothing has been written."""

    exit_code = 2


@dataclass
class Result:
    """What a simulation sent and what the collector recorded."""

    visitors: int = 0
    modes: dict[str, int] = field(default_factory=dict)
    visits: int = 0
    requests: int = 0
    events: int = 0  # rows of `events`: views, clicks, basket changes, widget renders
    views: int = 0
    clicks: int = 0
    searches: int = 0
    orders: int = 0
    revenue: float = 0.0
    emails: int = 0  # log/email calls
    days: int = 0
    seed: int = 0
    start_ms: int = 0
    end_ms: int = 0
    elapsed: float = 0.0

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> str:
        names = {"auto": "cookieless", "persistent": "persistent", "none": "null"}
        modes = ", ".join(f"{self.modes.get(mode, 0)} {name}" for mode, name in names.items())
        return (
            f"simulated {self.visitors} visitors ({modes}) in {self.visits} visits over "
            f"{self.days} days (seed {self.seed}): {self.requests} requests, {self.events} events "
            f"({self.views} views, {self.clicks} clicks), {self.searches} searches, "
            f"{self.orders} orders ({self.revenue:,.2f} revenue) "
            f"in {self.elapsed:.1f} s ({self.requests_per_second:,.0f} requests/s)"
        )
