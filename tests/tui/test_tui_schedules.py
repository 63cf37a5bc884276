"""Schedules in the app: add (defaults, edited params), invalid input, pause/resume/edit/remove, history;
freshness policy edits; keys, help and palette. The clock is injected (no real waiting)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from textual.command import CommandPalette
from textual.widgets import Button, Input, Label, Select

from pipedeck.queue.service import Service
from pipedeck.tui.app import PipedeckApp
from pipedeck.tui.screens.brands import BrandScreen
from pipedeck.tui.screens.competitors import CompetitorScreen
from pipedeck.tui.screens.freshness import FreshnessScreen
from pipedeck.tui.screens.help import HelpScreen
from pipedeck.tui.screens.modals import ConfirmScreen
from pipedeck.tui.screens.run_detail import RunDetailScreen
from pipedeck.tui.screens.schedule_forms import PolicyFormScreen, ScheduleFormScreen
from pipedeck.tui.screens.schedules import ScheduleHistoryScreen, SchedulesScreen
from tests.helpers import Clock
from tests.tui.conftest import cell_text, shown_ids, wait_for_screen, wait_until
from tests.tui.test_tui_app import palette_pick

# A simulated morning far from the real clock, so nothing real is ever due.
T0 = datetime(2036, 3, 2, 0, 0, tzinfo=timezone.utc).timestamp()
MIN, HOUR = 60.0, 3600.0


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def sim(settings, clock, acme):
    """A Service on the test's data dir whose clock the test moves."""
    service = Service(settings, clock=clock)
    yield service
    service.close()


def make(sim) -> PipedeckApp:
    return PipedeckApp(sim, refresh_interval=0.1)


async def open_brand_schedules(pilot, app, brand_id) -> BrandScreen:
    app.open_brand(brand_id)
    screen = await wait_for_screen(pilot, app, BrandScreen)
    await wait_until(pilot, lambda: screen.brand, message="brand loaded")
    return screen


async def type_in(pilot, form, widget_id: str, text: str) -> None:
    """Type short text key by key, as a person would (longer text is pasted in one go)."""
    box = form.query_one(f"#{widget_id}", Input)
    box.focus()
    box.value = ""
    if len(text) > 20:
        box.value = text
    elif text:
        await pilot.press(*text)
    await pilot.pause()


def rows_of(table) -> list[int]:
    return shown_ids(table)


# -- adding ------------------------------------------------------------------------------
async def test_add_schedule_from_brand_screen_with_defaults(sim, acme):
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_brand_schedules(pilot, app, acme["brand"]["id"])
        await pilot.press("S")
        form = await wait_for_screen(pilot, app, ScheduleFormScreen)
        # Only brand job types are offered here; the brand is the screen's.
        offered = {value for _, value in form.query_one("#sched-type", Select)._options}
        assert "meta_sync" in offered and "competitor_scrape" not in offered
        assert not form.query("#sched-brand")
        explain = form.query_one("#cron-explain", Label)
        await wait_until(pilot, lambda: "At 07:00 every day" in str(explain.content), message="cron explained")
        assert "in 7 h" in str(explain.content)  # 07:00 UTC, seen from midnight
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, app, BrandScreen)
        [row] = sim.schedules()
        assert (row["job_type"], row["cron"], row["tz"], row["params"], row["missed_policy"], row["active"]) == \
            ("meta_sync", "0 7 * * *", "UTC", {}, "skip", 1)
        table = screen.query_one("#schedules")
        await wait_until(pilot, lambda: rows_of(table) == [row["id"]], message="schedule listed")
        assert cell_text(table, row["id"], "job") == "📊 meta_sync"
        assert cell_text(table, row["id"], "when") == "At 07:00 every day  UTC"
        assert cell_text(table, row["id"], "next") == "in 7 h"
        assert cell_text(table, row["id"], "last") == "–"


