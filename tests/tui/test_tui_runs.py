"""The pipeline manager: retry, retry with edited params, cancel (confirmed), bulk retry/cancel, filter, search, paging."""

from __future__ import annotations

import pytest

from textual.widgets import Input, Select

from pipedeck.tui.screens.modals import ConfirmScreen, JobFormScreen
from pipedeck.tui.screens.pipeline import PipelineScreen
from pipedeck.tui.screens.run_detail import RunDetailScreen
from pipedeck.concepts.run_query import RunFilter, RunOrder
from pipedeck.tui.widgets.runs_table import MAX_HELD
from tests.tui.conftest import cell_text, screen_text, shown_ids, wait_for_screen, wait_until


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
    table.move_cursor(row=table.position_of(run_id))
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


def seed_history(svc, brand_id: int, n: int, status: str = "succeeded") -> list[int]:
    """n finished runs, oldest first, inserted in bulk through the run store; their ids, oldest first."""
    start = svc.clock() - n * 60
    svc.runs.insert_history({"job_type": "test_echo", "brand_id": brand_id, "status": status, "attempts": 1,
                             "created_at": start + i * 60, "started_at": start + i * 60 + 1,
                             "finished_at": start + i * 60 + 2, "summary": f"history {i}"} for i in range(n))
    rows = svc.run_window(RunFilter(), RunOrder("id"), 0, 1)
    first = rows.rows[0]["id"]
    return list(range(first, first + n))


async def test_runs_table_scrolls_to_the_end_of_a_long_history_holding_only_a_window(make_app, svc, brand):
    ids = seed_history(svc, brand["id"], 20_000)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot, app)
        table = screen.query_one("#runs")
        assert table.row_count == 20_000, "the scrollbar spans the whole history"
        assert len(shown_ids(table)) < 200, "only a window around the view is read"
        assert shown_ids(table)[0] == ids[-1]
        await pilot.press("end")
        await wait_until(pilot, lambda: table.current_run_id() == ids[0], message="the oldest run selected")
        assert table.cursor_row == 19_999
        await wait_until(pilot, lambda: ids[0] in shown_ids(table) and "history 0" in screen_text(app),
                         message="the last row drawn")
        await pilot.press("pageup")
        await wait_until(pilot, lambda: table.current_run() is not None, message="a page up drawn")
        assert table.cursor_row == 19_999 - table.page_rows
        assert table.current_run_id() == ids[table.row_count - 1 - table.cursor_row]
        await pilot.press("home")
        await wait_until(pilot, lambda: table.current_run_id() == ids[-1], message="back at the newest")
        assert len(shown_ids(table)) <= MAX_HELD


async def test_a_live_change_of_a_run_off_screen_shows_when_scrolled_to(make_app, svc, brand):
    seed_history(svc, brand["id"], 3_000)
    old_queued = svc.runs.create_run(job_type="test_echo", brand_id=brand["id"], competitor_id=None, params={},
                                     max_attempts=1)
    seed_history(svc, brand["id"], 3_000)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot, app)
        table = screen.query_one("#runs")
        assert old_queued not in shown_ids(table), "the run is far below the view"
        position = table.row_count - 3_001
        svc.cancel(old_queued)  # a live change while the run is off screen
        await wait_until(pilot, lambda: screen.synced_rev >= svc.runs.max_rev(), message="the change fed")
        table.move_cursor(position)
        await wait_until(pilot, lambda: table.current_run_id() == old_queued, message="the run scrolled to")
        assert cell_text(table, old_queued, "status").endswith("cancelled")
        await wait_until(pilot, lambda: "cancelled" in screen_text(app), message="drawn as cancelled")


