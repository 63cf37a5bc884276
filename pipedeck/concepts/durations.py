"""Durations: what people type (``26h``, ``7d``) and how spans are shown.

Three ways of showing a span, each for its place:

- :func:`compact` for table cells and one-line messages: ``4.2s``, ``12s``, ``3m``, ``5h``, ``2d``;
- :func:`words` for policy limits in sentences, exact where it can be: ``45 s``, ``12 min``, ``26 h``, ``3 d``;
- :func:`roughly` for "in 3 h" / "2 min ago" about a moment.

:func:`parse` reads what :func:`as_input` writes.
"""

from __future__ import annotations

import re

from pipedeck.errors import UserError

MINUTE = 60.0
HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.I)
_UNIT = {"": 1.0, "s": 1.0, "sec": 1.0, "m": MINUTE, "min": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}


def parse(text: str) -> float:
    """``'26h'`` -> 93600.0; units s, m, h, d, w (seconds when none)."""
    match = _SPAN.match(text or "")
    if not match:
        shown = (text or "")[:40]
        raise UserError(f"not a duration: {shown!r} (use e.g. 90m, 26h, 7d)")
    return float(match.group(1)) * _UNIT[(match.group(2) or "").lower()]


def as_input(seconds: float) -> str:
    """A duration as typed in a form, exactly: 26h, 7d, 90m, 45s (what :func:`parse` reads)."""
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def compact(seconds: float | None, tenths: bool = True) -> str:
    """``tenths`` keeps one decimal under 10 s (4.2s); without it, whole seconds (4s)."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 10 and tenths:
        return f"{seconds:.1f}s"
    if seconds < MINUTE:
        return f"{seconds:.0f}s"
    if seconds < HOUR:
        return f"{seconds // MINUTE:.0f}m"
    if seconds < 2 * DAY:
        return f"{seconds // HOUR:.0f}h"
    return f"{seconds // DAY:.0f}d"


def words(seconds: float) -> str:
    """A span in a sentence: 45 s, 12 min, 26 h, 3 d (hours up to 3 days unless whole days)."""
    seconds = max(0.0, seconds)
    if seconds < MINUTE:
        return f"{seconds:.0f} s"
    if seconds < HOUR:
        return f"{seconds / MINUTE:.0f} min"
    if seconds < 3 * DAY and seconds % DAY:
        return f"{seconds / HOUR:.0f} h"
    return f"{seconds / DAY:.0f} d"


def roughly(seconds: float) -> str:
    """About how long, for a moment in the past or future: 45 s, 12 min, 5 h, 3 d."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * MINUTE:
        return f"{seconds / MINUTE:.0f} min"
    if seconds < 36 * HOUR:
        return f"{seconds / HOUR:.0f} h"
    return f"{seconds / DAY:.0f} d"


def ago(ts: float | None, now: float) -> str:
    """``3m ago``; ``never`` when there is no moment."""
    if ts is None:
        return "never"
    return f"{compact(now - ts)} ago"


def until(ts: float | None, now: float) -> str:
    """When something is due: 'in 3 h', 'in 12 min'; 'due 2 min ago' once the time has passed."""
    if ts is None:
        return ""
    if abs(ts - now) < 1:
        return "now"
    if ts >= now:
        return f"in {roughly(ts - now)}"
    return f"due {roughly(now - ts)} ago"


def took(started_at: float | None, finished_at: float | None, now: float) -> str:
    """How long a run or attempt ran (so far, while it runs): ``7.5s``."""
    if not started_at:
        return ""
    return compact((finished_at or now) - started_at)
