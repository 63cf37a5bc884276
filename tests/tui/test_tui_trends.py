"""The trends view: its key and palette entry, the window switch, the figures it draws from the store."""

from __future__ import annotations

from textual.widgets import Sparkline

from pipedeck.concepts import trends as concept
from pipedeck.tui.screens.trends import TrendsScreen
from tests.tui.conftest import screen_text, wait_for_screen, wait_until


def seed(svc, brand_id: int) -> None:
    now = svc.clock()
    runs = []
    for i in range(40):  # over the last 40 hours: meta_sync fast and sound, asset_download slow and failing
        created = now - i * 3600 - 60
        runs.append({"job_type": "meta_sync", "brand_id": brand_id, "status": "succeeded", "created_at": created,
                     "started_at": created + 1, "finished_at": created + 11})
        runs.append({"job_type": "asset_download", "brand_id": brand_id,
                     "status": "failed" if i % 4 == 0 else "succeeded", "created_at": created,
                     "started_at": created + 1, "finished_at": created + 301})
    svc.runs.insert_history(runs)


async def test_trends_view_by_key_and_palette_switches_windows_and_draws_the_stores_figures(make_app, svc, brand):
    seed(svc, brand["id"])
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("7")
        screen = await wait_for_screen(pilot, app, TrendsScreen)
        await wait_until(pilot, lambda: screen.data is not None, message="the trends")
        assert screen.data["window"].key == "7d"
        await wait_until(pilot, lambda: "Slowest (p95): asset_download 5m" in screen_text(app)
                         and "Most failing: asset_download 25%" in screen_text(app), message="the ranking drawn")
        # Two job types and one brand, each with three sparklines of a point per day.
        await wait_until(pilot, lambda: len(screen.query(Sparkline)) == 9, message="the charts")
        runs = screen.query(".trend-type .trend-runs").first(Sparkline)
        assert len(runs.data) == 7 and sum(runs.data) == 40
        await pilot.press("t")  # 30 d
        await wait_until(pilot, lambda: screen.data["window"].key == "30d", message="30 days")
        await pilot.press("t")  # 24 h: a point per hour, 24 of the 40 hours
        await wait_until(pilot, lambda: screen.data["window"].key == "24h", message="24 hours")
        await wait_until(pilot, lambda: len(screen.query(Sparkline)) == 9, message="the charts again")
        runs = screen.query(".trend-type .trend-runs").first(Sparkline)
        assert len(runs.data) == concept.WINDOWS["24h"].buckets and sum(runs.data) == 24
        await wait_until(pilot, lambda: "[24h]" in screen_text(app), message="the window named")
        # From the palette as well.
        await pilot.press("1")
        await pilot.press("ctrl+p")
        await pilot.press(*"View: Trends")
        await pilot.press("enter")
        await wait_for_screen(pilot, app, TrendsScreen)


async def test_trends_view_at_80x24_says_when_there_are_no_runs(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        screen = await wait_for_screen(pilot, app, TrendsScreen)
        await wait_until(pilot, lambda: "no runs in the last 7 days" in screen_text(app), message="empty")


async def test_brand_screen_draws_its_last_30_durations_per_job_type(make_app, svc, brand):
    from pipedeck.tui.screens.brands import BrandScreen

    now = svc.clock()
    svc.runs.insert_history({"job_type": "meta_sync", "brand_id": brand["id"], "status": "succeeded",
                             "created_at": now - 100 + i, "started_at": now - 100 + i,
                             "finished_at": now - 100 + i + 1 + i} for i in range(40))
    app = make_app()
    async with app.run_test(size=(120, 60)) as pilot:
        app.open_brand(brand["id"])
        screen = await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: screen.query(".duration-chart"), message="the durations sparkline")
        (chart,) = screen.query(".duration-chart")
        assert list(chart.data) == [float(1 + i) for i in range(10, 40)], "the last 30, oldest first"
        await wait_until(pilot, lambda: "p50 25s · last 40s" in screen_text(app), message="drawn")
