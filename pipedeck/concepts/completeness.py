"""Completeness of a day-by-day dataset: which of the last N days it covers.

Fresh is not complete: a sync can succeed and still leave days without rows
(days no sync asked for, days Meta's answer left out). A day is *covered*
when the dataset holds rows for it, or when the source answered it with no
rows (no delivery that day). The window is the N full days before today.

    c = assess(covered_days, until=date(2026, 11, 30), window=30)
    c.text()   # "28 of 30 days; missing Nov 3–4"
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

# Missing ranges named in the one-line text; the rest are counted.
RANGES_NAMED = 3


@dataclass(frozen=True)
class Completeness:
    since: dt.date
    until: dt.date
    days_covered: int
    missing: tuple[tuple[dt.date, dt.date], ...]  # (first, last) day of each missing run of days, oldest first

    @property
    def days_expected(self) -> int:
        return (self.until - self.since).days + 1

    @property
    def complete(self) -> bool:
        return not self.missing

    def text(self) -> str:
        """One line: "28 of 30 days; missing Nov 3–4" (ranges beyond the first few are counted)."""
        line = f"{self.days_covered} of {self.days_expected} days"
        if not self.missing:
            return line
        named = [describe_range(a, b, self.until) for a, b in self.missing[:RANGES_NAMED]]
        more = len(self.missing) - RANGES_NAMED
        if more > 0:
            named.append(f"{more} more range{'s' if more > 1 else ''}")
        return f"{line}; missing {', '.join(named)}"

    def as_dict(self) -> dict:
        """JSON-ready: days_covered, days_expected, since, until, missing [{since, until, days}], text."""
        return {"days_covered": self.days_covered, "days_expected": self.days_expected,
                "since": self.since.isoformat(), "until": self.until.isoformat(),
                "missing": [{"since": a.isoformat(), "until": b.isoformat(), "days": (b - a).days + 1}
                            for a, b in self.missing],
                "text": self.text()}


def assess(covered: Iterable[dt.date], *, until: dt.date, window: int) -> Completeness:
    """Completeness of the ``window`` days ending ``until`` (inclusive), given the covered days."""
    if window < 1:
        raise ValueError("a completeness window is at least one day")
    since = until - dt.timedelta(days=window - 1)
    have = {d for d in covered if since <= d <= until}
    missing: list[tuple[dt.date, dt.date]] = []
    day = since
    while day <= until:
        if day not in have:
            if missing and missing[-1][1] == day - dt.timedelta(days=1):
                missing[-1] = (missing[-1][0], day)
            else:
                missing.append((day, day))
        day += dt.timedelta(days=1)
    return Completeness(since, until, len(have), tuple(missing))


def describe_range(first: dt.date, last: dt.date, today: dt.date | None = None) -> str:
    """ "Nov 3", "Nov 3–4", "Oct 30 – Nov 2"; the year is named when it is not ``today``'s."""
    def day(d: dt.date, month: bool = True) -> str:
        text = f"{d:%b} {d.day}" if month else str(d.day)
        return text + (f" {d.year}" if today is not None and d.year != today.year else "")

    if first == last:
        return day(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first:%b} {first.day}–{day(last, month=False)}"
    return f"{day(first)} – {day(last)}"
