"""App-wide: keys and footer, help, command palette, views, the worker offer, crash handling."""

from __future__ import annotations

import os

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Input

from pipedeck.queue.procs import pid_alive
from pipedeck.tui.app import PipedeckApp
from pipedeck.tui.screens import (brands, competitors, freshness, help, modals, pipeline, run_detail, schedule_forms,
                                  schedules, system, templates)
from pipedeck.tui.screens.brands import BrandScreen, BrandsScreen
from pipedeck.tui.screens.competitors import CompetitorScreen
from pipedeck.tui.screens.freshness import FreshnessScreen
from pipedeck.tui.screens.help import HelpScreen
from pipedeck.tui.screens.modals import JobFormScreen
from pipedeck.tui.screens.pipeline import PipelineScreen
from pipedeck.tui.screens.system import SystemScreen
from pipedeck.tui.screens.templates import TemplatesScreen
from pipedeck.tui.widgets.key_footer import KeyFooter, pack
from tests.tui.conftest import screen_text, wait_for_screen, wait_until

SCREENS = [brands.BrandsScreen, brands.BrandScreen, competitors.CompetitorScreen, templates.TemplatesScreen,
           pipeline.PipelineScreen, run_detail.RunDetailScreen, freshness.FreshnessScreen, system.SystemScreen,
           modals.ConfirmScreen, help.HelpScreen, modals.BrandFormScreen, modals.CompetitorFormScreen,
           modals.JobFormScreen, schedules.SchedulesScreen, schedules.ScheduleHistoryScreen,
           schedule_forms.ScheduleFormScreen, schedule_forms.PolicyFormScreen, PipedeckApp]


@pytest.mark.parametrize("cls", SCREENS, ids=lambda c: c.__name__)
def test_every_binding_has_an_action_and_a_footer_label(cls):
    for binding in cls.BINDINGS:
        assert binding.action, binding
        assert binding.description, f"{cls.__name__}: {binding.key} has no description for the footer"
        assert binding.show, f"{cls.__name__}: {binding.key} is hidden from the footer"
        action = binding.action.split("(")[0].split(".")[-1]
        assert hasattr(cls, f"action_{action}") or hasattr(PipedeckApp, f"action_{action}"), binding


