"""Recurring schedules: the same keys and actions on every screen that lists them, view 6, and history.

The brand screen, the competitor screen and view 6 (every schedule across
brands) each have a ``#schedules`` table and mix in :class:`ScheduleActions`:
S new, E edit, P pause/resume, X remove (confirmed), H history.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from pipedeck.concepts import durations
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.screens.modals import ConfirmScreen
from pipedeck.tui.widgets.schedules_table import ALL_COLUMNS, SchedulesTable, describe, job_text, local_time
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.table import Table

SCHEDULES = Binding.Group("Schedules")
SCHEDULE_KEYS = (("S", "schedule_add", "New schedule"), ("E", "schedule_edit", "Edit schedule"),
                 ("P", "schedule_toggle", "Pause/resume schedule"), ("X", "schedule_remove", "Remove schedule"),
                 ("H", "schedule_history", "Schedule history"))
# On the brand and competitor screens the five keys share one footer label; view 6, all about schedules,
# names each in a word.
GROUPED_SCHEDULE_BINDINGS = [Binding(key, action, label, group=SCHEDULES) for key, action, label in SCHEDULE_KEYS]
SCHEDULE_BINDINGS = [Binding(key, action, label.replace(" schedule", "").replace("Schedule h", "H"))
                     for key, action, label in SCHEDULE_KEYS]
PANEL_KEYS = "S new · E edit · P pause/resume · X remove · H history"


class ScheduleActions:
    """Mixin for a PipedeckScreen with a ``#schedules`` SchedulesTable."""

    # Which job types "S" offers, and for what: "brand", "competitor" or "all".
    SCHEDULE_SCOPE = "brand"

    def schedule_target(self) -> dict:
        """brand_id / competitor_id the new schedule is for (None: the form asks)."""
        return {}

    def current_schedule(self) -> dict | None:
        row = self.query_one("#schedules", SchedulesTable).current()
        if row is None:
            self.notify("no schedule selected", severity="warning")
        return row

    def action_schedule_add(self) -> None:
        target = self.schedule_target()
        if target is None:
            return
        self.pd.open_schedule_form(scope=self.SCHEDULE_SCOPE, **target)

    def action_schedule_edit(self) -> None:
        row = self.current_schedule()
        if row is not None:
            self.pd.open_schedule_form(schedule_id=row["id"])

    def action_schedule_toggle(self) -> None:
        row = self.current_schedule()
        if row is None:
            return
        svc, schedule_id = self.svc, row["id"]
        if row["active"]:
            self.fetch(lambda: svc.pause_schedule(schedule_id), self._schedule_toggled, group="schedule-toggle")
        else:
            self.fetch(lambda: svc.resume_schedule(schedule_id), self._schedule_toggled, group="schedule-toggle")

    def _schedule_toggled(self, row: dict) -> None:
        if row["active"]:
            self.notify(f"schedule #{row['id']} resumed; next {durations.until(row['next_run_at'], self.now())}", timeout=4)
        else:
            self.notify(f"schedule #{row['id']} paused: nothing is queued until you resume it (P)", timeout=4)
        self.pd.schedules_edited()

    def action_schedule_remove(self) -> None:
        row = self.current_schedule()
        if row is None:
            return
        svc, schedule_id = self.svc, row["id"]

        def removed(_) -> None:
            self.notify(f"schedule #{schedule_id} removed", timeout=4)
            # First: a screen about this schedule closes, so the re-read below does not look for it.
            self.after_schedule_removed(schedule_id)
            self.pd.schedules_edited()

        def answer(yes: bool | None) -> None:
            if yes:
                self.fetch(lambda: svc.remove_schedule(schedule_id), removed, group="schedule-remove")

        who = row["brand"] + (f" › {row['competitor']}" if row.get("competitor") else "")
        self.app.push_screen(ConfirmScreen(
            f"Remove schedule #{schedule_id} ({row['job_type']} for {who})?", confirm="Remove schedule",
            detail=f"{row.get('explain') or row['cron']} ({row['tz']}). Its runs stay in the runs list; its "
                   "history goes with it. To stop it for a while, pause it (P) instead."), answer)

    def after_schedule_removed(self, schedule_id: int) -> None:
        """The history screen closes itself; lists re-read."""

    def action_schedule_history(self) -> None:
        row = self.current_schedule()
        if row is not None:
            self.app.push_screen(ScheduleHistoryScreen(row["id"]))

    def show_schedule_hint(self) -> None:
        try:
            hint = self.query_one("#schedule-hint", Static)
        except Exception:  # noqa: BLE001 - not every screen has the hint line
            return
        table = self.query_one("#schedules", SchedulesTable)
        row = table.current()
        if row is None:
            hint.update(fmt.plain(self.no_schedules_hint(), "dim") if not table.row_count else "")
        else:
            hint.update(describe(row, self.now()))

    def no_schedules_hint(self) -> str:
        return "No schedules yet: S runs a job on a schedule (e.g. meta_sync every morning at 7)."

    def schedules_shown(self, rows: list[dict]) -> None:
        self.query_one("#schedules", SchedulesTable).set_schedules(rows)
        self.show_schedule_hint()

    def schedule_runs_changed(self, rows: list[dict]) -> bool:
        """A run of a shown schedule appeared or moved: its last run and next time changed."""
        shown = self.query_one("#schedules", SchedulesTable).schedule_ids
        return any(r.get("schedule_id") in shown for r in rows)

    def tick_schedules(self, now: float) -> None:
        """Age the "next" cells (no read)."""
        self.query_one("#schedules", SchedulesTable).tick(now)

    def schedules_overdue(self) -> bool:
        """An occurrence shown has passed (the worker's tick has likely moved it): worth a re-read."""
        return self.query_one("#schedules", SchedulesTable).overdue()


