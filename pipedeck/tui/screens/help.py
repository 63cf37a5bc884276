"""`?` help, k9s-style: the keys of the screen underneath, then the global keys, then tips.

Only keys that do something here are listed, each once (a key the screen
takes over from the app, such as `w` for wrapping the log, shows as the
screen's); Textual's own plumbing (focus cycling, copy) is left out. The
sections flow into side-by-side columns as tall as the terminal allows, so
the whole help fits at 80×24; it scrolls where it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from pipedeck.tui.widgets.key_footer import KeyFooter

TIPS = (
    "ctrl+p: jump to any brand or competitor, queue or schedule any job",
    "Tables: ↑↓ PgUp PgDn home end move, enter opens, click a header to sort",
    "tab: next panel · esc: leave a text field · destructive actions ask first",
)
# Lines the dialog takes besides the columns and the tips: its border, the blank line before the tips.
FRAME_LINES = 3
GAP = 3  # columns between side-by-side sections


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[tuple[str, str], ...]  # (key as shown, what it does)


def key_label(app, binding: Binding) -> str:
    return {"enter": "enter", "escape": "esc", "space": "space"}.get(binding.key) or app.get_key_display(binding)


def sections(screen: Screen) -> list[Section]:
    """The keys active on ``screen``: its own (with its focused table's), then the app's."""
    app = screen.app
    local: list[tuple[str, str]] = []
    shared: list[tuple[str, str]] = []
    for _key, active in screen.active_bindings.items():  # one entry per key: the binding that wins
        binding = active.binding
        palette = binding.key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE
        if binding.system or not (binding.show or palette):
            continue
        description = "Command palette" if palette else binding.description
        row = (key_label(app, binding), description)
        (shared if active.node is app else local).append(row)
    # The app's keys in the order it declares them (views first, quit last), the palette before quit.
    order = {key_label(app, b): n for n, b in enumerate(app.BINDINGS)}
    palette_key = key_label(app, Binding(app.COMMAND_PALETTE_BINDING, "command_palette"))
    quit_key = key_label(app, Binding("ctrl+q", "quit"))
    order[palette_key] = order.get(quit_key, len(order)) - 0.5
    shared.sort(key=lambda row: order.get(row[0], len(order)))
    title = getattr(screen, "HELP_TITLE", "") or getattr(screen, "VIEW_TITLE", "") or "This screen"
    return [Section(f"{title} keys", tuple(local)), Section("Global keys", tuple(shared))]


def _columns(section: Section, height: int) -> list[tuple[Table, int]]:
    """A section as columns of at most ``height`` lines (its title on the first), each with its width."""
    count = max(1, -(-len(section.rows) // max(1, height - 1)))  # columns needed
    per = max(1, -(-len(section.rows) // count))  # rows in each, evened out
    chunks = [section.rows[i:i + per] for i in range(0, len(section.rows), per)] or [()]
    key_width = max((cell_len(k) for k, _ in section.rows), default=1)
    out = []
    for n, chunk in enumerate(chunks):
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right", no_wrap=True, min_width=key_width, style="bold cyan")
        table.add_column(no_wrap=True)
        title = section.title if n == 0 else ""
        table.add_row("", Text(title, style="bold underline"))
        for key, description in chunk:
            table.add_row(key, description)
        width = key_width + 1 + max([cell_len(title)] + [cell_len(d) for _, d in chunk])
        out.append((table, width))
    return out


def layout(parts: list[Section], width: int, height: int):
    """Sections side by side in columns that fit ``height`` lines; stacked when too wide for ``width``."""
    tips = Text("\n".join(f"• {tip}" for tip in TIPS), style="dim")
    tip_lines = sum(1 + (cell_len(tip) + 2) // max(1, width) for tip in TIPS)
    rows_height = max(6, height - FRAME_LINES - tip_lines)
    columns = [column for section in parts for column in _columns(section, rows_height)]
    needed = sum(w for _, w in columns) + GAP * (len(columns) - 1)
    if needed <= width:
        grid = Table.grid(padding=(0, GAP))
        for _ in columns:
            grid.add_column(no_wrap=True)
        grid.add_row(*[table for table, _ in columns])
        body = grid
    else:  # too narrow for side by side: one after the other (the dialog scrolls)
        body = Group(*[table for section in parts for table, _ in _columns(section, 10_000)])
    return Group(body, Text(""), tips)


class HelpScreen(ModalScreen[None]):
    """Every key of the screen underneath, then the app's, then tips."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close"),
    ]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under
        self.sections = sections(under)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help", id="help"):
            yield Static("", id="help-body")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show(self.app.size.width, self.app.size.height)

    def on_resize(self, event) -> None:
        self._show(event.size.width, event.size.height)

    def _show(self, width: int, height: int) -> None:
        inner = min(width, 112) - 4  # the dialog's border and padding
        self.query_one("#help-body", Static).update(layout(self.sections, inner, height - 1))

    def action_close(self) -> None:
        self.dismiss(None)
