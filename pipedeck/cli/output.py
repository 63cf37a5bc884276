"""What the CLI prints: tables (rich on a terminal, plain text when piped), JSON, CSV, times.

Every string that reaches the terminal passes through :func:`pipedeck.concepts.text.visible`
first: brand names, ad text, page names, error messages from Meta, run summaries and log lines
are written by others, and an escape sequence in them must be shown, never obeyed.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import click

from pipedeck.concepts import durations
from pipedeck.concepts.text import visible

PLAIN_CELL_LIMIT = 60  # piped tables cut a cell here, so one long value does not push the rest away
COLUMN_GAP = 2
# JSON escapes C0 controls itself; these it would write raw (C1 controls, bidi overrides).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def is_terminal(stream=None) -> bool:
    """Whether output goes to a terminal: rich's TTY_COMPATIBLE=1/0 decides, else the stream itself."""
    forced = os.environ.get("TTY_COMPATIBLE", "")
    if forced in ("0", "1"):
        return forced == "1"
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, force_terminal=is_terminal(stream), highlight=False, emoji=False,
                   soft_wrap=False)


def echo(text: object = "", err: bool = False) -> None:
    """One line of outside text, control characters shown."""
    click.echo(visible(text), err=err)


def note(text: str) -> None:
    """A remark for people (not data): on stderr, so stdout stays parseable."""
    click.echo(visible(text), err=True)


# -- times --------------------------------------------------------------------------------------
def iso(ts: float | None) -> str | None:
    """A moment in ISO 8601 UTC, as JSON output writes it: ``2026-03-02T07:00:00Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def local_time(ts: float | None, now: float) -> str:
    """A moment in the local time zone, and how far off it is: ``2026-03-02 08:00 CET (in 3 h)``."""
    if ts is None:
        return "-"
    moment = datetime.fromtimestamp(ts).astimezone()
    return f"{moment.strftime('%Y-%m-%d %H:%M %Z').strip()} ({durations.until(ts, now)})"


# -- JSON and CSV ---------------------------------------------------------------------------------
def emit_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    click.echo(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def emit_csv(records: list[dict]) -> None:
    if not records:
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({k: visible(json.dumps(v, default=str) if isinstance(v, (dict, list)) else
                                    "" if v is None else v) for k, v in record.items()})
    click.echo(out.getvalue(), nl=False)


# -- tables ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """A table column. ``flex`` takes the width that is left (a summary, a text); ``drop`` > 0 may
    be left out on a narrow terminal, highest first; ``shrink_to`` is how narrow it may get."""

    header: str
    flex: bool = False
    drop: int = 0
    max_width: int | None = None
    shrink_to: int | None = None
    justify: str = "left"
    min_flex: int = 16


@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""


def _cell(value: Any) -> Cell:
    if isinstance(value, Cell):
        return Cell(visible(value.text), value.style)
    return Cell(visible("" if value is None else value))


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    if is_terminal():
        _rich_table(columns, cells)
    else:
        click.echo(plain_table([c.header for c in columns], [[c.text for c in row] for row in cells]))


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, v in enumerate(row):
            widths[i] = min(max(widths[i], len(v)), PLAIN_CELL_LIMIT)

    def fmt(row):
        return "  ".join((v if len(v) <= widths[i] else v[: widths[i] - 1] + "…").ljust(widths[i])
                         for i, v in enumerate(row)).rstrip()

    return "\n".join([fmt(headers), *(fmt(r) for r in rows)])


def fit_columns(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> dict[int, int]:
    """Which columns are shown, and how wide, so that one row is one line of ``width`` cells."""
    from rich.cells import cell_len

    natural = []
    for i, col in enumerate(columns):
        wide = max([cell_len(col.header)] + [cell_len(r[i].text) for r in rows])
        natural.append(min(wide, col.max_width) if col.max_width else wide)
    keep = list(range(len(columns)))
    flex = next((i for i in keep if columns[i].flex), None)

    def needed() -> int:
        fixed = sum(natural[i] for i in keep if i != flex)
        return fixed + COLUMN_GAP * (len(keep) - 1) + (min(columns[flex].min_flex, natural[flex]) if flex is not None else 0)

    for i in sorted((i for i in keep if columns[i].drop), key=lambda i: -columns[i].drop):
        if needed() <= width:
            break
        keep.remove(i)
    while needed() > width:
        shrinkable = [i for i in keep if i != flex and columns[i].shrink_to and natural[i] > columns[i].shrink_to]
        if not shrinkable:
            break
        natural[max(shrinkable, key=lambda i: natural[i])] -= 1
    widths = {i: natural[i] for i in keep}
    if flex is not None:
        left = width - (needed() - min(columns[flex].min_flex, natural[flex]))
        widths[flex] = max(min(natural[flex], left), 1)
    return widths


def _rich_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    widths = fit_columns(columns, rows, out.width)
    table = Table(box=None, padding=(0, COLUMN_GAP // 2), pad_edge=False, show_edge=False,
                  header_style="bold", expand=False)
    shown = sorted(widths)
    for i in shown:
        col = columns[i]
        table.add_column(col.header, width=widths[i], no_wrap=True, overflow="ellipsis", justify=col.justify)
    for row in rows:
        table.add_row(*(Text(row[i].text, style=row[i].style) for i in shown))
    out.print(table)


# -- listings: --json / --csv declared once ---------------------------------------------------------
class Output:
    """How a listing is printed: a table (default), ``--json`` or ``--csv``."""

    def __init__(self, mode: str = "table") -> None:
        self.mode = mode

    @property
    def json(self) -> bool:
        return self.mode == "json"

    def listing(self, records: list[dict], columns: Sequence[Column], rows: Callable[[], list[list[Any]]],
                empty: str) -> None:
        """``records`` for JSON and CSV; ``rows()`` (cells for ``columns``) for the table; ``empty`` when none."""
        if self.mode == "json":
            emit_json(records)
        elif self.mode == "csv":
            emit_csv(records)
        elif records:
            print_table(columns, rows())
        else:
            note(empty)


def output_options(f: Callable) -> Callable:
    """``--json`` and ``--csv`` for a listing, handed to the command as ``output`` (as sqlite-utils'
    ``output_options`` declares its formats once for every query command)."""

    @click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON: an array of objects.")
    @functools.wraps(f)
    def wrapper(*args: Any, as_json: bool, as_csv: bool, **kwargs: Any) -> Any:
        if as_json and as_csv:
            raise click.UsageError("--json and --csv exclude each other")
        return f(*args, output=Output("json" if as_json else "csv" if as_csv else "table"), **kwargs)

    return wrapper


def json_option(f: Callable) -> Callable:
    """``--json`` alone, for commands that print one object."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)
