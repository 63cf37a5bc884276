"""The pipedeck terminal app.

    run_tui(settings) -> exit status

Data flows one way: a background feed (``live.LiveFeed``) and thread
workers read through the Service and post messages; handlers on the event
loop render them. Nothing here reads the database on the event loop.
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

from textual.app import App
from textual.screen import Screen
from textual.binding import Binding
from textual.reactive import reactive

from pipedeck.concepts import durations
from pipedeck.concepts.statuses import IN_FLIGHT
from pipedeck.concepts.text import visible
from pipedeck.config import Settings
from pipedeck.errors import UserError
from pipedeck.tui.crash import write_crash_log
from pipedeck.tui.children import DirectRuns, WorkerChild, pipedeck_env
from pipedeck.tui.live import LiveFeed
from pipedeck.tui.messages import (CatalogCache, CatalogChanged, DatabaseReachability, HealthChanged, RunsChanged,
                                   RunsReload, StatusInfo)
from pipedeck.tui.screens.base import PipedeckScreen, run_off_loop
from pipedeck.tui.commands import PipedeckCommands

VIEWS = Binding.Group("Views", compact=True)


def _view(module: str, name: str):
    """A view's screen, its module imported when the view is first shown: the first paint imports
    the first view's screen only (each screen module is a few ms of start-up)."""

    def make() -> Screen:
        return getattr(importlib.import_module(f"pipedeck.tui.screens.{module}"), name)()

    make.__qualname__ = name
    return make


