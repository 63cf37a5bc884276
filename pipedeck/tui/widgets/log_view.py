"""A run's log, to read rather than glimpse: wrapped or scrolled sideways, searched, filtered by level,
following new lines or holding still.

A line-API widget: entries are kept as data and laid out into screen lines
only when the width, the wrap, the filter or the search change (new entries
are laid out as they come), so a long log scrolls without re-rendering.
Every message has its control characters made visible before it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pipedeck.concepts.text import visible

LEVELS = ("debug", "info", "warning", "error")
# What `l` cycles through: every line, then from info, warning or error up.
LEVEL_FILTERS = (None, "info", "warning", "error")
LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}
MATCH_STYLE = Style(color="black", bgcolor="yellow")
CURRENT_MATCH_STYLE = Style(color="black", bgcolor="bright_yellow", bold=True, underline=True)


@dataclass(frozen=True)
class LogEntry:
    stamp: str  # when, as shown ("09:00:01")
    level: str
    message: str  # control characters already made visible

    @property
    def plain(self) -> str:
        return f"{self.stamp} {self.level:<7} {self.message}"


class LogView(ScrollView, can_focus=True):
    """The log lines of a run; see the module docstring."""

    DEFAULT_CSS = """
    LogView { background: $surface; }
    LogView:focus { background-tint: $foreground 5%; }
    """

    wrap: reactive[bool] = reactive(True)
    follow: reactive[bool] = reactive(True)
    min_level: reactive[str | None] = reactive(None)
    search: reactive[str] = reactive("")

    def __init__(self, *, max_entries: int = 5000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_entries = max_entries
        self.entries: list[LogEntry] = []
        self.matches: list[int] = []  # indexes into ``entries`` of the entries that match the search
        self.current: int | None = None  # position in ``matches`` of the match shown as current
        self._lines: list[tuple[int, Strip]] = []  # (entry index, one screen line)
        self._first_line: dict[int, int] = {}  # entry index -> its first screen line
        self._laid_out_for: tuple | None = None
        self._width = 0  # widest line (no wrap)
        self._scrolling = False  # a scroll of ours, not the reader's

    # -- data --------------------------------------------------------------------
    def clear(self) -> None:
        self.entries = []
        self.matches, self.current = [], None
        self._relayout()

    def append(self, lines: list[tuple[str, str, str]]) -> None:
        """Add (stamp, level, message) entries at the end; the message is made printable here."""
        start = len(self.entries)
        self.entries += [LogEntry(stamp, (level or "info").lower(), visible(message)) for stamp, level, message in lines]
        if len(self.entries) > self.max_entries:
            self.entries = self.entries[-self.max_entries:]
            self._relayout()
            return
        for index in range(start, len(self.entries)):
            if self.search and self._matches(self.entries[index]):
                self.matches.append(index)
            if self._shown(self.entries[index]) and self.is_attached:
                self._lay_out(index)
        self._resize_virtual()
        if self.follow:
            self._scroll_to_end()

    @property
    def shown_entries(self) -> list[LogEntry]:
        return [e for e in self.entries if self._shown(e)]

    @property
    def shown_matches(self) -> list[int]:
        """The matches among the lines the level filter shows (entry indexes)."""
        return [i for i in self.matches if self._shown(self.entries[i])]

    def text(self) -> str:
        """Every entry, as plain text (what is saved to a file)."""
        return "\n".join(e.plain for e in self.entries)

    # -- what is shown -------------------------------------------------------------
    def _shown(self, entry: LogEntry) -> bool:
        if self.min_level is None:
            return True
        rank = LEVELS.index(entry.level) if entry.level in LEVELS else 1
        return rank >= LEVELS.index(self.min_level)

    def _matches(self, entry: LogEntry) -> bool:
        return bool(self.search) and self.search.lower() in entry.message.lower()

    def watch_wrap(self) -> None:
        self._relayout(keep_place=True)

    def watch_min_level(self) -> None:
        self._relayout(keep_place=True)

    def watch_search(self) -> None:
        self.matches = [i for i, e in enumerate(self.entries) if self._matches(e)]
        self.current = None
        self._relayout(keep_place=True)

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self._scroll_to_end()

    def on_resize(self) -> None:
        if self.wrap:
            self._relayout(keep_place=True)

    # -- layout --------------------------------------------------------------------
    def on_mount(self) -> None:
        self._relayout()

    def _relayout(self, keep_place: bool = False) -> None:
        if not self.is_attached:
            return
        top_entry = self._lines[int(self.scroll_y)][0] if keep_place and self._lines and \
            int(self.scroll_y) < len(self._lines) else None
        self._lines, self._first_line, self._width = [], {}, 0
        for index, entry in enumerate(self.entries):
            if self._shown(entry):
                self._lay_out(index)
        self._resize_virtual()
        if self.follow:
            self._scroll_to_end()
        elif top_entry is not None:
            self._scroll_to_entry(top_entry, center=False)
        self.refresh()

    def _lay_out(self, index: int) -> None:
        """Append the screen lines of entry ``index``."""
        entry = self.entries[index]
        prefix = Text.assemble((entry.stamp + " ", "dim"), (f"{entry.level:<7} ", LEVEL_STYLES.get(entry.level, "")))
        message = Text(entry.message, style=LEVEL_STYLES.get(entry.level, "") if entry.level == "error" else "")
        if index in self.matches:
            self._highlight(message, current=self.current is not None and self.matches[self.current] == index)
        console = self.app.console
        self._first_line[index] = len(self._lines)
        width = self.scrollable_content_region.width or self.size.width or 80
        indent = prefix.cell_len
        if not self.wrap or width - indent < 10:
            line = prefix + message
            line.no_wrap = True
            strip = Strip(list(line.render(console)))
            self._width = max(self._width, strip.cell_length)
            self._lines.append((index, strip))
            return
        pieces = message.wrap(console, width - indent, overflow="fold") or [Text("")]
        for n, piece in enumerate(pieces):
            head = prefix if n == 0 else Text(" " * indent)
            line = head + piece
            self._lines.append((index, Strip(list(line.render(console)))))
        self._width = max(self._width, width)

    def _highlight(self, message: Text, current: bool) -> None:
        needle, hay = self.search.lower(), message.plain.lower()
        start = hay.find(needle)
        while needle and start >= 0:
            message.stylize(CURRENT_MATCH_STYLE if current else MATCH_STYLE, start, start + len(needle))
            start = hay.find(needle, start + len(needle))

    def _resize_virtual(self) -> None:
        width = self._width if not self.wrap else (self.scrollable_content_region.width or self.size.width)
        self.virtual_size = Size(width, len(self._lines))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        strip = self._lines[index][1]
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width).apply_style(self.rich_style)

    # -- moving ----------------------------------------------------------------------
    def _scroll_to_end(self) -> None:
        # After the refresh: the new virtual size is laid out by then (scrolling down never stops following).
        self.scroll_end(animate=False)

    def _scroll_to_entry(self, index: int, center: bool = True) -> None:
        line = self._first_line.get(index)
        if line is None:
            return
        self._scrolling = True
        target = line - (self.scrollable_content_region.height // 3 if center else 0)
        self.scroll_to(y=max(0, target), animate=False, immediate=True)
        self._scrolling = False

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if not self._scrolling and new < old and self.follow:
            self.follow = False  # the reader went back up: hold still until they ask to follow again

    def next_match(self, step: int = 1) -> int | None:
        """Make the next (step 1) or previous (-1) match current, among the lines shown; its entry index."""
        shown = self.shown_matches
        if not shown:
            return None
        if self.current is None or self.matches[self.current] not in shown:
            top = self._lines[int(self.scroll_y)][0] if self._lines and int(self.scroll_y) < len(self._lines) else 0
            after = [i for i in shown if i >= top]
            target = (after[0] if after else shown[0]) if step > 0 else \
                ([i for i in shown if i < top] or shown)[-1]
        else:
            position = shown.index(self.matches[self.current])
            target = shown[(position + step) % len(shown)]
        self.current = self.matches.index(target)
        self.follow = False
        self._relayout()
        self._scroll_to_entry(target)
        return target
