"""The app's DataTables: a header that always matches its columns, and (Table) responsive columns,
sorting by any column, and an enter key in the footer."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Iterable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist, RowKey

from pipedeck.tui.widgets.columns import Col, fit
from pipedeck.tui.widgets.sorting import SORT, SortCycling

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)(?: ago)?$")
_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def same_cell(a, b) -> bool:
    """Two cells that look the same (text, style and spans): no repaint needed."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return a == b


def cell_sort_key(cell: Any) -> tuple:
    """How a cell sorts when its table knows nothing better: numbers and spans (``4.2s``, ``3m ago``) by
    value, ``never`` and empty cells last, text alphabetically. A leading mark (``● 3m``) is ignored."""
    text = (cell.plain if isinstance(cell, Text) else str(cell if cell is not None else "")).strip()
    if len(text) > 2 and not text[0].isalnum() and text[1] == " ":
        text = text[2:].strip()
    if not text or text in ("–", "-", "never"):
        return (2, 0.0, "")
    try:
        return (0, float(text.replace(",", "")), "")
    except ValueError:
        pass
    match = _SPAN.match(text)
    if match:
        return (0, float(match.group(1)) * _SPAN_UNITS[match.group(2)], "")
    return (1, 0.0, text.lower())


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
            except (CellDoesNotExist, RowDoesNotExist, KeyError):
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


