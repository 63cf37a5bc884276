"""Formatting for the screens: statuses, ages, durations, freshness marks.

Everything returns ``rich.text.Text`` (never markup strings) so data such as
a brand called "[red]" is shown as typed, and outside text (names, ad copy,
error messages, log lines) goes through ``concepts.text.visible`` so a
control character in it is shown, never sent to the terminal.
"""

from __future__ import annotations

import re

from rich.text import Text

from pipedeck.concepts import durations
from pipedeck.concepts.datasets import FRESHNESS_MARKS, Policy, assess
from pipedeck.concepts.statuses import status_mark
from pipedeck.concepts.text import visible


def status_text(status: str) -> Text:
    mark, style = status_mark(status)
    return Text(f"{mark} {status}", style=style)


def run_duration(run: dict, now: float) -> str:
    return durations.took(run.get("started_at"), run.get("finished_at"), now)


def freshness_text(state: str, label: str | None = None) -> Text:
    mark, style = FRESHNESS_MARKS.get(state, ("?", ""))
    return Text(f"{mark} {label if label is not None else state}", style=style)


def freshness_cell(row: dict | None, now: float, *, ago: bool = False) -> Text:
    """A dataset's age (``3m``, or ``3m ago``), marked and coloured by its state as of ``now``;
    ✘ when the last attempt failed after the last success."""
    if row is None:
        return Text("")
    row = freshness_at(row, now)
    if row["last_success_at"] is None:
        label = "never"
    else:
        label = age_short(now - row["last_success_at"]) + (" ago" if ago else "")
    text = freshness_text(row["state"], label)
    if row.get("last_failure_at") and (row["last_success_at"] is None
                                       or row["last_failure_at"] > row["last_success_at"]):
        text.append(" ✘", style="red")
    return text


def plain(value, style: str = "") -> Text:
    """One cell of outside text, control characters made visible."""
    return Text(visible(value), style=style, no_wrap=True, overflow="ellipsis")


def one_line(value, limit: int = 120, style: str = "") -> Text:
    text = visible(" ".join(str(value or "").split()))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def freshness_at(row: dict, now: float) -> dict:
    """A freshness row (from ``Service.freshness``) with its state and reason as of ``now``.

    The rows carry their policy, so screens re-assess what they hold as time passes instead of
    reading again: a dataset turns ◐ warning on screen the moment it crosses its policy.
    """
    state, reason = assess(row, Policy(row["warn_after"], row["stale_after"]), now, row.get("source", "policy"))
    return {**row, "state": state, "reason": reason}


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
