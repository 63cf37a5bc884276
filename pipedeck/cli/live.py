"""A run while it goes: its log lines as they come and, on a terminal, a progress bar with
"N of M" and the latest log line (``queue ... --direct``, ``runs show N --follow``)."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import Callable

import click

from pipedeck.cli.output import console, is_terminal
from pipedeck.concepts.text import visible


def log_line(line: dict) -> str:
    stamp = datetime.fromtimestamp(line["ts"]).strftime("%H:%M:%S")
    return f"{stamp} {line['level']:<7} {line['message']}"


def count(current: float | None, total: float | None) -> str:
    if current is None:
        return ""
    return f"{current:g} of {total:g}" if total else f"{current:g}"


class LiveRun:
    """Prints lines; on a terminal also keeps a progress bar under them, updated by :meth:`update`."""

    def __init__(self, run_id: int, *, stderr: bool = False) -> None:
        self.run_id = run_id
        self.stderr = stderr
        self.terminal = is_terminal(sys.stderr if stderr else sys.stdout)
        self._progress = None
        self._task = None
        self._latest = ""
        self._lock = threading.Lock()

    def __enter__(self) -> "LiveRun":
        if self.terminal:
            from rich.progress import BarColumn, Progress, TextColumn
            from rich.table import Column

            self._progress = Progress(
                TextColumn(f"run {self.run_id}"), BarColumn(bar_width=24), TextColumn("{task.fields[count]}"),
                TextColumn("{task.description}", markup=False,
                           table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
                console=console(self.stderr), expand=True, transient=False, refresh_per_second=8)
            self._progress.start()
            self._task = self._progress.add_task("waiting…", total=None, count="")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()

    def line(self, text: str) -> None:
        """A log line: printed (above the bar on a terminal), and the bar's latest line."""
        text = visible(text)
        with self._lock:
            self._latest = text
        if self._progress is not None:
            from rich.text import Text

            self._progress.console.print(Text(text), soft_wrap=True)
            self._progress.update(self._task, description=text.removeprefix(f"run {self.run_id} "))
        else:
            click.echo(text, err=self.stderr)

    def update(self, run: dict) -> None:
        """Progress from the run's row: current of total, and its message when no log line came yet."""
        if self._progress is None:
            return
        current, total = run.get("progress_current"), run.get("progress_total")
        changes = {"count": count(current, total)}
        if total:
            changes.update(total=total, completed=current or 0)
        with self._lock:
            if not self._latest and run.get("progress_message"):
                changes["description"] = visible(run["progress_message"])
        self._progress.update(self._task, **changes)


class Poller:
    """Calls ``tick`` every ``interval`` seconds on its own thread until stopped (and once more then)."""

    def __init__(self, tick: Callable[[], None], interval: float = 0.25) -> None:
        self.tick = tick
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pipedeck-cli-progress", daemon=True)

    def __enter__(self) -> "Poller":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.tick()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a failed read only skips one refresh of the bar
                pass
