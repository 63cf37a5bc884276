"""A run's cells, as both run tables show them: the columns, their widths, and each cell's text."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from rich.text import Text

from pipedeck.concepts import durations
from pipedeck.concepts.text import visible
from pipedeck.tui import fmt
from pipedeck.tui.widgets.columns import Col

# Each column's title, priority and width (see widgets/columns.py). Cells that live refresh patches
# get fixed widths: a patch never re-lays out the table, and a longer value ("✔ succeeded" after
# "· queued") is not cut to the width of the first one. In a narrow terminal TRIES and CREATED give
# way first, then the competitor, then the brand and type narrow; the summary takes what is left.
COLUMNS = {
    "mark": Col("mark", " ", priority=0, width=1),
    "id": Col("id", "ID", priority=0, width=6, justify="right"),
    "status": Col("status", "STATUS", priority=0, width=13),
    "type": Col("type", "TYPE", priority=1, min=12, max=18),
    "brand": Col("brand", "BRAND", priority=1, min=12, max=32),
    "competitor": Col("competitor", "COMPETITOR", priority=2, min=8, max=24),
    "tries": Col("tries", "TRIES", priority=3, width=5),
    "created": Col("created", "CREATED", priority=3, width=12),
    "age": Col("age", "AGE", priority=0, width=8),
    "took": Col("took", "TOOK", priority=1, width=5),
    "progress": Col("progress", "PROGRESS", priority=2, width=10),
    "summary": Col("summary", "SUMMARY", priority=0, min=16, flex=True, prefer=28),
    "direct": Col("direct", "WHERE", priority=3, width=6),
}
COLUMN_TITLES = {key: col.title for key, col in COLUMNS.items()}
# Progress shows in the summary of a running run ("4/10 images"); the competitor after the brand.
FULL = ("mark", "id", "status", "type", "brand", "tries", "created", "took", "summary")
COMPACT = ("id", "status", "age", "took", "summary")
# What each column sorts by in the run store (concepts.run_query.SORT_KEYS); the mark column does not sort.
SORT_KEY = {"id": "id", "status": "status", "type": "job_type", "brand": "brand", "competitor": "competitor",
            "tries": "attempts", "created": "created", "age": "created", "took": "took", "summary": "summary",
            "direct": "direct"}


def clock_time(ts: float | None, now: float) -> str:
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts)
    if moment.date() == datetime.fromtimestamp(now).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%b %d %H:%M")


def run_cells(run: dict, columns: Iterable[str], marked: bool, now: float) -> list[Text]:
    """The cells of ``run`` for ``columns``, as rich Text (outside text made visible)."""
    columns = tuple(columns)
    out = []
    for key in columns:
        if key == "mark":
            out.append(Text("●" if marked else " ", style="bold yellow"))
        elif key == "id":
            out.append(Text(str(run["id"]), justify="right"))
        elif key == "status":
            text = fmt.status_text(run["status"])
            if run.get("direct"):
                text.append(" ⚡", style="magenta")
            out.append(text)
        elif key == "type":
            out.append(fmt.plain(run["job_type"]))
        elif key == "brand":
            text = fmt.plain(run.get("brand"))
            if run.get("competitor") and "competitor" not in columns:
                text.append(f" › {visible(run['competitor'])}", style="cyan")
            out.append(text)
        elif key == "competitor":
            out.append(fmt.plain(run.get("competitor") or ""))
        elif key == "tries":
            out.append(Text(f"{run['attempts']}/{run['max_attempts']}"))
        elif key == "created":
            out.append(Text(clock_time(run["created_at"], now)))
        elif key == "age":
            out.append(Text(durations.ago(run["created_at"], now)))
        elif key == "took":
            out.append(Text(fmt.run_duration(run, now)))
        elif key == "progress":
            out.append(Text(fmt.progress_label(run), style="cyan"))
        elif key == "summary":
            out.append(fmt.one_line(run.get("log_summary") or run.get("summary") or "", 300))
        elif key == "direct":
            out.append(Text("app ⚡" if run.get("direct") else "worker", style="magenta" if run.get("direct") else ""))
        else:  # pragma: no cover - a typo in a column list
            raise KeyError(key)
    return out
