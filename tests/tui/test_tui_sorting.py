"""Sorting any table by any column (o / O, or a click on the header; the header shows the sort), and a
competitor ad's detail (enter on the ads table)."""

from __future__ import annotations

import json
import time

from textual.widgets import DataTable

from pipedeck.tui.screens.ad_detail import AdDetailScreen
from pipedeck.tui.screens.brands import BrandsScreen
from pipedeck.tui.screens.competitors import CompetitorScreen
from pipedeck.tui.screens.pipeline import PipelineScreen
from pipedeck.tui.widgets.runs_table import RunsTable
from tests.tui.conftest import screen_text, shown_ids, wait_for_screen, wait_until

WORKER = "worker-t:1:abc"


def finished_run(svc, brand_id: int, took: float) -> int:
    clock = {"t": time.time() - 100}
    svc.runs.clock = lambda: clock["t"]
    try:
        run_id = svc.runs.create_run(job_type="test_echo", brand_id=brand_id, competitor_id=None, params={},
                                     max_attempts=1)
        svc.runs.claim(run_id, WORKER)
        clock["t"] += took
        svc.runs.finish(run_id, 1, WORKER, "succeeded")
    finally:
        svc.runs.clock = time.time
    return run_id


def header(table, column: str) -> str:
    return table.header_text(column)


async def test_runs_sort_by_key_and_by_header_click_and_say_so(make_app, svc, brand):
    slow, fast, middle = finished_run(svc, brand["id"], 30), finished_run(svc, brand["id"], 2), \
        finished_run(svc, brand["id"], 9)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        screen = await wait_for_screen(pilot, app, PipelineScreen)
        table = screen.query_one("#runs")
        await wait_until(pilot, lambda: len(shown_ids(table)) == 3, message="runs listed")
        assert shown_ids(table) == [middle, fast, slow], "newest first until a sort is chosen"
        await pilot.press("o")  # the first column with a title: ID
        assert table.sort_column == "id" and header(table, "id") == "ID ▲"
        await wait_until(pilot, lambda: shown_ids(table) == [slow, fast, middle], message="sorted by id")
        await pilot.press("O")
        assert header(table, "id") == "ID ▼"
        await wait_until(pilot, lambda: shown_ids(table) == [middle, fast, slow], message="sorted by id, reversed")
        # A click on a header sorts by it (by duration, not by the text "30s" < "9.0s"); again reverses.
        await pilot.click(RunsTable, offset=(_runs_column_x(table, "took"), 0))
        assert table.sort_column == "took" and not table.sort_reverse
        await wait_until(pilot, lambda: shown_ids(table) == [fast, middle, slow], message="sorted by the store")
        assert header(table, "took") == "TOOK ▲"
        assert "TOOK ▲" in screen_text(app)
        await pilot.click(RunsTable, offset=(_runs_column_x(table, "took"), 0))
        assert table.sort_reverse
        await wait_until(pilot, lambda: shown_ids(table) == [slow, middle, fast], message="reversed by the store")
        # A run queued meanwhile takes its place in the sort (not simply at the top).
        newest = finished_run(svc, brand["id"], 15)
        await wait_until(pilot, lambda: shown_ids(table) == [slow, newest, middle, fast], message="sorted in live")


def _runs_column_x(table, column: str) -> int:
    x = 0
    for col, width in table.column_layout:
        if col.key == column:
            return x + 1
        x += width + 2
    raise KeyError(column)


def _column_x(table, column: str) -> int:
    x = 0
    for col in table.ordered_columns:
        if col.key.value == column:
            return x + 1
        x += col.get_render_width(table)
    raise KeyError(column)


async def test_brands_sort_by_name_from_the_header(make_app, svc, brand):
    for name in ("Zeta", "Beta"):
        svc.catalog.add_brand(name)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await wait_for_screen(pilot, app, BrandsScreen)
        table = screen.query_one("#brands")
        await wait_until(pilot, lambda: table.row_count == 3, message="brands listed")

        def names() -> list[str]:
            return [table.get_cell(row.key.value, "name").plain for row in table.ordered_rows]

        assert names() == ["Acme", "Beta", "Zeta"]  # as the catalog lists them
        await pilot.click(DataTable, offset=(_column_x(table, "name"), 0))
        assert names() == ["Acme", "Beta", "Zeta"] and "BRAND ▲" in screen_text(app)
        await pilot.click(DataTable, offset=(_column_x(table, "name"), 0))
        assert names() == ["Zeta", "Beta", "Acme"] and "BRAND ▼" in screen_text(app)
        await pilot.press("O")
        assert names() == ["Acme", "Beta", "Zeta"]


async def test_enter_on_a_competitor_ad_shows_its_detail_with_outside_text_made_harmless(make_app, svc, acme):
    now = time.time()
    hostile = "Big sale\x1b]52;c;ZXZpbA==\x07 now\x1b[2J!\nSecond line of the body"
    with svc.database.write() as db:
        db.conn.execute(
            "INSERT INTO competitor_ads (competitor_id, ad_archive_id, brand_id, page_id, page_name, is_active,"
            " start_date, body, title, cta_text, link_url, display_format, platforms, image_urls, video_urls,"
            " first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (acme["competitor"]["id"], "771234", acme["brand"]["id"], "7001", "Rival\x1b[31m Red", 1,
             now - 86400 * 10, hostile, "Spring boots", "Shop now", "https://rival.example/boots", "VIDEO",
             json.dumps(["facebook", "instagram"]), json.dumps(["https://cdn.example/a.jpg"]),
             json.dumps(["https://cdn.example/v.mp4"]), now - 86400 * 9, now - 3600))
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        app.open_competitors(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, CompetitorScreen)
        ads = screen.query_one("#ads")
        await wait_until(pilot, lambda: ads.row_count == 1, message="the ad listed")
        ads.focus()
        await pilot.press("enter")
        detail = await wait_for_screen(pilot, app, AdDetailScreen)
        await pilot.pause()
        text = screen_text(app)
        for wanted in ("Ad 771234", "● active", "Spring boots", "Second line of the body", "[ Shop now ]",
                       "facebook, instagram", "VIDEO", "1 image(s), 1 video(s)", "https://cdn.example/v.mp4",
                       "still running", "last seen 60 min ago"):
            assert wanted in text, wanted
        assert "Big sale␛]52;c;ZXZpbA==␇ now␛[2J!" in text and "Rival␛[31m Red" in text
        painted = [seg.text for strip in app.screen._compositor.render_strips() for seg in strip]
        assert not [t for t in painted if "\x1b" in t or "\x07" in t], "a control character reached the terminal"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, message="back on the competitor screen")
        assert not detail.is_attached
