"""Fixtures for the app's tests: the real app headless (App.run_test) on a temp data dir."""

from __future__ import annotations

import time

import pytest

from pipedeck.tui.app import PipedeckApp


@pytest.fixture
def make_app(svc):
    """A PipedeckApp on the test's data dir; live refresh polls fast so tests wait less."""

    def make(**kwargs) -> PipedeckApp:
        kwargs.setdefault("refresh_interval", 0.1)
        return PipedeckApp(svc, **kwargs)

    return make


@pytest.fixture
def acme(svc):
    brand = svc.catalog.add_brand("Acme", meta_ad_account_id="1001", ad_library_page_id="5001")
    comp = svc.catalog.add_competitor(brand["id"], "Rival", svc.settings.ad_library_url +
                                      "/ads/library/?active_status=all&ad_type=all&country=ALL"
                                      "&view_all_page_id=7001&search_type=page&media_type=all",
                                      svc.settings.ad_library_url)
    return {"brand": brand, "competitor": comp}


async def wait_until(pilot, condition, timeout: float = 10.0, message: str = "condition"):
    """Let the app run until ``condition()`` is truthy (the app keeps handling events meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await pilot.pause(0.05)


def cell_text(table, row_key, column_key) -> str:
    return table.get_cell(str(row_key), column_key).plain


def shown_ids(table) -> list[int]:
    """The run (or row) ids a table holds, in its order (the runs table: the rows fetched around the view)."""
    if hasattr(table, "held_ids"):
        return table.held_ids()
    return [int(row.key.value) for row in table.ordered_rows]


def screen_text(app) -> str:
    """Everything on the screen as plain text (what a person would read)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_for_screen(pilot, app, screen_type, timeout: float = 10.0):
    """Wait until the active screen is of ``screen_type`` and fully mounted; return it."""
    return await wait_until(pilot, lambda: isinstance(app.screen, screen_type) and app.screen.is_mounted
                            and app.screen, timeout, message=f"{screen_type.__name__} on screen")
