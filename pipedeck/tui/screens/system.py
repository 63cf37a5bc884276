"""View 5: worker health (heartbeat age per worker), queue depth and the job-type registry."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from pipedeck.concepts import durations
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.table import Table


class SystemScreen(PipedeckScreen):
    VIEW_TITLE = "Workers & job types"

    def compose_body(self) -> ComposeResult:
        yield Static(Text("Workers, queue and job types", style="bold"), classes="title")
        with Horizontal(id="system-top"):
            with Vertical(classes="panel", id="workers-panel"):
                yield Static(Text("Workers (w starts one in the background, W stops it)", style="bold"),
                             classes="panel-title")
                yield Table(id="workers", cursor_type="row")
            with Vertical(classes="panel", id="queue-panel"):
                yield Static(Text("Queue depth", style="bold"), classes="panel-title")
                yield Static("", id="queue-depth")
        with Vertical(classes="panel", id="registry-panel"):
            yield Static(Text("Job types", style="bold"), classes="panel-title")
            yield Table(id="registry", cursor_type="row")

    def on_mount(self) -> None:
        workers = self.query_one("#workers", Table)
        workers.set_columns([
            Col("id", "WORKER", priority=0, min=12, max=32), Col("state", "STATE", priority=0, width=16),
            Col("beat", "HEARTBEAT", priority=0, width=9), Col("pid", "PID", priority=2, min=5),
            Col("threads", "THREADS", priority=3), Col("queue", "QUEUE", priority=3, min=8, flex=True)])
        registry = self.query_one("#registry", Table)
        registry.set_columns([
            Col("emoji", " ", priority=0, width=2), Col("key", "KEY", priority=0),
            Col("label", "LABEL", priority=1, min=10, max=32), Col("scope", "SCOPE", priority=2, min=10),
            Col("datasets", "DATASETS", priority=3, max=30), Col("tries", "TRIES", priority=3),
            Col("defaults", "DEFAULT PARAMS", priority=2, min=10, flex=True)])
        for jt in self.svc.job_types():
            defaults = " ".join(f"{k}={v}" for k, v in jt.defaults().items() if v is not None)
            registry.add_row(Text(jt.emoji), Text(jt.key, style="bold"), fmt.plain(jt.label), Text(jt.scope),
                             fmt.plain(", ".join(jt.datasets)), Text(str(jt.max_attempts)), fmt.plain(defaults),
                             key=jt.key)
        workers.focus()
        self.health_changed(self.pd.counts, self.pd.worker_rows)

    def health_changed(self, counts: dict, workers: list[dict]) -> None:
        table = self.query_one("#workers", DataTable)
        shown = {str(k.value) for k in table.rows}
        wanted = {w["id"] for w in workers}
        for key in shown - wanted:
            table.remove_row(key)
        for w in workers:
            cells = [fmt.plain(w["id"]),
                     Text("● alive", style="green") if w["alive"] else Text("✘ not responding", style="red"),
                     Text(f"{durations.compact(w['heartbeat_age'])} ago"), Text(str(w["pid"])), Text(str(w["threads"])),
                     fmt.plain(w.get("queue") or "")]
            if w["id"] in shown:
                for column, cell in zip(("id", "state", "beat", "pid", "threads", "queue"), cells):
                    table.update_cell(w["id"], column, cell)
            else:
                table.add_row(*cells, key=w["id"])
        depth = Text()
        for status in ("queued", "retrying", "running", "cancelling"):
            depth.append(f"{status:>11}  ", style="dim")
            depth.append(f"{counts.get(status, 0)}\n", style="bold")
        if not workers:
            depth.append("\nNo worker has registered yet. Press w to start `pipedeck worker` in the background "
                         "(stopped when you quit), or D to run new jobs directly in this app.", style="yellow")
        self.query_one("#queue-depth", Static).update(depth)
