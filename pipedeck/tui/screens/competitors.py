"""A brand's competitors: add and edit them, scrape one, its recent scrapes and its ads."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from pipedeck.handlers import registry
from pipedeck.concepts.statuses import TERMINAL
from pipedeck.tui import fmt
from pipedeck.tui.screens.ad_detail import AdDetailScreen, active_text, day
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.screens.schedules import GROUPED_SCHEDULE_BINDINGS, PANEL_KEYS, ScheduleActions
from pipedeck.tui.widgets.filter_box import FilterBox
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.schedules_table import SchedulesTable
from pipedeck.tui.widgets.table import Table
from pipedeck.tui.widgets.recent_runs import RecentRunsTable


# The competitor is the panel's subject: the job type without the competitor's name, no brand.
COMPETITOR_SCHEDULE_COLUMNS = ("id", "job", "when", "next", "last", "missed")


class CompetitorScreen(ScheduleActions, PipedeckScreen):
    HELP_TITLE = "Competitors"
    BINDINGS = [
        Binding("a", "add", "Add competitor"),
        Binding("e", "edit", "Edit competitor"),
        Binding("slash", "search", "Search ads"),
        Binding("enter", "open", "Open run"),
    ] + GROUPED_SCHEDULE_BINDINGS
    SCHEDULE_SCOPE = "competitor"

    def __init__(self, brand_id: int, competitor_id: int | None = None) -> None:
        super().__init__()
        self.brand_id = brand_id
        self.select_id = competitor_id
        self.brand: dict | None = None
        self.competitors: list[dict] = []
        self.freshness: dict[int, dict] = {}
        self.search = ""
        self.ads: dict[str, dict] = {}
        self.ads_of: dict | None = None
        self.job_types = registry.all_job_types("competitor")
        self.bind_job_keys(self.job_types)

    def compose_body(self) -> ComposeResult:
        yield Static("", id="competitors-title", classes="title")
        with Horizontal(id="competitor-main"):
            with Vertical(classes="panel", id="competitor-list-panel"):
                yield Static(Text("Competitors", style="bold"), classes="panel-title")
                yield Table(id="competitors", cursor_type="row")
            with Vertical(id="competitor-side"):
                with Vertical(classes="panel", id="scrapes-panel"):
                    yield Static(Text("Recent scrapes", style="bold"), classes="panel-title", id="scrapes-title")
                    yield RecentRunsTable(("id", "status", "age", "took", "summary"), clock=self.svc.clock,
                                    id="scrapes")
                with Vertical(classes="panel", id="competitor-schedules-panel"):
                    yield Static(Text.assemble(("Schedules", "bold"), (f"  {PANEL_KEYS}", "dim")),
                                 classes="panel-title", id="schedules-title")
                    yield SchedulesTable(COMPETITOR_SCHEDULE_COLUMNS, clock=self.svc.clock, show_competitor=False,
                                         id="schedules")
                    yield Static("", id="schedule-hint", classes="hint")
                with Vertical(classes="panel", id="ads-panel"):
                    yield Static(Text("Ads", style="bold"), classes="panel-title", id="ads-title")
                    yield FilterBox("search ads: text, title, CTA, link or archive id (esc clears)",
                                    id="ad-search", returns_to="#ads")
                    yield Table(id="ads", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one("#competitors", Table)
        table.set_columns([Col("name", "NAME", priority=0, min=8, max=24), Col("fresh", "ADS", priority=0, min=9),
                           Col("url", "AD LIBRARY URL", priority=2, min=12, flex=True)])
        self.query_one("#ads", Table).set_columns([
            Col("active", "ACTIVE", priority=0, width=8), Col("first", "FIRST SEEN", priority=3, width=10),
            Col("last", "LAST SEEN", priority=2, width=10), Col("format", "FORMAT", priority=4, max=10),
            Col("text", "TEXT", priority=0, min=12, flex=True, prefer=28), Col("cta", "CTA", priority=4, max=14),
            Col("id", "ARCHIVE ID", priority=3, max=18)])
        table.focus()
        self.set_interval(15, self._check_schedules)
        self.reload()

    # -- the list ----------------------------------------------------------------
    def reload(self) -> None:
        svc, brand_id = self.svc, self.brand_id

        def load():
            brand = svc.brand(brand_id)
            comps = svc.competitors(brand_id)
            fresh = {r["competitor_id"]: r for r in svc.freshness(brand=brand_id) if r["competitor_id"]}
            return brand, comps, fresh

        self.fetch(load, self._loaded)

    def _loaded(self, data) -> None:
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        self.brand, self.competitors, self.freshness = data
        jobs = "".join(f" · {jt.screen_key} {jt.key_label.lower()}" for jt in self.job_types if self.job_key(jt))
        self.query_one("#competitors-title", Static).update(
            Text.assemble(("Competitors of ", ""), fmt.plain(self.brand["name"], "bold"),
                          (f"   a add · e edit{jobs} · / search ads", "dim")))
        table = self.query_one("#competitors", DataTable)
        keep = self.select_id if self.select_id is not None else (self.current_competitor() or {}).get("id")
        table.clear()
        now = self.now()
        for c in self.competitors:
            table.add_row(fmt.plain(c["name"], "bold"), self._fresh_cell(c, now), fmt.one_line(c["ad_library_url"], 60),
                          key=str(c["id"]))
        if keep is not None and any(c["id"] == keep for c in self.competitors):
            table.move_cursor(row=table.get_row_index(str(keep)), animate=False)
        self.select_id = None
        if not self.competitors:
            self.query_one("#scrapes", RecentRunsTable).set_runs([])
            self.schedules_shown([])
            self.query_one("#ads", DataTable).clear()
            self.query_one("#ads-title", Static).update(
                Text("No competitors yet: press a to add one with its Ad Library URL.", style="yellow"))
        else:
            self.load_selected()
        self.loaded()

    def _fresh_cell(self, competitor: dict, now: float) -> Text:
        row = self.freshness.get(competitor["id"])
        return Text("–", style="dim") if row is None else fmt.freshness_cell(row, now, ago=True)

    def tick(self, now: float) -> None:
        table = self.query_one("#competitors", DataTable)
        for c in self.competitors:
            table.refresh_cells(str(c["id"]), {"fresh": self._fresh_cell(c, now)})
        self.query_one("#scrapes", RecentRunsTable).tick(now)
        self.tick_schedules(now)

    def current_competitor(self) -> dict | None:
        table = self.query_one("#competitors", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((c for c in self.competitors if str(c["id"]) == key), None)

    @on(DataTable.RowHighlighted, "#competitors")
    def _highlighted(self) -> None:
        self.load_selected()

    @on(DataTable.RowSelected, "#competitors")
    def _competitor_chosen(self) -> None:
        self.query_one("#scrapes", RecentRunsTable).focus()

    # -- the selected competitor: scrapes and ads --------------------------------
    def load_selected(self) -> None:
        comp = self.current_competitor()
        if comp is None:
            return
        svc, brand_id, search = self.svc, self.brand_id, self.search
        keys = [jt.key for jt in self.job_types]

        def load():
            runs = []
            for key in keys:
                runs += svc.recent_runs(brand_id, key, competitor=comp["id"], limit=5)
            runs.sort(key=lambda r: r["id"], reverse=True)
            ads = svc.competitor_ads(comp["id"], brand_id, search=search or None, limit=500)
            return comp, runs, ads, svc.schedules(brand=brand_id, competitor=comp["id"])

        self.fetch(load, self._selected_loaded, group="selected")

    def load_schedules(self) -> None:
        comp = self.current_competitor()
        if comp is None:
            return
        svc, brand_id = self.svc, self.brand_id
        self.fetch(lambda: svc.schedules(brand=brand_id, competitor=comp["id"]), self.schedules_shown,
                   group="schedules")

    def _selected_loaded(self, data) -> None:
        comp, runs, ads, schedules = data
        self.query_one("#scrapes-title", Static).update(Text.assemble(("Recent scrapes of ", "bold"),
                                                                      fmt.plain(comp["name"], "bold cyan")))
        self.query_one("#scrapes", RecentRunsTable).set_runs(runs)
        self.query_one("#schedules-title", Static).update(Text.assemble(
            ("Schedules of ", "bold"), fmt.plain(comp["name"], "bold cyan"), (f"  {PANEL_KEYS}", "dim")))
        self.schedules_shown(schedules)
        table = self.query_one("#ads", DataTable)
        table.clear()
        self.ads = {str(ad["ad_archive_id"]): ad for ad in ads}
        self.ads_of = comp
        for ad in ads:
            text = ad.get("title") or ad.get("body") or ""
            table.add_row(active_text(ad) if ad["is_active"] else Text("○ ended", style="dim"),
                          Text(day(ad.get("first_seen_at"))), Text(day(ad.get("last_seen_at"))),
                          fmt.plain(ad.get("display_format") or ""), fmt.one_line(text, 80),
                          fmt.plain(ad.get("cta_text") or ""), fmt.plain(ad["ad_archive_id"]),
                          key=f"{ad['ad_archive_id']}")
        active = sum(1 for ad in ads if ad["is_active"])
        what = f"matching “{self.search}”" if self.search else "stored"
        more = "+" if len(ads) >= 500 else ""
        self.query_one("#ads-title", Static).update(
            Text.assemble(("Ads ", "bold"), (f"{len(ads)}{more} {what}, {active} active — active first", "dim")))

    def runs_changed(self, rows: list[dict]) -> None:
        if self.schedule_runs_changed(rows):
            self.load_schedules()
        comp = self.current_competitor()
        mine = [r for r in rows if r["brand_id"] == self.brand_id and r["competitor_id"] is not None]
        if not mine:
            return
        table = self.query_one("#scrapes", RecentRunsTable)
        now = self.now()
        reload_selected = False
        for r in mine:
            if not table.patch(r, now) and comp is not None and r["competitor_id"] == comp["id"]:
                reload_selected = True
            if r["status"] in TERMINAL:
                reload_selected = reload_selected or (comp is not None and r["competitor_id"] == comp["id"])
        if any(r["status"] in TERMINAL for r in mine):
            self.reload()  # freshness moved (and the selected competitor's ads with it)
        elif reload_selected:
            self.load_selected()

    def _check_schedules(self) -> None:
        if self.schedules_overdue():
            self.load_schedules()

    # -- schedules -------------------------------------------------------------------
    def schedule_target(self) -> dict | None:
        comp = self.current_competitor()
        if comp is None:
            self.notify("add a competitor first (a)", severity="warning")
            return None
        return {"brand_id": self.brand_id, "competitor_id": comp["id"]}

    def no_schedules_hint(self) -> str:
        comp = self.current_competitor()
        name = comp["name"] if comp else "this competitor"
        return f"No schedules for {name}: S scrapes it on a schedule (e.g. weekly)."

    @on(DataTable.RowHighlighted, "#schedules")
    def _schedule_highlighted(self) -> None:
        self.show_schedule_hint()

    @on(DataTable.RowSelected, "#schedules")
    def _schedule_selected(self) -> None:
        self.action_schedule_history()

    # -- actions -------------------------------------------------------------------
    def action_add(self) -> None:
        from pipedeck.tui.screens.modals import CompetitorFormScreen

        if self.brand is None:
            self.after_load(self.action_add)
            return
        self.app.push_screen(CompetitorFormScreen(self.brand), self._saved)

    def action_edit(self) -> None:
        from pipedeck.tui.screens.modals import CompetitorFormScreen

        if self.brand is None:
            self.after_load(self.action_edit)
            return
        comp = self.current_competitor()
        if comp is not None:
            self.app.push_screen(CompetitorFormScreen(self.brand, comp), self._saved)

    def _saved(self, comp: dict | None) -> None:
        if comp:
            self.notify(f"competitor {comp['name']} saved", timeout=3)
            self.select_id = comp["id"]
            self.pd.refresh_soon(catalog=True)
            self.reload()

    def action_queue(self, job_type: str) -> None:
        comp = self.current_competitor()
        if comp is None:
            self.notify("add a competitor first (a)", severity="warning")
            return
        self.pd.open_job_form(job_type, self.brand_id, comp["id"])

    def action_open(self) -> None:
        run_id = self.query_one("#scrapes", RecentRunsTable).current_run_id()
        if run_id is not None:
            self.pd.open_run(run_id)

    @on(DataTable.RowSelected, "#ads")
    def _ad_selected(self, event: DataTable.RowSelected) -> None:
        ad = self.ads.get(event.row_key.value)
        if ad is not None:
            self.app.push_screen(AdDetailScreen(ad, competitor=(self.ads_of or {}).get("name", ""), now=self.now(),
                                                ad_library_origin=self.pd.settings.ad_library_url))

    @on(DataTable.RowSelected, "#scrapes")
    def _run_selected(self) -> None:
        self.action_open()

    def action_search(self) -> None:
        self.query_one("#ad-search", FilterBox).open()

    @on(Input.Changed, "#ad-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.search = event.value.strip()
        self.load_selected()

    def on_escape(self) -> bool:
        return self.query_one("#ad-search", FilterBox).close()
