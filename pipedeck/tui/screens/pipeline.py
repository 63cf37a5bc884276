"""The pipeline manager: every run, live, filterable; run detail with the live log tail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, ProgressBar, Select, Static

from pipedeck.concepts import durations
from pipedeck.concepts.statuses import ACTIVE, STATUSES, TERMINAL
from pipedeck.concepts.text import visible
from pipedeck.errors import UserError
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.screens.modals import ConfirmScreen
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.log_view import LEVEL_FILTERS, LogView
from pipedeck.tui.widgets.runs_table import FULL, RunsTable, clock_time
from pipedeck.tui.widgets.table import Table as DataGrid

PAGE = 100
MATCHES = Binding.Group("Next/previous match", compact=True)
STATUS_CHOICES = [("active", "active"), ("failed", "failed")] + \
    [(s, s) for s in STATUSES if s != "failed"]


@dataclass(frozen=True)
class RunFilter:
    """The runs table's filter; ``matches`` mirrors the SQL of ``RunStore.list`` for live rows."""

    status: str | None = None
    job_type: str | None = None
    brand_id: int | None = None
    text: str = ""

    @property
    def statuses(self) -> list[str] | None:
        if self.status is None:
            return None
        return list(ACTIVE) if self.status == "active" else [self.status]

    def matches(self, run: dict) -> bool:
        if self.statuses is not None and run["status"] not in self.statuses:
            return False
        if self.job_type is not None and run["job_type"] != self.job_type:
            return False
        if self.brand_id is not None and run["brand_id"] != self.brand_id:
            return False
        if self.text:
            needle = self.text.lower()
            hay = [run.get("job_type"), run.get("brand"), run.get("competitor"), run.get("summary"),
                   run.get("error_message")]
            if not (any(needle in (h or "").lower() for h in hay) or str(run["id"]) == self.text.strip()):
                return False
        return True