async def test_number_keys_switch_views_and_esc_goes_back(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        for key, screen_type in (("2", PipelineScreen), ("3", TemplatesScreen), ("4", FreshnessScreen),
                                 ("5", SystemScreen), ("6", schedules.SchedulesScreen), ("1", BrandsScreen)):
            await pilot.press(key)
            screen = await wait_for_screen(pilot, app, screen_type)
        await wait_until(pilot, lambda: screen.query_one("#brands").row_count == 1, message="brand list")
        await pilot.press("enter")  # open the brand
        await wait_for_screen(pilot, app, BrandScreen)
        await pilot.press("c")
        await wait_for_screen(pilot, app, CompetitorScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, app, BrandScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, app, BrandsScreen)


async def test_a_view_key_goes_to_the_views_root_and_esc_at_a_root_stays(make_app, svc, brand):
    svc.queue_one_time_job("Acme", "test_echo", {})
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("2")
        runs = await wait_for_screen(pilot, app, PipelineScreen)
        await wait_until(pilot, lambda: runs.query_one("#runs").row_count == 1, message="runs listed")
        await pilot.press("enter")
        await wait_for_screen(pilot, app, run_detail.RunDetailScreen)
        await pilot.press("1", "2")  # away and back: the runs list, not the run left open
        assert await wait_for_screen(pilot, app, PipelineScreen) is runs
        assert len(app.screen_stack) == 1
        await pilot.press("escape", "escape")  # at a root: nothing happens
        await pilot.pause()
        assert app.screen is runs and app.current_mode == "runs"
        await pilot.press("1")
        await wait_for_screen(pilot, app, BrandsScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BrandsScreen) and app.current_mode == "brands"


async def test_digits_typed_in_a_search_box_do_not_switch_views(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("2")
        screen = await wait_for_screen(pilot, app, PipelineScreen)
        await pilot.press("slash", "4", "2")
        assert isinstance(app.screen, PipelineScreen)
        assert screen.query_one("#f-text", Input).value == "42"


async def test_help_lists_the_keys_of_the_screen(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("2")
        await wait_for_screen(pilot, app, PipelineScreen)
        await pilot.press("question_mark")
        help_screen = await wait_for_screen(pilot, app, HelpScreen)
        mine, shared = help_screen.sections
        assert {"Retry", "Cancel", "Retry marked", "Filters"} <= {d for _, d in mine.rows}
        assert {"Help", "Quit", "Command palette", "Brands"} <= {d for _, d in shared.rows}
        await pilot.press("escape")
        await wait_for_screen(pilot, app, PipelineScreen)


HELP_CASES = {"brands": "1", "runs": "2", "templates": "3", "freshness": "4", "workers": "5", "schedules": "6",
              "brand": "brand", "run detail": "run"}


@pytest.mark.parametrize("where", list(HELP_CASES))
async def test_help_is_grouped_without_noise_or_duplicates_and_fits_80x24(make_app, svc, brand, where):
    run_id = svc.queue_one_time_job("Acme", "test_echo", {})
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        how = HELP_CASES[where]
        if how == "brand":
            app.open_brand(brand["id"])
            await wait_for_screen(pilot, app, BrandScreen)
        elif how == "run":
            app.open_run(run_id)
            await wait_for_screen(pilot, app, run_detail.RunDetailScreen)
        else:
            await pilot.press(how)
        under = app.screen
        await pilot.press("question_mark")
        help_screen = await wait_for_screen(pilot, app, HelpScreen)
        mine, shared = help_screen.sections
        # This screen's keys first, then the global ones, then tips.
        assert mine.title.endswith(" keys") and mine.title != "Global keys" and shared.title == "Global keys"
        keys = [k for section in help_screen.sections for k, _ in section.rows]
        assert len(keys) == len(set(keys)), f"a key listed twice: {keys}"
        descriptions = {d for section in help_screen.sections for _, d in section.rows}
        assert not descriptions & {"Copy selected text", "Focus Next", "Focus Previous", "Cursor up", "Page up"}
        assert not {"super+c", "^c", "tab", "shift+tab"} & set(keys)
        assert {"Quit", "Help", "Command palette"} <= {d for _, d in shared.rows}
        assert "Back" in {d for _, d in mine.rows}
        # Everything visible at 80×24, without scrolling.
        await pilot.pause()
        assert help_screen.query_one("#help").max_scroll_y == 0
        text = screen_text(app)
        for section in help_screen.sections:
            assert section.title in text
            for key, description in section.rows:
                assert f"{key} {description}" in text, f"{key} {description} not on screen"
        assert "Tables: ↑↓ PgUp PgDn home end move" in text and "destructive actions ask first" in text
        await pilot.press("escape")
        assert app.screen is under


FOOTER_CASES = ["brands", "brand", "competitors", "runs", "run detail", "templates", "freshness", "workers",
                "schedules", "history"]


@pytest.mark.parametrize("width", [200, 120, 80])
@pytest.mark.parametrize("where", FOOTER_CASES)
async def test_footer_shows_every_key_of_the_screen_in_two_lines(make_app, svc, acme, width, where):
    # Every key of the screen, and help and quit, on at most two lines; the app's other keys as room allows.
    run_id = svc.queue_one_time_job("Acme", "test_echo", {})
    schedule = svc.add_schedule("test_echo", "Acme", cron="0 7 * * *")
    app = make_app()
    async with app.run_test(size=(width, 45)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        opens = {"brand": lambda: app.open_brand(acme["brand"]["id"]),
                 "competitors": lambda: app.open_competitors(acme["brand"]["id"]),
                 "run detail": lambda: app.open_run(run_id),
                 "history": lambda: app.push_screen(schedules.ScheduleHistoryScreen(schedule["id"]))}
        keys = {"runs": "2", "templates": "3", "freshness": "4", "workers": "5", "schedules": "6"}
        if where in opens:
            opens[where]()
        elif where in keys:
            await pilot.press(keys[where])
        await pilot.pause()
        screen = app.screen
        await wait_until(pilot, lambda: screen.is_mounted, message="screen mounted")
        footer = screen.query_one(KeyFooter)
        items = footer.items()
        own = [item.description for item in items if not item.optional]
        if where == "brand":
            assert {"Meta sync", "Assets", "Templates", "Competitors", "Freshness policy"} <= set(own)
        wanted = own + ["Help", "Quit"]
        shown = [item.description for item in footer.shown(width)]
        assert set(wanted) <= set(shown)
        if width == 200:
            assert shown == [item.description for item in items], "room for every key"

        def footer_lines() -> str:
            return "\n".join(screen_text(app).splitlines()[-footer.size.height:])

        await wait_until(pilot, lambda: all(label in footer_lines() for label in wanted), message="footer labels")
        assert footer.size.height == len(pack(footer.shown(width), width)) <= 2


async def test_clicking_a_footer_key_presses_it(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(120, 45)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        footer = app.screen.query_one(KeyFooter)
        await wait_until(pilot, lambda: footer.size.height == len(pack(footer.items(), 120)) > 1,
                         message="footer laid out on two lines")
        app.clear_notifications()  # a toast (no worker alive) would sit over the footer's right half
        await pilot.pause()
        line = screen_text(app).splitlines()[-footer.size.height]
        await pilot.click(KeyFooter, offset=(line.index("Views") - 3, 0))  # on the "6" of "1234567 Views"
        await wait_for_screen(pilot, app, schedules.SchedulesScreen)


async def palette_pick(pilot, app, query: str) -> None:
    """Type into the open palette, wait for the first hit to be the wanted command, choose it."""
    await pilot.press(*query)
    hits = app.screen.query_one(CommandList)
    await wait_until(pilot, lambda: hits.option_count and query in str(hits.get_option_at_index(0).prompt),
                     message=f"palette hit for {query!r}")
    await pilot.press("enter")


async def test_command_palette_jumps_to_brand_and_competitor_and_queues(make_app, svc, acme):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_until(pilot, lambda: app.catalog_cache.competitors, message="catalog loaded")
        await pilot.press("2")
        await wait_for_screen(pilot, app, PipelineScreen)
        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, app, CommandPalette)
        await palette_pick(pilot, app, "Brand: Acme")
        screen = await wait_for_screen(pilot, app, BrandScreen)
        assert screen.brand_id == acme["brand"]["id"]
        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, app, CommandPalette)
        await palette_pick(pilot, app, "Competitor: Rival")
        screen = await wait_for_screen(pilot, app, CompetitorScreen)
        await wait_until(pilot, lambda: screen.current_competitor()
                         and screen.current_competitor()["id"] == acme["competitor"]["id"])
        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, app, CommandPalette)
        await palette_pick(pilot, app, "Queue competitor_scrape for Rival")
        form = await wait_for_screen(pilot, app, JobFormScreen)
        assert form.job_type.key == "competitor_scrape" and form.competitor["id"] == acme["competitor"]["id"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: svc.list_runs(job_type="competitor_scrape"), message="queued")


async def test_ctrl_q_quits_cleanly(make_app, svc):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, message="app exits")
    assert app.return_code == 0


async def test_no_worker_is_said_and_w_starts_one_that_stops_on_exit(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(200, 45)) as pilot:
        await wait_until(pilot, lambda: app.status_info.loaded, message="status")
        assert "no worker alive" in screen_text(app)
        assert "w: start one in background" in screen_text(app)
        await pilot.press("w")
        await wait_until(pilot, lambda: app.status_info.workers_alive == 1, timeout=30, message="worker alive")
        pid = app.worker_child.proc.pid
        assert "1 worker alive (started here)" in screen_text(app)
        # The worker really works: a queued run succeeds.
        run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1})
        await wait_until(pilot, lambda: svc.runs.get(run_id)["status"] == "succeeded", timeout=20)
    assert not pid_alive(pid), "the app stops the worker it started when it exits"


async def test_unexpected_error_is_shown_logged_and_exits_nonzero(make_app, svc, brand, monkeypatch):
    def broken(self) -> None:
        raise RuntimeError("boom from a handler")

    monkeypatch.setattr(BrandsScreen, "action_edit", broken)
    app = make_app()
    with pytest.raises(RuntimeError, match="boom from a handler"):
        async with app.run_test(size=(160, 45)) as pilot:
            await wait_for_screen(pilot, app, BrandsScreen)
            await pilot.press("e")
            await wait_until(pilot, lambda: not app.is_running, message="app exits")
    assert app.return_code == 1
    assert app.crash_log == svc.settings.log_dir / "tui-errors.log"
    logged = app.crash_log.read_text()
    assert "RuntimeError: boom from a handler" in logged and "Traceback" in logged
    assert os.stat(app.crash_log).st_size > 0
