"""The pipeline manager: retry, retry with edited params, cancel (confirmed), bulk retry/cancel, filter, search, paging."""

from __future__ import annotations

from textual.widgets import Input, Select

from pipedeck.tui.screens.modals import ConfirmScreen, JobFormScreen
from pipedeck.tui.screens.pipeline import PipelineScreen, RunDetailScreen
from tests.tui.conftest import cell_text, shown_ids, wait_for_screen, wait_until


def failed_run(svc, brand="Acme", job_type="test_flaky", params=None) -> int:
    """A run that really failed: executed directly in this process with a permanent error."""
    run_id = svc.queue_one_time_job(brand, job_type, params or {"fail_times": 5, "permanent": True}, direct=True)
    assert svc.execute_direct(run_id) == "failed"
    return run_id


async def open_runs(pilot, app) -> PipelineScreen:
    await pilot.press("2")
    screen = await wait_for_screen(pilot, app, PipelineScreen)
    await wait_until(pilot, lambda: not screen._loading, message="runs loaded")
    return screen


async def select_run(pilot, screen: PipelineScreen, run_id: int) -> None:
    table = screen.query_one("#runs")
    await wait_until(pilot, lambda: run_id in shown_ids(table), message=f"run {run_id} shown")
    table.focus()
    table.move_cursor(row=table.get_row_index(str(run_id)))
    await pilot.pause()
    assert table.current_run_id() == run_id


async def test_retry_from_runs_table(make_app, svc, brand):
    old = failed_run(svc)
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_runs(pilot, app)
        await select_run(pilot, screen, old)
        assert cell_text(screen.query_one("#runs"), old, "status") == "✘ failed ⚡"  # ⚡: ran directly
        await pilot.press("r")
        new = await wait_until(pilot, lambda: svc.runs.get(old)["retried_by"], message="retry recorded")
        retry = svc.runs.get(new)
        assert retry["retry_of"] == old and retry["params"] == svc.runs.get(old)["params"]
        assert retry["status"] == "queued"
        # The new run appears at the top of the live table without a key press.
        table = screen.query_one("#runs")
        await wait_until(pilot, lambda: shown_ids(table)[:1] == [new], message="retry at the top")


async def test_retry_with_edited_params(make_app, svc, brand):
    old = failed_run(svc)
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_runs(pilot, app)
        await select_run(pilot, screen, old)
        await pilot.press("e")
        form = await wait_for_screen(pilot, app, JobFormScreen)
        assert form.retry_of == old
        box = form.query_one("#f-fail_times", Input)
        assert box.value == "5"  # the failed run's params, not the defaults
        box.focus()
        box.value = ""
        await pilot.press("0")
        await pilot.press("enter")
        new = await wait_until(pilot, lambda: svc.runs.get(old)["retried_by"], message="retry recorded")
        assert svc.runs.get(new)["params"] == {"fail_times": 0, "permanent": True}
        assert svc.runs.get(new)["retry_of"] == old


async def test_cancel_asks_first_and_cancels_on_yes(make_app, svc, brand):
    run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 30})  # no worker: stays queued
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_runs(pilot, app)
        await select_run(pilot, screen, run_id)
        await pilot.press("c")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await pilot.press("n")
        await wait_for_screen(pilot, app, PipelineScreen)
        assert svc.runs.get(run_id)["status"] == "queued", "no means no"
        await pilot.press("c")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: svc.runs.get(run_id)["status"] == "cancelled", message="cancelled")
        table = screen.query_one("#runs")
        await wait_until(pilot, lambda: cell_text(table, run_id, "status") == "⊘ cancelled",
                         message="table shows cancelled")


