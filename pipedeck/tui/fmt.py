"""Formatting for the screens: statuses, ages, durations, freshness marks.

Everything returns ``rich.text.Text`` (never markup strings) so data such as
a brand called "[red]" is shown as typed.
"""

from __future__ import annotations

import re

from rich.text import Text

from pipedeck.timefmt import compact

STATUS_STYLE = {
    "queued": ("·", "bright_black"),
    "retrying": ("↻", "yellow"),
    "running": ("▶", "cyan"),
    "cancelling": ("⊘", "magenta"),
    "succeeded": ("✔", "green"),
    "failed": ("✘", "red"),
    "cancelled": ("⊘", "bright_black"),
}
FRESHNESS_STYLE = {
    "fresh": ("●", "green"),
    "warning": ("◐", "yellow"),
    "stale": ("○", "red"),
    "never": ("–", "bright_black"),
}


def status_text(status: str) -> Text:
    mark, style = STATUS_STYLE.get(status, ("?", ""))
    return Text(f"{mark} {status}", style=style)


def span(seconds: float | None) -> str:
    """Compact span: 4.2s, 12s, 3m, 5h, 2d."""
    return compact(seconds)


def ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    return f"{span(now - ts)} ago"


def run_duration(run: dict, now: float) -> str:
    if not run.get("started_at"):
        return ""
    end = run.get("finished_at") or now
    return span(end - run["started_at"])


def freshness_text(state: str, label: str | None = None) -> Text:
    mark, style = FRESHNESS_STYLE.get(state, ("?", ""))
    return Text(f"{mark} {label if label is not None else state}", style=style)


def plain(value) -> Text:
    return Text("" if value is None else str(value), no_wrap=True, overflow="ellipsis")


def one_line(value, limit: int = 120) -> Text:
    text = " ".join(str(value or "").split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text, no_wrap=True, overflow="ellipsis")


def progress_label(run: dict) -> str:
    total = run.get("progress_total")
    current = run.get("progress_current")
    if current is None:
        return ""
    if total:
        return f"{current:.0f}/{total:.0f}"
    return f"{current:.0f}"


def age_short(seconds: float | None) -> str:
    """Tightest span for table cells: 3s, 12m, 5h, 3d."""
    return compact(seconds, tenths=False)


_POLICY_NOTE = re.compile(r" \([^()]*policy[^()]*\)")


def short_reason(reason: str) -> str:
    """A freshness reason without the policy note: 'last success 3 d ago; last attempt failed …'."""
    return _POLICY_NOTE.sub("", reason or "")


def _roughly(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def until(ts: float | None, now: float) -> str:
    """When a schedule fires next: 'in 3 h', 'in 12 min'; 'due 2 min ago' once the time has passed."""
    if ts is None:
        return ""
    if abs(ts - now) < 1:
        return "now"
    if ts >= now:
        return f"in {_roughly(ts - now)}"
    return f"due {_roughly(now - ts)} ago"


def span_input(seconds: float) -> str:
    """A duration as typed in a form, exactly: 26h, 7d, 90m, 45s (what cli_schedules.parse_span reads)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


SCHEDULE_ACTION_STYLE = {
    "queued": ("▶", "cyan"),
    "skipped": ("↷", "yellow"),
    "missed": ("✘", "magenta"),
    "error": ("✘", "red"),
}


def schedule_action_text(action: str) -> Text:
    mark, style = SCHEDULE_ACTION_STYLE.get(action, ("?", ""))
    return Text(f"{mark} {action}", style=style)


def schedule_state_text(active: bool) -> Text:
    return Text("● active", style="green") if active else Text("⏸ paused", style="yellow")


MISSED_LABELS = {"skip": "skip", "run_once": "run once"}
