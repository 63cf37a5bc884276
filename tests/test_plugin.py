"""A job type described once (in a plugin) appears everywhere, with no other change:
`job-types`, the brand screen's keys and form, the runs table, the freshness view with
its policy, the command palette; and a real worker runs it."""

from __future__ import annotations

import json

import pytest
from textual.command import CommandList, CommandPalette

from tests.helpers import run_cli, wait_for

PLUGINS = "tests.jobtypes,tests.plugin_widgets"


@pytest.fixture
def plugin_env(env):
    return {**env, "PIPEDECK_PLUGINS": PLUGINS}


def test_plugin_job_type_in_the_cli_and_run_by_a_real_worker(plugin_env, worker_factory):
    types = json.loads(run_cli(plugin_env, "job-types", "--json").stdout)
    widget = next(t for t in types if t["key"] == "widget_count")
    assert widget["datasets"] == ["widget_counts"] and widget["defaults"] == {"widgets": 4}
    assert run_cli(plugin_env, "brands", "add", "Acme").returncode == 0
    worker_factory(extra_env={"PIPEDECK_PLUGINS": PLUGINS})
    queued = run_cli(plugin_env, "queue", "widget_count", "--brand", "Acme", "--set", "widgets=3")
    assert queued.returncode == 0, queued.stderr
    run_id = queued.stdout.strip()

    def ended():
        run = json.loads(run_cli(plugin_env, "runs", "show", run_id, "--json").stdout)
        return run if run["status"] in ("succeeded", "failed") else None

    run = wait_for(ended, timeout=30, interval=0.2, message="the worker to run widget_count")
    assert run["status"] == "succeeded" and run["result"] == {"widgets": 3}
    fresh = json.loads(run_cli(plugin_env, "freshness", "--json").stdout)
    row = next(r for r in fresh if r["dataset"] == "widget_counts")
    assert row["state"] == "fresh"
    assert "built-in policy: warns after 3 h, stale after 9 h" in row["reason"]


@pytest.fixture
def widgets_loaded(monkeypatch):
    """The plugin registered in this process, as PIPEDECK_PLUGINS would, and gone after the test."""
    import importlib

    from pipedeck.handlers import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))
    importlib.reload(importlib.import_module("tests.plugin_widgets"))
    monkeypatch.setenv("PIPEDECK_PLUGINS", PLUGINS)


async def test_plugin_job_type_in_every_screen(widgets_loaded, svc, brand):
    from pipedeck.tui.app import PipedeckApp
    from pipedeck.tui.screens.brands import BrandScreen, BrandsScreen
    from pipedeck.tui.screens.freshness import FreshnessScreen
    from pipedeck.tui.screens.modals import JobFormScreen
    from pipedeck.tui.screens.pipeline import PipelineScreen
    from tests.tui.conftest import screen_text, wait_for_screen, wait_until

    app = PipedeckApp(svc, refresh_interval=0.1)
    async with app.run_test(size=(200, 50)) as pilot:
        brands = await wait_for_screen(pilot, app, BrandsScreen)
        table = brands.query_one("#brands")
        await wait_until(pilot, lambda: table.row_count == 1, message="brand list")
        assert "WIDGETS" in [c.label.plain for c in table.columns.values()]
        await pilot.press("enter")
        screen = await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: screen.brand is not None, message="brand loaded")
        assert "g Widgets" in screen_text(app)  # its key, in the footer
        await pilot.press("g")
        form = await wait_for_screen(pilot, app, JobFormScreen)
        assert form.job_type.key == "widget_count"
        assert "widgets" in screen_text(app)  # the form's field, from the params model
        await pilot.press("ctrl+r")  # run it here, directly
        if isinstance(app.screen, JobFormScreen):  # ctrl+r only ticked "Run directly"
            await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any(r["status"] == "succeeded" for r in svc.list_runs(job_type="widget_count")),
                         timeout=20, message="the direct run to end")
        await pilot.press("2")
        runs = await wait_for_screen(pilot, app, PipelineScreen)
        await wait_until(pilot, lambda: "widget_count" in screen_text(app), message="the run in the runs table")
        await pilot.press("4")
        matrix = await wait_for_screen(pilot, app, FreshnessScreen)
        await wait_until(pilot, lambda: matrix.policies, message="freshness loaded")
        assert "WIDGETS" in [c.label.plain for c in matrix.query_one("#matrix").columns.values()]
        policy = next(p for p in matrix.policies if p["dataset"] == "widget_counts" and p["brand"] is None)
        assert (policy["warn_after"], policy["stale_after"], policy["source"]) == (3 * 3600, 9 * 3600,
                                                                                  "built-in policy")
        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, app, CommandPalette)
        await pilot.press(*"widget_count for acme")
        hits = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: hits.option_count and "Queue widget_count for Acme"
                         in str(hits.get_option_at_index(0).prompt), message="palette hit")
        del runs