async def test_add_schedule_with_edited_cron_zone_policy_and_params(sim, acme):
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_brand_schedules(pilot, app, acme["brand"]["id"])
        await pilot.press("S")
        form = await wait_for_screen(pilot, app, ScheduleFormScreen)
        await type_in(pilot, form, "sched-cron", "*/30 * * * *")
        explain = form.query_one("#cron-explain", Label)
        await wait_until(pilot, lambda: "Every 30th minute" in str(explain.content), message="live explanation")
        await type_in(pilot, form, "sched-tz", "Europe/Berlin")
        form.query_one("#sched-missed", Select).value = "run_once"
        await type_in(pilot, form, "f-days_back", "30")
        await pilot.press("enter")
        await wait_for_screen(pilot, app, BrandScreen)
        [row] = sim.schedules()
        assert (row["cron"], row["tz"], row["missed_policy"], row["params"]) == \
            ("*/30 * * * *", "Europe/Berlin", "run_once", {"days_back": 30})
        assert row["next_run_at"] == T0 + 30 * MIN
        table = screen.query_one("#schedules")
        await wait_until(pilot, lambda: rows_of(table) == [row["id"]], message="schedule listed")
        assert cell_text(table, row["id"], "next") == "in 30 min"
        assert cell_text(table, row["id"], "missed") == "run once"
        assert "params: days_back=30" in str(screen.query_one("#schedule-hint").content)


async def test_competitor_screen_schedules_the_selected_competitor(sim, acme):
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_competitors(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, CompetitorScreen)
        await wait_until(pilot, lambda: screen.current_competitor() is not None, message="competitor list")
        await pilot.press("S")
        form = await wait_for_screen(pilot, app, ScheduleFormScreen)
        assert not form.query("#sched-type")  # competitor_scrape is the only competitor job type
        assert "Rival" in str(form.query_one("#sched-target").content)
        assert not form.query("#f-competitor_id")
        await type_in(pilot, form, "sched-cron", "0 6 * * 1")
        await type_in(pilot, form, "f-max_ads", "40")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, app, CompetitorScreen)
        [row] = sim.schedules()
        # Only what was changed is stored: the Ad Library URL is the competitor's at each occurrence.
        assert (row["job_type"], row["competitor_id"], row["params"]) == \
            ("competitor_scrape", acme["competitor"]["id"], {"max_ads": 40})
        table = screen.query_one("#schedules")
        await wait_until(pilot, lambda: rows_of(table) == [row["id"]], message="listed on the competitor screen")
        assert cell_text(table, row["id"], "when") == "At 06:00 on Monday  UTC"


async def test_view_6_lists_every_brand_and_adds_for_a_chosen_brand(sim, acme):
    other = sim.catalog.add_brand("Bloom", meta_ad_account_id="1002")
    sim.add_schedule("meta_sync", "Acme", cron="0 7 * * *")
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("6")
        screen = await wait_for_screen(pilot, app, SchedulesScreen)
        table = screen.query_one("#schedules")
        await wait_until(pilot, lambda: table.row_count == 1, message="schedules listed")
        await pilot.press("S")
        form = await wait_for_screen(pilot, app, ScheduleFormScreen)
        form.query_one("#sched-brand", Select).value = other["id"]
        form.query_one("#sched-type", Select).value = "asset_download"
        await wait_until(pilot, lambda: form.query("#f-max_images"), message="params of the chosen job type")
        await type_in(pilot, form, "f-max_images", "5")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, app, SchedulesScreen)
        await wait_until(pilot, lambda: table.row_count == 2, message="new schedule listed")
        new = next(r for r in sim.schedules() if r["brand"] == "Bloom")
        assert (new["job_type"], new["params"]) == ("asset_download", {"max_images": 5})
        assert cell_text(table, new["id"], "brand") == "Bloom"


# -- invalid input -------------------------------------------------------------------------
@pytest.mark.parametrize("widget, value, error_id, message", [
    ("sched-cron", "61 * * * *", "err-sched-cron", "invalid cron expression '61 * * * *': Bad minute"),
    ("sched-cron", "* * *", "err-sched-cron", "Wrong number of fields"),
    ("sched-tz", "Mars/Olympus", "err-sched-tz", "unknown time zone 'Mars/Olympus'"),
    ("f-days_back", "0", "err-days_back", "days back: a whole number from 1 to 1125"),
])
async def test_invalid_field_shows_inline_and_saves_nothing(sim, acme, widget, value, error_id, message):
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_brand_schedules(pilot, app, acme["brand"]["id"])
        await pilot.press("S")
        form = await wait_for_screen(pilot, app, ScheduleFormScreen)
        await type_in(pilot, form, widget, value)
        error = form.query_one(f"#{error_id}", Label)
        await wait_until(pilot, lambda: error.has_class("visible"), message="inline error")
        assert message in str(error.content)
        assert "\n" not in str(error.content)
        assert form.query_one("#submit", Button).disabled
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ScheduleFormScreen), "the form stays open"
        assert sim.schedules() == []


