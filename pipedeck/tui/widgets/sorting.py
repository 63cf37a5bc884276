"""Sorting keys shared by the app's tables: ``o`` / ``O`` cycle a table's sort (its own group in the footer).

Its own module so a table that is not a DataTable (the runs table) does not import DataTable with it.
"""

from __future__ import annotations

from textual.binding import Binding

SORT = Binding.Group("Sort", compact=True)


class SortCycling:
    """``o`` / ``O`` for a table with ``sort_by(column, reverse)``, ``sort_column`` and
    ``sort_reverse``: sort by the next of ``sortable_columns()`` (after the last, back to the
    table's own order), or reverse the sort."""

    sort_column: str | None
    sort_reverse: bool

    def sortable_columns(self) -> list[str]:
        raise NotImplementedError

    def action_sort_next(self) -> None:
        shown = self.sortable_columns()
        if not shown:
            return
        if self.sort_column in shown:
            index = shown.index(self.sort_column) + 1
            self.sort_by(shown[index] if index < len(shown) else None)
        else:
            self.sort_by(shown[0])

    def action_sort_reverse(self) -> None:
        if self.sort_column is None:
            self.action_sort_next()
        else:
            self.sort_by(self.sort_column, not self.sort_reverse)