async def test_selection_and_marks_stay_across_live_refreshes_and_filters(make_app, svc, brand):
    beta = svc.catalog.add_brand("Beta", meta_ad_account_id="1002")
    acme = [svc.queue_one_time_job("Acme", "test_echo", {}) for _ in range(3)]
    beta_run = svc.queue_one_time_job("Beta", "test_echo", {})
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot, app)
        table = screen.query_one("#runs")
        await select_run(pilot, screen, acme[0])
        await pilot.press("space")  # mark acme[0]; the cursor moves on
        await select_run(pilot, screen, acme[1])
        await pilot.press("space")
        await select_run(pilot, screen, acme[1])
        # Live refresh: new runs go on top; the cursor stays on its run, marks stay.
        newer = [svc.queue_one_time_job("Acme", "test_echo", {}) for _ in range(2)]
        await wait_until(pilot, lambda: shown_ids(table)[:2] == newer[::-1], message="new runs on top")
        assert table.current_run_id() == acme[1] and table.marked == {acme[0], acme[1]}
        # A filter that keeps the selected run keeps it selected, and the marks.
        screen.set_filter(brand_id=brand["id"])
        await wait_until(pilot, lambda: beta_run not in shown_ids(table) and not table.is_loading,
                         message="filtered to Acme")
        assert table.current_run_id() == acme[1] and table.marked == {acme[0], acme[1]}
        assert cell_text(table, acme[0], "mark") == "●"
        # A filter that leaves it out, then back: the marks survive, the selection returns to it.
        screen.set_filter(brand_id=beta["id"])
        await wait_until(pilot, lambda: shown_ids(table) == [beta_run], message="filtered to Beta")
        assert table.marked == {acme[0], acme[1]}
        screen.set_filter(brand_id=None)
        await wait_until(pilot, lambda: len(shown_ids(table)) == 6 and not table.is_loading, message="unfiltered")
        assert table.marked == {acme[0], acme[1]}
        assert "2 marked" in screen_text(app)


@pytest.mark.engines("sqlite")  # PostgreSQL searches the runs' own columns: no side index to bring up
async def test_the_idle_app_brings_the_runs_text_index_up_to_date(make_app, svc, brand):
    from pipedeck.storage import run_search

    seed_history(svc, brand["id"], 12_000)
    assert run_search.lag(svc.database) == 12_000
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot, app)
        await wait_until(pilot, lambda: run_search.lag(svc.database) == 0, message="the text index caught up")
        screen.set_filter(text="history 11999")
        table = screen.query_one("#runs")
        await wait_until(pilot, lambda: len(shown_ids(table)) == 1 and not table.is_loading, message="found")


async def test_export_writes_exactly_the_filtered_runs_and_says_where(make_app, svc, brand):
    import csv
    import json
    import re

    svc.catalog.add_brand("Beta", meta_ad_account_id="1002")
    failed = [failed_run(svc) for _ in range(3)] + [failed_run(svc, brand="Beta")]
    svc.queue_one_time_job("Acme", "test_echo", {})
    seed_history(svc, brand["id"], 500, status="failed")
    seed_history(svc, brand["id"], 500)
    everything = svc.run_window(RunFilter(), RunOrder(), 0, 10_000).rows
    expected = [r["id"] for r in everything if r["status"] == "failed" and r["brand_id"] == brand["id"]]
    assert len(expected) == 503 and set(failed[:3]) <= set(expected)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot, app)
        table = screen.query_one("#runs")
        screen.set_filter(status="failed", brand_id=brand["id"])
        await wait_until(pilot, lambda: not table.is_loading and table.row_count == 503, message="filtered")

        async def export(key: str) -> str:
            app.clear_notifications()
            await pilot.press(key)
            note = await wait_until(pilot, lambda: next((n.message for n in app._notifications
                                                          if n.message.startswith("exported")), None),
                                    message="the export's notification")
            assert note.startswith("exported 503 runs to ")
            path = re.search(r" to (\S+)$", note).group(1)
            assert path.startswith(str(svc.settings.home))
            return path

        with open(await export("x"), newline="") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["id"]) for r in rows] == expected, "exactly the filtered rows, in the table's order"
        assert {r["status"] for r in rows} == {"failed"} and {r["brand"] for r in rows} == {"Acme"}
        with open(await export("X")) as f:
            assert [r["id"] for r in json.load(f)] == expected
