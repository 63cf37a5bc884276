"""View 2's run detail: status, progress, attempts, error, params and the live log tail."""

from __future__ import annotations

import json
from datetime import datetime

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, ProgressBar, Static

from pipedeck.concepts import durations
from pipedeck.concepts.statuses import ACTIVE, TERMINAL
from pipedeck.concepts.text import visible
from pipedeck.errors import UserError
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.screens.run_actions import cancel_runs, edit_and_retry, retry_run
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.log_view import LEVEL_FILTERS, LogView
from pipedeck.tui.widgets.run_cells import clock_time
from pipedeck.tui.widgets.table import Table as DataGrid

MATCHES = Binding.Group("Next/previous match", compact=True)


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
