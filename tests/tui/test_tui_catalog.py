"""Brands and competitors: add and edit from the keyboard with inline validation; competitor ads search."""

from __future__ import annotations

import time

from textual.widgets import Button, Input, Label

from pipedeck.tui.screens.brands import BrandScreen, BrandsScreen
from pipedeck.tui.screens.competitors import CompetitorScreen
from pipedeck.tui.screens.modals import BrandFormScreen, CompetitorFormScreen
from tests.tui.conftest import wait_for_screen, wait_until


async def type_into(pilot, form, widget_id: str, text: str) -> None:
    """Type short text key by key; paste long text (a URL) in one go, as a person would."""
    box = form.query_one(f"#{widget_id}", Input)
    box.focus()
    if len(text) > 20:
        box.value = text
        await pilot.pause()
        return
    box.value = ""
    await pilot.press(*text)


async def test_add_brand_from_the_keyboard(make_app, svc):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await wait_for_screen(pilot, app, BrandsScreen)
        await wait_until(pilot, lambda: "No brands yet" in str(screen.query_one("#brand-hint").content))
        await pilot.press("a")
        form = await wait_for_screen(pilot, app, BrandFormScreen)
        await pilot.press(*"Zeta Shoes", "tab", *"act_1003", "tab", *"9001")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, app, BrandsScreen)
        brand = svc.catalog.brand("Zeta Shoes")
        assert (brand["meta_ad_account_id"], brand["ad_library_page_id"]) == ("1003", "9001")
        table = screen.query_one("#brands")
        await wait_until(pilot, lambda: table.row_count == 1, message="brand listed")
        assert table.get_cell(str(brand["id"]), "name").plain == "Zeta Shoes"
        assert form.submitting is False


async def test_brand_form_rejects_bad_ids_inline_and_writes_nothing(make_app, svc):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        await pilot.press("a")
        form = await wait_for_screen(pilot, app, BrandFormScreen)
        await pilot.press(*"Zeta", "tab", *"12ab")
        error = form.query_one("#err-meta_ad_account_id", Label)
        await wait_until(pilot, lambda: error.has_class("visible"))
        assert "must be digits" in str(error.content)
        assert form.query_one("#submit", Button).disabled
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, BrandFormScreen)
        assert svc.catalog.brands() == []


async def test_duplicate_brand_name_is_reported_in_the_form(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        await pilot.press("a")
        form = await wait_for_screen(pilot, app, BrandFormScreen)
        await pilot.press(*"acme", "enter")
        error = form.query_one("#err-form", Label)
        await wait_until(pilot, lambda: error.has_class("visible"), message="duplicate error")
        assert "already exists" in str(error.content)
        assert isinstance(app.screen, BrandFormScreen)
        assert len(svc.catalog.brands()) == 1


async def test_edit_brand(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await wait_for_screen(pilot, app, BrandsScreen)
        await wait_until(pilot, lambda: screen.query_one("#brands").row_count == 1)
        await pilot.press("e")
        form = await wait_for_screen(pilot, app, BrandFormScreen)
        assert form.query_one("#meta_ad_account_id", Input).value == "1001"
        await type_into(pilot, form, "ad_library_page_id", "6002")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, app, BrandsScreen)
        assert svc.catalog.brand(brand["id"])["ad_library_page_id"] == "6002"
        table = screen.query_one("#brands")
        await wait_until(pilot, lambda: table.get_cell(str(brand["id"]), "page").plain == "6002",
                         message="table updated")


async def test_add_and_edit_competitor_with_url_checked_on_entry(make_app, svc, brand):
    origin = svc.settings.ad_library_url
    good = f"{origin}/ads/library/?active_status=all&ad_type=all&country=ALL&view_all_page_id=777&search_type=page"
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_competitors(brand["id"])
        screen = await wait_for_screen(pilot, app, CompetitorScreen)
        await pilot.press("a")
        form = await wait_for_screen(pilot, app, CompetitorFormScreen)
        await pilot.press(*"Rival", "tab")
        await type_into(pilot, form, "ad_library_url", "https://evil.example/ads/library/?view_all_page_id=1")
        error = form.query_one("#err-ad_library_url", Label)
        await wait_until(pilot, lambda: error.has_class("visible"))
        assert "not on the Ad Library origin" in str(error.content)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert svc.catalog.competitors(brand["id"]) == []
        await type_into(pilot, form, "ad_library_url", good)
        await wait_until(pilot, lambda: not error.has_class("visible"))
        await pilot.press("enter")
        await wait_for_screen(pilot, app, CompetitorScreen)
        (comp,) = svc.catalog.competitors(brand["id"])
        assert (comp["name"], comp["ad_library_url"]) == ("Rival", good)
        await wait_until(pilot, lambda: screen.current_competitor() and screen.current_competitor()["id"] == comp["id"])
        await pilot.press("e")
        form = await wait_for_screen(pilot, app, CompetitorFormScreen)
        await type_into(pilot, form, "name", "Rival Co")
        await pilot.press("enter")
        await wait_for_screen(pilot, app, CompetitorScreen)
        assert svc.catalog.competitor(comp["id"])["name"] == "Rival Co"
        table = screen.query_one("#competitors")
        await wait_until(pilot, lambda: table.get_cell(str(comp["id"]), "name").plain == "Rival Co")


def seed_ads(svc, brand_id: int, competitor_id: int) -> None:
    now = time.time()
    rows = [
        ("A1", 0, "Old winter boots sale", now - 86400 * 30),
        ("A2", 1, "New trail shoes for spring", now - 86400 * 3),
        ("A3", 1, "Rain jackets that breathe", now - 86400 * 2),
    ]
    with svc.database.write() as db:
        for archive_id, active, body, seen in rows:
            db.conn.execute(
                "INSERT INTO competitor_ads (competitor_id, ad_archive_id, brand_id, page_id, page_name, is_active,"
                " body, title, cta_text, display_format, first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (competitor_id, archive_id, brand_id, "7001", "Rival", active, body, None, "Shop now", "IMAGE",
                 seen - 86400, seen))


