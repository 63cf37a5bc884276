"""Live updates and a screen that is pushed but not yet composed."""

from __future__ import annotations

from pipedeck.tui.messages import RunsChanged, RunsReload
from pipedeck.tui.screens.competitors import CompetitorScreen
from tests.tui.conftest import wait_for_screen, wait_until


async def test_runs_changing_while_a_screen_is_still_being_composed(make_app, svc, acme):
    """A pushed screen is in the stack before its widgets exist; a refresh landing then must not
    reach into them (on a loaded machine it did: NoMatches '#schedules' on CompetitorScreen)."""
    run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1})
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_until(pilot, lambda: app.is_running and app.screen.is_mounted, message="app up")
        app.open_competitors(acme["brand"]["id"])
        screen = app.screen
        assert isinstance(screen, CompetitorScreen) and not screen.is_mounted
        app.on_runs_changed(RunsChanged([svc.runs.get(run_id)], app.live_rev + 1))
        app.on_runs_reload(RunsReload())
        await wait_for_screen(pilot, app, CompetitorScreen)
        await wait_until(pilot, lambda: screen.current_competitor() is not None, message="the screen loads")
