"""View 4: the brand × dataset freshness matrix."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from pipedeck.storage.runs import TERMINAL
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.widgets.table import Table
from pipedeck.tui.screens.brands import DATASET_TITLES, brand_datasets, competitor_datasets, freshness_cell


class FreshnessScreen(PipedeckScreen):
    VIEW_TITLE = "Freshness"
    BINDINGS = [Binding("enter", "open", "Open")]

    def __init__(self) -> None:
        super().__init__()
        self.datasets = brand_datasets() + competitor_datasets()
        self.rows: dict[str, list[dict]] = {}
        self.cells: dict[tuple[str, str], dict] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(Text.assemble(("Freshness", "bold"), ("   brand × dataset; competitor datasets per competitor "
                                                           "(● fresh ◐ warning ○ stale – never, ✘ last attempt failed)",
                                                           "dim")), classes="title")
        yield Table(id="matrix", cursor_type="cell")
        yield Static("", id="matrix-reason", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#matrix", DataTable)
        table.add_column("BRAND / COMPETITOR", key="who")
        for ds in self.datasets:
            table.add_column(DATASET_TITLES.get(ds, ds.upper()), key=ds)
        table.focus()
        self.reload()

    def reload(self) -> None:
        self.fetch(self.svc.freshness, self._loaded)

    def _loaded(self, rows: list[dict]) -> None:
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
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
            who = Text(first["brand"], style="bold") if first["competitor_id"] is None else \
                Text(f"  ↳ {first['competitor']}", style="")
            by_ds = {r["dataset"]: r for r in items}
            for ds, r in by_ds.items():
                self.cells[(key, ds)] = r
            table.add_row(who, *[freshness_cell(by_ds.get(ds), now) for ds in self.datasets], key=key)
        if table.row_count:
            table.cursor_coordinate = cursor
        self.rows = grouped
        self._show_reason()

    @on(DataTable.CellHighlighted, "#matrix")
    def _show_reason(self) -> None:
        table = self.query_one("#matrix", DataTable)
        box = self.query_one("#matrix-reason", Static)
        if not table.row_count:
            box.update(Text("No brands yet.", style="dim"))
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate)
        row_key, col = key.row_key.value, key.column_key.value
        r = self.cells.get((row_key, col))
        if r is None:
            first = self.rows.get(row_key, [{}])[0]
            box.update(Text(f"{first.get('competitor') or first.get('brand', '')}: pick a dataset column",
                            style="dim"))
            return
        who = r["brand"] + (f" › {r['competitor']}" if r["competitor"] else "")
        box.update(Text.assemble((f"{who} · {r['dataset']}: ", "bold"), fmt.freshness_text(r["state"]),
                                 f" — {r['reason']}"))

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
