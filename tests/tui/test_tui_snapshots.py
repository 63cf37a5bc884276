"""Snapshots of every view at 80×24 and 120×40 on fixed data, with the clock and the refresh frozen.

Update after an intended change: pytest tests/tui/test_tui_snapshots.py --snapshot-update
then review each picture's text: python -m tests.tui.snapshot_text tests/tui/__snapshots__/*/*.svg
"""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input
from textual.worker import WorkerCancelled, WorkerState

from pipedeck.queue.service import Service
from pipedeck.tui.app import PipedeckApp
from pipedeck.tui.screens.ad_detail import AdDetailScreen
from pipedeck.tui.screens.base import PipedeckScreen
from pipedeck.tui.screens.schedules import ScheduleHistoryScreen
from pipedeck.tui.screens.system import SystemScreen
from tests.tui import snapshot_data

# The pictures do not depend on the engine (the data behind them is tested on both elsewhere),
# and a snapshot is named by its test: one engine, one name.
pytestmark = pytest.mark.engines("sqlite")
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


@pytest.fixture(params=list(SIZES))
def size(request):
    return SIZES[request.param]


@pytest.fixture
def frozen(settings, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    svc = Service(settings, clock=lambda: snapshot_data.NOW)
    ids = snapshot_data.build(svc)
    yield svc, ids
    svc.close()
    monkeypatch.delenv("TZ")
    time.tzset()


async def settle(pilot) -> None:
    """Wait until every fetch has finished and every screen on the stack has its data.

    A fixed number of pauses is not enough on a loaded machine: a screen pushed by
    the last key may not have mounted (and started its fetch) yet when the first
    wait for workers returns, and the next key would then open a modal over a
    screen that is still empty.
    """
    app = pilot.app
    deadline = time.monotonic() + 15
    quiet_rounds = 0
    while quiet_rounds < 3 and time.monotonic() < deadline:
        for field in app.screen.query(Input):
            field.cursor_blink = False  # a steady cursor: a blink phase is not part of the picture
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # superseded by a newer fetch of the same thing
            pass
        await pilot.pause(0.05)
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)
        loading = any(isinstance(s, PipedeckScreen) and not isinstance(s, SystemScreen) and s.synced_rev is None
                      for s in app.screen_stack)
        quiet_rounds = 0 if busy or loading else quiet_rounds + 1


def shoot(snap_compare, svc, size, *keys, before=None):
    async def run_before(pilot):
        await settle(pilot)
        if before is not None:
            before(pilot.app)
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return snap_compare(PipedeckApp(svc, live=False), terminal_size=size, run_before=run_before)


def test_brands(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size)


def test_brand_screen(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size, "enter")


def test_competitor_screen(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size, "c")


def test_job_form_with_inline_error(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size, "enter", "m", "backspace", "0")


def test_runs(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size, "2")


def test_run_detail(snap_compare, frozen, size):
    svc, ids = frozen
    assert shoot(snap_compare, svc, size, before=lambda app: app.open_run(ids["assets_failed"]))


def test_templates(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size, "3")


def test_freshness_matrix(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size, "4")


def test_workers_and_job_types(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size, "5")


def test_schedules_view(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size, "6")


def test_trends(snap_compare, frozen, size):
    assert shoot(snap_compare, frozen[0], size, "7")


def test_schedule_history(snap_compare, frozen, size):
    svc = frozen[0]
    schedule_id = snapshot_data.build_history(svc)
    assert shoot(snap_compare, svc, size, before=lambda app: app.push_screen(ScheduleHistoryScreen(schedule_id)))


def test_schedule_form_with_inline_error(snap_compare, frozen, size):
    # The default cron explained live; a time zone being typed that does not exist (yet).
    assert shoot(snap_compare, frozen[0], size, "enter", "S", "tab", "backspace", "backspace", "backspace", "M", "a", "r", "s")


def test_freshness_policy_form(snap_compare, frozen, size):
    # Acme's meta_performance: the built-in policy in force, and what it makes of the data.
    assert shoot(snap_compare, frozen[0], size, "4", "right", "e")


def test_help(snap_compare, frozen, size):
    # The brand screen's keys, the global keys and the tips.
    assert shoot(snap_compare, frozen[0], size, "enter", "question_mark")


def test_ad_detail(snap_compare, frozen, size):
    svc = frozen[0]
    [summit] = [c for c in svc.competitors() if c["name"] == "Summit Gear"]
    ad = svc.competitor_ads(summit["id"])[0]
    assert shoot(snap_compare, svc, size, before=lambda app: app.push_screen(AdDetailScreen(
        ad, competitor="Summit Gear", now=snapshot_data.NOW, ad_library_origin=svc.settings.ad_library_url)))


def test_run_detail_log_searched_and_filtered(snap_compare, frozen, size):
    # The failed run's log searched for "503": matches highlighted, the count in the panel's title.
    svc, ids = frozen
    assert shoot(snap_compare, svc, size, "slash", "5", "0", "3", "enter",
                 before=lambda app: app.open_run(ids["assets_failed"]))