async def test_brand_without_ad_account_cannot_schedule_meta_sync(sim):
    brand = sim.catalog.add_brand("NoAccount")
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_brand_schedules(pilot, app, brand["id"])
        await pilot.press("S")
        form = await wait_for_screen(pilot, app, ScheduleFormScreen)
        error = form.query_one("#err-form", Label)
        await wait_until(pilot, lambda: error.has_class("visible"), message="form error")
        assert "has no Meta ad account id" in str(error.content)
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert sim.schedules() == []


# -- pause, resume, edit, remove ---------------------------------------------------------------
async def test_pause_resume_edit_and_remove_with_confirmation(sim, clock, acme):
    sched = sim.add_schedule("meta_sync", "Acme", cron="0 7 * * *", params={"days_back": 3})
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_brand_schedules(pilot, app, acme["brand"]["id"])
        table = screen.query_one("#schedules")
        await wait_until(pilot, lambda: rows_of(table) == [sched["id"]], message="listed")
        sid = sched["id"]

        await pilot.press("P")
        await wait_until(pilot, lambda: cell_text(table, sid, "next") == "⏸ paused", message="paused")
        assert sim.schedule(sid)["active"] == 0
        clock.t = T0 + 8 * HOUR  # resuming picks up at the next occurrence from now
        await pilot.press("P")
        await wait_until(pilot, lambda: cell_text(table, sid, "next") == "in 23 h", message="resumed")
        assert sim.schedule(sid)["active"] == 1 and sim.schedule(sid)["next_run_at"] == T0 + 31 * HOUR

        await pilot.press("E")
        form = await wait_for_screen(pilot, app, ScheduleFormScreen)
        assert form.query_one("#sched-cron", Input).value == "0 7 * * *"
        assert form.query_one("#f-days_back", Input).value == "3"
        await type_in(pilot, form, "sched-cron", "0 9 * * *")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: cell_text(table, sid, "when") == "At 09:00 every day  UTC", message="edited")
        edited = sim.schedule(sid)
        assert edited["cron"] == "0 9 * * *" and edited["params"] == {"days_back": 3}

        await pilot.press("X")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await pilot.press("n")
        await wait_for_screen(pilot, app, BrandScreen)
        assert sim.schedule(sid)
        await pilot.press("X")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: table.row_count == 0, message="removed from the table")
        assert sim.schedules() == []


async def test_edit_can_drop_a_param_back_to_its_default(sim, acme):
    sched = sim.add_schedule("meta_sync", "Acme", cron="0 7 * * *", params={"days_back": 3})
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_brand_schedules(pilot, app, acme["brand"]["id"])
        await wait_until(pilot, lambda: screen.query_one("#schedules").row_count == 1, message="listed")
        await pilot.press("E")
        form = await wait_for_screen(pilot, app, ScheduleFormScreen)
        await type_in(pilot, form, "f-days_back", "")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: sim.schedule(sched["id"])["params"] == {}, message="param removed")


