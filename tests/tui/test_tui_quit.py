"""Quitting: at once when nothing of ours runs; else say what the app waits for; ctrl+q twice stops now."""

from __future__ import annotations

from pipedeck.queue.procs import pid_alive
from pipedeck.tui.screens.brands import BrandsScreen
from pipedeck.tui.screens.quitting import QuitScreen
from tests.tui.conftest import screen_text, wait_for_screen, wait_until


async def test_quit_with_nothing_running_exits_without_waiting(make_app, svc, brand):
    app = make_app()
    screens = []
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running or screens.append(type(app.screen)), message="exits")
    assert QuitScreen not in screens
    assert app.return_code == 0


async def test_quit_during_a_direct_run_says_what_it_waits_for_and_ctrl_q_again_hands_it_back(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        # A handler that never checks for a stop: quitting would wait for it.
        run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 15, "check_cancel": False}, direct=True)
        app.start_direct(run_id)
        await wait_until(pilot, lambda: svc.runs.get(run_id)["status"] == "running", message="running directly")
        await pilot.press("ctrl+q")
        await wait_for_screen(pilot, app, QuitScreen)
        await wait_until(pilot, lambda: f"handing run {run_id} back to the queue… 1 s" in screen_text(app),
                         message="what it waits for, and for how long")
        assert "ctrl+q again: stop now" in screen_text(app)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, message="exits at once")
    run = svc.runs.get(run_id)
    assert run["status"] == "queued", "handed back to the queue, as a worker does on SIGTERM"


async def test_quit_while_the_apps_worker_runs_a_job(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        app.worker_child.start()
        pid = app.worker_child.proc.pid
        run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 60, "check_cancel": False})
        await wait_until(pilot, lambda: svc.runs.get(run_id)["status"] == "running", timeout=30,
                         message="the app's worker runs it")
        await pilot.press("ctrl+q")
        await wait_for_screen(pilot, app, QuitScreen)
        await wait_until(pilot, lambda: f"run {run_id} (test_sleep for Acme): the worker this app started"
                         in screen_text(app), message="says which run it waits for")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, message="exits at once")
    # Told twice, the worker hands the run back and exits on its own.
    import time

    deadline = time.monotonic() + 20
    while (pid_alive(pid) or svc.runs.get(run_id)["status"] != "queued") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert svc.runs.get(run_id)["status"] == "queued"
    assert not pid_alive(pid)
