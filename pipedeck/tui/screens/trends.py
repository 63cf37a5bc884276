"""View 7: how runs behave over time, per job type and per brand (runs, failure rate, p50/p95 duration)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Sparkline, Static

from pipedeck.concepts import durations
from pipedeck.concepts import trends as concept
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen

RELOAD_EVERY = 30.0  # seconds; a trend moves slowly, and its queries read the whole window


def _seconds(value: float | None) -> str:
    return "–" if value is None else durations.compact(value)


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


class TrendsScreen(PipedeckScreen):
    VIEW_TITLE = "Trends"
    BINDINGS = [Binding("t", "next_window", "24h/7d/30d")]

    def __init__(self, window: str = "7d") -> None:
        super().__init__()
        self.window_key = window
        self.data: dict | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="trends-title", classes="title")
        yield Static("", id="trends-ranking", classes="hint")
        yield VerticalScroll(id="trends-rows")

    def on_mount(self) -> None:
        self._show_title()
        self.set_interval(RELOAD_EVERY, self.reload)
        self.reload()

    def _show_title(self) -> None:
        window = concept.WINDOWS[self.window_key]
        switch = "  ".join(f"[{w}]" if w == self.window_key else w for w in concept.ORDER)
        self.query_one("#trends-title", Static).update(Text.assemble(
            ("Trends", "bold"), (f" · {window.label}, a point per {'hour' if window.bucket < 86400 else 'day'}", ""),
            (f"   t: {switch}", "dim")))

    def reload(self) -> None:
        svc, key = self.svc, self.window_key
        self.fetch(lambda: svc.trends(key), self._loaded, group="trends")

    def action_next_window(self) -> None:
        self.window_key = concept.next_window(self.window_key)
        self._show_title()
        self.reload()

    def _loaded(self, data: dict) -> None:
        if data["window"].key != self.window_key:
            return  # the window was switched meanwhile; its own fetch follows
        self.data = data
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)  # shown again after changes: read again
        self.query_one("#trends-ranking", Static).update(self.ranking(data))
        rows = self.query_one("#trends-rows", VerticalScroll)
        rows.remove_children()
        window = data["window"]
        widgets = [self._header("JOB TYPE")]
        widgets += [self._row(r["key"], r, data["type_series"].get(r["key"], {}), window, "type")
                    for r in data["by_type"]]
        if not data["by_type"]:
            widgets.append(Static(Text(f"no runs in the {window.label}", style="dim"), classes="trend-empty"))
        widgets.append(self._header("BRAND"))
        widgets += [self._row(r["name"], r, data["brand_series"].get(r["key"], {}), window, "brand")
                    for r in data["by_brand"]]
        rows.mount_all(widgets)
        self.loaded()

    @staticmethod
    def ranking(data: dict) -> Text:
        text = Text("Slowest (p95): ", style="bold")
        text.append(" · ".join(f"{r['key']} {_seconds(r['p95'])}" for r in data["slowest"]) or "–")
        text.append("   Most failing: ", style="bold")
        text.append(" · ".join(f"{r['key']} {_rate(r['failure_rate'])}" for r in data["most_failing"]) or "none",
                    style="red" if data["most_failing"] else "green")
        return text

    @staticmethod
    def _header(title: str) -> Horizontal:
        cells = [Static(Text(title, style="bold"), classes="trend-name"), Static(Text("RUNS", style="bold"),
                 classes="trend-num"), Static(Text("FAIL", style="bold"), classes="trend-num"),
                 Static(Text("P50", style="bold"), classes="trend-num"), Static(Text("P95", style="bold"),
                 classes="trend-num"), Static(Text("runs", style="bold"), classes="trend-chart-title"),
                 Static(Text("failure rate", style="bold"), classes="trend-chart-title"),
                 Static(Text("p95", style="bold"), classes="trend-chart-title")]
        return Horizontal(*cells, classes="trend-row trend-header")

    @staticmethod
    def _row(name: str, row: dict, series: dict, window, kind: str) -> Horizontal:
        per_day = row["runs"] / window.days
        runs = f"{row['runs']:,}" if window.days <= 1 else f"{per_day:,.0f}/d" if per_day >= 10 else f"{per_day:.1f}/d"
        failing = row["failure_rate"] is not None and row["failure_rate"] > 0
        cells = [Static(fmt.plain(name), classes="trend-name"), Static(Text(runs), classes="trend-num"),
                 Static(Text(_rate(row["failure_rate"]), style="red" if failing else ""), classes="trend-num"),
                 Static(Text(_seconds(row["p50"])), classes="trend-num"),
                 Static(Text(_seconds(row["p95"])), classes="trend-num"),
                 Sparkline(concept.points(series, window, "runs"), classes="trend-chart trend-runs"),
                 Sparkline(concept.points(series, window, "failure_rate"), classes="trend-chart trend-fail"),
                 Sparkline(concept.points(series, window, "p95"), classes="trend-chart trend-p95")]
        return Horizontal(*cells, classes=f"trend-row trend-{kind}")