# -- history ------------------------------------------------------------------------------------
async def test_history_shows_queued_skipped_and_missed_events(sim, clock, acme):
    sched = sim.add_schedule("test_echo", "Acme", cron="*/5 * * * *")
    sid = sched["id"]
    for minutes in (5, 10):  # :05 queues a run; no worker, so at :10 it is still queued: skipped
        clock.t = T0 + minutes * MIN
        sim.tick(now=clock.t)
    [first_run] = [r["id"] for r in sim.list_runs(job_type="test_echo")]
    sim.runs.claim(first_run, "w")
    sim.runs.finish(first_run, 1, "w", "succeeded")
    clock.t = T0 + 28 * MIN  # nobody ticked through :15, :20 and :25
    sim.tick(now=clock.t)
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_brand_schedules(pilot, app, acme["brand"]["id"])
        table = screen.query_one("#schedules")
        await wait_until(pilot, lambda: rows_of(table) == [sid], message="listed")
        assert cell_text(table, sid, "last") == "✔ succeeded"
        assert f"last run #{first_run} ✔ succeeded" in str(screen.query_one("#schedule-hint").content)
        await pilot.press("H")
        history = await wait_for_screen(pilot, app, ScheduleHistoryScreen)
        events = history.query_one("#schedule-events")
        await wait_until(pilot, lambda: events.row_count == 5, message="five occurrences")
        rows = [[c.plain for c in events.full_row_at(i)] for i in range(events.row_count)]
        assert [r[1] for r in rows] == ["✘ missed", "✘ missed", "✘ missed", "↷ skipped", "▶ queued"]
        assert rows[0][0] == "Sun 02 Mar 2036 00:25" and rows[4][0] == "Sun 02 Mar 2036 00:05"
        assert rows[4][2] == str(first_run) and rows[4][3] == "✔ succeeded"
        assert f"previous run {first_run} is still queued" in rows[3][4]
        assert "no worker was ticking" in rows[0][4]
        # A new occurrence shows without a key press; enter opens its run.
        clock.t = T0 + 30 * MIN
        [new_run] = sim.tick(now=clock.t).queued
        await wait_until(pilot, lambda: events.row_count == 6, message="new occurrence listed live")
        assert [c.plain for c in events.full_row_at(0)][1:3] == ["▶ queued", str(new_run)]
        events.move_cursor(row=0)
        await pilot.press("enter")
        detail = await wait_for_screen(pilot, app, RunDetailScreen)
        assert detail.run_id == new_run
        await pilot.press("escape")
        await wait_for_screen(pilot, app, ScheduleHistoryScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, app, BrandScreen)
        hint = screen.query_one("#schedule-hint")
        await wait_until(pilot, lambda: f"last run #{new_run} · queued" in str(hint.content),
                         message="last run on the brand screen")
        assert cell_text(table, sid, "last") == "· queued"


async def test_removing_a_schedule_from_its_history_says_removed_and_nothing_else(sim, acme):
    sched = sim.add_schedule("test_echo", "Acme", cron="*/5 * * * *")
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_brand_schedules(pilot, app, acme["brand"]["id"])
        await wait_until(pilot, lambda: rows_of(screen.query_one("#schedules")) == [sched["id"]], message="listed")
        await pilot.press("H")
        history = await wait_for_screen(pilot, app, ScheduleHistoryScreen)
        await wait_until(pilot, lambda: history.schedule is not None, message="history loaded")
        await pilot.press("X")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await pilot.press("y")
        await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: rows_of(screen.query_one("#schedules")) == [], message="gone from the list")
        await app.workers.wait_for_complete()
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert f"schedule #{sched['id']} removed" in messages
        assert not [m for m in messages if "unknown schedule" in m], messages


# -- freshness policies -----------------------------------------------------------------------------
def meta_success(sim, clock, hours_ago: float) -> None:
    at = clock.t
    clock.t = at - hours_ago * HOUR
    run_id = sim.runs.create_run(job_type="meta_sync", brand_id=1, competitor_id=None, params={}, max_attempts=1)
    sim.runs.claim(run_id, "w")
    sim.runs.finish(run_id, 1, "w", "succeeded", datasets=("meta_performance",))
    clock.t = at


async def test_freshness_policy_edit_changes_the_state_shown(sim, clock, acme):
    meta_success(sim, clock, 30)  # 30 h old: a warning under the built-in 26 h / 50 h policy
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = await wait_for_screen(pilot, app, FreshnessScreen)
        matrix = screen.query_one("#matrix")
        await wait_until(pilot, lambda: matrix.row_count == 2, message="matrix")
        assert cell_text(matrix, "b1", "meta_performance") == "◐ 30h"
        matrix.move_cursor(row=0, column=1)
        await pilot.pause()
        await pilot.press("e")
        form = await wait_for_screen(pilot, app, PolicyFormScreen)
        assert (form.dataset(), form.scope()) == ("meta_performance", acme["brand"]["id"])
        assert app.focused is form.query_one("#pol-dataset", Select), "focus on the form's first field"
        assert form.query_one("#pol-warn", Input).value == "26h"
        # Bad durations: inline, nothing saved.
        await type_in(pilot, form, "pol-warn", "soon")
        error = form.query_one("#err-pol-warn", Label)
        await wait_until(pilot, lambda: error.has_class("visible"), message="inline error")
        assert "not a duration: 'soon'" in str(error.content)
        await type_in(pilot, form, "pol-warn", "2d")
        await type_in(pilot, form, "pol-stale", "36h")
        stale_error = form.query_one("#err-pol-stale", Label)
        await wait_until(pilot, lambda: stale_error.has_class("visible"), message="stale before warn")
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PolicyFormScreen)
        assert [p for p in sim.freshness_policies() if p["source"] != "built-in policy"] == []
        await type_in(pilot, form, "pol-stale", "3d")
        preview = form.query_one("#pol-preview")
        await wait_until(pilot, lambda: "◐ warning → ● fresh" in str(preview.content), message="preview")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, app, FreshnessScreen)
        await wait_until(pilot, lambda: cell_text(matrix, "b1", "meta_performance") == "● 30h",
                         message="fresh under the brand's policy")
        # The screen shows the reason Service.freshness gives (the CLI prints the same function's rows).
        [row] = [r for r in sim.freshness() if r["dataset"] == "meta_performance"]
        assert row["state"] == "fresh" and "brand policy: warns after 2 d, stale after 3 d" in row["reason"]
        matrix.move_cursor(row=0, column=1)
        await wait_until(pilot, lambda: row["reason"] in str(screen.query_one("#matrix-reason").content),
                         message="reason shown")
        policies = screen.query_one("#policies")
        assert any(policies.full_row_at(i)[0].plain == "Acme" for i in range(policies.row_count))
        # Clearing asks first, then the built-in policy applies again.
        await pilot.press("x")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: cell_text(matrix, "b1", "meta_performance") == "◐ 30h", message="cleared")


