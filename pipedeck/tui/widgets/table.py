"""DataTable whose enter key is listed in the footer (every key the user can press is shown)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


class Table(DataTable):
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
