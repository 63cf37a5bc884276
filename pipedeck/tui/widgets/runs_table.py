"""A runs table that is patched in place: rows by run id, cells as rich Text, newest first.

It never holds all runs: screens load a page and ask for the next one when
the cursor nears the end (``NeedMore``).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable, Iterable

from rich.text import Text
from textual.message import Message
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from pipedeck.concepts import durations
from pipedeck.concepts.statuses import STATUSES
from pipedeck.concepts.text import visible
from pipedeck.tui import fmt
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.table import Table

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
_STATUS_ORDER = {status: n for n, status in enumerate(STATUSES)}


def clock_time(ts: float | None, now: float) -> str:
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts)
    if moment.date() == datetime.fromtimestamp(now).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%b %d %H:%M")


class RunsTable(Table):
    class NeedMore(Message):
        """The cursor is near the last loaded row and older runs exist."""

        def __init__(self, table: "RunsTable", before_id: int) -> None:
            super().__init__()
            self.table = table
            self.before_id = before_id

        @property
        def control(self) -> "RunsTable":
            return self.table

    def __init__(self, columns: Iterable[str] = FULL, *, clock: Callable[[], float] = time.time,
                 page_size: int = 100, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.column_keys = tuple(columns)
        self.clock = clock
        self.page_size = page_size
        self.marked: set[int] = set()
        self.has_more = False
        self.loading_more = False
        self._shown: dict[int, tuple[str, ...]] = {}
        self._runs: dict[int, dict] = {}

    def on_mount(self) -> None:
        self.set_columns([COLUMNS[key] for key in self.column_keys])

    def sort_value(self, row_key: str, column: str):
        """Runs sort by what their cells stand for: times, durations, status in lifecycle order."""
        run = self._runs.get(int(row_key))
        if run is None:
            return super().sort_value(row_key, column)
        if column in ("id", "mark"):
            return (0, run["id"] if column == "id" else int(run["id"] in self.marked), "")
        if column in ("created", "age"):
            return (0, run["created_at"] or 0, "")
        if column == "took":
            took = ((run.get("finished_at") or self.clock()) - run["started_at"]) if run.get("started_at") else None
            return (0, took, "") if took is not None else (2, 0, "")
        if column == "status":
            return (0, _STATUS_ORDER.get(run["status"], 99), "")
        if column == "tries":
            return (0, run["attempts"], "")
        return super().sort_value(row_key, column)

    # -- cells ---------------------------------------------------------------
    def cells(self, run: dict, now: float) -> list[Text]:
        out = []
        for key in self.column_keys:
            if key == "mark":
                out.append(Text("●" if run["id"] in self.marked else " ", style="bold yellow"))
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
                if run.get("competitor") and "competitor" not in self.column_keys:
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
            else:  # pragma: no cover - a typo in a column list
                raise KeyError(key)
        return out

    # -- loading -------------------------------------------------------------
    def set_runs(self, runs: list[dict], *, has_more: bool | None = None) -> None:
        """Replace the rows, keeping the cursor on the same run when it is still there."""
        keep = self.current_run_id()
        self.clear()
        self._shown.clear()
        self._runs.clear()
        self.append_runs(runs, has_more=has_more)
        if keep is not None and keep in self._runs:
            self.move_cursor(row=self.get_row_index(str(keep)), animate=False)

    def append_runs(self, runs: list[dict], *, has_more: bool | None = None) -> None:
        now = self.clock()
        for run in runs:
            if run["id"] in self._runs:
                self.patch(run, now, flush=False)
                continue
            cells = self.cells(run, now)
            self.add_row(*cells, key=str(run["id"]))
            self._shown[run["id"]] = tuple(c.plain for c in cells)
            self._runs[run["id"]] = run
        self.flush_updates()
        if has_more is not None:
            self.has_more = has_more
        self.loading_more = False

    # -- live patches ----------------------------------------------------------
    def patch(self, run: dict, now: float | None = None, *, flush: bool = True) -> bool:
        """Update the changed cells of a shown run in place. False if the run is not shown."""
        run_id = run["id"]
        if run_id not in self._shown:
            return False
        now = self.clock() if now is None else now
        cells = self.cells(run, now)
        old = self._shown[run_id]
        changed = {column: cell for column, cell, before in zip(self.column_keys, cells, old) if cell.plain != before}
        if changed:
            self.update_cells(str(run_id), changed)
            if flush:
                self.flush_updates()
        self._shown[run_id] = tuple(c.plain for c in cells)
        self._runs[run_id] = run
        return True

    def tick(self, now: float | None = None) -> None:
        """Time passed: re-render the ages and the running runs' durations (no database read)."""
        if not {"age", "took"} & set(self.column_keys):
            return
        now = self.clock() if now is None else now
        every_row = "age" in self.column_keys
        for run in list(self._runs.values()):
            if every_row or (run.get("started_at") and not run.get("finished_at")):
                self.patch(run, now, flush=False)
        self.flush_updates()

    def update_cells(self, row_key: str, changes: dict[str, Text]) -> None:
        """Update cells of one row in place; only those cells are rendered again.

        DataTable.update_cell bumps a counter that every render cache is keyed
        on, so one changed cell re-renders every visible cell. Here only the
        changed cells' cached renders are dropped (in ``flush_updates``, once
        per batch): a refresh of 50 changed runs renders their changed cells,
        not the whole screen. Falls back to update_cell if DataTable's
        internals are not what this expects.
        """
        if not self._selective_ok() or self.sort_column in changes:
            for column, value in changes.items():
                self.update_cell(row_key, column, value)
            return
        if row_key not in self._cells:
            raise CellDoesNotExist(f"no row {row_key!r}")
        row = RowKey(row_key)
        data = self._data[row]
        for column, value in changes.items():
            self._cells[row_key][column] = value  # kept for every column, shown or not
            col = ColumnKey(column)
            if col in data:
                data[col] = value
                self._dirty_cells.add((row, col))

    _selective: bool | None = None

    def _selective_ok(self) -> bool:
        if self._selective is None:
            caches = ("_cell_render_cache", "_row_renderable_cache", "_row_render_cache", "_line_cache")
            self._selective = all(hasattr(getattr(self, c, None), "clear") for c in caches) and hasattr(
                self._cell_render_cache, "keys") and hasattr(self._cell_render_cache, "discard")
            self._dirty_cells: set = set()
        return self._selective

    def flush_updates(self) -> None:
        """Drop the cached renders of the cells changed since the last flush (call after a batch)."""
        if not self._selective_ok():
            return
        dirty, self._dirty_cells = self._dirty_cells, set()
        if not dirty:
            return
        cache = self._cell_render_cache
        keys = list(cache.keys())
        # Cell cache keys start with (row key, column key, ...); if a Textual release changes that,
        # drop every cached render (what update_cell does) rather than show a stale cell.
        if keys and not all(isinstance(k, tuple) and len(k) > 2 and isinstance(k[0], RowKey)
                            and isinstance(k[1], ColumnKey) for k in keys[:3]):
            self._selective = False
            self._update_count += 1
            self.refresh()
            return
        for key in [k for k in keys if (k[0], k[1]) in dirty]:
            cache.discard(key)
        self._row_renderable_cache.clear()
        self._row_render_cache.clear()
        self._line_cache.clear()
        # Repaint only the band of rows that changed (one region: refresh_row per row costs a
        # sum over all rows above it, each time); the rest of the screen stays as painted.
        indexes = [self._row_locations.get(row) for row in {row for row, _ in dirty} if row in self._row_locations]
        if indexes:
            band = self._get_row_region(min(indexes)).union(self._get_row_region(max(indexes)))
            self._refresh_region(band)

    def insert_newer(self, runs: list[dict]) -> None:
        """Add runs newer than any shown, keeping newest first and the cursor on its run."""
        if not runs:
            return
        keep = self.current_run_id()
        at_top = self.cursor_row <= 0
        self.append_runs(runs)
        self.set_order(sorted(self._order, key=int, reverse=True))
        if keep is not None and not at_top:
            self.move_cursor(row=self.get_row_index(str(keep)), animate=False)
        else:
            self.move_cursor(row=0, animate=False)

    def drop(self, run_id: int) -> None:
        if run_id in self._shown:
            try:
                self.remove_row(str(run_id))
            except RowDoesNotExist:
                pass
            self._shown.pop(run_id, None)
            self._runs.pop(run_id, None)

    def apply_changes(self, rows: list[dict], matches: Callable[[dict], bool] | None = None,
                      accept_new: bool = True) -> int:
        """Patch shown runs, add new matching ones, drop ones that stopped matching. Returns rows touched."""
        now = self.clock()
        newest = max(self._runs) if self._runs else 0
        new = []
        touched = 0
        for run in rows:
            ok = matches(run) if matches else True
            if run["id"] in self._shown:
                if ok:
                    self.patch(run, now, flush=False)
                else:
                    self.drop(run["id"])
                touched += 1
            elif ok and accept_new and run["id"] > newest:
                new.append(run)
        self.flush_updates()
        if new:
            self.insert_newer(sorted(new, key=lambda r: r["id"]))
            touched += len(new)
        return touched

    # -- selection and marks ---------------------------------------------------
    def current_run_id(self) -> int | None:
        return self.current_int_key()

    def current_run(self) -> dict | None:
        run_id = self.current_run_id()
        return self._runs.get(run_id) if run_id is not None else None

    def run(self, run_id: int) -> dict | None:
        return self._runs.get(run_id)

    @property
    def run_ids(self) -> list[int]:
        return list(self._runs)

    def toggle_mark(self) -> None:
        run_id = self.current_run_id()
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.discard(run_id)
        else:
            self.marked.add(run_id)
        if "mark" in self.column_keys:
            self.patch(self._runs[run_id])
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)

    def clear_marks(self) -> None:
        marked, self.marked = self.marked, set()
        for run_id in marked:
            if run_id in self._runs:
                self.patch(self._runs[run_id])

    def oldest_id(self) -> int | None:
        return min(self._runs) if self._runs else None

    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        self._maybe_need_more(new.row)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._maybe_need_more(int(new) + self.scrollable_content_region.height)

    def _maybe_need_more(self, row: int) -> None:
        """Near the end of what is loaded (by cursor or by scrolling): ask for the next page."""
        if (self.has_more and not self.loading_more and not self.rebuilding and self.row_count
                and row >= self.row_count - 10 and self.oldest_id() is not None):
            self.loading_more = True
            self.post_message(self.NeedMore(self, self.oldest_id()))
