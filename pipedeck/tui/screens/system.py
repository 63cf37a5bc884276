"""View 5: workers (host, pid, uptime, runs done, current run, last error, heartbeat), alert delivery,
queue depth and the job-type registry."""

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
                yield Static("", id="workers-hint", classes="hint")
                yield Static("", id="alerts-state", classes="hint")
            with Vertical(classes="panel", id="queue-panel"):
                yield Static(Text("Queue depth", style="bold"), classes="panel-title")
                yield Static("", id="queue-depth")
        with Vertical(classes="panel", id="registry-panel"):
            yield Static(Text("Job types", style="bold"), classes="panel-title")
            yield Table(id="registry", cursor_type="row")

    def on_mount(self) -> None:
        workers = self.query_one("#workers", Table)
        workers.set_columns([
            Col("id", "WORKER", priority=3, min=10, max=32), Col("state", "STATE", priority=0, width=16),
            Col("host", "HOST", priority=2, min=6, max=20), Col("pid", "PID", priority=1, min=5),
            Col("up", "UP", priority=2, width=4), Col("done", "DONE", priority=1, min=4, justify="right"),
            Col("current", "CURRENT RUN", priority=0, min=11, max=24),
            Col("beat", "HEARTBEAT", priority=4, width=9),
            Col("error", "LAST ERROR", priority=0, min=10, flex=True)])
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
        self._show_depth(counts, workers)
        svc = self.svc
        # The feed's rows say who is alive; what each has done is read here, off the loop, per health tick.
        self.fetch(lambda: (svc.worker_details(), svc.alert_delivery_error(), bool(svc.settings.alert_targets())),
                   self._details_loaded, group="worker-details")

    def _details_loaded(self, data) -> None:
        workers, alert_error, alerting = data
        self.details = workers
        table = self.query_one("#workers", DataTable)
        shown = {str(k.value) for k in table.rows}
        wanted = {w["id"] for w in workers}
        for key in shown - wanted:
            table.remove_row(key)
        columns = ("id", "state", "host", "pid", "up", "done", "current", "beat", "error")
        for w in workers:
            cells = self.worker_cells(w)
            if w["id"] in shown:
                for column, cell in zip(columns, cells):
                    table.update_cell(w["id"], column, cell)
            else:
                table.add_row(*cells, key=w["id"])
        self.query_one("#alerts-state", Static).update(self.alerts_text(alert_error, alerting))

    @staticmethod
    def worker_cells(w: dict) -> list[Text]:
        current = ", ".join(f"{r['id']} {r['job_type']}" for r in w["current"])
        error = Text()
        if w["last_error"]:
            error = fmt.one_line(f"run {w['last_error_run']}: {w['last_error']}", 200)
            error.stylize("red")
        return [fmt.plain(w["id"]),
                Text("● alive", style="green") if w["alive"] else Text("✘ not responding", style="red"),
                fmt.plain(w["host"]), Text(str(w["pid"])), Text(durations.compact(w["uptime"])),
                Text(str(w["runs_done"]), justify="right"),
                Text(current or "idle", style="cyan" if current else "dim"),
                Text(f"{durations.compact(w['heartbeat_age'])} ago"), error]

    @staticmethod
    def alerts_text(error: dict | None, alerting: bool) -> Text:
        if error:
            return Text.assemble(("✘ alerts not delivered: ", "bold red"),
                                 fmt.one_line(error["last_error"] or "", 200),
                                 (f" (alert {error['id']}; runs are not affected)", "dim"))
        if alerting:
            return Text("● alerts delivered", style="green")
        return Text("alerts: desktop only (no PIPEDECK_ALERT_URLS)", style="dim")

    def _show_depth(self, counts: dict, workers: list[dict]) -> None:
        depth = Text()
        for status in ("queued", "retrying", "running", "cancelling"):
            depth.append(f"{status:>11}  ", style="dim")
            depth.append(f"{counts.get(status, 0)}\n", style="bold")
        hint = self.query_one("#workers-hint", Static)
        hint.update(Text("No worker has registered yet. Press w to start `pipedeck worker` in the background "
                         "(stopped when you quit), or D to run new jobs directly in this app.", style="yellow")
                    if not workers else "")
        hint.display = not workers
        self.query_one("#queue-depth", Static).update(depth)