async def test_cancel_running_run_shows_cancelling_until_it_stops(make_app, svc, brand, worker):
    run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 60})
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_run(run_id)
        detail = await wait_for_screen(pilot, app, RunDetailScreen)
        await wait_until(pilot, lambda: detail.run and detail.run["status"] == "running", timeout=20,
                         message="run starts on the worker")
        # Pause the worker's view of the world: we want to see `cancelling` on screen before it ends.
        seen = []
        original = detail._loaded

        def spy(data):
            seen.append(data[0]["status"])
            original(data)

        detail._loaded = spy
        await pilot.press("c")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: detail.run["status"] == "cancelled", timeout=20, message="cancelled")
        assert svc.runs.get(run_id)["status"] == "cancelled"
        assert svc.runs.attempts(run_id)[-1]["status"] == "cancelled"
        assert "⊘ cancelled" in str(detail.query_one("#run-title").content)
        # Between the request and the handler stopping, the run is `cancelling` (the notification says so too).
        assert any("cancelling" in n.message for n in app._notifications) or "cancelling" in seen


async def test_bulk_retry_of_marked_runs(make_app, svc, brand):
    ids = [failed_run(svc) for _ in range(3)]
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_runs(pilot, app)
        table = screen.query_one("#runs")
        await select_run(pilot, screen, ids[2])
        await pilot.press("space", "space")  # marks ids[2] and ids[1] (the cursor moves down)
        assert table.marked == {ids[2], ids[1]}
        assert cell_text(table, ids[2], "mark") == "●"
        await pilot.press("R")
        await wait_until(pilot, lambda: svc.runs.get(ids[1])["retried_by"] and svc.runs.get(ids[2])["retried_by"],
                         message="both retried")
        assert svc.runs.get(ids[0])["retried_by"] is None
        await wait_until(pilot, lambda: not table.marked and len(shown_ids(table)) == 5, message="marks cleared")


async def test_retry_all_failed_of_a_type_for_a_brand(make_app, svc, brand):
    svc.catalog.add_brand("Beta", meta_ad_account_id="1002")
    acme_flaky = [failed_run(svc) for _ in range(2)]
    beta_flaky = failed_run(svc, brand="Beta")
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_runs(pilot, app)
        await wait_until(pilot, lambda: app.catalog_cache.brands, message="catalog")
        screen.query_one("#f-brand", Select).value = brand["id"]
        screen.query_one("#f-type", Select).value = "test_flaky"
        await wait_until(pilot, lambda: screen.filter.brand_id == brand["id"] and screen.filter.job_type == "test_flaky")
        screen.query_one("#runs").focus()
        await pilot.press("F")
        confirm = await wait_for_screen(pilot, app, ConfirmScreen)
        assert "Retry 2 failed test_flaky for Acme" in confirm.message
        await pilot.press("y")
        await wait_until(pilot, lambda: all(svc.runs.get(i)["retried_by"] for i in acme_flaky), message="retried")
        assert svc.runs.get(beta_flaky)["retried_by"] is None, "other brands are left alone"


async def test_retry_all_failed_defaults_to_the_selected_runs_brand_and_type(make_app, svc, brand):
    svc.catalog.add_brand("Beta", meta_ad_account_id="1002")
    acme_flaky = [failed_run(svc) for _ in range(2)]
    acme_echo = svc.runs.create_run(job_type="test_echo", brand_id=brand["id"], competitor_id=None, params={},
                                    max_attempts=1)  # another job type, failed
    svc.runs.claim(acme_echo, "w")
    svc.runs.finish(acme_echo, 1, "w", "failed", error_type="Boom", error_message="failed on purpose")
    beta_flaky = failed_run(svc, brand="Beta")
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_runs(pilot, app)
        await wait_until(pilot, lambda: app.catalog_cache.brands, message="catalog")
        await select_run(pilot, screen, acme_flaky[0])  # no filters set: five failed runs on screen
        await pilot.press("F")
        confirm = await wait_for_screen(pilot, app, ConfirmScreen)
        assert "Retry 2 failed test_flaky for Acme" in confirm.message
        assert f"brand and job type of the selected run ({acme_flaky[0]})" in confirm.detail
        await pilot.press("y")
        await wait_until(pilot, lambda: all(svc.runs.get(i)["retried_by"] for i in acme_flaky), message="retried")
        assert svc.runs.get(acme_echo)["retried_by"] is None, "another job type's failed run is left alone"
        assert svc.runs.get(beta_flaky)["retried_by"] is None, "another brand's failed run is left alone"


