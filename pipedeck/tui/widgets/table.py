"""The app's DataTables: a header that always matches its columns, and (Table) an enter key in the footer."""

from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey


def same_cell(a, b) -> bool:
    """Two cells that look the same (text, style and spans): no repaint needed."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return a == b


class AlignedTable(DataTable):
    """A DataTable whose header follows its columns when rows widen them.

    DataTable measures new rows on idle without invalidating its line caches,
    so a header line painted in between (a frame drawn after ``add_row`` and
    before the idle handler) kept the old column widths until something else
    cleared the caches: a header out of line with its rows. Dropping the
    caches whenever the measured widths change fixes that.
    """

    def refresh_cells(self, row_key: str, cells: dict[str, object]) -> bool:
        """Update the cells of one row that changed (by column key); True if any did."""
        changed = False
        for column, cell in cells.items():
            try:
                if same_cell(self.get_cell(row_key, column), cell):
                    continue
            except CellDoesNotExist:
                continue
            self.update_cell(row_key, column, cell)
            changed = True
        return changed

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        before = [column.get_render_width(self) for column in self.ordered_columns]
        super()._update_dimensions(new_rows)
        if [column.get_render_width(self) for column in self.ordered_columns] != before:
            self._clear_caches()
            self.refresh()


class Table(AlignedTable):
    """The tables a user moves through: enter opens the row, and says so in the footer."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        # Navigation, like the arrows: in the help, not the footer.
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
    ]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def current_int_key(self) -> int | None:
        """The cursor row's key as an int (tables keyed by database ids), or None."""
        if not self.row_count or self.cursor_row < 0:
            return None
        try:
            key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key
        except Exception:  # noqa: BLE001 - cursor outside the rows
            return None
        return int(key.value) if key.value is not None else None
