"""A short list of runs (a brand's last few per job type, a competitor's recent scrapes), patched in place.

A DataTable (``widgets/table.py``: responsive columns, sorting by any column)
holding every row, keyed by run id. It is for lists of a few dozen runs;
the runs view's whole history is ``runs_table.RunsTable``, which holds only
the rows it shows.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from rich.text import Text

from pipedeck.concepts.statuses import STATUSES
from pipedeck.tui.widgets.run_cells import COLUMNS, COMPACT, run_cells
from pipedeck.tui.widgets.table import Table

_STATUS_ORDER = {status: n for n, status in enumerate(STATUSES)}


class RecentRunsTable(Table):
    def __init__(self, columns: Iterable[str] = COMPACT, *, clock: Callable[[], float] = time.time,
                 **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.column_keys = tuple(columns)
        self.clock = clock
        self._shown: dict[int, tuple[str, ...]] = {}
        self._runs: dict[int, dict] = {}

    def on_mount(self) -> None:
        self.set_columns([COLUMNS[key] for key in self.column_keys])

    def sort_value(self, row_key: str, column: str):
        """Runs sort by what their cells stand for: times, durations, status in lifecycle order."""
        run = self._runs.get(int(row_key))
        if run is None:
            return super().sort_value(row_key, column)
        if column == "id":
            return (0, run["id"], "")
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

    def cells(self, run: dict, now: float) -> list[Text]:
        return run_cells(run, self.column_keys, False, now)

    def set_runs(self, runs: list[dict]) -> None:
        """Replace the rows, keeping the cursor on the same run when it is still there."""
        keep = self.current_run_id()
        self.clear()
        self._shown.clear()
        self._runs.clear()
        now = self.clock()
        for run in runs:
            if run["id"] in self._runs:
                continue
            cells = self.cells(run, now)
            self.add_row(*cells, key=str(run["id"]))
            self._shown[run["id"]] = tuple(c.plain for c in cells)
            self._runs[run["id"]] = run
        if keep is not None and keep in self._runs:
            self.move_cursor(row=self.get_row_index(str(keep)), animate=False)

    def patch(self, run: dict, now: float | None = None) -> bool:
        """Update the changed cells of a shown run in place. False if the run is not shown."""
        run_id = run["id"]
        if run_id not in self._shown:
            return False
        now = self.clock() if now is None else now
        cells = self.cells(run, now)
        for column, cell, before in zip(self.column_keys, cells, self._shown[run_id]):
            if cell.plain != before:
                self.update_cell(str(run_id), column, cell)
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
                self.patch(run, now)

    def current_run_id(self) -> int | None:
        return self.current_int_key()

    def current_run(self) -> dict | None:
        run_id = self.current_run_id()
        return self._runs.get(run_id) if run_id is not None else None

    def run(self, run_id: int) -> dict | None:
        return self._runs.get(run_id)
