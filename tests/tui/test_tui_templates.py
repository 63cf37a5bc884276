"""Template review from the keyboard: approve, reject, skip, bulk approve/reject of marked rows, filter."""

from __future__ import annotations

import time

from pipedeck.tui.screens.modals import ConfirmScreen
from pipedeck.tui.screens.templates import TemplatesScreen
from tests.tui.conftest import screen_text, wait_for_screen, wait_until


def seed_templates(svc, brand_id: int, n: int = 5) -> list[int]:
    now = time.time()
    with svc.database.write() as db:
        for i in range(n):
            db.conn.execute(
                "INSERT INTO templates (brand_id, ad_archive_id, status, page_name, body, title, cta_text, link_url,"
                " display_format, image_url, first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (brand_id, f"T{i}", "pending", f"Page {i}", f"Body text number {i}", f"Title {i}", "Shop now",
                 "https://example.com/p", "IMAGE", f"https://cdn.example/img{i}.jpg", now, now))
    return [r["id"] for r in svc.templates(status="pending")]


def statuses(svc) -> dict[int, str]:
    return {t["id"]: t["status"] for t in svc.templates(status=None)}


async def open_templates(pilot, app) -> TemplatesScreen:
    await pilot.press("3")
    screen = await wait_for_screen(pilot, app, TemplatesScreen)
    await wait_until(pilot, lambda: screen.templates, message="templates loaded")
    return screen


async def test_approve_reject_and_skip_from_the_keyboard(make_app, svc, brand):
    ids = seed_templates(svc, brand["id"], 4)
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_templates(pilot, app)
        table = screen.query_one("#templates")
        assert screen.current()["id"] == ids[0]
        text = screen_text(app)
        assert "Body text number 0" in text and "image preview" in text
        await pilot.press("a")
        await wait_until(pilot, lambda: statuses(svc)[ids[0]] == "approved", message="approved")
        await wait_until(pilot, lambda: table.row_count == 3, message="approved row leaves the pending list")
        assert screen.current()["id"] == ids[1]
        await pilot.press("x")
        await wait_until(pilot, lambda: statuses(svc)[ids[1]] == "rejected", message="rejected")
        await wait_until(pilot, lambda: screen.current()["id"] == ids[2])
        await pilot.press("n")  # skip: nothing changes, the next one is shown
        await wait_until(pilot, lambda: screen.current()["id"] == ids[3])
        assert statuses(svc)[ids[2]] == "pending"
        # Reopen a rejected one from the "all" view.
        await pilot.press("v", "v", "v")  # pending -> approved -> rejected -> all
        await wait_until(pilot, lambda: screen.view is None and table.row_count == 4, message="all view")


async def test_bulk_approve_and_reject_of_marked_rows(make_app, svc, brand):
    ids = seed_templates(svc, brand["id"], 5)
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_templates(pilot, app)
        await pilot.press("space", "space")  # marks ids[0], ids[1]
        assert screen.marked == {ids[0], ids[1]}
        await pilot.press("A")
        await wait_until(pilot, lambda: [statuses(svc)[i] for i in ids[:2]] == ["approved"] * 2, message="bulk approve")
        assert statuses(svc)[ids[2]] == "pending"
        await wait_until(pilot, lambda: not screen.marked and screen.query_one("#templates").row_count == 3)
        await pilot.press("space", "space", "X")
        confirm = await wait_for_screen(pilot, app, ConfirmScreen)
        assert "Reject 2 marked templates" in confirm.message
        await pilot.press("y")
        await wait_until(pilot, lambda: sorted(statuses(svc).values()) ==
                         ["approved", "approved", "pending", "rejected", "rejected"], message="bulk reject")


async def test_filter_templates(make_app, svc, brand):
    ids = seed_templates(svc, brand["id"], 5)
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_templates(pilot, app)
        table = screen.query_one("#templates")
        await pilot.press("slash", *"number 3")
        await wait_until(pilot, lambda: table.row_count == 1, message="filtered")
        assert screen.current()["id"] == ids[3]
        await pilot.press("escape")
        await wait_until(pilot, lambda: table.row_count == 5)


async def test_preview_image_is_drawn_when_the_file_exists(make_app, svc, brand):
    from PIL import Image

    ids = seed_templates(svc, brand["id"], 1)
    media = svc.settings.media_dir
    (media / "ab").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 40), (200, 30, 30)).save(media / "ab" / "preview.png")
    with svc.database.write() as db:
        db.conn.execute("INSERT INTO assets (sha256, path, content_type, size, created_at) VALUES (?,?,?,?,?)",
                        ("ab" * 32, "ab/preview.png", "image/png", 100, time.time()))
        db.conn.execute("UPDATE templates SET preview_sha256 = ? WHERE id = ?", ("ab" * 32, ids[0]))
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        # The headless terminal reports 16 colours: a clear placeholder, not a smeared image.
        await open_templates(pilot, app)
        await wait_until(pilot, lambda: "this terminal cannot show images" in screen_text(app))
    app = make_app()
    app.image_previews = True  # as in a truecolor terminal
    async with app.run_test(size=(160, 45)) as pilot:
        await open_templates(pilot, app)
        await wait_until(pilot, lambda: "▀▀▀▀" in screen_text(app), message="image drawn with half blocks")
        assert "preview not downloaded yet" not in screen_text(app)


async def test_counts_are_right_in_every_view_and_v_says_what_it_does(make_app, svc, brand):
    ids = seed_templates(svc, brand["id"], 6)
    svc.review_templates(ids[:1], "approved")
    svc.review_templates(ids[1:3], "rejected")
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_templates(pilot, app)
        title = screen.query_one("#templates-title")

        def header() -> str:
            return str(title.content)

        expected = "pending 3 · approved 1 · rejected 2 · all 6"
        for view, upcoming in (("pending", "approved"), ("approved", "rejected"), ("rejected", "all"),
                               ("all", "pending")):
            await wait_until(pilot, lambda: (screen.view or "all") == view and expected in header(),
                             message=f"{view} view with every count")
            assert f"v → {upcoming}" in header()
            await pilot.press("v")
        # A review moves one template from pending to approved: the counts follow.
        await wait_until(pilot, lambda: screen.view == "pending" and screen.query_one("#templates").row_count == 3)
        await pilot.press("a")
        await wait_until(pilot, lambda: "pending 2 · approved 2 · rejected 2 · all 6" in header(),
                         message="counts after approving")
        binding = next(b for b in TemplatesScreen.BINDINGS if b.key == "v")
        assert binding.description == "Cycle view"


async def test_a_preview_stored_where_this_machine_cannot_reach_it_says_so(make_app, svc, brand):
    """Team mode: another machine stored the file in a media dir this one does not share."""
    ids = seed_templates(svc, brand["id"], 1)
    with svc.database.write() as db:
        db.conn.execute("INSERT INTO assets (sha256, path, content_type, size, created_at) VALUES (?,?,?,?,?)",
                        ("cd" * 32, "cd/elsewhere.png", "image/png", 100, time.time()))
        db.conn.execute("UPDATE templates SET preview_sha256 = ? WHERE id = ?", ("cd" * 32, ids[0]))
    app = make_app()
    app.image_previews = True
    async with app.run_test(size=(160, 45)) as pilot:
        await open_templates(pilot, app)
        await wait_until(pilot, lambda: "not reachable from this machine" in screen_text(app),
                         message="the preview to say its file is not reachable here")
        assert "preview not downloaded yet" not in screen_text(app)
        assert app.is_running and app.crash_error is None