class PipelineScreen(PipedeckScreen):
    """View 2: every run across brands, newest first, patched live."""

    VIEW_TITLE = "Runs"
    BINDINGS = [
        Binding("enter", "detail", "Detail"),
        Binding("slash", "search", "Search"),
        Binding("f", "filters", "Filters"),
        Binding("space", "mark", "Mark"),
        Binding("r", "retry", "Retry"),
        Binding("e", "edit_retry", "Edit+retry"),
        Binding("c", "cancel", "Cancel"),
        Binding("R", "retry_marked", "Retry marked"),
        Binding("C", "cancel_marked", "Cancel marked"),
        Binding("F", "retry_failed", "Retry failed"),
        Binding("u", "unmark", "Unmark"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = RunFilter()
        self._loading = False
        self._pending: list[dict] = []

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="run-filters"):
            yield Select(STATUS_CHOICES, prompt="any status", id="f-status", compact=True)
            yield Select([], prompt="any job type", id="f-type", compact=True)
            yield Select([], prompt="any brand", id="f-brand", compact=True)
            yield Input(placeholder="/ search: type, brand, summary, error, run id", id="f-text", compact=True)
        yield RunsTable(FULL, clock=self.svc.clock, page_size=PAGE, id="runs")
        yield Static("", id="runs-info", classes="hint")

    def on_mount(self) -> None:
        types = [(f"{jt.emoji} {jt.key}", jt.key) for jt in self.svc.job_types()]
        self.query_one("#f-type", Select).set_options(types)
        self.catalog_changed(self.pd.catalog_cache)
        self.query_one("#runs", RunsTable).focus()
        self.reload()

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
    def reload(self) -> None:
        svc, f = self.svc, self.filter
        self._loading = True
        self._pending = []

        def load():
            rows = svc.list_runs(brand=f.brand_id, job_type=f.job_type, statuses=f.statuses,
                                 text=f.text or None, limit=PAGE)
            return f, rows

        def failed(exc) -> None:
            self._loading = False
            self._pending = []
            self.notify(str(exc), severity="error", timeout=8)

        self.fetch(load, self._loaded, group="load-runs", on_error=failed)

    def _loaded(self, data) -> None:
        f, rows = data
        if f != self.filter:
            return  # a newer filter is loading
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        table = self.query_one("#runs", RunsTable)
        table.set_runs(rows, has_more=len(rows) >= PAGE)
        self._loading = False
        if self._pending:
            pending, self._pending = self._pending, []
            table.apply_changes(pending, self.filter.matches)
        self._update_info()

    @on(RunsTable.NeedMore, "#runs")
    def _need_more(self, message: RunsTable.NeedMore) -> None:
        svc, f, before = self.svc, self.filter, message.before_id

        def load():
            return f, svc.list_runs(brand=f.brand_id, job_type=f.job_type, statuses=f.statuses,
                                    text=f.text or None, limit=PAGE, before_id=before)

        def loaded(data) -> None:
            f2, rows = data
            if f2 == self.filter:
                self.query_one("#runs", RunsTable).append_runs(rows, has_more=len(rows) >= PAGE)
                self._update_info()

        self.fetch(load, loaded, group="more-runs")

    def runs_changed(self, rows: list[dict]) -> None:
        if self._loading:
            self._pending += rows
            return
        self.query_one("#runs", RunsTable).apply_changes(rows, self.filter.matches)
        self._update_info()

    def tick(self, now: float) -> None:
        self.query_one("#runs", RunsTable).tick(now)

    def _update_info(self) -> None:
        table = self.query_one("#runs", RunsTable)
        text = Text(f"{table.row_count} runs shown", style="dim")
        if table.has_more:
            text.append(" (older runs load as you scroll)", style="dim")
        if table.marked:
            text.append(f" · {len(table.marked)} marked", style="bold yellow")
        f = self.filter
        parts = [p for p in (f.status and f"status={f.status}", f.job_type and f"type={f.job_type}",
                             f.brand_id and f"brand={self._brand_name(f.brand_id)}",
                             f.text and f"text={f.text!r}") if p]
        if parts:
            text.append(" · filter: " + " ".join(parts), style="cyan")
        if text != getattr(self, "_info_shown", None):  # an update re-lays out the screen; skip if unchanged
            self._info_shown = text
            self.query_one("#runs-info", Static).update(text)

    def _brand_name(self, brand_id: int) -> str:
        brand = self.pd.catalog_cache.brand(brand_id)
        return brand["name"] if brand else str(brand_id)

    # -- filters -----------------------------------------------------------------
    def set_filter(self, **changes) -> None:
        new = RunFilter(**{**self.filter.__dict__, **changes})
        if new != self.filter:
            self.filter = new
            self.query_one("#runs", RunsTable).clear_marks()
            self.reload()

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

    @on(DataTable.RowSelected, "#runs")
    def _selected(self) -> None:
        self.action_detail()

    def action_detail(self) -> None:
        run = self._current()
        if run is not None:
            self.pd.open_run(run["id"])

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

            self.app.push_screen(ConfirmScreen(
                f"Retry {len(ids)} failed {scope or 'runs (all brands, all job types)'}?", confirm="Retry all",
                detail=" ".join(sources + ["Set the brand and job type filters (f) to choose others."])), answer)

        self.fetch(load, found)


# -- shared by the runs table and the run detail ------------------------------------
def retry_run(screen: PipedeckScreen, run_id: int) -> None:
    svc = screen.svc

    def done(new_id: int) -> None:
        screen.notify(f"run {run_id} retried as run {new_id}", timeout=4)
        screen.pd.refresh_soon()

    screen.fetch(lambda: svc.retry(run_id), done, group=f"retry-{run_id}")


def edit_and_retry(screen: PipedeckScreen, run: dict) -> None:
    if run["status"] not in TERMINAL:
        screen.notify(f"run {run['id']} is still {run['status']}; cancel it first or wait for it to end",
                      severity="warning")
        return
    screen.pd.open_job_form(run["job_type"], run["brand_id"], run["competitor_id"], params=run["params"],
                            retry_of=run["id"])


def cancel_runs(screen: PipedeckScreen, run_ids: list[int], after=None) -> None:
    svc = screen.svc
    what = f"run {run_ids[0]}" if len(run_ids) == 1 else f"{len(run_ids)} runs"

    def answer(yes: bool | None) -> None:
        if not yes:
            return
        if len(run_ids) == 1:
            def done(status: str) -> None:
                screen.notify(f"run {run_ids[0]} {status}" + (": it stops at its next check" if status == "cancelling"
                                                              else ""), timeout=4)
                screen.pd.refresh_soon()
            screen.fetch(lambda: svc.cancel(run_ids[0]), done, group="cancel")
        else:
            def done_many(result: dict) -> None:
                report_bulk(screen, "cancelled", result)
                screen.pd.refresh_soon()
                if after:
                    after()
            screen.fetch(lambda: svc.cancel_many(run_ids), done_many, group="cancel")

    screen.app.push_screen(ConfirmScreen(f"Cancel {what}?", confirm="Cancel run" if len(run_ids) == 1
                                         else f"Cancel {len(run_ids)} runs",
                                         detail="Queued runs are cancelled at once; running ones stop at their "
                                                "next check and show `cancelling` until then."), answer)


def report_bulk(screen: PipedeckScreen, verb: str, result: dict) -> None:
    ok = {k: v for k, v in result.items() if not isinstance(v, str) or v in ("cancelled", "cancelling")}
    skipped = {k: v for k, v in result.items() if k not in ok}
    msg = f"{len(ok)} run(s) {verb}"
    if skipped:
        first = next(iter(skipped.items()))
        msg += f"; {len(skipped)} skipped (run {first[0]}: {first[1]})"
    screen.notify(msg, severity="warning" if skipped else "information", timeout=6)


class RunDetailScreen(PipedeckScreen):
    """One run: status, progress, attempts, error, params and the live log tail."""

    HELP_TITLE = "Run detail"
    BINDINGS = [
        Binding("r", "retry", "Retry"),
        Binding("e", "edit_retry", "Edit+retry"),
        Binding("c", "cancel", "Cancel"),
        # The log's keys (w here wraps the log; the palette still starts a worker).
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("slash", "search_log", "Search"),
        Binding("n", "next_match", "Next match", group=MATCHES),
        Binding("N", "previous_match", "Previous match", group=MATCHES),
        Binding("l", "cycle_level", "Level"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("ctrl+s", "save_log", "Save log"),
    ]
    LOG_TAIL = 200
    # Terminals shorter than this get a tighter top so that the log keeps at least 8 lines.
    SHORT_BELOW = 32

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.run: dict | None = None
        self.attempts: list[dict] = []
        self._info_shown: list | None = None
        self.last_log_id = 0
        self.attempt_count = -1
        self._fetching = False
        self._refetch = False

    def compose_body(self) -> ComposeResult:
        yield Static("", id="run-title", classes="title")
        with Horizontal(id="run-top"):
            with VerticalScroll(classes="panel", id="run-info-panel"):
                yield Static("", id="run-info")
            with Vertical(classes="panel", id="run-side"):
                yield ProgressBar(total=None, show_eta=False, id="run-progress")
                yield Static("", id="run-progress-label")
                yield DataGrid(id="attempts", cursor_type="none", show_cursor=False)
        yield Static("", id="run-error")
        with Vertical(classes="panel", id="run-log-panel"):
            yield LogView(id="run-log")
            yield Input(placeholder="search the log: enter keeps the search, esc clears it", id="log-search",
                        classes="hidden", compact=True)

    def on_resize(self, event) -> None:
        self.set_class(event.size.height < self.SHORT_BELOW, "-short")

    def on_mount(self) -> None:
        self.set_class(self.app.size.height < self.SHORT_BELOW, "-short")
        self.query_one("#run-info-panel").border_title = "Run"
        self.query_one("#run-side").border_title = "Progress and attempts"
        self._show_log_title()
        self.query_one("#run-log", LogView).focus()
        self.query_one("#attempts", DataGrid).set_columns([
            Col("n", "#", priority=0, width=2, justify="right"), Col("status", "STATUS", priority=0, width=12),
            Col("worker", "WORKER", priority=2, max=24), Col("took", "TOOK", priority=0, width=5),
            Col("error", "ERROR", priority=1, min=10, flex=True)])
        self.reload()
        if self.pd.live_enabled:
            # Debug-only log lines do not bump the run's rev; look for them while the run is active.
            self.set_interval(1.0, self._poll_if_active)

    def reload(self) -> None:
        self.last_log_id = 0
        self.attempt_count = -1
        self.query_one("#run-log", LogView).clear()
        self._fetch(full=True)

    def _fetch(self, full: bool = False) -> None:
        if self._fetching and not full:
            self._refetch = True  # read again when the fetch in flight lands (it may predate this change)
            return
        self._fetching = True
        self._refetch = False
        svc, run_id, after = self.svc, self.run_id, 0 if full else self.last_log_id
        known_attempts = -1 if full else self.attempt_count

        def load():
            run = svc.run(run_id)
            if after:
                logs = svc.run_logs(run_id, after_id=after, limit=self.LOG_TAIL * 5)
            else:
                logs = svc.run_logs(run_id, tail=self.LOG_TAIL)
            attempts = svc.run_attempts(run_id) if run["attempts"] != known_attempts or \
                run["status"] in TERMINAL else None
            return run, logs, attempts

        def failed(exc) -> None:
            self._fetching = False
            self.notify(str(exc), severity="error")

        self.fetch(load, self._loaded, group="detail", exclusive=False, on_error=failed)

    def _poll_if_active(self) -> None:
        if self.run is not None and self.run["status"] in ACTIVE and not (
                self.pd.feed is not None and self.pd.feed.paused.is_set()):
            self._fetch()

    def runs_changed(self, rows: list[dict]) -> None:
        if any(r["id"] == self.run_id for r in rows):
            self._fetch()

    def _loaded(self, data) -> None:
        self._fetching = False
        if self._refetch:
            self.call_after_refresh(self._fetch)
        run, logs, attempts = data
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        self.run = run
        now = self.now()
        title = Text.assemble((f"Run {run['id']}  ", "bold"), (f"{run['job_type']}  ", "bold"),
                              fmt.status_text(run["status"]),
                              fmt.plain(f"   {run['brand']}" + (f" › {run['competitor']}" if run["competitor"] else ""),
                                        "cyan"))
        if run["direct"]:
            title.append("   ⚡ direct (ran inside the app)", style="magenta")
        self.query_one("#run-title", Static).update(title)
        self._show_info(now)
        bar = self.query_one("#run-progress", ProgressBar)
        label = self.query_one("#run-progress-label", Static)
        total, current = run["progress_total"], run["progress_current"]
        if total:
            bar.update(total=total, progress=current or 0)
        elif run["status"] == "succeeded":
            bar.update(total=1, progress=1)
        elif run["status"] == "running":
            bar.update(total=None)  # running, size unknown: the bar pulses
        else:
            bar.update(total=1, progress=0)
        label.update(fmt.plain(" ".join(p for p in (fmt.progress_label(run), run["progress_message"] or "") if p)
                          or ("waiting for a worker" if run["status"] in ("queued", "retrying") else "")))
        error = self.query_one("#run-error", Static)
        if run["error_message"]:
            error.update(Text.assemble(("✘ " if run["status"] == "failed" else "! ", "bold red"),
                                       fmt.plain(f"{run['error_type']}: ", "bold red"),
                                       Text(visible(run["error_message"], keep_newlines=True), style="red")))
            error.remove_class("hidden")
        else:
            error.update("")
            error.add_class("hidden")
        if attempts is not None:
            self.attempt_count = run["attempts"]
            self.attempts = attempts
            table = self.query_one("#attempts", DataTable)
            table.clear()
            for a in attempts:
                table.add_row(Text(str(a["number"])), fmt.status_text(a["status"]), fmt.plain(a["worker_id"] or ""),
                              self._attempt_took(a, now), fmt.one_line(
                                  f"{a['error_type']}: {a['error_message']}" if a["error_message"] else "", 200),
                              key=str(a["number"]))
        if logs:
            self.query_one("#run-log", LogView).append(
                [(clock_time(line["ts"], now), line["level"], line["message"]) for line in logs])
            self.last_log_id = max(self.last_log_id, logs[-1]["id"])
            self._show_log_title()

    def _show_info(self, now: float) -> None:
        run = self.run
        rows = [(label, value) for label, value in (
            ("attempts", f"{run['attempts']}/{run['max_attempts']}" + (f" ({run['failures']} failed)"
                                                                        if run["failures"] else "")),
            ("created", f"{clock_time(run['created_at'], now)} ({durations.ago(run['created_at'], now)})"),
            ("started", clock_time(run["started_at"], now) or "not yet"),
            ("finished", clock_time(run["finished_at"], now) or "–"),
            ("took", fmt.run_duration(run, now) or "–"),
            ("next attempt", clock_time(run["next_attempt_at"], now) if run["next_attempt_at"] else None),
            ("worker", run["worker_id"]),
            ("retry of", str(run["retry_of"]) if run["retry_of"] else None),
            ("retried by", str(run["retried_by"]) if run["retried_by"] else None),
            ("params", "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(run["params"].items())) or "{}"),
            ("result", " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(run["result"].items()))
             if run["result"] else None)) if value]
        if rows == self._info_shown:
            return  # the same as painted: no re-layout
        self._info_shown = rows
        info = Table.grid(padding=(0, 2))
        info.add_column(style="dim", justify="right", no_wrap=True)
        info.add_column(overflow="fold")
        for label, value in rows:
            info.add_row(label, fmt.plain(value) if label != "params" else Text(visible(value, keep_newlines=True)))
        self.query_one("#run-info", Static).update(info)

    @staticmethod
    def _attempt_took(attempt: dict, now: float) -> Text:
        return Text(durations.took(attempt["started_at"], attempt["finished_at"], now))

    def tick(self, now: float) -> None:
        """The header's and the running attempt's durations move on between reads."""
        if self.run is None:
            return
        self._show_info(now)
        table = self.query_one("#attempts", DataTable)
        for a in self.attempts:
            if a["started_at"] and not a["finished_at"]:
                table.refresh_cells(str(a["number"]), {"took": self._attempt_took(a, now)})

    # -- the log -------------------------------------------------------------------
    def _show_log_title(self, saved: str = "") -> None:
        log = self.query_one("#run-log", LogView)
        title = Text.assemble(("Log", "bold"), f"  {len(log.entries)} lines", style="")
        title.append(" · wrapped" if log.wrap else " · not wrapped (← → scroll)")
        title.append(" · following" if log.follow else " · holding (f follows)")
        if log.min_level:
            title.append(f" · {log.min_level} and up", style="yellow")
        if log.search:
            found = len(log.shown_matches)
            at = f"{log.current + 1}/" if log.current is not None else ""
            title.append(" · ")
            title.append_text(fmt.plain(f"{at}{found} match{'es' if found != 1 else ''} for “{log.search}”",
                                        "bold" if found else "red"))
        if saved:
            title.append(" · saved to ")
            title.append_text(fmt.plain(saved, "green"))
        self.query_one("#run-log-panel").border_title = title

    def action_toggle_wrap(self) -> None:
        log = self.query_one("#run-log", LogView)
        log.wrap = not log.wrap
        self._show_log_title()

    def action_toggle_follow(self) -> None:
        log = self.query_one("#run-log", LogView)
        log.follow = not log.follow
        self._show_log_title()

    def action_cycle_level(self) -> None:
        log = self.query_one("#run-log", LogView)
        log.min_level = LEVEL_FILTERS[(LEVEL_FILTERS.index(log.min_level) + 1) % len(LEVEL_FILTERS)]
        self._show_log_title()

    def action_search_log(self) -> None:
        box = self.query_one("#log-search", Input)
        box.remove_class("hidden")
        box.focus()

    @on(Input.Changed, "#log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.query_one("#run-log", LogView).search = event.value
        self._show_log_title()

    @on(Input.Submitted, "#log-search")
    def _search_done(self) -> None:
        log = self.query_one("#run-log", LogView)
        self.query_one("#log-search", Input).add_class("hidden")
        log.focus()
        if log.search:
            log.next_match()
        self._show_log_title()

    def action_next_match(self) -> None:
        self._step_match(1)

    def action_previous_match(self) -> None:
        self._step_match(-1)

    def _step_match(self, step: int) -> None:
        log = self.query_one("#run-log", LogView)
        if not log.search:
            self.notify("search the log first (/)", severity="warning", timeout=3)
            return
        if log.next_match(step) is None:
            self.notify(f"“{visible(log.search)}” is not in the lines shown", severity="warning", timeout=3)
        self._show_log_title()

    def on_escape(self) -> bool:
        box = self.query_one("#log-search", Input)
        log = self.query_one("#run-log", LogView)
        if box.has_focus or log.search:
            box.value = ""
            box.add_class("hidden")
            log.search = ""
            log.focus()
            self._show_log_title()
            return True
        return False

    def action_save_log(self) -> None:
        """The whole log (not only the tail shown) to a file in the data dir's logs folder."""
        svc, run_id = self.svc, self.run_id
        path = self.pd.settings.log_dir / "runs" / f"run-{run_id}.log"

        def save() -> tuple[str, int]:
            lines = [f"{datetime.fromtimestamp(line['ts']):%Y-%m-%d %H:%M:%S} {line['level']:<7} "
                     f"{visible(line['message'])}" for line in svc.run_logs(run_id)]
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
            except OSError as exc:
                raise UserError(f"could not save the log to {path}: {exc.strerror or exc}") from None
            return str(path), len(lines)

        def saved(result: tuple[str, int]) -> None:
            where, count = result
            self.notify(f"saved {count} log lines of run {run_id} to {where}", timeout=8)
            self._show_log_title(saved=where)

        self.fetch(save, saved, group="save-log")

    # -- actions ---------------------------------------------------------------------
    def action_retry(self) -> None:
        if self.run is not None:
            retry_run(self, self.run_id)

    def action_edit_retry(self) -> None:
        if self.run is not None:
            edit_and_retry(self, self.run)

    def action_cancel(self) -> None:
        if self.run is not None:
            if self.run["status"] in TERMINAL:
                self.notify(f"run {self.run_id} already ended ({self.run['status']}); nothing to cancel",
                            severity="warning")
                return
            cancel_runs(self, [self.run_id])