async def test_default_policy_from_the_brand_screen_applies_to_brands_without_their_own(sim, clock, acme):
    meta_success(sim, clock, 10)
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_brand_schedules(pilot, app, acme["brand"]["id"])
        fresh = screen.query_one("#freshness")
        await wait_until(pilot, lambda: "meta_performance" in {r.value for r in fresh.rows}, message="freshness")
        assert cell_text(fresh, "meta_performance", "state") == "● fresh"
        await pilot.press("f")
        form = await wait_for_screen(pilot, app, PolicyFormScreen)
        assert form.scope() == acme["brand"]["id"]  # from a brand: its own policy first
        form.query_one("#pol-scope", Select).value = 0  # the default for all brands
        current = form.query_one("#pol-current", Label)
        await wait_until(pilot, lambda: "for all brands" in str(current.content), message="default policy shown")
        await type_in(pilot, form, "pol-warn", "2h")
        await type_in(pilot, form, "pol-stale", "8h")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: cell_text(fresh, "meta_performance", "state") == "○ stale", message="stale")
        [row] = [r for r in sim.freshness() if r["dataset"] == "meta_performance"]
        assert row["state"] == "stale" and "default policy: warns after 2 h, stale after 8 h" in row["reason"]
        [default] = [p for p in sim.freshness_policies() if p["brand"] is None and p["dataset"] == "meta_performance"]
        assert (default["warn_after"], default["stale_after"], default["source"]) == (2 * HOUR, 8 * HOUR,
                                                                                     "default policy")
        assert cell_text(fresh, "meta_performance", "reason") == "last success 10 h ago"


# -- keys, help, palette -------------------------------------------------------------------------------
async def test_help_and_palette_offer_the_schedule_actions(sim, acme):
    app = make(sim)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_brand_schedules(pilot, app, acme["brand"]["id"])
        await pilot.press("question_mark")
        help_screen = await wait_for_screen(pilot, app, HelpScreen)
        actions = {description: key for section in help_screen.sections for key, description in section.rows}
        assert {"New schedule": "S", "Edit schedule": "E", "Pause/resume schedule": "P", "Remove schedule": "X",
                "Schedule history": "H", "Freshness policy": "f", "Schedules": "6"}.items() <= actions.items()
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.catalog_cache.brands, message="catalog loaded")
        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, app, CommandPalette)
        await palette_pick(pilot, app, "Schedule template_scrape for Acme")
        form = await wait_for_screen(pilot, app, ScheduleFormScreen)
        assert form.job_type().key == "template_scrape" and form.brand()["id"] == acme["brand"]["id"]
        # The search URL comes from the brand's page id at each run unless changed: not stored.
        await wait_until(pilot, lambda: "view_all_page_id=5001" in form.query_one("#f-search_url", Input).value)
        caption = form.query_one("#f-search_url", Input).parent.query(Label).first()
        assert "taken from the brand at each run unless you change it" in str(caption.content)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: sim.schedules(), message="saved")
        assert sim.schedules()[0]["params"] == {}
