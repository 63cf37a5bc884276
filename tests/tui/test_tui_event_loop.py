"""No database call on Textual's event loop: every screen and action reads and writes from thread workers."""

from __future__ import annotations

import sys
import threading

from pipedeck.storage.db import Database
from pipedeck.tui.screens.ad_detail import AdDetailScreen
from pipedeck.tui.screens.brands import BrandScreen, BrandsScreen
from pipedeck.tui.screens.competitors import CompetitorScreen
from pipedeck.tui.screens.freshness import FreshnessScreen
from pipedeck.tui.screens.modals import ConfirmScreen, JobFormScreen
from pipedeck.tui.screens.pipeline import PipelineScreen
from pipedeck.tui.screens.run_detail import RunDetailScreen
from pipedeck.tui.screens.schedule_forms import PolicyFormScreen, ScheduleFormScreen
from pipedeck.tui.screens.schedules import ScheduleHistoryScreen, SchedulesScreen
from pipedeck.tui.screens.templates import TemplatesScreen
from tests.tui.test_tui_catalog import seed_ads
from tests.tui.test_tui_templates import seed_templates
from tests.tui.conftest import wait_for_screen, wait_until


def test_a_tour_of_every_screen_makes_no_database_call_on_the_event_loop(make_app, svc, acme, monkeypatch):
    seed_ads(svc, acme["brand"]["id"], acme["competitor"]["id"])
    seed_templates(svc, acme["brand"]["id"], 3)
    failed = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 5, "permanent": True}, direct=True)
    svc.execute_direct(failed)
    queued = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 30})
    svc.add_schedule("competitor_scrape", "Acme", competitor="Rival", cron="0 5 * * 1")
    loop_thread = threading.main_thread()
    violations: list[str] = []

    def guard(original):
        def checked(self, *args, **kwargs):
            if threading.current_thread() is loop_thread:
                frame = sys._getframe(1)
                while frame is not None:
                    if "/pipedeck/tui/" in frame.f_code.co_filename:
                        violations.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
                        break
                    frame = frame.f_back
            return original(self, *args, **kwargs)
        return checked

    for name in ("query", "query_one", "scalar", "write"):
        monkeypatch.setattr(Database, name, guard(getattr(Database, name)))
    monkeypatch.setattr(Database, "conn", property(guard(Database.conn.fget)))

    async def tour():
        app = make_app()
        async with app.run_test(size=(160, 45)) as pilot:
            brands = await wait_for_screen(pilot, app, BrandsScreen)
            await wait_until(pilot, lambda: brands.query_one("#brands").row_count == 1, message="brand list")
            await pilot.press("enter")
            await wait_for_screen(pilot, app, BrandScreen)
            await pilot.press("m")
            await wait_for_screen(pilot, app, JobFormScreen)
            await pilot.press("enter")
            brand_screen = await wait_for_screen(pilot, app, BrandScreen)
            # Schedules: add (typing into the live-checked form), pause, resume, edit, history, remove.
            await pilot.press("S")
            await wait_for_screen(pilot, app, ScheduleFormScreen)
            await pilot.press("ctrl+u", *"*/5 * * * *", "tab", *"Europe/Berlin", "ctrl+s")
            await wait_for_screen(pilot, app, BrandScreen)
            schedules = brand_screen.query_one("#schedules")
            await wait_until(pilot, lambda: schedules.row_count == 2)
            schedules.move_cursor(row=1)  # the new one (the competitor's stays for the competitor screen)
            await pilot.press("P")
            await wait_until(pilot, lambda: any(not s["active"] for s in svc.schedules()))
            await pilot.press("P", "E")
            await wait_for_screen(pilot, app, ScheduleFormScreen)
            await pilot.press("escape", "H")
            await wait_for_screen(pilot, app, ScheduleHistoryScreen)
            await pilot.press("escape", "X")
            await wait_for_screen(pilot, app, ConfirmScreen)
            await pilot.press("y")
            await wait_until(pilot, lambda: len(svc.schedules()) == 1)
            await pilot.press("f")
            await wait_for_screen(pilot, app, PolicyFormScreen)
            await pilot.press("ctrl+s")
            await wait_for_screen(pilot, app, BrandScreen)
            await pilot.press("c")
            screen = await wait_for_screen(pilot, app, CompetitorScreen)
            await wait_until(pilot, lambda: screen.query_one("#ads").row_count == 3)
            await wait_until(pilot, lambda: screen.query_one("#schedules").row_count == 1)
            await pilot.press("slash", *"rain", "escape", "H")
            await wait_for_screen(pilot, app, ScheduleHistoryScreen)
            await pilot.press("escape")
            await wait_for_screen(pilot, app, CompetitorScreen)
            screen.query_one("#ads").focus()
            await pilot.press("o", "O", "enter")  # sort the ads, then open one
            await wait_for_screen(pilot, app, AdDetailScreen)
            await pilot.press("escape")
            await wait_for_screen(pilot, app, CompetitorScreen)
            await pilot.pause(1.2)  # a clock tick re-renders the ages
            await pilot.press("2")
            runs = await wait_for_screen(pilot, app, PipelineScreen)
            table = runs.query_one("#runs")
            await wait_until(pilot, lambda: table.row_count >= 3)
            table.move_cursor(row=table.position_of(failed))
            await pilot.press("r", "space", "enter")
            await wait_for_screen(pilot, app, RunDetailScreen)
            # The log: wrap, search and step through matches, level filter, follow, save.
            await pilot.press("w", "slash", *"fail", "enter", "n", "N", "l", "f", "ctrl+s")
            await wait_until(pilot, lambda: (svc.settings.log_dir / "runs" / f"run-{failed}.log").exists(),
                             message="log saved")
            await pilot.pause(1.2)  # a clock tick re-renders the durations
            await pilot.press("escape", "escape")
            await wait_for_screen(pilot, app, PipelineScreen)
            await pilot.press("o", "o", "O")  # sort the runs
            table.move_cursor(row=table.position_of(queued))
            await pilot.press("c")
            await wait_for_screen(pilot, app, ConfirmScreen)
            await pilot.press("y")
            await wait_until(pilot, lambda: svc.runs.get(queued)["status"] == "cancelled")
            await pilot.press("3")
            templates = await wait_for_screen(pilot, app, TemplatesScreen)
            await wait_until(pilot, lambda: templates.templates)
            await pilot.press("a", "x", "n", "space", "A")
            await pilot.press("6")
            await wait_for_screen(pilot, app, SchedulesScreen)
            await pilot.press("S")
            await wait_for_screen(pilot, app, ScheduleFormScreen)
            await pilot.press("escape", "4")
            await wait_for_screen(pilot, app, FreshnessScreen)
            await pilot.press("right", "e")
            await wait_for_screen(pilot, app, PolicyFormScreen)
            await pilot.press("escape", "x")
            await wait_for_screen(pilot, app, ConfirmScreen)
            await pilot.press("y")
            await pilot.press("5", "1", "question_mark", "escape")
            await pilot.pause(1.2)  # a clock tick on the brands list

    import asyncio

    asyncio.run(tour())
    assert not violations, "database calls on the event loop:\n" + "\n".join(sorted(set(violations)))
