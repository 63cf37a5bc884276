"""Live behaviour: run detail follows a real worker; direct mode keeps the app responsive; pause stops refresh."""

from __future__ import annotations

from textual.widgets import Input, ProgressBar

from pipedeck.tui.screens.brands import BrandsScreen
from pipedeck.tui.screens.modals import JobFormScreen
from pipedeck.tui.screens.pipeline import PipelineScreen
from pipedeck.tui.screens.run_detail import RunDetailScreen
from pipedeck.tui.widgets.log_view import LogView
from tests.tui.conftest import cell_text, screen_text, shown_ids, wait_for_screen, wait_until


async def test_run_detail_follows_a_real_worker_without_key_presses(make_app, svc, brand, worker):
    run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 8, "pause": 0.4})
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_run(run_id)
        detail = await wait_for_screen(pilot, app, RunDetailScreen)
        log = detail.query_one("#run-log", LogView)
        bar = detail.query_one("#run-progress", ProgressBar)
        progress_seen, log_sizes = set(), set()

        def observe():
            if bar.total:
                progress_seen.add(bar.progress)
            log_sizes.add(len(log.entries))
            return detail.run is not None and detail.run["status"] == "succeeded"

        await wait_until(pilot, observe, timeout=30, message="run succeeds on screen")
        # Progress and the log tail moved while the run executed, not only at the end.
        intermediate = {p for p in progress_seen if 0 < p < 8}
        assert len(intermediate) >= 2, f"progress seen: {sorted(progress_seen)}"
        assert len({n for n in log_sizes if 0 < n < 8}) >= 2, f"log sizes seen: {sorted(log_sizes)}"
        assert bar.progress == 8 and bar.total == 8
        assert "echo line 8 of 8" in log.text()
        assert "✔ succeeded" in str(detail.query_one("#run-title").content)


async def test_runs_table_shows_runs_queued_elsewhere_and_their_progress(make_app, svc, brand, worker):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("2")
        screen = await wait_for_screen(pilot, app, PipelineScreen)
        table = screen.query_one("#runs")
        # Queued by "another process" (the test): appears, runs, succeeds; no key pressed.
        run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 5, "pause": 0.3})
        statuses = set()

        def done():
            if run_id in shown_ids(table):
                statuses.add(cell_text(table, run_id, "status"))
                return cell_text(table, run_id, "status") == "✔ succeeded"
            return False

        await wait_until(pilot, done, timeout=30, message="succeeded in the table")
        assert "▶ running" in statuses
        assert any(s.startswith("▶ running") for s in statuses)
        await wait_until(pilot, lambda: "✔ succeeded" in screen_text(app), message="painted, not only stored")


async def test_direct_mode_runs_while_keys_are_still_handled(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_until(pilot, lambda: app.status_info.loaded, message="status loaded")
        assert app.status_info.workers_alive == 0
        app.open_job_form("test_sleep", brand["id"])
        form = await wait_for_screen(pilot, app, JobFormScreen)
        box = form.query_one("#f-seconds", Input)
        box.value = "3"
        await pilot.press("ctrl+r")  # run it directly, now
        run_id = await wait_until(pilot, lambda: [r["id"] for r in svc.list_runs()], message="run recorded")
        run_id = run_id[0]
        await wait_until(pilot, lambda: svc.runs.get(run_id)["status"] == "running", message="running directly")
        # While the handler sleeps on its thread, the app handles keys: switch views and back.
        await pilot.press("2")
        runs = await wait_for_screen(pilot, app, PipelineScreen)
        assert svc.runs.get(run_id)["status"] == "running", "the key was handled during the run"
        table = runs.query_one("#runs")
        await wait_until(pilot, lambda: run_id in shown_ids(table))
        assert cell_text(table, run_id, "status") == "▶ running ⚡"
        await pilot.press("1")
        await wait_for_screen(pilot, app, BrandsScreen)
        assert svc.runs.get(run_id)["status"] == "running"
        await pilot.press("2")
        await wait_until(pilot, lambda: cell_text(table, run_id, "status") == "✔ succeeded ⚡", timeout=15,
                         message="direct run succeeds on screen")
        run = svc.runs.get(run_id)
        assert run["direct"] == 1 and run["worker_id"].startswith("direct:")
        assert svc.runs.attempts(run_id)[0]["status"] == "succeeded"


async def test_pause_stops_live_refresh_until_resumed(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("2")
        screen = await wait_for_screen(pilot, app, PipelineScreen)
        table = screen.query_one("#runs")
        first = svc.queue_one_time_job("Acme", "test_echo", {})
        await wait_until(pilot, lambda: shown_ids(table) == [first], message="live insert")
        await pilot.press("p")
        assert app.status_info.paused
        assert "REFRESH PAUSED" in screen_text(app)
        ticks = app.feed.ticks
        second = svc.queue_one_time_job("Acme", "test_echo", {})
        await wait_until(pilot, lambda: app.feed.ticks >= ticks + 5, message="feed ticks while paused")
        assert shown_ids(table) == [first], "nothing refreshed while paused"
        await pilot.press("p")
        await wait_until(pilot, lambda: shown_ids(table) == [second, first], message="catch up after resume")
        assert not app.status_info.paused


async def test_top_bar_and_runs_table_show_the_same_change(make_app, svc, brand):
    # No worker: both runs stay queued until cancelled.
    ids = [svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 30}) for _ in range(2)]
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("2")
        screen = await wait_for_screen(pilot, app, PipelineScreen)
        table = screen.query_one("#runs")
        await wait_until(pilot, lambda: set(ids) <= set(shown_ids(table)) and app.status_info.queued == 2,
                         message="both queued, in the table and the bar")
        seen: list[tuple[bool, int]] = []

        def observe() -> bool:
            cancelled = all(cell_text(table, i, "status") == "⊘ cancelled" for i in ids)
            seen.append((cancelled, app.status_info.queued))
            return cancelled

        svc.cancel_many(ids)
        await wait_until(pilot, observe, message="cancelled in the table")
        assert seen[-1] == (True, 0), "the bar said queued 2 while the table said cancelled"
        assert "queued 0" in screen_text(app)
