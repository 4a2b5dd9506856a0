"""The date range of a report: `from` and `to` (YYYY-MM-DD, UTC days, both included)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

DAY_MS = 86_400_000
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EPOCH = dt.date(1970, 1, 1)


class RangeError(ValueError):
    """The range asked for cannot be shown; the message says why, for the page."""


@dataclass(frozen=True)
class DateRange:
    first: dt.date
    last: dt.date  # included

    @property
    def start_ms(self) -> int:
        return (self.first - _EPOCH).days * DAY_MS

    @property
    def end_ms(self) -> int:
        """Exclusive: the start of the day after the last."""
        return ((self.last - _EPOCH).days + 1) * DAY_MS

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def query(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def today(now_ms: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=now_ms // DAY_MS)


def _date(raw: str, name: str) -> dt.date:
    if not _DATE.fullmatch(raw):
        raise RangeError(f"“{name}” must be a date written as YYYY-MM-DD, e.g. 2026-05-01.")
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        raise RangeError(f"“{name}” is not a date that exists: {raw}.") from None
    if value < _EPOCH:
        raise RangeError(f"“{name}” must be 1970-01-01 or later.")
    return value


def parse(query: Mapping[str, str], *, now_ms: int) -> DateRange:
    """The range of a query string; by default the last 30 days, today included."""
    raw_from, raw_to = query.get("from", "").strip(), query.get("to", "").strip()
    last = _date(raw_to, "to") if raw_to else today(now_ms)
    if raw_from:
        first = _date(raw_from, "from")
    else:
        first = last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise RangeError(
            f"The range starts ({first.isoformat()}) after it ends ({last.isoformat()})."
        )
    if (last - first).days + 1 > MAX_DAYS:
        raise RangeError(f"A range can span at most {MAX_DAYS} days; choose a shorter one.")
    return DateRange(first, last)


def presets(now_ms: int) -> list[tuple[str, dict[str, str]]]:
    """Quick choices: the last 7, 30 and 90 days and the last 12 months."""
    end = today(now_ms)
    spans = [("7 days", 7), ("30 days", 30), ("90 days", 90), ("12 months", 365)]
    return [
        (label, DateRange(end - dt.timedelta(days=days - 1), end).query()) for label, days in spans
    ]