async def test_bulk_cancel_asks_first(make_app, svc, brand):
    ids = [svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 30}) for _ in range(3)]
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_runs(pilot, app)
        await select_run(pilot, screen, ids[2])
        await pilot.press("space", "space", "C")
        confirm = await wait_for_screen(pilot, app, ConfirmScreen)
        assert "Cancel 2 runs" in confirm.message
        await pilot.press("escape")
        await wait_for_screen(pilot, app, PipelineScreen)
        assert [svc.runs.get(i)["status"] for i in ids] == ["queued"] * 3
        await pilot.press("C")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: [svc.runs.get(i)["status"] for i in ids] == ["queued", "cancelled", "cancelled"],
                         message="two cancelled")


async def test_filter_by_status_type_brand_and_search(make_app, svc, brand):
    svc.catalog.add_brand("Beta", meta_ad_account_id="1002")
    failed = failed_run(svc)
    queued_echo = svc.queue_one_time_job("Acme", "test_echo", {})
    beta_echo = svc.queue_one_time_job("Beta", "test_echo", {})
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_runs(pilot, app)
        table = screen.query_one("#runs")
        assert shown_ids(table) == [beta_echo, queued_echo, failed]
        screen.query_one("#f-status", Select).value = "failed"
        await wait_until(pilot, lambda: shown_ids(table) == [failed] and not screen._loading, message="status filter")
        screen.query_one("#f-status", Select).value = "active"
        await wait_until(pilot, lambda: shown_ids(table) == [beta_echo, queued_echo], message="active filter")
        await wait_until(pilot, lambda: app.catalog_cache.brands, message="catalog")
        screen.query_one("#f-brand", Select).value = brand["id"]
        await wait_until(pilot, lambda: shown_ids(table) == [queued_echo], message="brand filter")
        screen.query_one("#f-status", Select).clear()
        screen.query_one("#f-brand", Select).clear()
        screen.query_one("#f-type", Select).value = "test_flaky"
        await wait_until(pilot, lambda: shown_ids(table) == [failed], message="type filter")
        screen.query_one("#f-type", Select).clear()
        await wait_until(pilot, lambda: len(shown_ids(table)) == 3)
        # Free-text search from the keyboard.
        table.focus()
        await pilot.press("slash", *"beta")
        await wait_until(pilot, lambda: shown_ids(table) == [beta_echo], message="search")
        await pilot.press("escape")  # leaves the search box for the table
        assert table.has_focus
        # Live rows respect the filter: a new Acme run does not appear under "beta".
        acme_new = svc.queue_one_time_job("Acme", "test_echo", {})
        beta_new = svc.queue_one_time_job("Beta", "test_echo", {})
        await wait_until(pilot, lambda: shown_ids(table) == [beta_new, beta_echo], message="live filtered insert")
        assert acme_new not in shown_ids(table)


async def test_runs_table_pages_instead_of_loading_everything(make_app, svc, brand):
    ids = [svc.runs.create_run(job_type="test_echo", brand_id=brand["id"], competitor_id=None, params={},
                               max_attempts=1) for _ in range(250)]
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_runs(pilot, app)
        table = screen.query_one("#runs")
        assert table.row_count == 100 and table.has_more
        await pilot.press("end")
        await wait_until(pilot, lambda: table.row_count == 200, message="second page")
        await pilot.press("end")
        await wait_until(pilot, lambda: table.row_count == 250 and not table.has_more, message="last page")
        assert shown_ids(table) == sorted(ids, reverse=True)
