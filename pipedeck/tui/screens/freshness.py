"""View 4: the brand × dataset freshness matrix, and the freshness policies behind it."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from pipedeck.concepts import durations
from pipedeck.handlers import registry
from pipedeck.concepts.statuses import TERMINAL
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.screens.modals import ConfirmScreen
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.table import Table


class FreshnessScreen(PipedeckScreen):
    VIEW_TITLE = "Freshness"
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("e", "edit_policy", "Edit policy"),
        Binding("x", "clear_policy", "Clear policy"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.datasets = [d.key for d in registry.datasets("brand") + registry.datasets("competitor")]
        self.titles = {d.key: d.column for d in registry.datasets()}
        self.rows: dict[str, list[dict]] = {}
        self.cells: dict[tuple[str, str], dict] = {}
        self.policies: list[dict] = []
        self.brand_ids: dict[str, int] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(Text.assemble(("Freshness", "bold"), ("   brand × dataset; competitor datasets per competitor "
                                                           "(● fresh ◐ warning ○ stale – never, ✘ last attempt failed)",
                                                           "dim")), classes="title")
        yield Table(id="matrix", cursor_type="cell")
        yield Static("", id="matrix-reason", classes="hint")
        with Vertical(classes="panel", id="policies-panel"):
            yield Static(Text.assemble(("Policies", "bold"), ("  when data warns and goes stale · e edit (the "
                                                              "selected cell's or row's) · x clear · tab switches",
                                                              "dim")),
                         classes="panel-title")
            yield Table(id="policies", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one("#matrix", Table)
        table.set_columns([Col("who", "BRAND / COMPETITOR", priority=0, min=12, max=32)]
                          + [Col(ds, self.titles[ds], priority=1, min=7) for ds in self.datasets])
        self.query_one("#policies", Table).set_columns([
            Col("brand", "APPLIES TO", priority=0, min=10, max=28), Col("dataset", "DATASET", priority=0),
            Col("warn", "WARN AFTER", priority=0, min=6), Col("stale", "STALE AFTER", priority=0, min=6),
            Col("source", "FROM", priority=2)])
        table.focus()
        self.reload()

    def reload(self) -> None:
        svc = self.svc
        self.fetch(lambda: (svc.freshness(), svc.freshness_policies()), self._loaded)

    def _loaded(self, data) -> None:
        rows, policies = data
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        self._show_policies(policies)
        self.brand_ids = {r["brand"]: r["brand_id"] for r in rows}
        now = self.now()
        grouped: dict[str, list[dict]] = {}
        order: list[str] = []
        for r in rows:
            key = f"b{r['brand_id']}" if r["competitor_id"] is None else f"c{r['competitor_id']}"
            if key not in grouped:
                order.append(key)
            grouped.setdefault(key, []).append(r)
        # Brands first, each followed by its competitors.
        order.sort(key=lambda k: (grouped[k][0]["brand"].lower(), k[0] == "c", (grouped[k][0]["competitor"] or "").lower()))
        table = self.query_one("#matrix", DataTable)
        cursor = table.cursor_coordinate
        table.clear()
        self.cells = {}
        for key in order:
            items = grouped[key]
            first = items[0]
            who = fmt.plain(first["brand"], "bold") if first["competitor_id"] is None else \
                fmt.plain(f"  ↳ {first['competitor']}")
            by_ds = {r["dataset"]: r for r in items}
            for ds, r in by_ds.items():
                self.cells[(key, ds)] = r
            table.add_row(who, *[fmt.freshness_cell(by_ds.get(ds), now) for ds in self.datasets], key=key)
        if table.row_count:
            table.cursor_coordinate = cursor
        self.rows = grouped
        self._show_reason()

    @on(DataTable.CellHighlighted, "#matrix")
    def _show_reason(self) -> None:
        table = self.query_one("#matrix", DataTable)
        box = self.query_one("#matrix-reason", Static)
        if not table.row_count:
            self._reason_shown = None
            box.update(Text("No brands yet.", style="dim"))
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate)
        row_key, col = key.row_key.value, key.column_key.value
        r = self.cells.get((row_key, col))
        if r is None:
            first = self.rows.get(row_key, [{}])[0]
            self._reason_shown = None
            box.update(Text(f"{first.get('competitor') or first.get('brand', '')}: pick a dataset column",
                            style="dim"))
            return
        r = fmt.freshness_at(r, self.now())
        who = r["brand"] + (f" › {r['competitor']}" if r["competitor"] else "")
        text = Text.assemble(fmt.plain(f"{who} · {r['dataset']}: ", "bold"), fmt.freshness_text(r["state"]),
                             " — ", fmt.plain(r["reason"]))
        if text != getattr(self, "_reason_shown", None):
            self._reason_shown = text
            box.update(text)

    def tick(self, now: float) -> None:
        table = self.query_one("#matrix", DataTable)
        for key, items in self.rows.items():
            by_ds = {r["dataset"]: r for r in items}
            table.refresh_cells(key, {ds: fmt.freshness_cell(by_ds[ds], now) for ds in self.datasets if ds in by_ds})
        if table.row_count:
            self._show_reason()

    @on(DataTable.CellSelected, "#matrix")
    def _selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one("#matrix", DataTable)
        if not table.row_count:
            return
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        first = self.rows[row_key][0]
        if first["competitor_id"] is None:
            self.pd.open_brand(first["brand_id"])
        else:
            self.pd.open_competitors(first["brand_id"], first["competitor_id"])

    def runs_changed(self, rows: list[dict]) -> None:
        if any(r["status"] in TERMINAL for r in rows):
            self.reload()

    # -- policies ------------------------------------------------------------------
    def _show_policies(self, policies: list[dict]) -> None:
        self.policies = policies
        table = self.query_one("#policies", DataTable)
        keep = table.cursor_row
        table.clear()
        for p in policies:
            source_style = {"built-in policy": "dim", "default policy": "", "brand policy": "cyan"}.get(p["source"], "")
            table.add_row(Text(p["brand"] or "all brands (default)", style="bold" if p["brand"] else ""),
                          Text(p["dataset"]), Text(durations.words(p["warn_after"])), Text(durations.words(p["stale_after"])),
                          Text(p["source"], style=source_style), key=f"{p['brand'] or ''}|{p['dataset']}")
        if table.row_count:
            table.move_cursor(row=min(max(keep, 0), table.row_count - 1), animate=False)

    def _selected_policy(self) -> dict | None:
        table = self.query_one("#policies", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((p for p in self.policies if f"{p['brand'] or ''}|{p['dataset']}" == key), None)

    def _policy_target(self) -> tuple[str | None, int | None, str | None]:
        """(dataset, brand id or None for the default, brand name) the e and x keys act on."""
        if self.focused is self.query_one("#policies", DataTable):
            p = self._selected_policy()
            if p is None:
                return None, None, None
            return p["dataset"], self.brand_ids.get(p["brand"]) if p["brand"] else None, p["brand"]
        table = self.query_one("#matrix", DataTable)
        if not table.row_count:
            return None, None, None
        key = table.coordinate_to_cell_key(table.cursor_coordinate)
        first = self.rows[key.row_key.value][0]
        dataset = key.column_key.value if key.column_key.value in self.datasets else None
        return dataset, first["brand_id"], first["brand"]

    def action_edit_policy(self) -> None:
        dataset, brand_id, _ = self._policy_target()
        self.pd.open_policy_form(brand_id=brand_id, dataset=dataset)

    def action_clear_policy(self) -> None:
        dataset, brand_id, brand = self._policy_target()
        if dataset is None:
            self.notify("pick a dataset column (or a row of the policies table) first", severity="warning")
            return
        owner = brand if brand_id else None
        stored = next((p for p in self.policies if p["dataset"] == dataset and p["brand"] == owner
                       and p["source"] != "built-in policy"), None)
        if stored is None:
            if brand_id:
                self.notify(f"{brand} has no {dataset} policy of its own (it follows the default); to clear the "
                            "default, select it in the policies table (tab)", severity="warning", timeout=6)
            else:
                self.notify(f"nothing stored for {dataset}: the built-in policy applies", severity="warning")
            return
        default = next(p for p in self.policies if p["dataset"] == dataset and p["brand"] is None)
        after = (f"It then follows the default for all brands (warns after {durations.words(default['warn_after'])}, stale "
                 f"after {durations.words(default['stale_after'])})." if brand_id else
                 f"All brands without their own {dataset} policy then follow the built-in one.")
        svc = self.svc

        def cleared(_) -> None:
            self.notify(f"{dataset} policy {'of ' + brand if brand_id else 'default'} cleared", timeout=3)
            self.pd.reload_all()

        def answer(yes: bool | None) -> None:
            if yes:
                self.fetch(lambda: svc.clear_freshness_policy(dataset, brand=brand_id), cleared, group="clear-policy")

        what = f"{brand}'s own {dataset} policy" if brand_id else f"the default {dataset} policy for all brands"
        self.app.push_screen(ConfirmScreen(f"Clear {what}?", confirm="Clear policy", detail=after), answer)
