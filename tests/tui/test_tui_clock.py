"""Time passes on screen: ages, durations and freshness states move on between reads, from data already held."""

from __future__ import annotations

import time

import pytest

from pipedeck.queue.service import Service
from pipedeck.storage.db import Database
from pipedeck.tui.app import PipedeckApp
from pipedeck.tui.screens.brands import BrandScreen, BrandsScreen
from pipedeck.tui.screens.competitors import CompetitorScreen
from pipedeck.tui.screens.freshness import FreshnessScreen
from pipedeck.tui.screens.run_detail import RunDetailScreen
from tests.helpers import Clock
from tests.tui.conftest import cell_text, screen_text, wait_for_screen, wait_until

WORKER = "worker-t:1:abc"


@pytest.fixture
def clock():
    return Clock(time.time())


@pytest.fixture
def timed(settings, clock):
    """A service on a clock the test moves, with Acme's test data refreshed at the clock's start."""
    svc = Service(settings, clock=clock)
    brand = svc.catalog.add_brand("Acme", meta_ad_account_id="1001", ad_library_page_id="5001")
    svc.set_freshness_policy("test_data", 60, 120)  # warns after 1 min, stale after 2 min
    run_id = svc.runs.create_run(job_type="test_echo", brand_id=brand["id"], competitor_id=None, params={},
                                 max_attempts=1)
    assert svc.runs.claim(run_id, WORKER) is not None
    svc.runs.finish(run_id, 1, WORKER, "succeeded", datasets=("test_data",))
    yield svc, brand
    svc.close()


async def counting_reads(pilot, monkeypatch) -> "ReadCounter":
    """Once the app's loading is done, count its database calls from now on."""
    await pilot.app.workers.wait_for_complete()
    return ReadCounter(monkeypatch)


class ReadCounter:
    """Counts database reads and writes from this process (the UI, its thread workers, the feed)."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        for name in ("query", "scalar", "write"):
            original = getattr(Database, name)
            monkeypatch.setattr(Database, name, self._counted(original))

    def _counted(self, original):
        def counted(db, *args, **kwargs):
            self.calls += 1
            return original(db, *args, **kwargs)
        return counted


async def test_a_freshness_age_moves_on_and_changes_colour_when_it_crosses_its_policy(timed, clock, monkeypatch):
    svc, brand = timed
    clock.t += 30
    app = PipedeckApp(svc, live=False)  # no live feed: nothing re-reads unless a screen asks
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await wait_for_screen(pilot, app, BrandsScreen)
        table = screen.query_one("#brands")
        await wait_until(pilot, lambda: table.row_count == 1 and cell_text(table, brand["id"], "test_data") == "● 30s",
                         message="fresh, 30 s old")
        assert table.get_cell(str(brand["id"]), "test_data").style == "green"
        reads = await counting_reads(pilot, monkeypatch)
        clock.t += 45  # 75 s after the success: past "warns after 1 min"
        await wait_until(pilot, lambda: cell_text(table, brand["id"], "test_data") == "◐ 1m", message="warning")
        assert table.get_cell(str(brand["id"]), "test_data").style == "yellow"
        assert "test_data: warning — last success 1 min ago" in screen_text(app)  # the hint line too
        clock.t += 60
        await wait_until(pilot, lambda: cell_text(table, brand["id"], "test_data") == "○ 2m", message="stale")
        assert table.get_cell(str(brand["id"]), "test_data").style == "red"
        assert reads.calls == 0, "re-rendered from the rows already held, without reading again"


async def test_brand_screen_freshness_and_freshness_matrix_move_on(timed, clock, monkeypatch):
    svc, brand = timed
    app = PipedeckApp(svc, live=False)
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_brand(brand["id"])
        screen = await wait_for_screen(pilot, app, BrandScreen)
        table = screen.query_one("#freshness")
        await wait_until(pilot, lambda: table.row_count and "last success 0 s ago" in cell_text(table, "test_data",
                                                                                               "reason"))
        reads = await counting_reads(pilot, monkeypatch)
        clock.t += 90
        await wait_until(pilot, lambda: "last success 2 min ago" in cell_text(table, "test_data", "reason"),
                         message="the reason ages")
        assert cell_text(table, "test_data", "state") == "◐ warning"
        assert reads.calls == 0
        await pilot.press("4")
        matrix = (await wait_for_screen(pilot, app, FreshnessScreen)).query_one("#matrix")
        await wait_until(pilot, lambda: matrix.row_count and cell_text(matrix, f"b{brand['id']}", "test_data")
                         == "◐ 1m")
        clock.t += 60
        await wait_until(pilot, lambda: cell_text(matrix, f"b{brand['id']}", "test_data") == "○ 2m")


async def test_competitor_list_age_moves_on(timed, clock, monkeypatch):
    svc, brand = timed
    comp = svc.catalog.add_competitor(brand["id"], "Rival", svc.settings.ad_library_url +
                                      "/ads/library/?active_status=all&ad_type=all&country=ALL"
                                      "&view_all_page_id=7001&search_type=page&media_type=all",
                                      svc.settings.ad_library_url)
    run_id = svc.runs.create_run(job_type="competitor_scrape", brand_id=brand["id"], competitor_id=comp["id"],
                                 params={}, max_attempts=1)
    svc.runs.claim(run_id, WORKER)
    svc.runs.finish(run_id, 1, WORKER, "succeeded", datasets=("competitor_ads",))
    app = PipedeckApp(svc, live=False)
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_competitors(brand["id"])
        table = (await wait_for_screen(pilot, app, CompetitorScreen)).query_one("#competitors")
        await wait_until(pilot, lambda: table.row_count and cell_text(table, comp["id"], "fresh") == "● 0s ago")
        clock.t += 125
        await wait_until(pilot, lambda: cell_text(table, comp["id"], "fresh") == "● 2m ago", message="ages")


async def test_run_detail_durations_move_on_while_the_run_runs(timed, clock, monkeypatch):
    svc, brand = timed
    run_id = svc.runs.create_run(job_type="test_sleep", brand_id=brand["id"], competitor_id=None,
                                 params={"seconds": 60}, max_attempts=2)
    svc.runs.claim(run_id, WORKER)
    clock.t += 7.5
    app = PipedeckApp(svc, live=False)
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_run(run_id)
        detail = await wait_for_screen(pilot, app, RunDetailScreen)
        attempts = detail.query_one("#attempts")
        await wait_until(pilot, lambda: attempts.row_count == 1 and cell_text(attempts, 1, "took") == "7.5s")
        reads = await counting_reads(pilot, monkeypatch)
        clock.t += 5.5
        await wait_until(pilot, lambda: cell_text(attempts, 1, "took") == "13s", message="attempt's took moves on")
        assert "took  13s" in " ".join(screen_text(app).split("│")), "the header says the same"
        assert reads.calls == 0
