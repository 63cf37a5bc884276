"""Template review: pending templates with text and preview; approve, reject, skip, bulk."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static

from pipedeck.concepts.text import visible
from pipedeck.tui import fmt
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.widgets.filter_box import FilterBox
from pipedeck.tui.widgets.columns import Col
from pipedeck.tui.widgets.table import Table
from pipedeck.tui.screens.modals import ConfirmScreen
from pipedeck.tui.widgets.preview import preview_renderable

VIEWS = ("pending", "approved", "rejected", None)  # v goes round them in this order; None is all


class TemplatesScreen(PipedeckScreen):
    """View 3: the review queue."""

    VIEW_TITLE = "Templates"
    BINDINGS = [
        Binding("a", "review('approved')", "Approve"),
        Binding("x", "review('rejected')", "Reject"),
        Binding("n", "skip", "Skip"),
        Binding("space", "mark", "Mark"),
        Binding("A", "review_marked('approved')", "Approve marked"),
        Binding("X", "review_marked('rejected')", "Reject marked"),
        Binding("u", "review('pending')", "Reopen"),  # o sorts, as in every table
        Binding("v", "cycle_view", "Cycle view"),
        Binding("slash", "filter", "Filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = "pending"
        self.counts: dict[str, int] = {}
        self.templates: list[dict] = []
        self.marked: set[int] = set()
        self.filter_text = ""

    def compose_body(self) -> ComposeResult:
        yield Static("", id="templates-title", classes="title")
        yield FilterBox("filter by brand, page, title or text (esc clears)", id="tpl-filter", returns_to="#templates")
        with Horizontal(id="templates-main"):
            with Vertical(classes="panel", id="tpl-list-panel"):
                yield Table(id="templates", cursor_type="row")
            with VerticalScroll(classes="panel", id="tpl-detail-panel"):
                yield Static("", id="tpl-text")
                yield Static("", id="tpl-preview")

    def on_mount(self) -> None:
        table = self.query_one("#templates", Table)
        table.set_columns([
            Col("mark", " ", priority=0, width=1), Col("id", "ID", priority=2), Col("brand", "BRAND", priority=3,
                                                                                    min=8, max=20),
            Col("page", "PAGE", priority=3, min=8, max=20), Col("status", "STATUS", priority=0, width=8),
            Col("format", "FORMAT", priority=4, max=10), Col("title", "TITLE / TEXT", priority=0, min=12, flex=True,
                                                           prefer=28)])
        table.focus()
        self.reload()

    def reload(self) -> None:
        svc, view = self.svc, self.view

        def load():
            return view, svc.templates(status=view, limit=1000), svc.template_counts()

        self.fetch(load, self._loaded)

    def _loaded(self, data) -> None:
        view, rows, counts = data
        if view != self.view:
            return
        self.synced_rev = max(self.synced_rev or 0, self.pd.live_rev)
        self.templates = rows
        self.counts = counts
        self.marked &= {t["id"] for t in rows}
        self._render_rows()

    def _visible(self) -> list[dict]:
        needle = self.filter_text.lower()
        if not needle:
            return self.templates
        return [t for t in self.templates
                if any(needle in (t.get(k) or "").lower() for k in ("brand", "page_name", "title", "body", "cta_text"))]

    def _cells(self, t: dict) -> list[Text]:
        style = {"approved": "green", "rejected": "red", "pending": "yellow"}.get(t["status"], "")
        return [Text("●" if t["id"] in self.marked else " ", style="bold yellow"), Text(str(t["id"])),
                fmt.plain(t["brand"]), fmt.plain(t.get("page_name") or ""), Text(t["status"], style=style),
                fmt.plain(t.get("display_format") or ""), fmt.one_line(t.get("title") or t.get("body") or "", 200)]

    def _render_rows(self) -> None:
        table = self.query_one("#templates", DataTable)
        keep_row = table.cursor_row
        table.clear()
        for t in self._visible():
            table.add_row(*self._cells(t), key=str(t["id"]))
        if table.row_count:
            table.move_cursor(row=min(max(keep_row, 0), table.row_count - 1), animate=False)
        self._show_title()
        self._show_current()

    def _show_title(self) -> None:
        """Every view with its count (the one shown highlighted), what v shows next, matches, marks."""
        counts = {**self.counts, None: sum(self.counts.values())}
        title = Text.assemble(("Template review", "bold"), "   ")
        for n, view in enumerate(VIEWS):
            if n:
                title.append(" · ", style="dim")
            label = f"{view or 'all'} {counts.get(view, 0)}"
            title.append(label, style="bold reverse" if view == self.view else "dim")
        upcoming = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        title.append(f"   v → {upcoming or 'all'}", style="dim")
        if self.filter_text:
            shown = self.query_one("#templates", DataTable).row_count
            title.append("   ")
            title.append_text(fmt.plain(f"{shown} match “{self.filter_text}”", "cyan"))
        if self.marked:
            title.append(f"   {len(self.marked)} marked", style="bold yellow")
        self.query_one("#templates-title", Static).update(title)

    def current(self) -> dict | None:
        table = self.query_one("#templates", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((t for t in self.templates if str(t["id"]) == key), None)

    @on(DataTable.RowHighlighted, "#templates")
    def _show_current(self) -> None:
        t = self.current()
        text_box = self.query_one("#tpl-text", Static)
        preview = self.query_one("#tpl-preview", Static)
        if t is None:
            text_box.update(Text("Nothing to review." if self.view == "pending" else "No templates here.",
                                 style="dim"))
            preview.update("")
            return
        text = Text()
        text.append(visible(t.get("page_name") or "unknown page"), style="bold")
        text.append(visible(f"   {t['brand']} · ad {t['ad_archive_id']} · {t['status']}") + "\n", style="dim")
        if t.get("title"):
            text.append(f"\n{visible(t['title'])}\n", style="bold")
        if t.get("body"):
            text.append(f"\n{visible(t['body'], keep_newlines=True)}\n")
        if t.get("cta_text"):
            text.append(f"\n[ {visible(t['cta_text'])} ]", style="reverse")
        if t.get("link_url"):
            text.append(f"  {visible(t['link_url'])}", style="underline")
        text_box.update(text)
        svc = self.svc
        sha, tid = t.get("preview_sha256"), t["id"]
        width = max(20, (preview.size.width or 40) - 2)

        def load():
            path = svc.asset_path(sha)
            return tid, preview_renderable(path, t.get("image_url"), width=width, can_draw=self.pd.can_draw_images)

        self.fetch(load, self._preview_loaded, group="preview")

    def _preview_loaded(self, data) -> None:
        tid, renderable = data
        current = self.current()
        if current is not None and current["id"] == tid:
            self.query_one("#tpl-preview", Static).update(renderable)

    # -- reviewing ---------------------------------------------------------------
    def action_review(self, status: str) -> None:
        t = self.current()
        if t is None:
            return
        if t["status"] == status:
            self.notify(f"template {t['id']} is already {status}", timeout=2)
            return
        self._apply([t["id"]], status)

    def action_review_marked(self, status: str) -> None:
        ids = sorted(self.marked)
        if not ids:
            self.notify("mark templates with space first", severity="warning")
            return
        if status == "rejected":
            def answer(yes: bool | None) -> None:
                if yes:
                    self._apply(ids, status)
            self.app.push_screen(ConfirmScreen(f"Reject {len(ids)} marked templates?", confirm="Reject"), answer)
        else:
            self._apply(ids, status)

    def _apply(self, ids: list[int], status: str) -> None:
        svc = self.svc

        def done(result) -> None:
            changed, self.counts = result
            self.notify(f"{changed} template(s) {status if status != 'pending' else 'reopened'}", timeout=2)
            for t in self.templates:
                if t["id"] in ids:
                    t["status"] = status
            self.marked -= set(ids)
            if self.view is not None and self.view != status:
                self.templates = [t for t in self.templates if t["id"] not in ids]
            self._render_rows()

        self.fetch(lambda: (svc.review_templates(ids, status), svc.template_counts()), done, group="review",
                   exclusive=False)

    def action_skip(self) -> None:
        table = self.query_one("#templates", DataTable)
        if table.row_count:
            table.move_cursor(row=(table.cursor_row + 1) % table.row_count)

    def action_mark(self) -> None:
        t = self.current()
        if t is None:
            return
        self.marked ^= {t["id"]}
        table = self.query_one("#templates", DataTable)
        table.update_cell(str(t["id"]), "mark", self._cells(t)[0])
        self.action_skip()
        self._show_title()

    def action_cycle_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.marked.clear()
        self.reload()

    def runs_changed(self, rows: list[dict]) -> None:
        if any(r["job_type"] == "template_scrape" and r["status"] == "succeeded" for r in rows):
            self.reload()

    # -- filter --------------------------------------------------------------------
    def action_filter(self) -> None:
        self.query_one("#tpl-filter", FilterBox).open()

    @on(Input.Changed, "#tpl-filter")
    def _filter(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._render_rows()

    def on_escape(self) -> bool:
        return self.query_one("#tpl-filter", FilterBox).close()
