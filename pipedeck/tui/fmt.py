"""Formatting for the screens: statuses, ages, durations, freshness marks.

Everything returns ``rich.text.Text`` (never markup strings) so data such as
a brand called "[red]" is shown as typed.
"""

from __future__ import annotations

import re

from rich.text import Text

from pipedeck.concepts import durations
from pipedeck.concepts.datasets import FRESHNESS_MARKS
from pipedeck.concepts.statuses import status_mark


def status_text(status: str) -> Text:
    mark, style = status_mark(status)
    return Text(f"{mark} {status}", style=style)


def run_duration(run: dict, now: float) -> str:
    return durations.took(run.get("started_at"), run.get("finished_at"), now)


def freshness_text(state: str, label: str | None = None) -> Text:
    mark, style = FRESHNESS_MARKS.get(state, ("?", ""))
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
    return durations.compact(seconds, tenths=False)


_POLICY_NOTE = re.compile(r" \([^()]*policy[^()]*\)")


def short_reason(reason: str) -> str:
    """A freshness reason without the policy note: 'last success 3 d ago; last attempt failed …'."""
    return _POLICY_NOTE.sub("", reason or "")


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