class Table(SortCycling, AlignedTable):
    """The tables a user moves through.

    Columns are declared with :meth:`set_columns` (``Col``: priority, minimum
    width, the text column that takes what is left) and laid out for the
    table's width whenever it changes: the least important shrink or go
    first. Rows keep every column's cell, shown or not, so a column that comes
    back on a wider terminal has its data. ``o`` sorts by the next column (a
    click on a header sorts by that one), ``O`` reverses; the header marks
    the sort (▲/▼). enter opens the row, and says so in the footer.
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        Binding("o", "sort_next", "Sort by next column", group=SORT),
        Binding("O", "sort_reverse", "Reverse sort", group=SORT),
        # Navigation, like the arrows: in the help, not the footer.
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
    ]

    def __init__(self, *args, columns: Sequence[Col] = (), **kwargs) -> None:
        # The row under the cursor keeps its cells' colours (a freshness state, a status), not the cursor's.
        kwargs.setdefault("cursor_foreground_priority", "renderable")
        super().__init__(*args, **kwargs)
        self.specs: list[Col] = list(columns)
        self.column_layout: list[tuple[Col, int]] = []
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._cells: dict[str, dict[str, Any]] = {}  # row key -> column key -> cell, every column
        self._heights: dict[str, int] = {}
        self._order: list[str] = []  # the rows in their unsorted order (as added, or as set by set_order)
        self._content: dict[str, int] = {}  # widest cell per column
        self._relayout_pending = False
        self.rebuilding = False

    # -- columns and layout ------------------------------------------------------
    def set_columns(self, columns: Sequence[Col]) -> None:
        self.specs = list(columns)
        if self.is_attached:
            self._relayout(force=True)

    def on_mount(self) -> None:
        if self.specs and not self.column_layout:
            self._relayout(force=True)

    def on_resize(self) -> None:
        self._relayout()

    @property
    def shown_columns(self) -> list[str]:
        return [c.key for c, _ in self.column_layout]

    def available_width(self) -> int:
        width = self.size.width or (self.app.size.width if self.is_attached else 80)
        self._reserved = self.styles.scrollbar_size_vertical if self._needs_scrollbar() else 0
        return max(10, width - self._reserved)

    def _needs_scrollbar(self) -> bool:
        height = self.size.height - (1 if self.show_header else 0)
        return height <= 0 or len(self._cells) > height

    def _relayout(self, force: bool = False) -> None:
        if not self.specs:
            return
        declared = {c.key: c for c in self.specs}
        fitted = fit([self._with_sort_mark(c) for c in self.specs], self.available_width(), self._content,
                     padding=2 * self.cell_padding)
        layout = [(declared[c.key], width) for c, width in fitted]
        if force or [(c.key, w) for c, w in layout] != [(c.key, w) for c, w in self.column_layout]:
            self.column_layout = layout
            self._rebuild()

    def _with_sort_mark(self, col: Col) -> Col:
        """The sorted column needs room for its ▲/▼ in the header."""
        if col.key != self.sort_column:
            return col
        title = col.title + " ▲"
        return replace(col, title=title, width=max(col.width, cell_len(title)) if col.width is not None else None)

    def _schedule_relayout(self) -> None:
        if not self._relayout_pending and self.is_attached:
            self._relayout_pending = True

            def run() -> None:
                self._relayout_pending = False
                self._relayout()

            self.call_after_refresh(run)

    def _header(self, col: Col) -> Text:
        title = Text(col.title, justify=col.justify)
        if col.key == self.sort_column:
            title.append(" ▼" if self.sort_reverse else " ▲", style="bold")
        return title

    def _rebuild(self) -> None:
        """Columns as laid out, rows in their order: a fresh DataTable, the cursor kept on its row."""
        keep = self.cursor_row_key()
        scroll = self.scroll_y
        self.rebuilding = True  # the cursor and the scroll move while rows go back in: not a person's doing
        try:
            self._refill(keep, scroll)
        finally:
            self.rebuilding = False

    def _refill(self, keep: str | None, scroll: float) -> None:
        with self.prevent(DataTable.RowHighlighted, DataTable.CellHighlighted):
            column = self.cursor_column
            super().clear(columns=True)
            for col, width in self.column_layout:
                super().add_column(self._header(col), width=width, key=col.key)
            for key in self.display_order():
                row = self._cells[key]
                super().add_row(*[row.get(c.key) for c, _ in self.column_layout], key=key,
                                height=self._heights.get(key, 1))
            if keep is not None and keep in self._cells:
                self.move_cursor(row=self.get_row_index(keep), column=min(column, len(self.column_layout) - 1),
                                 animate=False, scroll=False)
            self.scroll_to(y=scroll, animate=False, immediate=True)

    # -- rows (every column's cell is kept) --------------------------------------
    def add_row(self, *cells, height: int | None = 1, key: str | None = None, label=None) -> RowKey:
        if not self.specs:
            return super().add_row(*cells, height=height, key=key, label=label)
        if key is None:
            raise ValueError("rows of a Table with declared columns need a key")
        row = dict(zip((c.key for c in self.specs), cells))
        self._cells[key] = row
        self._heights[key] = height or 1
        self._order.append(key)
        self._measure(row)
        if self.column_layout and bool(getattr(self, "_reserved", 0)) != self._needs_scrollbar():
            self._schedule_relayout()  # a scrollbar comes (or goes): the columns get its room
        if self.sort_column is not None:
            self._schedule_resort()
        return super().add_row(*[row.get(c.key) for c, _ in self.column_layout], height=height, key=key)

    def _measure(self, row: dict[str, Any]) -> None:
        grew = False
        for column, cell in row.items():
            width = _cell_width(cell)
            if width > self._content.get(column, 0):
                self._content[column] = width
                grew = True
        if grew and self.column_layout:
            self._schedule_relayout()

    def get_cell(self, row_key, column_key) -> Any:
        if not self.specs:
            return super().get_cell(row_key, column_key)
        try:
            return self._cells[_key(row_key)][_key(column_key)]
        except KeyError:
            raise CellDoesNotExist(f"no cell at row {row_key!r}, column {column_key!r}") from None

    def cells_of(self, row_key: str) -> dict[str, Any]:
        """Every column's cell of a row, shown or not."""
        return dict(self._cells[row_key])

    def full_row_at(self, row_index: int) -> list[Any]:
        """Every column's cell of the row at ``row_index``, shown or not, in the declared column order.

        (DataTable.get_row_at, which draws the rows, stays as it is: the shown cells.)
        """
        if not self.specs:
            return self.get_row_at(row_index)
        key = self.ordered_rows[row_index].key.value
        return [self._cells[key].get(c.key) for c in self.specs]

    def update_cell(self, row_key, column_key, value, *, update_width: bool = False) -> None:
        if not self.specs:
            return super().update_cell(row_key, column_key, value, update_width=update_width)
        row, column = _key(row_key), _key(column_key)
        if row not in self._cells:
            raise CellDoesNotExist(f"no row {row!r}")
        self._cells[row][column] = value
        self._measure({column: value})
        if column in self.shown_columns:
            super().update_cell(row, column, value)
        if column == self.sort_column:
            self._schedule_resort()

    def remove_row(self, row_key) -> None:
        key = _key(row_key)
        if self.specs:
            self._cells.pop(key, None)
            self._heights.pop(key, None)
            if key in self._order:
                self._order.remove(key)
        super().remove_row(key)

    def clear(self, columns: bool = False) -> "Table":
        self._cells.clear()
        self._heights.clear()
        self._order.clear()
        self._content.clear()
        if columns:
            self.specs, self.column_layout = [], []
        super().clear(columns=columns)
        if self.column_layout:
            self._schedule_relayout()  # the rows that come next may be narrower or wider
        return self

    def set_order(self, keys: list[str]) -> None:
        """The rows' order when no sort is chosen (e.g. newest first)."""
        self._order = [k for k in keys if k in self._cells]
        self._rebuild()

    # -- sorting -----------------------------------------------------------------
    def sort_value(self, row_key: str, column: str) -> Any:
        """What a cell sorts by; tables holding richer data (a run's timestamps) override this."""
        return cell_sort_key(self._cells[row_key].get(column))

    def display_order(self) -> list[str]:
        if self.sort_column is None:
            return list(self._order)
        column = self.sort_column
        return sorted(self._order, key=lambda k: self.sort_value(k, column), reverse=self.sort_reverse)

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._relayout(force=True)

    def _schedule_resort(self) -> None:
        if self.is_attached and not getattr(self, "_resort_pending", False):
            self._resort_pending = True

            def run() -> None:
                self._resort_pending = False
                order = self.display_order()
                if order != [row.key.value for row in self.ordered_rows]:
                    self._rebuild()

            self.call_after_refresh(run)

    def sortable_columns(self) -> list[str]:
        return [c.key for c, _ in self.column_layout if c.title.strip()]  # not the mark column

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = event.column_key.value
        if event.data_table is self and column is not None and self.specs:
            self.sort_by(column, reverse=self.sort_column == column and not self.sort_reverse)

    # -- moving ------------------------------------------------------------------
    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def cursor_row_key(self) -> str | None:
        if not self.row_count or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        except Exception:  # noqa: BLE001 - cursor outside the rows
            return None

    def current_int_key(self) -> int | None:
        """The cursor row's key as an int (tables keyed by database ids), or None."""
        key = self.cursor_row_key()
        return int(key) if key is not None else None


def _key(key) -> str:
    return key.value if hasattr(key, "value") else key


def _cell_width(cell: Any) -> int:
    text = cell.plain if isinstance(cell, Text) else ("" if cell is None else str(cell))
    return max((cell_len(line) for line in text.split("\n")), default=0)