async def test_competitor_ads_active_first_and_searchable(make_app, svc, acme):
    seed_ads(svc, acme["brand"]["id"], acme["competitor"]["id"])
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_competitors(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, CompetitorScreen)
        ads = screen.query_one("#ads")
        await wait_until(pilot, lambda: ads.row_count == 3, message="ads listed")
        order = [row.key.value for row in ads.ordered_rows]
        assert order[-1] == "A1", "ended ads after active ones"
        assert ads.get_cell("A2", "active").plain == "● active"
        assert ads.get_cell("A1", "active").plain == "○ ended"
        await pilot.press("slash", *"shoes")
        await wait_until(pilot, lambda: [r.key.value for r in ads.ordered_rows] == ["A2"], message="search")
        await pilot.press("escape")
        await wait_until(pilot, lambda: ads.row_count == 3, message="search cleared")


async def test_brand_screen_shows_freshness_reason_and_recent_runs(make_app, svc, brand):
    ok = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1}, direct=True)
    svc.execute_direct(ok)
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_brand(brand["id"])
        screen = await wait_for_screen(pilot, app, BrandScreen)
        recent = screen.query_one("#recent")
        await wait_until(pilot, lambda: recent.row_count == 1, message="recent runs")
        assert recent.get_cell(str(ok), "status").plain.startswith("✔ succeeded")
        assert recent.get_cell(str(ok), "summary").plain.startswith("result:") or \
            "echo line" in recent.get_cell(str(ok), "summary").plain
        fresh = screen.query_one("#freshness")
        assert fresh.get_cell("meta_performance", "reason").plain == "never refreshed successfully"


async def test_a_key_pressed_while_the_screen_loads_is_not_lost(make_app, svc, brand, monkeypatch):
    """'a' on the competitor screen before its data arrived used to do nothing at all."""
    import threading

    from pipedeck.storage.catalog import Catalog

    gate = threading.Event()
    original = Catalog.competitors

    def slow_competitors(self, *args, **kwargs):
        gate.wait(5)  # the screen's load is still on its way when the key arrives
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Catalog, "competitors", slow_competitors)
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_competitors(brand["id"])
        await wait_for_screen(pilot, app, CompetitorScreen)
        await pilot.press("a")
        assert not isinstance(app.screen, CompetitorFormScreen)
        gate.set()
        await wait_for_screen(pilot, app, CompetitorFormScreen)
