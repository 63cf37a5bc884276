"""DataTable whose enter key is listed in the footer (every key the user can press is shown)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


class Table(DataTable):
    BINDINGS = [Binding("enter", "select_cursor", "Open")]
