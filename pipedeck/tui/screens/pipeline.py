"""The pipeline manager: every run, live, filterable (a run's detail is run_detail.py)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Select, Static

from pipedeck.concepts.run_query import RunFilter
from pipedeck.concepts.statuses import STATUSES
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.screens.run_actions import cancel_runs, edit_and_retry, report_bulk, retry_run
from pipedeck.tui.widgets.run_cells import FULL
from pipedeck.tui.widgets.runs_table import RunsTable, WindowRequest

MARKED = Binding.Group("Retry/cancel marked", compact=True)
EXPORT = Binding.Group("Export", compact=True)  # x: CSV, X: JSON (the help screen names each)
STATUS_CHOICES = [("active", "active"), ("failed", "failed")] + \
    [(s, s) for s in STATUSES if s != "failed"]


class PipelineScreen(PipedeckScreen):
    """View 2: every run across brands, newest first, patched live; the whole history scrolls."""

    VIEW_TITLE = "Runs"
    BINDINGS = [
        Binding("enter", "detail", "Detail"),
        Binding("slash", "search", "Search"),
        Binding("f", "filters", "Filters"),
        Binding("space", "mark", "Mark"),
        Binding("r", "retry", "Retry"),
        Binding("e", "edit_retry", "Edit+retry"),
        Binding("c", "cancel", "Cancel"),
        Binding("R", "retry_marked", "Retry marked", group=MARKED),
        Binding("C", "cancel_marked", "Cancel marked", group=MARKED),
        Binding("F", "retry_failed", "Retry failed"),
        Binding("u", "unmark", "Unmark"),
        Binding("x", "export('csv')", "Export CSV", group=EXPORT),
        Binding("X", "export('json')", "Export JSON", group=EXPORT),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = RunFilter()

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="run-filters"):
            yield Select(STATUS_CHOICES, prompt="any status", id="f-status", compact=True)
            yield Select([], prompt="any job type", id="f-type", compact=True)
            yield Select([], prompt="any brand", id="f-brand", compact=True)
            yield Input(placeholder="/ search: type, brand, summary, error, run id", id="f-text", compact=True)
        yield RunsTable(FULL, source=self._window, clock=self.svc.clock, id="runs")
        yield Static("", id="runs-info", classes="hint")

    def _window(self, request: WindowRequest):
        """The table's source: called on a thread worker."""
        return self.svc.run_window(request.filter, request.order, request.offset, request.limit,
                                   request.anchor_id, request.anchor_line)

    def on_mount(self) -> None:
        types = [(f"{jt.emoji} {jt.key}", jt.key) for jt in self.svc.job_types()]
        self.query_one("#f-type", Select).set_options(types)
        self.catalog_changed(self.pd.catalog_cache)
        table = self.query_one("#runs", RunsTable)
        table.focus()
        table.set_query(self.filter)

    def catalog_changed(self, cache) -> None:
        select = self.query_one("#f-brand", Select)
        options = [(fmt.plain(b["name"]), b["id"]) for b in cache.brands]
        if options != getattr(self, "_brand_options", None):
            self._brand_options = options
            value = select.value
            with self.prevent(Select.Changed):
                select.set_options(options)
                if not select.is_blank() and any(v == value for _, v in options):
                    select.value = value

    # -- loading -------------------------------------------------------------
    @property
    def _loading(self) -> bool:
        return self.query_one("#runs", RunsTable).is_loading

    def reload(self) -> None:
        self.query_one("#runs", RunsTable).reload()

    @on(RunsTable.Loaded, "#runs")
    def _loaded(self) -> None:
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        self._update_info()

    def runs_changed(self, rows: list[dict]) -> None:
        self.query_one("#runs", RunsTable).apply_changes(rows, self.filter.matches)

    def tick(self, now: float) -> None:
        self.query_one("#runs", RunsTable).tick(now)

    def _update_info(self) -> None:
        table = self.query_one("#runs", RunsTable)
        text = Text(f"{table.row_count:,} run{'s' if table.row_count != 1 else ''}", style="dim")
        if table.marked:
            text.append(f" · {len(table.marked)} marked", style="bold yellow")
        described = self.filter.describe(self._brand_name)
        if described:
            text.append(" · filter: " + described, style="cyan")
        if text != getattr(self, "_info_shown", None):  # an update re-lays out the screen; skip if unchanged
            self._info_shown = text
            self.query_one("#runs-info", Static).update(text)

    def _brand_name(self, brand_id: int) -> str:
        brand = self.pd.catalog_cache.brand(brand_id)
        return brand["name"] if brand else str(brand_id)

    # -- filters -----------------------------------------------------------------
    def set_filter(self, **changes) -> None:
        """A new filter; the selected run stays selected if it is still listed, and marks stay."""
        new = RunFilter(**{**self.filter.__dict__, **changes})
        if new != self.filter:
            self.filter = new
            self.query_one("#runs", RunsTable).set_query(new)
            self._update_info()

    @on(Select.Changed, "#f-status")
    def _status(self, event: Select.Changed) -> None:
        self.set_filter(status=None if event.select.is_blank() else event.value)

    @on(Select.Changed, "#f-type")
    def _type(self, event: Select.Changed) -> None:
        self.set_filter(job_type=None if event.select.is_blank() else event.value)

    @on(Select.Changed, "#f-brand")
    def _brand(self, event: Select.Changed) -> None:
        self.set_filter(brand_id=None if event.select.is_blank() else event.value)

    @on(Input.Changed, "#f-text")
    def _text(self, event: Input.Changed) -> None:
        self.set_filter(text=event.value.strip())

    @on(Input.Submitted, "#f-text")
    def _text_done(self) -> None:
        self.query_one("#runs", RunsTable).focus()

    def action_search(self) -> None:
        self.query_one("#f-text", Input).focus()

    def action_filters(self) -> None:
        self.query_one("#f-status", Select).focus()

    def on_escape(self) -> bool:
        table = self.query_one("#runs", RunsTable)
        if not table.has_focus:
            table.focus()
            return True
        return False

    # -- acting on runs ------------------------------------------------------------
    def _current(self) -> dict | None:
        run = self.query_one("#runs", RunsTable).current_run()
        if run is None:
            self.notify("no run selected", severity="warning")
        return run

    @on(RunsTable.RowSelected, "#runs")
    def _selected(self) -> None:
        self.action_detail()

    def action_detail(self) -> None:
        run = self._current()
        if run is not None:
            self.pd.open_run(run["id"])

    def action_export(self, fmt: str) -> None:
        """The runs the filter lists, in the table's order, to a CSV or JSON file; the path is shown."""
        svc, run_filter, order = self.svc, self.filter, self.query_one("#runs", RunsTable).order

        def done(result: tuple[str, int]) -> None:
            path, count = result
            self.notify(f"exported {count:,} run{'s' if count != 1 else ''} to {path}", timeout=10)

        self.notify(f"exporting the runs listed to {fmt.upper()}…", timeout=2)
        self.fetch(lambda: svc.export_runs(run_filter, order, fmt), done, group="export")

    def action_mark(self) -> None:
        self.query_one("#runs", RunsTable).toggle_mark()
        self._update_info()

    def action_unmark(self) -> None:
        self.query_one("#runs", RunsTable).clear_marks()
        self._update_info()

    def action_retry(self) -> None:
        run = self._current()
        if run is not None:
            retry_run(self, run["id"])

    def action_edit_retry(self) -> None:
        run = self._current()
        if run is not None:
            edit_and_retry(self, run)

    def action_cancel(self) -> None:
        run = self._current()
        if run is not None:
            cancel_runs(self, [run["id"]])

    def _marked(self) -> list[int]:
        marked = sorted(self.query_one("#runs", RunsTable).marked)
        if not marked:
            self.notify("mark runs with space first", severity="warning")
        return marked

    def action_retry_marked(self) -> None:
        marked = self._marked()
        if marked:
            svc = self.svc
            self.fetch(lambda: svc.retry_many(marked), self._bulk_retried)

    def _bulk_retried(self, result: dict) -> None:
        report_bulk(self, "retried", result)
        self.query_one("#runs", RunsTable).clear_marks()
        self._update_info()
        self.pd.refresh_soon()

    def action_cancel_marked(self) -> None:
        marked = self._marked()
        if marked:
            cancel_runs(self, marked, after=lambda: (self.query_one("#runs", RunsTable).clear_marks(),
                                                     self._update_info()))

    def action_retry_failed(self) -> None:
        """'Retry all failed meta_sync for this brand': the failed runs of a brand and a job type.

        The brand and the job type are the filters' when set, else the selected run's, so the runs on
        screen are what F is about; the confirmation says where each came from.
        """
        svc, f = self.svc, self.filter
        selected = self.query_one("#runs", RunsTable).current_run()
        brand_id = f.brand_id if f.brand_id is not None else (selected or {}).get("brand_id")
        job_type = f.job_type if f.job_type is not None else (selected or {}).get("job_type")
        scope = " ".join(p for p in (job_type or "", f"for {self._brand_name(brand_id)}" if brand_id else "") if p)
        sources = []
        if selected is not None and (f.brand_id is None or f.job_type is None):
            taken = " and ".join(p for p, filtered in (("brand", f.brand_id), ("job type", f.job_type))
                                 if filtered is None)
            sources.append(f"The {taken} of the selected run ({selected['id']}).")
        if f.brand_id is not None or f.job_type is not None:
            sources.append("Set by the filters.")

        def load():
            return svc.failed_runs(brand=brand_id, job_type=job_type)

        def found(ids: list[int]) -> None:
            if not ids:
                self.notify(f"no failed runs to retry{' ' + scope if scope else ''}", timeout=3)
                return

            def answer(yes: bool | None) -> None:
                if yes:
                    self.fetch(lambda: svc.retry_many(ids), self._bulk_retried)

            from pipedeck.tui.screens.modals import ConfirmScreen  # the dialogs' module: when one is shown

            self.app.push_screen(ConfirmScreen(
                f"Retry {len(ids)} failed {scope or 'runs (all brands, all job types)'}?", confirm="Retry all",
                detail=" ".join(sources + ["Set the brand and job type filters (f) to choose others."])), answer)

        self.fetch(load, found)
