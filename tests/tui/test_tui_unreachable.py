"""The database server goes away under the app: the top bar says "database unreachable", the app
stays up, and when the server is back the bar clears and the runs table catches up by itself."""

from __future__ import annotations

import pytest

from tests.tui.conftest import screen_text, wait_until

pytestmark = pytest.mark.engines("postgresql")


async def test_the_top_bar_says_database_unreachable_and_recovers_by_itself(make_app, svc, acme, postgres_server):
    if postgres_server.external:
        pytest.fail("this test restarts the server: run it on the suite's own (unset PIPEDECK_TEST_POSTGRES_URL)")
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("2")  # the runs view
        await wait_until(pilot, lambda: app.status_info.loaded, message="the status bar loaded")
        assert "database unreachable" not in screen_text(app)
        postgres_server.stop()
        try:
            await wait_until(pilot, lambda: "database unreachable" in screen_text(app), timeout=15,
                             message="the top bar to say the database is unreachable")
            assert app.is_running and app.fatal_error is None and app.crash_error is None
        finally:
            postgres_server.start()
        await wait_until(pilot, lambda: "database unreachable" not in screen_text(app), timeout=20,
                         message="the top bar to clear once the server is back")
        run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1})  # the feed works again
        await wait_until(pilot, lambda: app.live_rev >= svc.live_rev() and str(run_id) in screen_text(app),
                         timeout=20, message="the new run in the runs table")
        assert app.is_running and app.crash_error is None
