"""The workers view: each worker's host, pid, uptime, runs done, current run and last error, and whether
alerts are being delivered; with a real worker process."""

from __future__ import annotations

import socket

from pipedeck.tui.screens.system import SystemScreen
from tests.helpers import wait_for
from tests.tui.conftest import cell_text, screen_text, wait_for_screen, wait_until


async def test_workers_view_shows_what_each_worker_did_and_is_doing_and_a_failing_alert_target(
        make_app, svc, brand, worker_factory):
    with socket.socket() as s:  # a port nothing listens on: alert delivery fails
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    w = worker_factory(extra_env={"PIPEDECK_ALERT_URLS": f"json://127.0.0.1:{dead_port}/hook",
                                  "PIPEDECK_ALERT_INTERVAL": "0.5"})
    failed = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 5, "permanent": True})
    done = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1})
    wait_for(lambda: svc.run(failed)["status"] == "failed" and svc.run(done)["status"] == "succeeded", 20)
    sleeping = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 60})
    wait_for(lambda: svc.run(sleeping)["status"] == "running", 20)
    worker_id = next(x["id"] for x in svc.worker_health() if x["pid"] == w.pid)
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("5")
        screen = await wait_for_screen(pilot, app, SystemScreen)
        table = screen.query_one("#workers")
        await wait_until(pilot, lambda: worker_id in {str(k.value) for k in table.rows}, message="the worker row")
        assert cell_text(table, worker_id, "pid") == str(w.pid)
        assert cell_text(table, worker_id, "host") == socket.gethostname()
        assert cell_text(table, worker_id, "done") == "2"
        assert cell_text(table, worker_id, "current") == f"{sleeping} test_sleep"
        assert cell_text(table, worker_id, "error").startswith(f"run {failed}: MetaBadParameter")
        assert cell_text(table, worker_id, "up").endswith(("s", "m"))
        await wait_until(pilot, lambda: "alerts not delivered" in screen_text(app), timeout=30,
                         message="the alert delivery error shown")
        svc.cancel(sleeping)
        await wait_until(pilot, lambda: cell_text(table, worker_id, "current") == "idle", timeout=20,
                         message="the worker idle again")
        await wait_until(pilot, lambda: cell_text(table, worker_id, "done") == "3", message="runs done counted")


async def test_workers_view_fits_80x24_with_its_columns(make_app, svc, brand, worker_factory):
    worker_factory()
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        screen = await wait_for_screen(pilot, app, SystemScreen)
        table = screen.query_one("#workers")
        await wait_until(pilot, lambda: table.row_count == 1, message="the worker row")
        await wait_until(pilot, lambda: "CURRENT RUN" in screen_text(app) and "idle" in screen_text(app),
                         message="the current run column at 80 columns")
