"""A table of recurring schedules: job, when (plain English), next occurrence, state, last run.

Rows are keyed by schedule id; cells are rich Text. The "next" cells age with
the clock (``tick``) without a database read.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from rich.text import Text

from pipedeck.concepts import durations
from pipedeck.concepts.text import visible
from pipedeck.handlers import registry
from pipedeck.tui import fmt
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.table import Table

# NEXT says "⏸ paused" for a paused schedule (it has no next occurrence). In a narrow terminal the
# missed-run policy (also in the hint line) goes first, then the last run; WHEN takes what is left.
COLUMNS = {
    "id": Col("id", "ID", priority=0, width=3, justify="right"),
    "job": Col("job", "JOB", priority=0, min=12, max=30),
    "brand": Col("brand", "BRAND", priority=1, min=8, max=24),
    "when": Col("when", "WHEN", priority=0, min=14, flex=True),
    "next": Col("next", "NEXT", priority=0, min=8, max=16),
    "missed": Col("missed", "IF MISSED", priority=3, max=10),
    "last": Col("last", "LAST RUN", priority=2, max=14),
}
COLUMN_TITLES = {key: col.title for key, col in COLUMNS.items()}
BRAND_COLUMNS = ("id", "job", "when", "next", "last", "missed")
ALL_COLUMNS = ("id", "job", "brand", "when", "next", "last", "missed")


def job_text(row: dict, *, with_competitor: bool = True) -> Text:
    try:
        emoji = registry.get(row["job_type"]).emoji
    except Exception:  # noqa: BLE001 - a job type no longer registered still lists
        emoji = "?"
    text = Text(f"{emoji} {row['job_type']}", no_wrap=True, overflow="ellipsis")
    if with_competitor and row.get("competitor"):
        text.append(f" › {visible(row['competitor'])}", style="cyan")
    return text


def local_time(ts: float | None, tz: str, fmt_: str = "%a %d %b %H:%M") -> str:
    """A moment in the schedule's own zone (its cron is read there)."""
    if ts is None:
        return ""
    try:
        zone = ZoneInfo(tz)
    except Exception:  # noqa: BLE001 - shown as UTC rather than not at all
        zone = ZoneInfo("UTC")
    return datetime.fromtimestamp(ts, zone).strftime(fmt_)


def next_text(row: dict, now: float) -> Text:
    if not row["active"]:
        return fmt.schedule_state_text(False)
    if row["next_run_at"] is None:
        return Text("–", style="dim")
    label = durations.until(row["next_run_at"], now)
    # Passed but not fired: no worker has ticked since (the scheduler runs inside workers).
    return Text(label, style="yellow" if row["next_run_at"] < now else "")


def last_text(row: dict) -> Text:
    if not row.get("last_run_id"):
        return Text("–", style="dim")
    return fmt.status_text(row["last_run_status"] or "?")


def describe(row: dict, now: float) -> Text:
    """One line about a schedule for the hint under a table: cron, zone, next time, params."""
    text = Text()
    text.append(f"#{row['id']} ", style="bold")
    text.append_text(job_text(row))
    text.append(f"  cron ‘{row['cron']}’ {row['tz']}", style="")
    if row["active"] and row["next_run_at"] is not None:
        text.append(f"  next {local_time(row['next_run_at'], row['tz'])} ({durations.until(row['next_run_at'], now)})")
    elif not row["active"]:
        text.append("  paused: P resumes at the next occurrence", style="yellow")
    text.append(f"  if missed: {fmt.MISSED_LABELS.get(row['missed_policy'], row['missed_policy'])}")
    if row.get("last_run_id"):
        text.append(f"  last run #{row['last_run_id']} ")
        text.append_text(fmt.status_text(row["last_run_status"] or "?"))
    params = " ".join(f"{k}={v}" for k, v in sorted((row.get("params") or {}).items()))
    text.append(f"  params: {visible(params) or 'defaults'}", style="dim")
    return text


class SchedulesTable(Table):
    def __init__(self, columns: Iterable[str] = BRAND_COLUMNS, *, clock: Callable[[], float] = time.time,
                 show_competitor: bool = True, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.column_keys = tuple(columns)
        self.clock = clock
        self.show_competitor = show_competitor  # off where the competitor is the screen's subject
        self._rows: dict[int, dict] = {}

    def on_mount(self) -> None:
        self.set_columns([COLUMNS[key] for key in self.column_keys])

    def cells(self, row: dict, now: float) -> list[Text]:
        out = []
        for key in self.column_keys:
            if key == "id":
                out.append(Text(str(row["id"]), justify="right"))
            elif key == "job":
                out.append(job_text(row, with_competitor=self.show_competitor))
            elif key == "brand":
                out.append(fmt.plain(row["brand"]))
            elif key == "when":
                # Long explanations are cut here; the hint line and the history show them whole.
                out.append(Text.assemble(fmt.one_line(row.get("explain") or row["cron"], 60),
                                         (f"  {row['tz']}", "dim"), no_wrap=True, overflow="ellipsis"))
            elif key == "next":
                out.append(next_text(row, now))
            elif key == "missed":
                out.append(Text(fmt.MISSED_LABELS.get(row["missed_policy"], row["missed_policy"])))
            elif key == "last":
                out.append(last_text(row))
            else:  # pragma: no cover - a typo in a column list
                raise KeyError(key)
        return out

    def set_schedules(self, rows: list[dict]) -> None:
        """Replace the rows, keeping the cursor on the same schedule when it is still there."""
        keep = self.current_id()
        self.clear()
        self._rows = {}
        now = self.clock()
        for row in rows:
            self.add_row(*self.cells(row, now), key=str(row["id"]))
            self._rows[row["id"]] = row
        if keep is not None and keep in self._rows:
            self.move_cursor(row=self.get_row_index(str(keep)), animate=False)

    def tick(self, now: float | None = None) -> None:
        """Age the NEXT cells (no database read)."""
        if "next" not in self.column_keys:
            return
        now = self.clock() if now is None else now
        for schedule_id, row in self._rows.items():
            cell = next_text(row, now)
            if cell.plain != self.get_cell(str(schedule_id), "next").plain:
                self.update_cell(str(schedule_id), "next", cell, update_width=True)

    def overdue(self, grace: float = 5.0) -> bool:
        """A shown occurrence has passed: the worker's tick has likely moved it; worth a re-read."""
        now = self.clock()
        return any(r["active"] and r["next_run_at"] is not None and r["next_run_at"] < now - grace
                   for r in self._rows.values())

    def current_id(self) -> int | None:
        return self.current_int_key()

    def current(self) -> dict | None:
        schedule_id = self.current_id()
        return self._rows.get(schedule_id) if schedule_id is not None else None

    @property
    def schedule_ids(self) -> set[int]:
        return set(self._rows)

    @property
    def rows_shown(self) -> list[dict]:
        return list(self._rows.values())
