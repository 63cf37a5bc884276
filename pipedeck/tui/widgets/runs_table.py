"""The runs table: the whole history, of any length, rendered a line at a time from the rows on screen.

A line-API widget (Textual's ScrollView with ``render_line``). It holds only
a window of rows around what is shown, by position in the listing (the run
store's filter and sort, ``concepts.run_query``): the scrollbar spans the
whole history, and a line whose row is not fetched yet is drawn as a
placeholder while a thread worker fetches its window (``source``: never a
database call on the event loop). Keys: arrows, page up/down, home/end,
enter opens, space marks (the screen's), o / O and a header click sort, by
an ORDER BY in the store.

Live changes come from the live feed as whole rows. Where the listing's
order lets a change be placed exactly (newest first: a new run goes on top,
a shown run is patched in place), it is, with no read; otherwise the window
on screen is read again, anchored on the selected run so the cursor and the
view stay on it. A row version with a higher ``rev`` always wins over an
older one, whichever arrives last.

Why not textual-fastdatatable: its backends hold the whole table (Arrow) and
are read on the event loop; here the store sorts, filters and windows, and
the widget only draws.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pipedeck.concepts.run_query import NEWEST_FIRST, RunFilter, RunOrder
from pipedeck.tui.screens.base import run_off_loop
from pipedeck.tui.widgets.columns import Col, fit
from pipedeck.tui.widgets.run_cells import COLUMNS, FULL, SORT_KEY, TIMED, CellMemo, run_cells
from pipedeck.tui.widgets.sorting import SORT, SortCycling

CELL_PADDING = 1
MAX_HELD = 4000  # rows held around the view; those farthest from it go first
_MUTABLE_SORTS = {"status", "attempts", "took", "summary", "direct"}
_MEASURED = ("job_type", "brand", "competitor", "id")  # what the content widths of the columns depend on


@dataclass(frozen=True)
class WindowRequest:
    """What the source is asked for (on a thread worker)."""

    filter: RunFilter
    order: RunOrder
    offset: int
    limit: int
    anchor_id: int | None = None
    anchor_line: int = 0


# source(request) -> an object with total, offset, rows (run dicts) and anchor (position or None)
Source = Callable[[WindowRequest], object]


@dataclass
class _Drawn:
    """A held run as last drawn: its lines (by look and cursor), made from ``state`` and the clock."""

    state: tuple  # (rev, marked)
    timed: tuple[str, ...] | None = None  # the text of its TIMED cells on screen, in layout order
    lines: dict[tuple[int, bool], Strip] = field(default_factory=dict)


@dataclass
class _Pending:
    epoch: int
    offset: int
    limit: int
    replace: bool
    to_top: bool  # a new listing: when the selected run is not in it, start at its top
    shifted: int  # top inserts applied when asked
    changes: int  # live changes seen when asked


class RunsTable(SortCycling, ScrollView, can_focus=True):
    """Runs by position; see the module's doc."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        Binding("o", "sort_next", "Sort by next column", group=SORT),
        Binding("O", "sort_reverse", "Reverse sort", group=SORT),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
    ]
    COMPONENT_CLASSES = {"runs-table--header", "runs-table--cursor", "runs-table--placeholder"}
    DEFAULT_CSS = """
    RunsTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        &:focus {
            background-tint: $foreground 5%;
            & > .runs-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .runs-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .runs-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .runs-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .runs-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .runs-table--placeholder {
            color: $text-muted;
        }
    }
    """

    class RowSelected(Message):
        """enter (or a click on the selected row) on a run."""

        def __init__(self, table: "RunsTable", run_id: int) -> None:
            super().__init__()
            self.table = table
            self.run_id = run_id

        @property
        def control(self) -> "RunsTable":
            return self.table

    class Loaded(Message):
        """A new listing (filter, sort, reload) has its first rows, or its count changed."""

        def __init__(self, table: "RunsTable") -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> "RunsTable":
            return self.table

    def __init__(self, columns: Iterable[str] = FULL, *, source: Source | None = None,
                 clock: Callable[[], float] = time.time, **kwargs) -> None:
        super().__init__(**kwargs)
        self.column_keys = tuple(columns)
        self.specs = [COLUMNS[key] for key in self.column_keys]
        self.source = source
        self.clock = clock
        self.filter = RunFilter()
        self.order = NEWEST_FIRST
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.total: int | None = None  # None until the first window of the listing arrives
        self.cursor_row = 0
        self.marked: set[int] = set()
        self._cursor_id: int | None = None  # the selected run, kept across refreshes, filters and sorts
        self._rows: dict[int, dict] = {}  # position -> run
        self._pos_of: dict[int, int] = {}  # run id -> position
        self._live: dict[int, dict] = {}  # run id -> its latest row from the live feed (a fetch may be older)
        self._epoch = 0
        self._pending: _Pending | None = None  # the window being fetched
        self._reconcile_due = False
        self._shifted = 0  # rows inserted on top since the listing was asked for
        self._changes = 0  # live changes applied (a fetch asked before one may be out of date)
        self._content: dict[str, int] = {}  # widest cell seen per column
        self.column_layout: list[tuple[Col, int]] = []
        self._timed_shown: list[str] = []  # the TIMED columns laid out, in order
        self._layout_for: tuple | None = None
        self._drawn: dict[int, _Drawn] = {}  # run id -> its cells and lines as last drawn
        self._look = 0  # bumped when the layout or the styles change: every held line is stale
        self._frame_width: int | None = None  # the content width, while a frame's lines are rendered
        self._memo = CellMemo(self.column_keys)
        self._segments: dict[tuple, list[Segment]] = {}  # a cell's segments, by what it shows
        self._by_inputs: dict[tuple, list[Segment]] = {}  # a cell's segments, by what it is made from
        self._widths: dict[tuple, int] = {}  # a cell's content width, by what it is made from
        self._lines: dict[tuple, Strip] = {}  # the header and placeholder lines, by what they show
        self.fetches = 0  # windows asked for (tests and benches read it)

    # -- the listing ---------------------------------------------------------------
    def set_query(self, filter: RunFilter | None = None, order: RunOrder | None = None) -> None:
        """Show another listing (the selected run stays selected when it is in it)."""
        self.filter = self.filter if filter is None else filter
        self.order = self.order if order is None else order
        self._epoch += 1
        self._shifted = 0
        self._fetch(replace=True, to_top=True, anchor_id=self._cursor_id, anchor_line=self.cursor_row - self.top)

    def reload(self) -> None:
        """Read the rows on screen again (after a change the feed could not place)."""
        self._reconcile_due = False
        self._fetch(replace=True, anchor_id=self._cursor_id, anchor_line=self.cursor_row - self.top)

    @property
    def is_loading(self) -> bool:
        return self.total is None or (self._pending is not None and self._pending.replace)

    @property
    def row_count(self) -> int:
        return self.total or 0

    @property
    def top(self) -> int:
        return int(self.scroll_y)

    @property
    def page_rows(self) -> int:
        """Rows the view shows (its height less the header)."""
        height = self.scrollable_content_region.height or (self.app.size.height if self.is_attached else 25)
        return max(1, height - 1)

    def _fetch(self, *, replace: bool = False, to_top: bool = False, offset: int | None = None, limit: int | None = None,
               anchor_id: int | None = None, anchor_line: int = 0) -> None:
        if self.source is None or not self.is_attached:
            return
        page = self.page_rows
        if offset is None:
            offset = max(0, self.top - page)
        limit = limit or page * 3
        request = WindowRequest(self.filter, self.order, offset, limit, anchor_id, max(0, anchor_line) + page
                                if anchor_id is not None else 0)
        pending = _Pending(self._epoch, offset, limit, replace, to_top, self._shifted, self._changes)
        self._pending = pending
        self.fetches += 1
        source = self.source
        run_off_loop(self, lambda: source(request), lambda window: self._window_loaded(pending, request, window),
                     group="runs-window" if not replace else "runs-listing", exclusive=True,
                     on_error=lambda exc: self._fetch_failed(pending))

    def _fetch_failed(self, pending: _Pending) -> None:
        if self._pending is pending:
            self._pending = None
        if self.total is None:
            self.total = 0
            self._resize_virtual()

    def _window_loaded(self, pending: _Pending, request: WindowRequest, window) -> None:
        if pending.epoch != self._epoch:
            return  # another listing was asked for meanwhile
        if self._pending is pending:
            self._pending = None
        first = self.total is None
        moved = self._changes != pending.changes  # live changes landed while this was read
        shift = self._shifted - pending.shifted  # runs put on top meanwhile (newest first): positions move down
        if pending.replace:
            held = {run["id"]: run for run in self._rows.values()}
            self._rows.clear()
            self._pos_of.clear()
            self._shifted = shift = 0
            self.total = window.total
        else:
            held = {}
            if window.total + shift != self.total:
                moved = True  # the listing changed under this window: read the view again
        for n, run in enumerate(window.rows):
            self._hold(window.offset + shift + n, run, held)
        if pending.replace:
            line = request.anchor_line - self.page_rows  # the selected run's line on screen when asked
            if window.anchor is not None:
                self.cursor_row = window.anchor
                self._resize_virtual()
                self.scroll_to(y=max(0, window.anchor - line), animate=False, immediate=True)
            elif first or pending.to_top:
                self.cursor_row = 0
                self._resize_virtual()
                self.scroll_to(y=0, animate=False, immediate=True)
        self._resize_virtual()
        self._clamp_cursor()
        self._note_cursor()
        self._evict()
        self.refresh()
        if pending.replace or first:
            self.post_message(self.Loaded(self))
        if moved:
            self._reconcile_soon()
        else:
            self._ensure_rows()

    def _hold(self, position: int, run: dict, held: dict[int, dict] | None = None) -> None:
        """Hold ``run`` at ``position`` (the newest version known of it: a live one may be newer)."""
        run_id = run["id"]
        for newer in (self._live.get(run_id), (held or {}).get(run_id)):
            if newer is not None and newer.get("rev", 0) > run.get("rev", 0):
                run = newer
        old = self._pos_of.get(run_id)
        if old is not None and old != position and self._rows.get(old, {}).get("id") == run_id:
            del self._rows[old]
        previous = self._rows.get(position)
        if previous is not None and previous["id"] != run_id:
            self._pos_of.pop(previous["id"], None)
        self._rows[position] = run
        self._pos_of[run_id] = position
        self._measure(run)

    def _evict(self) -> None:
        if len(self._rows) <= MAX_HELD:
            return
        middle = self.top + self.page_rows // 2
        for position in sorted(self._rows, key=lambda p: -abs(p - middle))[: len(self._rows) - MAX_HELD // 2]:
            run = self._rows.pop(position)
            self._pos_of.pop(run["id"], None)
            self._drawn.pop(run["id"], None)
        if len(self._live) > MAX_HELD:
            self._live = dict(list(self._live.items())[-MAX_HELD // 2:])

    def _ensure_rows(self) -> None:
        """Fetch the window around the view if any of its rows is missing (none is read twice at once)."""
        if self.total is None or self.source is None:
            return
        page = self.page_rows
        lo, hi = max(0, self.top - page), min(self.total, self.top + 2 * page)
        missing = [p for p in range(max(0, self.top), min(self.total, self.top + page + 1)) if p not in self._rows]
        if not missing:
            return
        pending = self._pending
        if pending is not None and pending.epoch == self._epoch and (pending.replace or (
                pending.offset <= missing[0] and missing[-1] < pending.offset + pending.limit)):
            return
        self._fetch(offset=lo, limit=hi - lo)

    def _reconcile_soon(self) -> None:
        if not self._reconcile_due:
            self._reconcile_due = True
            self.call_after_refresh(self._reconcile)

    def _reconcile(self) -> None:
        if self._reconcile_due:
            if self._pending is not None and self._pending.replace and self._pending.epoch == self._epoch:
                self.set_timer(0.05, self._reconcile)  # the listing is being read: once it lands
                return
            self.reload()

    # -- live changes --------------------------------------------------------------
    def apply_changes(self, rows: list[dict], matches: Callable[[dict], bool] | None = None) -> int:
        """Runs changed (from the live feed): patch what is held, place new ones, read again when a change
        cannot be placed exactly. Returns how many held rows changed."""
        if not rows:
            return 0
        self._changes += 1
        matches = matches or self.filter.matches
        if self.total is None:
            for run in rows:
                self._keep_live(run)
            self._reconcile_soon()
            return 0
        exact = self.order.is_newest_first
        sorted_by_change = self.order.key in _MUTABLE_SORTS
        newest = self._rows.get(0, {}).get("id") if 0 in self._rows or self.total == 0 else None
        new_top, gone, touched, reread = [], [], 0, False
        dirty: list[int] = []  # held positions whose row changed: one repaint of their band
        for run in rows:
            if not self._keep_live(run):
                continue  # an older version than one already seen
            ok = matches(run)
            position = self._pos_of.get(run["id"])
            if position is not None:
                if ok:
                    before = self._rows.get(position)
                    self._rows[position] = run
                    if before is None or any(before.get(k) != run.get(k) for k in _MEASURED):
                        self._measure(run)
                    dirty.append(position)
                    touched += 1
                    reread = reread or sorted_by_change
                elif exact:
                    gone.append(position)
                else:
                    reread = True
            elif exact and ok and (self.total == 0 or (newest is not None and run["id"] > newest)):
                new_top.append(run)
            elif exact and self.filter.is_empty:
                pass  # an older run off the held rows changed; its place in the history did not
            else:
                reread = True  # it may have joined or left the listing somewhere not held
        self._refresh_band(dirty)
        if gone:
            self._remove_positions(gone)
        if new_top:
            self._insert_on_top(sorted(new_top, key=lambda r: r["id"], reverse=True))
        if reread:
            self._reconcile_soon()
        if gone or new_top:
            self.post_message(self.Loaded(self))
        return touched

    def _keep_live(self, run: dict) -> bool:
        """Remember the feed's row of a run; False when a newer version of it was seen already."""
        known = self._live.get(run["id"]) or self.run(run["id"])
        if known is not None and known.get("rev", 0) > run.get("rev", 0):
            return False
        self._live.pop(run["id"], None)
        self._live[run["id"]] = run
        return True

    def _insert_on_top(self, runs: list[dict]) -> None:
        count = len(runs)
        at_top = self.cursor_row <= 0 and self.top == 0
        self._rows = {p + count: run for p, run in self._rows.items()}
        self._pos_of = {run_id: p + count for run_id, p in self._pos_of.items()}
        for n, run in enumerate(runs):
            self._hold(n, run)
        self.total = (self.total or 0) + count
        self._shifted += count
        self._resize_virtual()
        if not at_top:
            self.cursor_row += count
            self.scroll_to(y=self.scroll_y + count, animate=False, immediate=True)
        self._note_cursor()
        self.refresh()

    def _remove_positions(self, positions: list[int]) -> None:
        gone = set(positions)
        for p in gone:
            run = self._rows.pop(p, None)
            if run is not None:
                self._pos_of.pop(run["id"], None)
        below_cursor = sum(1 for p in gone if p < self.cursor_row)
        rows = {}
        for p, run in sorted(self._rows.items()):
            rows[p - sum(1 for g in gone if g < p)] = run
        self._rows = rows
        self._pos_of = {run["id"]: p for p, run in rows.items()}
        self.total = max(0, (self.total or 0) - len(gone))
        self._shifted -= len(gone)
        if self.cursor_row not in gone:
            self.cursor_row -= below_cursor
        self._resize_virtual()
        self._clamp_cursor()
        self._note_cursor()
        self.refresh()
        self._ensure_rows()

    def tick(self, now: float | None = None) -> None:
        """Time passed: redraw the lines whose ages or durations moved (no read)."""
        if not self._timed_shown:
            return
        now = self.clock() if now is None else now
        for position in range(self.top, self.top + self.page_rows):
            run = self._rows.get(position)
            if run is not None and self._retimed(run, now):
                self._refresh_position(position)

    # -- selection and marks --------------------------------------------------------
    def current_run(self) -> dict | None:
        return self._rows.get(self.cursor_row)

    def current_run_id(self) -> int | None:
        run = self.current_run()
        return run["id"] if run is not None else None

    def run(self, run_id: int) -> dict | None:
        position = self._pos_of.get(run_id)
        return self._rows.get(position) if position is not None else None

    def held_ids(self) -> list[int]:
        """The ids of the rows held, in listing order (all of them, for a short listing)."""
        return [self._rows[p]["id"] for p in sorted(self._rows)]

    def position_of(self, run_id: int) -> int | None:
        return self._pos_of.get(run_id)

    def get_cell(self, run_id, column: str) -> Text:
        run = self.run(int(run_id))
        if run is None:
            raise KeyError(run_id)
        return run_cells(run, (column,), run["id"] in self.marked, self.clock())[0]

    def toggle_mark(self) -> None:
        run_id = self.current_run_id()
        if run_id is None:
            return
        self.marked.symmetric_difference_update({run_id})
        self._refresh_position(self.cursor_row)
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(self.cursor_row + 1)

    def clear_marks(self) -> None:
        self.marked.clear()
        self.refresh()

    def _note_cursor(self) -> None:
        run = self._rows.get(self.cursor_row)
        if run is not None:
            self._cursor_id = run["id"]

    def _clamp_cursor(self) -> None:
        self.cursor_row = max(0, min(self.cursor_row, (self.total or 1) - 1))

    # -- moving ------------------------------------------------------------------------
    def move_cursor(self, row: int, *, scroll: bool = True) -> None:
        old = self.cursor_row
        self.cursor_row = max(0, min(row, self.row_count - 1))
        self._note_cursor()
        if self.cursor_row not in self._rows:
            self._cursor_id = None
        self._refresh_position(old)
        self._refresh_position(self.cursor_row)
        if scroll:
            page = self.page_rows
            if self.cursor_row < self.top:
                self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
            elif self.cursor_row >= self.top + page:
                self.scroll_to(y=self.cursor_row - page + 1, animate=False, immediate=True)
        self._ensure_rows()

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_down(self) -> None:
        page = self.page_rows
        self.scroll_to(y=self.top + page, animate=False, immediate=True)
        self.move_cursor(self.cursor_row + page)

    def action_page_up(self) -> None:
        page = self.page_rows
        self.scroll_to(y=self.top - page, animate=False, immediate=True)
        self.move_cursor(self.cursor_row - page)

    def action_first_row(self) -> None:
        self.move_cursor(0)

    def action_last_row(self) -> None:
        self.move_cursor(self.row_count - 1)

    def action_select_cursor(self) -> None:
        run_id = self.current_run_id()
        if run_id is not None:
            self.post_message(self.RowSelected(self, run_id))

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if int(old) != int(new):
            self._ensure_rows()

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x, y = offset
        if y == 0:
            column = self._column_at(x)
            if column is not None and column in SORT_KEY:
                self.sort_by(column, reverse=self.sort_column == column and not self.sort_reverse)
            return
        position = self.top + y - 1
        if position < self.row_count:
            again = position == self.cursor_row
            self.move_cursor(position, scroll=False)
            if again or event.chain > 1:
                self.action_select_cursor()

    def _column_at(self, x: int) -> str | None:
        left = 0
        for col, width in self.column_layout:
            right = left + width + 2 * CELL_PADDING
            if left <= x < right:
                return col.key
            left = right
        return None

    # -- sorting -------------------------------------------------------------------------
    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        """By a column (its ORDER BY in the store), or newest first (None)."""
        self.sort_column, self.sort_reverse = column, reverse
        key = SORT_KEY.get(column) if column else None
        self._layout_for = None
        self.set_query(order=RunOrder(key, reverse) if key else NEWEST_FIRST)

    def sortable_columns(self) -> list[str]:
        return [c.key for c, _ in self.column_layout if c.key in SORT_KEY]  # after the last: newest first

    def header_text(self, column: str) -> str:
        return self._title(next(c for c, _ in self.column_layout if c.key == column)).plain

    # -- layout ----------------------------------------------------------------------------
    def _measure(self, run: dict) -> None:
        memo = self._memo
        for key in ("type", "brand", "competitor"):
            if key in self.column_keys:
                width = self._widths.get(memo.key(run, key, False))
                if width is None:
                    if len(self._widths) > 8192:
                        self._widths.clear()
                    width = len(memo.make(run, key, False, 0).plain)
                    self._widths[memo.key(run, key, False)] = width
                if width > self._content.get(key, 0):
                    self._content[key] = width
                    self._layout_for = None
        width = len(str(run["id"]))
        if width > self._content.get("id", 0):
            self._content["id"] = width
            self._layout_for = None

    def _relayout(self) -> int:
        """Lay the columns out for the current width and content (when either changed); the width."""
        width = self.scrollable_content_region.width
        key = (width, self.sort_column, self.sort_reverse, tuple(sorted(self._content.items())))
        if key == self._layout_for:
            return width
        self._layout_for = key
        specs = []
        for col in self.specs:
            if col.key == "id":
                col = replace(col, width=max(col.width or 0, self._content.get("id", 0)))
            if col.key == self.sort_column:
                title = col.title + " ▲"
                col = replace(col, title=title, width=max(col.width, len(title)) if col.width is not None else None)
            specs.append(col)
        declared = {c.key: c for c in self.specs}
        self.column_layout = [(declared[c.key], w) for c, w in fit(specs, width, self._content, padding=2 * CELL_PADDING)]
        self._timed_shown = [col.key for col, _ in self.column_layout if col.key in TIMED]
        self._restyled()
        return width

    def _restyled(self) -> None:
        """The layout or the styles changed: no line drawn before is drawn again."""
        self._look += 1
        self._lines.clear()
        self._segments.clear()
        self._by_inputs.clear()

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, (self.total or 0) + 1)

    def on_resize(self) -> None:
        self._resize_virtual()
        self._ensure_rows()

    def on_mount(self) -> None:
        self._resize_virtual()

    def on_focus(self) -> None:
        self._styles = None
        self._restyled()
        self.refresh()

    def on_blur(self) -> None:
        self._styles = None
        self._restyled()
        self.refresh()

    # -- drawing -----------------------------------------------------------------------------
    def _refresh_band(self, positions: list[int]) -> None:
        """Repaint the on-screen lines of these positions as one region (a refresh per line costs more
        than drawing the lines between them)."""
        top, page = self.top, self.page_rows
        shown = [p for p in positions if top <= p < top + page]
        if shown:
            first, last = min(shown), max(shown)
            self.refresh_lines(first + 1, last - first + 1)

    def _refresh_position(self, position: int) -> None:
        line = position - self.top + 1
        if 1 <= line <= self.page_rows:
            self.refresh_line(position + 1)

    def _drawn_of(self, run: dict) -> _Drawn:
        """How the run was last drawn (forgotten when its row or its mark changed)."""
        state = (run.get("rev"), run["id"] in self.marked)
        drawn = self._drawn.get(run["id"])
        if drawn is None or drawn.state != state:
            drawn = self._drawn[run["id"]] = _Drawn(state)
        return drawn

    def _retimed(self, run: dict, now: float) -> bool:
        """Whether the held run's line must be drawn again now (its TIMED cells read differently)."""
        drawn = self._drawn.get(run["id"])
        marked = run["id"] in self.marked
        if drawn is None or drawn.timed is None:
            return False  # not drawn yet: it will be drawn with the time it is drawn at
        if drawn.state != (run.get("rev"), marked):
            return True
        timed = tuple(self._memo.make(run, key, marked, now).plain for key in self._timed_shown)
        if timed == drawn.timed:
            return False
        drawn.lines.clear()
        return True

    def _line_styles(self) -> tuple[Style, Style]:
        """(a row's style, the cursor row's): read from CSS once, not per line drawn."""
        if self._styles is None:
            base = self.rich_style
            self._styles = (base, base + self.get_component_rich_style("runs-table--cursor"))
        return self._styles

    _styles: tuple[Style, Style] | None = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._restyled()

    def render_lines(self, crop: Region) -> list[Strip]:
        """The lines of a frame. Textual's styles cache draws a line again whenever it is marked dirty,
        and then makes it anew through every CSS step (padding, borders, tint, opacity), a new strip
        that no filter has seen. This table has none of those steps (unless CSS gives it one: then the
        styles cache draws it), so a line is taken as drawn: an unchanged line is the same strip as
        last frame, with its padding and filters done already."""
        self._frame_width = self._relayout()  # one layout check per frame, not one per line
        try:
            if not self._plainly_styled():
                self._frames_direct = False
                return super().render_lines(crop)
            if not self._frames_direct:
                self._styles_cache.clear()  # what it holds is stale once it draws again
                self._frames_direct = True
            base_background, background = self.background_colors
            inner = self._styles_cache.get_inner_outer(base_background, background)[0].rich_style
            width, filters = self.content_region.width, self.get_line_filters()
            self._frame_gutter = (width, inner)
            strips = []
            for y in crop.line_range:
                strip = self.render_line(y).adjust_cell_length(width, inner)  # both cached by the strip
                for line_filter in filters:
                    strip = strip.apply_filter(line_filter, background)
                strips.append(strip)
            if crop.column_span != (0, self.size.width):
                x1, x2 = crop.column_span
                strips = [strip.crop(x1, x2) for strip in strips]
            return strips
        finally:
            self._frame_width = self._frame_gutter = None

    _frames_direct = False
    _frame_gutter: tuple[int, Style] | None = None  # (the frame's line width, the style padding to it)

    def _plainly_styled(self) -> bool:
        """No CSS step of Textual's styles cache would change this table's lines."""
        styles = self.styles
        return (not any(edge for edge, _ in styles.border) and not any(edge for edge, _ in styles.outline)
                and not any(styles.padding) and not styles.tint.a and self.opacity == 1.0
                and styles.text_opacity == 1.0 and not (styles.has_rule("hatch") and styles.hatch != "none")
                and self._border_title is None and self._border_subtitle is None
                and not (self.auto_links and self.hover_style._link_id))

    def render_line(self, y: int) -> Strip:
        width = self._frame_width if self._frame_width is not None else self._relayout()
        base, cursor_style = self._line_styles()
        if y == 0:
            return self._header_line(width, base)
        position = self.top + y - 1
        if self.total is None or position >= self.total:
            return Strip.blank(width, base)
        cursor = position == self.cursor_row
        run = self._rows.get(position)
        if run is None:
            return self._placeholder_line(width, cursor, base)
        drawn = self._drawn_of(run)
        key = (self._look, cursor)
        strip = drawn.lines.get(key)
        if strip is None:
            strip = self._row_line(run, drawn, cursor_style if cursor else base, width)
            drawn.lines[key] = strip
        return strip

    def _row_line(self, run: dict, drawn: _Drawn, style: Style, width: int) -> Strip:
        """The run's line: each cell's segments from what it is made from when that was drawn before
        (a live change mostly leaves most cells of a row as they were), else made and rendered."""
        memo, by_inputs, now = self._memo, self._by_inputs, self.clock()
        marked = drawn.state[1]
        segments: list[Segment] = []  # runs of one style as one segment: fewer for every later step
        timed: list[str] = []
        used = 0
        for col, col_width in self.column_layout:
            column = col.key
            inputs = memo.key(run, column, marked)
            cell_segments = by_inputs.get((inputs, col_width, style)) if inputs is not None else None
            if cell_segments is None:
                cell = memo.make(run, column, marked, now)
                cell_segments = self._cell_segments(col, col_width, cell, style)
                if inputs is None:
                    timed.append(cell.plain)
                else:
                    if len(by_inputs) > 8192:
                        by_inputs.clear()
                    by_inputs[(memo.key(run, column, marked), col_width, style)] = cell_segments
            _extend_joined(segments, cell_segments)
            used += col_width + 2 * CELL_PADDING
        if used < width:
            _extend_joined(segments, [Segment(" " * (width - used), style)])
        if drawn.timed != tuple(timed) or any(look != self._look for look, _ in drawn.lines):
            drawn.lines.clear()  # its other lines were drawn at another time, or in another look
            drawn.timed = tuple(timed)
        if used > width:
            return Strip(segments, used).crop(0, width)
        if self._frame_gutter is not None and self._frame_gutter[0] > width:
            # Under the scrollbar, as the frame pads it: the strip is the frame's line as it is.
            full, inner = self._frame_gutter
            segments.append(Segment(" " * (full - width), inner))
            return Strip(segments, full)
        return Strip(segments, width)

    def _cell_segments(self, col: Col, width: int, cell: Text, style: Style) -> list[Segment]:
        """The cell padded to its column, in the line's style (the cell's own styles over it)."""
        key = (col.key, width, cell.plain, cell.style, tuple(cell.spans), style)
        segments = self._segments.get(key)
        if segments is None:
            if len(self._segments) > 8192:
                self._segments.clear()
            text = cell.copy()
            text.no_wrap = True
            text.overflow = "ellipsis"
            text.truncate(width, overflow="ellipsis")
            text.align(col.justify if col.justify in ("left", "right", "center") else "left", width)
            # Text.render leaves the Text's own style to the caller (it only renders the spans): apply it here.
            console = self.app.console
            own = console.get_style(text.style, default=Style.null()) if text.style else None
            line_style = style + own if own else style
            pad = Segment(" " * CELL_PADDING, style)
            segments = []
            for segment in (pad, *Segment.apply_style(text.render(console), line_style), pad):
                _extend_joined(segments, (segment,))
            self._segments[key] = segments
        return segments

    def _title(self, col: Col) -> Text:
        title = Text(col.title)
        if col.key == self.sort_column:
            title.append(" ▼" if self.sort_reverse else " ▲", style="bold")
        return title

    def _header_line(self, width: int, base: Style) -> Strip:
        style = base + self.get_component_rich_style("runs-table--header")
        key = ("header", width, style, self.sort_column, self.sort_reverse, tuple(self.column_layout))
        strip = self._lines.get(key)
        if strip is None:
            segments: list[Segment] = []
            for col, col_width in self.column_layout:
                title = self._title(col)
                title.truncate(col_width, overflow="ellipsis")
                title.align(col.justify if col.justify in ("left", "right", "center") else "left", col_width)
                segments += [Segment(" " * CELL_PADDING), *title.render(self.app.console),
                             Segment(" " * CELL_PADDING)]
            strip = Strip(segments).apply_style(style).adjust_cell_length(width, style)
            self._lines[key] = strip
        return strip

    def _placeholder_line(self, width: int, cursor: bool, base: Style) -> Strip:
        style = base + self.get_component_rich_style("runs-table--placeholder")
        if cursor:
            style += self.get_component_rich_style("runs-table--cursor")
        key = ("placeholder", width, style)
        strip = self._lines.get(key)
        if strip is None:
            strip = Strip([Segment(" " * (CELL_PADDING + 1) + "…")]).apply_style(style).adjust_cell_length(width, style)
            self._lines[key] = strip
        return strip


def _extend_joined(out: list[Segment], segments: list[Segment] | tuple[Segment, ...]) -> None:
    """Append ``segments`` (no two neighbours of one style among them) to ``out``, the first joined to
    ``out``'s last when they share a style: runs of one style stay one segment. The styles come from
    caches (one style is mostly one object), so the identity test answers first."""
    if out and segments:
        last, first = out[-1], segments[0]
        if last.style is first.style or (last.style is not None and last.style == first.style):
            out[-1] = Segment(last.text + first.text, last.style)
            out.extend(segments[1:])
            return
    out.extend(segments)
