"""Trend windows (24 h / 7 d / 30 d and their buckets) and what a trend view ranks from the summaries."""

from __future__ import annotations

from dataclasses import dataclass

HOUR, DAY = 3600.0, 86400.0


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    seconds: float
    bucket: float  # each sparkline point

    @property
    def buckets(self) -> int:
        return int(self.seconds // self.bucket)

    @property
    def days(self) -> float:
        return self.seconds / DAY


WINDOWS = {w.key: w for w in (Window("24h", "last 24 hours", DAY, HOUR), Window("7d", "last 7 days", 7 * DAY, DAY),
                              Window("30d", "last 30 days", 30 * DAY, DAY))}
ORDER = list(WINDOWS)


def next_window(key: str) -> str:
    return ORDER[(ORDER.index(key) + 1) % len(ORDER)]


def slowest(rows: list[dict], n: int = 3) -> list[dict]:
    """The job types (or brands) with the longest p95, longest first."""
    return sorted((r for r in rows if r["p95"] is not None), key=lambda r: (-r["p95"], str(r["key"])))[:n]


def most_failing(rows: list[dict], n: int = 3) -> list[dict]:
    """Those with the highest failure rate among ended runs (any failure at all), highest first."""
    return sorted((r for r in rows if r["failed"]), key=lambda r: (-r["failure_rate"], -r["failed"], str(r["key"])))[:n]


def points(series: dict, window: Window, field: str) -> list[float]:
    """A sparkline's values: one per bucket of the window, oldest first; a bucket with no run is 0."""
    out = []
    for n in range(window.buckets):
        cell = series.get(n)
        if cell is None:
            out.append(0.0)
        elif field == "failure_rate":
            out.append(cell["failed"] / cell["ended"] if cell["ended"] else 0.0)
        else:
            out.append(float(cell[field] or 0))
    return out
