"""The one filter box of the lists: / opens it, typing filters, enter keeps the filter and goes
back to the list, esc clears it, hides it and goes back."""

from __future__ import annotations

from pipedeck.tui.screens.brands import BrandsScreen
from pipedeck.tui.widgets.filter_box import FilterBox
from tests.tui.conftest import wait_for_screen, wait_until


async def test_brands_filter_opens_filters_keeps_and_clears(make_app, svc):
    for name in ("Acme", "Bloom", "Acorn"):
        svc.add_brand(name)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await wait_for_screen(pilot, app, BrandsScreen)
        table, box = screen.query_one("#brands"), screen.query_one("#brand-filter", FilterBox)
        await wait_until(pilot, lambda: table.row_count == 3, message="brands listed")
        assert box.has_class("hidden")
        await pilot.press("slash")
        assert box.has_focus and not box.has_class("hidden")
        await pilot.press(*"ac")
        await wait_until(pilot, lambda: table.row_count == 2, message="filtered to the two A-c brands")
        await pilot.press("enter")
        assert table.has_focus and table.row_count == 2 and box.value == "ac"
        await pilot.press("escape")
        await wait_until(pilot, lambda: table.row_count == 3, message="filter cleared")
        assert box.has_class("hidden") and box.value == "" and table.has_focus
        await pilot.press("escape")  # nothing left to close: the view's root stays
        assert isinstance(app.screen, BrandsScreen)
