"""The brand list (freshness at a glance) and one brand's screen (freshness, actions, recent runs)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, OptionList, Sparkline, Static
from textual.widgets.option_list import Option

from pipedeck.concepts import durations
from pipedeck.concepts.datasets import SEVERITY
from pipedeck.concepts.text import visible
from pipedeck.handlers import registry
from pipedeck.concepts.statuses import ACTIVE, TERMINAL
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.screens.schedules import GROUPED_SCHEDULE_BINDINGS, PANEL_KEYS, ScheduleActions
from pipedeck.tui.widgets.filter_box import FilterBox
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.schedules_table import BRAND_COLUMNS, SchedulesTable
from pipedeck.tui.widgets.table import Table
from pipedeck.tui.widgets.recent_runs import RecentRunsTable


class BrandsScreen(PipedeckScreen):
    """View 1: every brand with each dataset's freshness."""

    VIEW_TITLE = "Brands"
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("a", "add", "Add brand"),
        Binding("e", "edit", "Edit brand"),
        Binding("c", "competitors", "Competitors"),
        Binding("slash", "filter", "Filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.brands: list[dict] = []
        self.filter_text = ""
        self.datasets = registry.datasets("brand")
        self.comp_datasets = registry.datasets("competitor")
        self._freshness: dict[int, list[dict]] = {}
        self._active: dict[int, int] = {}
        self._competitors: dict[int, int] = {}
        self._reload_pending = False

    def compose_body(self) -> ComposeResult:
        yield Static(Text("Brands", style="bold"), classes="title")
        yield FilterBox("filter brands by name (esc to clear)", id="brand-filter", returns_to="#brands")
        yield Table(id="brands", cursor_type="row")
        yield Static("", id="brand-hint", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#brands", Table)
        # The datasets' freshness is what the list is for; the ids give way first in a narrow terminal.
        table.set_columns(
            [Col("name", "BRAND", priority=0, min=10, max=30), Col("account", "AD ACCOUNT", priority=4),
             Col("page", "PAGE ID", priority=4)]
            + [Col(dataset.key, dataset.column, priority=1, min=7) for dataset in self.datasets]
            + ([Col("competitors", "COMPETITORS", priority=2, min=12)] if self.comp_datasets else [])
            + [Col("active", "ACTIVE", priority=1)])
        table.focus()
        self.reload()

    # -- data ----------------------------------------------------------------
    def reload(self) -> None:
        svc = self.svc

        def load():
            brands = svc.brands()
            freshness = svc.freshness()
            active = svc.list_runs(statuses=list(ACTIVE), limit=5000)
            return brands, freshness, active, svc.live_rev()

        self.fetch(load, self._loaded)

    def _loaded(self, data) -> None:
        brands, freshness, active, rev = data
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        self.brands = brands
        self._freshness = {}
        for row in freshness:
            self._freshness.setdefault(row["brand_id"], []).append(row)
        self._active = {}
        for run in active:
            self._active[run["brand_id"]] = self._active.get(run["brand_id"], 0) + 1
        self._render_rows()

    def _cells(self, brand: dict, now: float) -> list[Text]:
        return [fmt.plain(brand["name"], "bold"), fmt.plain(brand["meta_ad_account_id"] or "–"),
                fmt.plain(brand["ad_library_page_id"] or "–")] + list(self._timed_cells(brand, now).values())

    def _timed_cells(self, brand: dict, now: float) -> dict[str, Text]:
        """The cells that change as time passes (freshness) and with runs (active count), by column."""
        rows = self._freshness.get(brand["id"], [])
        by_ds = {r["dataset"]: r for r in rows if r["competitor_id"] is None}
        cells = {dataset.key: fmt.freshness_cell(by_ds.get(dataset.key), now) for dataset in self.datasets}
        if self.comp_datasets:
            comp_rows = [fmt.freshness_at(r, now) for r in rows if r["competitor_id"] is not None]
            names = {r["competitor_id"] for r in comp_rows}
            if not names:
                cells["competitors"] = Text("none", style="dim")
            else:
                worst = max(comp_rows, key=lambda r: SEVERITY.get(r["state"], 0))
                behind = len({r["competitor_id"] for r in comp_rows if r["state"] in ("stale", "never")})
                label = f"{len(names)}" + (f" · {behind} behind" if behind else " · all fresh")
                cells["competitors"] = fmt.freshness_text(worst["state"], label)
        active = self._active.get(brand["id"], 0)
        cells["active"] = Text(str(active) if active else "–", style="bold cyan" if active else "dim")
        return cells

    def tick(self, now: float) -> None:
        table = self.query_one("#brands", DataTable)
        shown = {row.key.value for row in table.ordered_rows}
        for brand in self.brands:
            if str(brand["id"]) in shown:
                table.refresh_cells(str(brand["id"]), self._timed_cells(brand, now))
        if self.brands:
            self._show_hint()

    def _render_rows(self) -> None:
        table = self.query_one("#brands", DataTable)
        keep = None
        if table.row_count:
            keep = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        table.clear()
        needle = self.filter_text.lower()
        now = self.now()
        for brand in self.brands:
            if needle and needle not in brand["name"].lower():
                continue
            table.add_row(*self._cells(brand, now), key=str(brand["id"]))
        if keep is not None and keep in {str(b["id"]) for b in self.brands}:
            try:
                table.move_cursor(row=table.get_row_index(keep), animate=False)
            except Exception:  # noqa: BLE001 - filtered out
                pass
        hint = self.query_one("#brand-hint", Static)
        if not self.brands:
            hint.update(Text("No brands yet: press a to add one (or run `pipedeck demo` to look around).",
                             style="yellow"))
        else:
            self._show_hint()

    def runs_changed(self, rows: list[dict]) -> None:
        # Active counts and freshness move only when a run starts or ends: re-read the (few) brands then.
        if any(r["status"] in TERMINAL or r["status"] == "queued" for r in rows):
            self.reload()

    def catalog_changed(self, cache) -> None:
        if [(b["id"], b["name"], b["meta_ad_account_id"], b["ad_library_page_id"]) for b in cache.brands] != \
                [(b["id"], b["name"], b["meta_ad_account_id"], b["ad_library_page_id"]) for b in self.brands]:
            self.reload()

    # -- selection -------------------------------------------------------------
    def current_brand(self) -> dict | None:
        table = self.query_one("#brands", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((b for b in self.brands if str(b["id"]) == key), None)

    @on(DataTable.RowHighlighted, "#brands")
    def _show_hint(self) -> None:
        brand = self.current_brand()
        hint = self.query_one("#brand-hint", Static)
        if brand is None:
            self._hint_shown = None
            hint.update("")
            return
        now = self.now()
        rows = [fmt.freshness_at(r, now) for r in self._freshness.get(brand["id"], []) if r["competitor_id"] is None]
        text = Text()
        for r in rows:
            text.append(f"{r['dataset']}: ", style="bold")
            text.append(f"{r['state']} — {visible(r['reason'])}\n")
        if text != getattr(self, "_hint_shown", None):
            self._hint_shown = text
            hint.update(text)

    @on(DataTable.RowSelected, "#brands")
    def _selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        brand = self.current_brand()
        if brand is not None:
            self.app.push_screen(BrandScreen(brand["id"]))

    def action_competitors(self) -> None:
        brand = self.current_brand()
        if brand is not None:
            from pipedeck.tui.screens.competitors import CompetitorScreen

            self.app.push_screen(CompetitorScreen(brand["id"]))

    def action_add(self) -> None:
        from pipedeck.tui.screens.modals import BrandFormScreen

        self.app.push_screen(BrandFormScreen(), self._saved)

    def action_edit(self) -> None:
        from pipedeck.tui.screens.modals import BrandFormScreen

        brand = self.current_brand()
        if brand is not None:
            self.app.push_screen(BrandFormScreen(brand), self._saved)

    def _saved(self, brand: dict | None) -> None:
        if brand:
            self.notify(f"brand {brand['name']} saved", timeout=3)
            self.pd.refresh_soon(catalog=True)
            self.reload()

    # -- filter ----------------------------------------------------------------
    def action_filter(self) -> None:
        self.query_one("#brand-filter", FilterBox).open()

    @on(Input.Changed, "#brand-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._render_rows()

    def on_escape(self) -> bool:
        return self.query_one("#brand-filter", FilterBox).close()


class BrandScreen(ScheduleActions, PipedeckScreen):
    """One brand: freshness per dataset, job actions with forms, its schedules, and recent runs of each job type.

    The body is a column of panels (``panels()``).
    """

    HELP_TITLE = "Brand"
    BINDINGS = [
        Binding("q", "pick_job", "Queue…"),
        Binding("c", "competitors", "Competitors"),
        Binding("e", "edit", "Edit brand"),
        Binding("f", "policy", "Freshness policy"),
        Binding("enter", "open", "Open"),
    ] + GROUPED_SCHEDULE_BINDINGS
    SCHEDULE_SCOPE = "brand"
    # Terminals at least this tall show the schedules above the recent runs; shorter ones keep the
    # recent runs (what people watch) in view and the schedules one scroll down.
    SCHEDULES_FIRST_FROM_HEIGHT = 36

    def __init__(self, brand_id: int) -> None:
        super().__init__()
        self.brand_id = brand_id
        self.brand: dict | None = None
        self.fresh: list[dict] = []
        self.job_types = registry.all_job_types("brand")
        self.bind_job_keys(self.job_types)

    def panels(self) -> ComposeResult:
        with Vertical(classes="panel", id="freshness-panel"):
            yield Static(Text.assemble(("Freshness", "bold"), ("  f edits the policies", "dim")), classes="panel-title")
            yield Table(id="freshness", cursor_type="none", show_cursor=False)
        with Vertical(classes="panel", id="actions-panel"):
            direct = ", ".join(jt.screen_key for jt in self.job_types if self.job_key(jt))
            yield Static(Text(f"Actions (q or tab to pick, enter opens the form; {direct} directly)", style="bold"),
                         classes="panel-title")
            yield OptionList(*self._action_options(), id="actions")
        with Vertical(classes="panel", id="schedules-panel"):
            yield Static(Text.assemble(("Schedules", "bold"), (f"  {PANEL_KEYS}", "dim")), classes="panel-title")
            yield SchedulesTable(BRAND_COLUMNS, clock=self.svc.clock, id="schedules")
            yield Static("", id="schedule-hint", classes="hint")
        with Vertical(classes="panel", id="recent-panel"):
            yield Static(Text("Last 5 runs of each job type", style="bold"), classes="panel-title")
            yield RecentRunsTable(("type", "id", "status", "age", "took", "summary"), clock=self.svc.clock,
                            id="recent")
        with Vertical(classes="panel", id="durations-panel"):
            yield Static(Text.assemble(("Durations", "bold"), ("  the last 30 finished runs of each job type, "
                                                               "oldest first", "dim")), classes="panel-title")
            yield Vertical(id="durations")

    def compose_body(self) -> ComposeResult:
        yield Static("", id="brand-title", classes="title")
        with VerticalScroll(id="brand-panels"):
            yield from self.panels()

    def _action_options(self) -> list[Option]:
        out = []
        for jt in self.job_types:
            text = Text.assemble((f"{jt.emoji} {jt.label}", "bold"), (f"  {jt.key}", "dim"))
            if self.job_key(jt):
                text.append(f"  [{jt.screen_key}]", style="cyan")
            out.append(Option(text, id=jt.key))
        return out

    def on_mount(self) -> None:
        table = self.query_one("#freshness", Table)
        table.set_columns([Col("dataset", "DATASET", priority=0), Col("state", "STATE", priority=0, width=9),
                           Col("reason", "WHY", priority=0, min=12, flex=True)])
        table.can_focus = False  # no cursor to move: tab goes from the actions to the schedules and the runs
        self.query_one("#recent", RecentRunsTable).focus()
        self.set_interval(15, self._check_schedules)
        self._arrange(self.app.size.height)
        self.reload()

    def on_resize(self, event) -> None:
        self._arrange(event.size.height)

    def _arrange(self, height: int) -> None:
        box = self.query_one("#brand-panels", VerticalScroll)
        schedules, recent = self.query_one("#schedules-panel"), self.query_one("#recent-panel")
        first = height >= self.SCHEDULES_FIRST_FROM_HEIGHT
        if first != (box.children.index(schedules) < box.children.index(recent)):
            if first:
                box.move_child(schedules, before=recent)
            else:
                box.move_child(schedules, after=recent)

    def reload(self) -> None:
        svc, brand_id, types = self.svc, self.brand_id, [jt.key for jt in self.job_types]

        def load():
            brand = svc.brand(brand_id)
            fresh = [r for r in svc.freshness(brand=brand_id) if r["competitor_id"] is None]
            recent = []
            for key in types:
                recent += svc.recent_runs(brand_id, key, limit=5)
            return brand, fresh, recent, svc.schedules(brand=brand_id), svc.recent_durations(brand_id)

        self.fetch(load, self._loaded)

    def load_schedules(self) -> None:
        svc, brand_id = self.svc, self.brand_id
        self.fetch(lambda: svc.schedules(brand=brand_id), self.schedules_shown, group="schedules")

    def _loaded(self, data) -> None:
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        self.brand, fresh, recent, schedules, took = data
        self._show_durations(took)
        self.schedules_shown(schedules)
        b = self.brand
        title = Text.assemble(fmt.plain(b["name"], "bold"), "   Meta ad account ",
                              fmt.plain(b["meta_ad_account_id"] or "not set",
                                        "cyan" if b["meta_ad_account_id"] else "yellow"),
                              "   Ad Library page ",
                              fmt.plain(b["ad_library_page_id"] or "not set",
                                        "cyan" if b["ad_library_page_id"] else "yellow"))
        self.query_one("#brand-title", Static).update(title)
        self.fresh = fresh
        table = self.query_one("#freshness", DataTable)
        table.clear()
        now = self.now()
        for row in fresh:
            table.add_row(Text(row["dataset"], style="bold"), *self._freshness_cells(row, now).values(),
                          key=row["dataset"])
        self.query_one("#recent", RecentRunsTable).set_runs(recent)
        self.loaded()

    def _show_durations(self, took: dict[str, list[float]]) -> None:
        """A sparkline per job type of its last 30 durations, with the median and the latest beside it."""
        box = self.query_one("#durations", Vertical)
        if took == getattr(self, "_durations_shown", None):
            return
        self._durations_shown = took
        box.remove_children()
        rows = []
        for jt in self.job_types:
            values = took.get(jt.key)
            if not values:
                continue
            middle = sorted(values)[(len(values) + 1) // 2 - 1]
            rows.append(Horizontal(
                Static(Text(jt.key), classes="duration-name"),
                Sparkline(values, classes="duration-chart"),
                Static(Text(f"p50 {durations.compact(middle)} · last {durations.compact(values[-1])}", style="dim"),
                       classes="duration-figures"), classes="duration-row"))
        if not rows:
            rows.append(Static(Text("no finished runs yet", style="dim")))
        box.mount_all(rows)

    @staticmethod
    def _freshness_cells(row: dict, now: float) -> dict[str, Text]:
        row = fmt.freshness_at(row, now)
        return {"state": fmt.freshness_text(row["state"]), "reason": fmt.one_line(fmt.short_reason(row["reason"]), 200)}

    def runs_changed(self, rows: list[dict]) -> None:
        if self.schedule_runs_changed(rows):
            self.load_schedules()
        mine = [r for r in rows if r["brand_id"] == self.brand_id and r["competitor_id"] is None]
        if not mine:
            return
        table = self.query_one("#recent", RecentRunsTable)
        now = self.now()
        unknown = [r for r in mine if not table.patch(r, now)]
        if unknown or any(r["status"] in TERMINAL for r in mine):
            self.reload()  # a new run, or freshness moved: re-read this brand's few rows

    def tick(self, now: float) -> None:
        table = self.query_one("#freshness", DataTable)
        for row in self.fresh:
            table.refresh_cells(row["dataset"], self._freshness_cells(row, now))
        self.query_one("#recent", RecentRunsTable).tick(now)
        self.tick_schedules(now)

    def _check_schedules(self) -> None:
        if self.schedules_overdue():
            self.load_schedules()

    # -- actions ---------------------------------------------------------------
    def action_queue(self, job_type: str) -> None:
        try:
            jt = registry.get(job_type)
        except Exception:  # noqa: BLE001 - job type not registered in this build
            self.notify(f"job type {job_type} is not available", severity="error")
            return
        self.pd.open_job_form(jt.key, self.brand_id)

    def action_pick_job(self) -> None:
        self.query_one("#actions", OptionList).focus()

    @on(OptionList.OptionSelected, "#actions")
    def _action_chosen(self, event: OptionList.OptionSelected) -> None:
        self.action_queue(event.option.id)

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, OptionList):
            if focused.highlighted is not None:
                self.action_queue(focused.get_option_at_index(focused.highlighted).id)
            return
        if isinstance(focused, SchedulesTable):
            self.action_schedule_history()
            return
        run_id = self.query_one("#recent", RecentRunsTable).current_run_id()
        if run_id is not None:
            self.pd.open_run(run_id)

    @on(DataTable.RowSelected, "#recent")
    def _run_selected(self) -> None:
        self.action_open()

    @on(DataTable.RowSelected, "#schedules")
    def _schedule_selected(self) -> None:
        self.action_schedule_history()

    @on(DataTable.RowHighlighted, "#schedules")
    def _schedule_highlighted(self) -> None:
        self.show_schedule_hint()

    # -- schedules and freshness policies ---------------------------------------
    def schedule_target(self) -> dict:
        return {"brand_id": self.brand_id}

    def no_schedules_hint(self) -> str:
        return "No schedules for this brand: S runs a job on a schedule (e.g. meta_sync every morning at 7)."

    def action_policy(self) -> None:
        self.pd.open_policy_form(brand_id=self.brand_id)

    def action_competitors(self) -> None:
        from pipedeck.tui.screens.competitors import CompetitorScreen

        self.app.push_screen(CompetitorScreen(self.brand_id))

    def action_edit(self) -> None:
        from pipedeck.tui.screens.modals import BrandFormScreen

        if self.brand is None:
            self.after_load(self.action_edit)
            return

        def saved(brand: dict | None) -> None:
            if brand:
                self.notify(f"brand {brand['name']} saved", timeout=3)
                self.pd.refresh_soon(catalog=True)
                self.reload()

        self.app.push_screen(BrandFormScreen(self.brand), saved)
