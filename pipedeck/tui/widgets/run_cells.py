"""A run's cells, as both run tables show them: the columns, their widths, and each cell's text."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from rich.text import Text

from pipedeck.concepts import durations
from pipedeck.concepts.text import visible
from pipedeck.tui import fmt
from pipedeck.tui.widgets.columns import Col

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
# What each column sorts by in the run store (concepts.run_query.SORT_KEYS); the mark column does not sort.
SORT_KEY = {"id": "id", "status": "status", "type": "job_type", "brand": "brand", "competitor": "competitor",
            "tries": "attempts", "created": "created", "age": "created", "took": "took", "summary": "summary",
            "direct": "direct"}


def clock_time(ts: float | None, now: float) -> str:
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts)
    if moment.date() == datetime.fromtimestamp(now).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%b %d %H:%M")


def run_cells(run: dict, columns: Iterable[str], marked: bool, now: float) -> list[Text]:
    """The cells of ``run`` for ``columns``, as rich Text (outside text made visible)."""
    columns = tuple(columns)
    return [run_cell(run, key, marked, now, columns) for key in columns]


def run_cell(run: dict, key: str, marked: bool, now: float, columns: tuple[str, ...]) -> Text:
    """One cell of ``run`` in a table of ``columns``; reads the run only by ``run[...]`` and ``run.get``
    (CellMemo notes the fields each column reads that way)."""
    if key == "mark":
        return Text("●" if marked else " ", style="bold yellow")
    if key == "id":
        return Text(str(run["id"]), justify="right")
    if key == "status":
        text = fmt.status_text(run["status"])
        if run.get("direct"):
            text.append(" ⚡", style="magenta")
        return text
    if key == "type":
        return fmt.plain(run["job_type"])
    if key == "brand":
        text = fmt.plain(run.get("brand"))
        if run.get("competitor") and "competitor" not in columns:
            text.append(f" › {visible(run['competitor'])}", style="cyan")
        return text
    if key == "competitor":
        return fmt.plain(run.get("competitor") or "")
    if key == "tries":
        return Text(f"{run['attempts']}/{run['max_attempts']}")
    if key == "created":
        return Text(clock_time(run["created_at"], now))
    if key == "age":
        return Text(durations.ago(run["created_at"], now))
    if key == "took":
        return Text(fmt.run_duration(run, now))
    if key == "progress":
        return Text(fmt.progress_label(run), style="cyan")
    if key == "summary":
        return fmt.one_line(run.get("log_summary") or run.get("summary") or "", 300)
    if key == "direct":
        return Text("app ⚡" if run.get("direct") else "worker", style="magenta" if run.get("direct") else "")
    raise KeyError(key)  # pragma: no cover - a typo in a column list


# The columns whose cells read the clock as well as the run: they move as time passes.
TIMED = frozenset({"created", "age", "took"})


class _Reads(dict):
    """A copy of a run that notes which of its fields are read."""

    def __init__(self, run: dict, read: set[str]) -> None:
        super().__init__(run)
        self.read = read

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)


class CellMemo:
    """What a cell of a table of ``columns`` is made from, so that a cell already drawn is known by a
    key instead of being made again (a live refresh redraws rows of which most cells did not change).

    A cell's key is its column, the mark, and the values of the run's fields the column has read so
    far: each cell made here notes the fields it read, so a column whose cell reads another field on
    some branch widens its key the first time it does (keys of different widths never match). A cell
    of a TIMED column has no key: it reads the clock.
    """

    def __init__(self, columns: Iterable[str]) -> None:
        self.columns = tuple(columns)
        self._fields: dict[str, tuple[str, ...]] = {key: () for key in self.columns}

    def key(self, run: dict, column: str, marked: bool) -> tuple | None:
        if column in TIMED:
            return None
        return (column, marked, *map(run.get, self._fields[column]))

    def make(self, run: dict, column: str, marked: bool, now: float) -> Text:
        """The cell, made (noting the fields it reads when it can be keyed)."""
        if column in TIMED:
            return run_cell(run, column, marked, now, self.columns)
        read: set[str] = set()
        text = run_cell(_Reads(run, read), column, marked, now, self.columns)
        if not read <= set(self._fields[column]):
            self._fields[column] = tuple(sorted(read | set(self._fields[column])))
        return text