class PipedeckApp(App[int]):
    TITLE = "pipedeck"
    CSS_PATH = "pipedeck.tcss"
    MODES = {
        "brands": _view("brands", "BrandsScreen"),
        "runs": _view("pipeline", "PipelineScreen"),
        "templates": _view("templates", "TemplatesScreen"),
        "freshness": _view("freshness", "FreshnessScreen"),
        "system": _view("system", "SystemScreen"),
        "schedules": _view("schedules", "SchedulesScreen"),
        "trends": _view("trends", "TrendsScreen"),
    }
    DEFAULT_MODE = "brands"
    COMMANDS = App.COMMANDS | {PipedeckCommands}
    BINDINGS = [
        Binding("1", "view('brands')", "Brands", group=VIEWS),
        Binding("2", "view('runs')", "Runs", group=VIEWS),
        Binding("3", "view('templates')", "Templates", group=VIEWS),
        Binding("4", "view('freshness')", "Freshness", group=VIEWS),
        Binding("5", "view('system')", "Workers", group=VIEWS),
        Binding("6", "view('schedules')", "Schedules", group=VIEWS),
        Binding("7", "view('trends')", "Trends", group=VIEWS),
        Binding("escape", "back", "Back"),
        Binding("question_mark", "help", "Help"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("w", "start_worker", "Start worker"),
        Binding("W", "stop_worker", "Stop worker"),
        Binding("D", "toggle_direct", "Direct"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    status_info: reactive[StatusInfo] = reactive(StatusInfo, always_update=False)

    def __init__(self, service, *, live: bool = True, refresh_interval: float = 0.5,
                 worker_env: dict[str, str] | None = None, direct_default: bool = False,
                 initial_view: str = "brands") -> None:
        if initial_view not in self.MODES:
            raise UserError(f"unknown view {initial_view!r} (one of {', '.join(self.MODES)})")
        self.DEFAULT_MODE = initial_view  # read by App.__init__
        super().__init__()
        self.service = service
        self.settings: Settings = service.settings
        self.live_enabled = live
        self.feed = LiveFeed(self, service, interval=refresh_interval) if live else None
        self.catalog_cache = CatalogCache()
        self.live_rev = 0
        self.counts: dict[str, int] = {}
        self.worker_rows: list[dict] = []
        self.worker_child = WorkerChild(self.settings, worker_env or pipedeck_env(self.settings))
        self.direct_runs = DirectRuns()
        self.direct_default = direct_default
        self.database_unreachable = False
        self.quitting = False
        self.stop_now = False
        self.crash_log: Path | None = None
        self.crash_error: BaseException | None = None
        # A damaged database, met by a thread worker: the app exits and run_tui says so in one line.
        self.fatal_error: UserError | None = None
        # Template previews are drawn with coloured half blocks; with 16 colours a placeholder is clearer.
        self.image_previews: bool | None = None
        self.set_reactive(PipedeckApp.status_info, StatusInfo(live=live, direct_default=direct_default))

    # -- start and stop --------------------------------------------------------
    def on_mount(self) -> None:
        if self.feed is not None:
            self.feed.start()
        else:
            # Frozen (snapshots): read status and catalog once.
            svc = self.service
            run_off_loop(self, lambda: (svc.queue_depth(), svc.worker_health(), svc.brands(),
                                        svc.competitors()), self._frozen_loaded, group="frozen")

    def exit_when_started(self, return_code: int) -> None:
        """Exit, but not while the first screen is still mounting: the live feed can meet a damaged
        database before it is, and exiting then tears that screen down mid-mount."""
        try:
            ready = self.is_mounted and self.screen.is_mounted
        except Exception:  # noqa: BLE001 - no screen on the stack yet
            ready = False
        if ready:
            self.call_after_refresh(self.exit, return_code=return_code)
        else:
            self.set_timer(0.05, lambda: self.exit_when_started(return_code))

    def _frozen_loaded(self, data) -> None:
        counts, workers, brands, competitors = data
        self.counts = counts
        self.on_catalog_changed(CatalogChanged(brands, competitors))
        self.on_health_changed(HealthChanged(workers))

    def on_unmount(self) -> None:
        self.shutdown_children()

    def shutdown_children(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        self.direct_runs.stop_all()
        if self.stop_now:
            return  # ctrl+q twice: the worker was told to hand back now and exits on its own; no waiting
        self.worker_child.stop()

    # -- quitting --------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit at once when nothing of ours runs; else say what we wait for. A second ctrl+q stops now."""
        if self.quitting:
            self._quit_now()
            return
        self.quitting = True
        direct = self.direct_runs.running_ids()
        child = self.worker_child.proc.pid if self.worker_child.running else None
        if child is not None:
            self.worker_child.terminate()  # it finishes or hands back while we look (and while Textual exits)
        if child is None and not direct:
            self.exit()
            return
        svc = self.service

        def children_runs() -> list[dict]:
            ours = {w["id"] for w in svc.worker_health() if w["pid"] == child and w["host"] == svc.settings.host_id}
            if not ours:
                return []
            return [r for r in svc.list_runs(statuses=list(IN_FLIGHT), limit=None) if r["worker_id"] in ours]

        run_off_loop(self, children_runs if child is not None else list,
                     lambda runs: self._wait_then_exit(direct, runs), group="quit")

    def _wait_then_exit(self, direct: list[int], child_runs: list[dict]) -> None:
        if not self.quitting or not self.is_running:
            return
        if not direct and not child_runs:
            self.exit()  # the worker had nothing running: it is exiting already
            return
        waiting = [f"handing run {run_id} back to the queue" for run_id in direct]
        waiting += [f"run {r['id']} ({r['job_type']} for {visible(r['brand'])}): the worker this app started "
                    "finishes it or hands it back to the queue" for r in child_runs]
        from pipedeck.tui.screens.quitting import QuitScreen

        self.push_screen(QuitScreen(waiting))

        def wait() -> None:
            self.direct_runs.stop_all()
            self.worker_child.stop()
            if not self.stop_now:  # else the app is exiting already (ctrl+q again)
                try:
                    self.call_from_thread(self.exit)
                except RuntimeError:
                    pass

        # A plain thread, not a Textual worker: a second ctrl+q exits without waiting for it.
        threading.Thread(target=wait, name="pipedeck-quit", daemon=True).start()

    def _quit_now(self) -> None:
        """Second ctrl+q: runs still going are handed back to the queue now; the app exits."""
        self.stop_now = True
        self.worker_child.terminate()  # the worker's second signal: hand back now

        def hand_back() -> None:  # a database write: off the loop, then exit
            self.direct_runs.stop_all(timeout=0)
            try:
                self.call_from_thread(self.exit)
            except RuntimeError:
                pass

        threading.Thread(target=hand_back, name="pipedeck-hand-back", daemon=True).start()

    # -- live data -------------------------------------------------------------
    def on_runs_changed(self, message: RunsChanged) -> None:
        # The top bar and the tables from one message, in one handler: one frame shows both.
        self._counts_changed(message.counts)
        self.live_rev = message.rev
        for screen in self.screen_stack:
            # A screen just pushed is in the stack before its widgets exist; its own first load reads this.
            if isinstance(screen, PipedeckScreen) and screen.is_mounted:
                screen.runs_changed(message.rows)
                screen.synced_rev = message.rev

    def on_runs_reload(self, message: RunsReload) -> None:
        self._counts_changed(message.counts)
        self.live_rev += 1
        for screen in self.screen_stack:
            if isinstance(screen, PipedeckScreen) and screen.is_mounted:  # as in on_runs_changed
                screen.reload()
                screen.synced_rev = self.live_rev

    def on_database_reachability(self, message: DatabaseReachability) -> None:
        self.database_unreachable = not message.reachable
        self._update_status()

    def _counts_changed(self, counts: dict[str, int] | None) -> None:
        if counts is not None and counts != self.counts:
            self.counts = counts
            self._update_status()

    def on_health_changed(self, message: HealthChanged) -> None:
        self.worker_rows = message.workers
        self._update_status()
        for screen in self.screen_stack:
            handler = getattr(screen, "health_changed", None)
            if handler is not None:
                handler(self.counts, message.workers)

    def on_catalog_changed(self, message: CatalogChanged) -> None:
        self.catalog_cache = CatalogCache(message.brands, message.competitors)
        for screen in self.screen_stack:
            handler = getattr(screen, "catalog_changed", None)
            if handler is not None:
                handler(self.catalog_cache)

    def _update_status(self) -> None:
        counts = self.counts
        self.status_info = StatusInfo(
            loaded=True, workers_alive=sum(1 for w in self.worker_rows if w["alive"]),
            queued=counts.get("queued", 0), retrying=counts.get("retrying", 0),
            running=counts.get("running", 0), cancelling=counts.get("cancelling", 0),
            paused=bool(self.feed and self.feed.paused.is_set()), live=self.live_enabled,
            direct_default=self.direct_default, child=self.worker_child.state(),
            direct_active=self.direct_runs.active(), database_unreachable=self.database_unreachable)

    @property
    def can_draw_images(self) -> bool:
        if self.image_previews is not None:
            return self.image_previews
        return self.console.color_system in ("truecolor", "256")

    @property
    def worker_alive(self) -> bool:
        return self.status_info.workers_alive > 0

    def reload_all(self) -> None:
        """After an edit that changes what several screens show (a schedule, a freshness policy): re-read.

        Screens of other views catch up when shown again (their synced rev is behind).
        """
        self.on_runs_reload(RunsReload())

    def schedules_edited(self) -> None:
        self.reload_all()

    def refresh_soon(self, catalog: bool = False) -> None:
        """After our own change: refresh now instead of at the next tick."""
        if self.feed is not None:
            self.feed.kick(catalog=catalog)
        elif catalog:
            self.on_mount()

    # -- navigation ------------------------------------------------------------
    def action_view(self, mode: str) -> None:
        """A view's key always goes to the view's root screen (its list), never to a sub-screen left open."""
        self._go_to_mode(mode)

    def action_back(self) -> None:
        """Back one screen; at a view's root there is nowhere back to go (ctrl+q quits)."""
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def action_help(self) -> None:
        from pipedeck.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def open_brand(self, brand_id: int) -> None:
        from pipedeck.tui.screens.brands import BrandScreen

        self._go_to_mode("brands")
        self.push_screen(BrandScreen(brand_id))

    def open_competitors(self, brand_id: int, competitor_id: int | None = None) -> None:
        from pipedeck.tui.screens.competitors import CompetitorScreen

        self._go_to_mode("brands")
        self.push_screen(CompetitorScreen(brand_id, competitor_id))

    def open_run(self, run_id: int) -> None:
        from pipedeck.tui.screens.run_detail import RunDetailScreen

        self.push_screen(RunDetailScreen(run_id))

    def _go_to_mode(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)
        while len(self.screen_stack) > 1:
            self.pop_screen()

    # -- refresh, worker, direct mode ------------------------------------------
    def action_toggle_pause(self) -> None:
        if self.feed is None:
            self.notify("refresh is frozen in this session", severity="warning")
            return
        if self.feed.paused.is_set():
            self.feed.paused.clear()
            self.feed.kick()
            self.notify("live refresh resumed", timeout=2)
        else:
            self.feed.paused.set()
            self.notify("live refresh paused: press p to resume", timeout=3)
        self._update_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start_worker":
            return not self.worker_child.running
        if action == "stop_worker":
            return self.worker_child.running
        return True

    def action_start_worker(self) -> None:
        if self.worker_child.running:
            self.notify("the worker this app started is already running")
            return
        if self.worker_alive:
            self.notify("a worker is already alive; starting another one anyway", timeout=3)

        def started(pid: int) -> None:
            self.notify(f"started `pipedeck worker` in the background (pid {pid}); it stops when you quit",
                        timeout=5)
            self._update_status()
            self.refresh_bindings()
            self.refresh_soon()

        run_off_loop(self, self.worker_child.start, started, group="worker-child")

    def action_stop_worker(self) -> None:
        if not self.worker_child.running:
            return

        def answer(yes: bool | None) -> None:
            if yes:
                run_off_loop(self, self.worker_child.stop, lambda code: (
                    self.notify(f"worker stopped (exit {code}); its running jobs were handed back"),
                    self._update_status(), self.refresh_bindings()), group="worker-child")

        from pipedeck.tui.screens.modals import ConfirmScreen

        self.push_screen(ConfirmScreen("Stop the worker this app started? Its running jobs are handed back "
                                       "to the queue.", confirm="Stop worker"), answer)

    def action_toggle_direct(self) -> None:
        self.direct_default = not self.direct_default
        self.notify("new jobs run directly in this app (no worker needed)" if self.direct_default
                    else "new jobs go to the queue for a worker", timeout=3)
        self._update_status()

    # -- queueing ----------------------------------------------------------------
    def open_job_form(self, job_type: str, brand_id: int, competitor_id: int | None = None, *,
                      params: dict | None = None, retry_of: int | None = None) -> None:
        # Read the brand (and competitor) fresh, off the loop: the form prefills from them.
        svc = self.service
        run_off_loop(self, lambda: (svc.brand(brand_id),
                                    svc.competitor(competitor_id) if competitor_id else None),
                     lambda pair: self._push_job_form(job_type, pair[0], pair[1], params, retry_of),
                     group="open-form", exclusive=True)

    def _push_job_form(self, job_type, brand, competitor, params, retry_of) -> None:
        from pipedeck.tui.screens.modals import JobFormScreen

        jt = self.service.job_type(job_type)
        self.push_screen(JobFormScreen(jt, brand, competitor, params=params, retry_of=retry_of),
                         self._job_submitted)

    def _job_submitted(self, run_id: int | None) -> None:
        if run_id is None:
            return
        self.refresh_soon()

    def submit_job(self, job_type: str, brand_id: int, competitor_id: int | None, params: dict, direct: bool,
                   retry_of: int | None = None) -> int:
        """Queue (or start directly) a job. Runs on a thread worker; raises UserError on bad input."""
        svc = self.service
        if retry_of is not None:
            run_id = svc.retry(retry_of, params=params, direct=direct)
        else:
            run_id = svc.queue_one_time_job(brand_id, job_type, params, competitor=competitor_id, direct=direct)
        if direct:
            self.start_direct(run_id)
        return run_id

    def start_direct(self, run_id: int) -> None:
        """Run a recorded direct run on its own thread; the run store records it like any other."""
        svc = self.service

        def execute(hook) -> str:
            return svc.execute_direct(run_id, executor_hook=hook)

        def done(rid: int, status: str | None, error: BaseException | None) -> None:
            if not self.is_running:
                return  # the app exited (the run was handed back then)
            try:
                if error is not None:
                    self.call_from_thread(self.notify, f"direct run {rid} stopped: {error}", severity="error",
                                          timeout=10)
                else:
                    self.call_from_thread(self.notify, f"direct run {rid} {status}",
                                          severity="information" if status == "succeeded" else "warning")
                self.call_from_thread(self._update_status)
            except RuntimeError:
                pass  # the app already exited
            self.refresh_soon()

        self.direct_runs.start(run_id, execute, done)
        try:
            self.call_from_thread(self._update_status)
        except RuntimeError:
            self._update_status()

    # -- schedules and freshness policies ------------------------------------------
    def open_schedule_form(self, *, scope: str = "brand", brand_id: int | None = None,
                           competitor_id: int | None = None, job_type: str | None = None,
                           schedule_id: int | None = None) -> None:
        """Add a schedule (job types of ``scope``: brand, competitor or all), or edit ``schedule_id``."""
        svc = self.service

        def load() -> dict:
            if schedule_id is not None:
                schedule = svc.schedule(schedule_id)
                return {"job_types": [svc.job_type(schedule["job_type"])],
                        "brands": [svc.brand(schedule["brand_id"])],
                        "competitors": [svc.competitor(schedule["competitor_id"])]
                        if schedule["competitor_id"] else [], "schedule": schedule}
            brands = [svc.brand(brand_id)] if brand_id is not None else svc.brands()
            competitors = [svc.competitor(competitor_id)] if competitor_id is not None \
                else svc.competitors(brand_id)
            types = [jt for jt in svc.job_types() if scope == "all" or jt.scope == scope]
            return {"job_types": types, "brands": brands, "competitors": competitors, "brand_id": brand_id,
                    "competitor_id": competitor_id, "job_type": job_type}

        def push(kwargs: dict) -> None:
            if not kwargs["brands"]:
                self.notify("add a brand first (view 1, then a)", severity="warning")
                return
            from pipedeck.tui.screens.schedule_forms import ScheduleFormScreen

            self.push_screen(ScheduleFormScreen(**kwargs), self._schedule_saved)

        run_off_loop(self, load, push, group="open-form", exclusive=True)

    def _schedule_saved(self, row: dict | None) -> None:
        if not row:
            return
        when = f"next {durations.until(row['next_run_at'], self.service.clock())}" if row["active"] else "paused"
        self.notify(f"schedule #{row['id']} saved: {row['explain']} ({row['tz']}); {when}", timeout=5)
        self.schedules_edited()

    def open_policy_form(self, *, brand_id: int | None = None, dataset: str | None = None) -> None:
        svc = self.service

        def load():
            return [d.key for d in svc.datasets()], svc.brands(), svc.freshness_policies(), svc.freshness()

        def push(data) -> None:
            from pipedeck.tui.screens.schedule_forms import PolicyFormScreen

            datasets, brands, policies, rows = data
            self.push_screen(PolicyFormScreen(datasets=datasets, brands=brands, policies=policies, freshness=rows,
                                              dataset=dataset, brand_id=brand_id), self._policy_saved)

        run_off_loop(self, load, push, group="open-form", exclusive=True)

    def _policy_saved(self, saved: bool | None) -> None:
        if saved:
            self.notify("freshness policy saved", timeout=3)
            self.reload_all()

    # -- notifications ---------------------------------------------------------------
    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification of the app, from any screen or thread, goes through here: its text often
        carries outside strings (names, Meta's error messages), so it is shown as typed, control
        characters made visible, never read as markup."""
        super().notify(visible(message), title=visible(title), severity=severity, timeout=timeout, markup=False)

    # -- unexpected errors ---------------------------------------------------------
    def _handle_exception(self, error: Exception) -> None:
        """Any unexpected exception: log it to the data dir, show it, exit non-zero."""
        if self.crash_error is None:
            self.crash_error = error
            self.crash_log = write_crash_log(self.settings, error)
        super()._handle_exception(error)


def run_tui(settings: Settings, *, worker_env: dict[str, str] | None = None,
            start_worker: bool = False, title: str | None = None, initial_view: str = "brands") -> int:
    """Open the app on the configured data dir. Returns the process exit status."""
    from pipedeck.queue.service import Service

    service = Service(settings)
    app = PipedeckApp(service, worker_env=worker_env, initial_view=initial_view)
    if title:
        app.title = title
    if start_worker:
        app.worker_child.start()
    try:
        app.run()
    finally:
        app.shutdown_children()
        service.close()
    if app.fatal_error is not None:
        print(f"pipedeck: {app.fatal_error}", file=sys.stderr)
        return app.fatal_error.exit_code
    if app.crash_error is not None:
        where = f" (traceback in {app.crash_log})" if app.crash_log else ""
        error = app.crash_error
        print(f"pipedeck: unexpected error in the app: {type(error).__name__}: {error}{where}", file=sys.stderr)
        return 1
    return app.return_code or 0