class SchedulesScreen(ScheduleActions, PipedeckScreen):
    """View 6: every schedule across brands."""

    VIEW_TITLE = "Schedules"
    SCHEDULE_SCOPE = "all"
    BINDINGS = [Binding("enter", "schedule_history", "History")] + SCHEDULE_BINDINGS

    def compose_body(self) -> ComposeResult:
        yield Static(Text.assemble(("Schedules", "bold"), ("   every brand's recurring jobs; a worker's scheduler "
                                                          "queues each occurrence once", "dim")), classes="title")
        yield SchedulesTable(ALL_COLUMNS, clock=self.svc.clock, id="schedules")
        yield Static("", id="schedule-hint", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#schedules", SchedulesTable).focus()
        self.set_interval(15, self._check_overdue)
        self.reload()

    def reload(self) -> None:
        self.fetch(self.svc.schedules, self._loaded)

    def load_schedules(self) -> None:
        self.reload()

    def _loaded(self, rows: list[dict]) -> None:
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        self.schedules_shown(rows)

    def no_schedules_hint(self) -> str:
        return ("No schedules yet: S schedules a job for any brand (or open a brand and press S; "
                "`pipedeck schedules add` does the same).")

    def runs_changed(self, rows: list[dict]) -> None:
        if self.schedule_runs_changed(rows):
            self.reload()

    def catalog_changed(self, cache) -> None:
        names = {b["id"]: b["name"] for b in cache.brands}
        table = self.query_one("#schedules", SchedulesTable)
        if any(names.get(r["brand_id"]) != r["brand"] for r in table.rows_shown):
            self.reload()

    def tick(self, now: float) -> None:
        self.tick_schedules(now)

    def _check_overdue(self) -> None:
        if self.schedules_overdue():
            self.reload()

    @on(DataTable.RowHighlighted, "#schedules")
    def _highlighted(self) -> None:
        self.show_schedule_hint()

    @on(DataTable.RowSelected, "#schedules")
    def _selected(self) -> None:
        self.action_schedule_history()


class ScheduleHistoryScreen(ScheduleActions, PipedeckScreen):
    """One schedule: what happened at each occurrence (queued, skipped, missed, error) and the run it made."""

    HELP_TITLE = "Schedule history"
    BINDINGS = [
        Binding("enter", "open_run", "Open run"),
        Binding("E", "schedule_edit", "Edit schedule"),
        Binding("P", "schedule_toggle", "Pause/resume schedule"),
        Binding("X", "schedule_remove", "Remove schedule"),
    ]

    def __init__(self, schedule_id: int) -> None:
        super().__init__()
        self.schedule_id = schedule_id
        self.schedule: dict | None = None
        self.events: list[dict] = []
        self.removed = False

    def compose_body(self) -> ComposeResult:
        yield Static("", id="history-title", classes="title")
        yield Static("", id="history-info", classes="hint")
        yield Table(id="schedule-events", cursor_type="row")
        yield Static("", id="history-hint", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#schedule-events", Table)
        table.set_columns([
            Col("occurrence", "OCCURRENCE", priority=0, width=22), Col("action", "WHAT HAPPENED", priority=0, min=9),
            Col("run", "RUN", priority=1, justify="right"), Col("status", "RUN STATUS", priority=1, min=11),
            Col("reason", "WHY", priority=2, min=12, flex=True)])
        table.focus()
        self.set_interval(15, self._tick)
        self.reload()

    def _load(self) -> None:
        svc, schedule_id = self.svc, self.schedule_id

        def load():
            schedule = svc.schedule(schedule_id)
            events = svc.schedule_history(schedule_id, limit=200)
            statuses = {}
            for run_id in {e["run_id"] for e in events if e["run_id"]}:
                try:
                    statuses[run_id] = svc.run(run_id)["status"]
                except Exception:  # noqa: BLE001 - a run removed since
                    pass
            return schedule, events, statuses

        self.fetch(load, self._loaded)

    def load_schedules(self) -> None:
        self.reload()

    def _loaded(self, data) -> None:
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        schedule, events, statuses = data
        self.schedule, self.events = schedule, events
        now = self.now()
        title = Text.assemble((f"Schedule #{schedule['id']}  ", "bold"), job_text(schedule),
                              fmt.plain(f"   {schedule['brand']}", "cyan"), "   ",
                              fmt.schedule_state_text(schedule["active"]))
        self.query_one("#history-title", Static).update(title)
        self._show_info(now)
        table = self.query_one("#schedule-events", DataTable)
        keep = table.cursor_row
        table.clear()
        for e in events:
            run = e["run_id"]
            table.add_row(Text(local_time(e["occurrence_at"], schedule["tz"], "%a %d %b %Y %H:%M")),
                          fmt.schedule_action_text(e["action"]),
                          Text(str(run) if run else "–", justify="right", style="" if run else "dim"),
                          fmt.status_text(statuses[run]) if run in statuses else Text(""),
                          fmt.one_line(e["reason"] or "", 200), key=str(e["id"]))
        if table.row_count:
            table.move_cursor(row=min(max(keep, 0), table.row_count - 1), animate=False)
        hint = self.query_one("#history-hint", Static)
        if not events:
            hint.update(Text("Nothing has happened yet: the first occurrence is "
                             + (durations.until(schedule["next_run_at"], now) if schedule["next_run_at"] else "when resumed")
                             + ". Occurrences are queued by a running worker.", style="dim"))
        else:
            hint.update(Text("Newest first. enter opens the occurrence's run. ▶ queued · ↷ skipped (the "
                             "previous run was still going) · ✘ missed (no worker was running) · ✘ error (the job "
                             "no longer validates)", style="dim"))

    def _show_info(self, now: float) -> None:
        schedule = self.schedule
        info = Text()
        info.append(f"{schedule['explain']} ({schedule['tz']})", style="bold")
        info.append(f"   cron ‘{schedule['cron']}’", style="dim")
        if schedule["active"] and schedule["next_run_at"] is not None:
            info.append(f"   next {local_time(schedule['next_run_at'], schedule['tz'])} "
                        f"({durations.until(schedule['next_run_at'], now)})")
        info.append(f"   if missed: {fmt.MISSED_LABELS.get(schedule['missed_policy'], schedule['missed_policy'])}")
        params = " ".join(f"{k}={v}" for k, v in sorted(schedule["params"].items()))
        info.append(f"   params: {fmt.plain(params).plain or 'defaults'}", style="dim")
        if info != getattr(self, "_info_shown", None):
            self._info_shown = info
            self.query_one("#history-info", Static).update(info)

    def tick(self, now: float) -> None:
        if self.schedule is not None:
            self._show_info(now)

    def current_schedule(self) -> dict | None:
        return self.schedule

    def after_schedule_removed(self, schedule_id: int) -> None:
        self.removed = True
        self.dismiss()

    def reload(self) -> None:
        if not self.removed:
            self._load()

    def runs_changed(self, rows: list[dict]) -> None:
        if any(r.get("schedule_id") == self.schedule_id for r in rows):
            self.reload()

    def _tick(self) -> None:
        s = self.schedule
        if s is not None and s["active"] and s["next_run_at"] is not None and s["next_run_at"] < self.now() - 5:
            self.reload()

    def action_open_run(self) -> None:
        table = self.query_one("#schedule-events", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        event = next((e for e in self.events if str(e["id"]) == key), None)
        if event is None or not event["run_id"]:
            self.notify("no run for this occurrence (it was skipped, missed or could not be queued)",
                        severity="warning")
            return
        self.pd.open_run(event["run_id"])

    @on(DataTable.RowSelected, "#schedule-events")
    def _selected(self) -> None:
        self.action_open_run()
