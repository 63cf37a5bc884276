"""Run detail's log: wrap (w), search (/ n N, matches highlighted), level filter (l), follow (f), save (ctrl+s);
every line readable in full, and nothing in a log line reaches the terminal as a control sequence."""

from __future__ import annotations

import time

from textual.widgets import Input

from pipedeck.storage.runs import LogLine
from pipedeck.tui.screens.brands import BrandsScreen
from pipedeck.tui.screens.run_detail import RunDetailScreen
from pipedeck.tui.widgets.log_view import LogView
from tests.tui.conftest import screen_text, wait_for_screen, wait_until

WORKER = "worker-t:1:abc"
LONG = "fetched page 7 of insights for ad account 1001: " + " ".join(f"ad{i}=ok" for i in range(40)) + " END-OF-LINE"


def run_with_logs(svc, brand, lines: list[tuple[str, str]], *, running: bool = False) -> int:
    run_id = svc.runs.create_run(job_type="test_echo", brand_id=brand["id"], competitor_id=None, params={},
                                 max_attempts=1)
    svc.runs.claim(run_id, WORKER)
    now = time.time()
    svc.runs.flush(run_id, 1, [LogLine(now + n * 0.001, level, message) for n, (level, message) in enumerate(lines)])
    if not running:
        svc.runs.finish(run_id, 1, WORKER, "succeeded")
    return run_id


async def open_detail(pilot, app, run_id: int, count: int) -> tuple[RunDetailScreen, LogView]:
    await wait_for_screen(pilot, app, BrandsScreen)
    app.open_run(run_id)
    detail = await wait_for_screen(pilot, app, RunDetailScreen)
    log = detail.query_one("#run-log", LogView)
    await wait_until(pilot, lambda: len(log.entries) == count, message=f"{count} log lines")
    await pilot.pause()
    return detail, log


def log_lines(app) -> str:
    return screen_text(app)


async def test_wrap_shows_every_line_whole_and_w_switches_to_scrolling(make_app, svc, brand):
    run_id = run_with_logs(svc, brand, [("info", "short line"), ("info", LONG)])
    app = make_app(live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        detail, log = await open_detail(pilot, app, run_id, 2)
        assert log.wrap
        joined = " ".join(" ".join(screen_text(app).split("│")).split())
        assert "END-OF-LINE" in joined and "ad39=ok" in joined, "the long line is on screen in full"
        await pilot.press("w")
        assert not log.wrap
        await pilot.pause()
        assert "END-OF-LINE" not in screen_text(app), "not wrapped: the end is off to the right"
        assert log.virtual_size.width > log.size.width
        log.scroll_to(x=log.max_scroll_x, animate=False, immediate=True)
        await pilot.pause()
        assert "END-OF-LINE" in screen_text(app), "… and scrolling right shows it"
        assert "not wrapped" in str(detail.query_one("#run-log-panel").border_title)


async def test_search_highlights_matches_and_n_moves_between_them(make_app, svc, brand):
    lines = [("info", f"step {i}: {'HTTP 503 from upstream' if i in (3, 9, 15) else 'ok'}") for i in range(40)]
    run_id = run_with_logs(svc, brand, lines)
    app = make_app(live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        detail, log = await open_detail(pilot, app, run_id, 40)
        await pilot.press("slash", *"503", "enter")
        assert log.matches == [3, 9, 15]
        assert log.current == 0 and "1/3 matches for “503”" in str(detail.query_one("#run-log-panel").border_title)
        assert "step 3: HTTP 503" in screen_text(app)
        highlighted = [seg for y in range(log.size.height) for seg in log.render_line(y)._segments
                       if seg.text == "503" and seg.style and seg.style.bgcolor is not None]
        assert highlighted, "the match is highlighted"
        await pilot.press("n")
        assert log.current == 1
        await pilot.pause()
        assert "step 9: HTTP 503" in screen_text(app)
        await pilot.press("n", "n")  # wraps round to the first
        assert log.current == 0
        await pilot.press("N")  # back to the last
        assert log.current == 2
        await pilot.press("escape")  # clears the search
        assert log.search == "" and log.matches == []
        assert isinstance(app.screen, RunDetailScreen), "esc cleared the search rather than leaving"


async def test_level_filter_and_follow(make_app, svc, brand):
    lines = [("info", f"line {i}") for i in range(30)] + [("warning", "rate limited, waiting"),
                                                          ("error", "gave up on ad 7")]
    run_id = run_with_logs(svc, brand, lines, running=True)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        detail, log = await open_detail(pilot, app, run_id, 32)
        assert log.follow and log.scroll_y == log.max_scroll_y, "following: the newest lines are in view"
        await pilot.press("l")  # info and up: everything here
        await pilot.press("l")  # warning and up
        assert log.min_level == "warning"
        assert [e.message for e in log.shown_entries] == ["rate limited, waiting", "gave up on ad 7"]
        assert "line 5" not in screen_text(app) and "rate limited" in screen_text(app)
        await pilot.press("l", "l")  # error, then everything again
        assert log.min_level is None and len(log.shown_entries) == 32
        # Scrolling up stops following; new lines then do not move the view; f follows again.
        log.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        assert not log.follow
        svc.runs.flush(run_id, 1, [LogLine(time.time(), "info", "a newer line")])
        await wait_until(pilot, lambda: len(log.entries) == 33, message="the new line arrives live")
        assert log.scroll_y == 0
        await pilot.press("f")
        assert log.follow
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y and "a newer line" in screen_text(app)


async def test_ctrl_s_saves_the_whole_log_and_says_where(make_app, svc, brand):
    lines = [("info", f"line {i}") for i in range(250)]  # more than the 200-line tail shown
    run_id = run_with_logs(svc, brand, lines)
    app = make_app(live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        detail, log = await open_detail(pilot, app, run_id, 200)
        await pilot.press("ctrl+s")
        path = svc.settings.log_dir / "runs" / f"run-{run_id}.log"
        await wait_until(pilot, lambda: path.exists() and "saved to" in str(detail.query_one("#run-log-panel")
                                                                            .border_title), message="saved")
        saved = path.read_text().splitlines()
        assert len(saved) == 250 and saved[0].endswith("info    line 0") and saved[-1].endswith("line 249")
        assert str(path) in [n.message for n in app._notifications][-1]


async def test_escape_sequences_in_log_lines_do_not_reach_the_terminal(make_app, svc, brand):
    hostile = "title\x1b]0;pwned\x07 clip\x1b]52;c;ZXZpbA==\x07 red\x1b[31mRED\x1b[0m done"
    run_id = run_with_logs(svc, brand, [("error", hostile)], running=True)
    svc.runs.finish(run_id, 1, WORKER, "failed", error_type="Meta", error_message="bad\x1b[2Jclear")
    app = make_app(live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        detail, log = await open_detail(pilot, app, run_id, 1)
        await pilot.pause()
        painted = [seg.text for strip in app.screen._compositor.render_strips() for seg in strip]
        assert not [t for t in painted if "\x1b" in t or "\x07" in t], "a control character reached the terminal"
        text = screen_text(app)
        assert "␛]0;pwned␇" in text and "␛[31mRED" in text, "shown, not obeyed"
        assert "bad␛[2Jclear" in text, "the error from Meta too"
        assert detail.query_one("#log-search", Input).has_class("hidden")


async def test_outside_names_with_escape_codes_are_shown_not_obeyed_on_every_screen(make_app, svc, brand):
    """Names normally refused at the edge can still arrive (a scrape's page name, an older database):
    wherever they are shown, the escape sequence is drawn, not sent."""
    url = (svc.settings.ad_library_url + "/ads/library/?active_status=all&ad_type=all&country=ALL"
           "&view_all_page_id=7001&search_type=page&media_type=all")
    comp = svc.catalog.add_competitor(brand["id"], "Rival", url, svc.settings.ad_library_url)
    with svc.database.write() as db:  # past the edge's check, as old data or another writer could be
        db.conn.execute("UPDATE competitors SET name = ? WHERE id = ?", ("Ri\x1b]0;owned\x07val", comp["id"]))
    run_id = svc.runs.create_run(job_type="competitor_scrape", brand_id=brand["id"], competitor_id=comp["id"],
                                 params={}, max_attempts=1)
    svc.runs.claim(run_id, WORKER)
    svc.runs.finish(run_id, 1, WORKER, "failed", error_type="MetaError", error_message="oops\x1b[5m")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, app, BrandsScreen)
        stops = [lambda: app.open_competitors(brand["id"]), lambda: app.open_run(run_id)]
        for stop in stops:
            stop()
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.pause()
            painted = [seg.text for strip in app.screen._compositor.render_strips() for seg in strip]
            assert not [t for t in painted if "\x1b" in t or "\x07" in t], type(app.screen).__name__
            assert "Ri␛]0;owned␇val" in screen_text(app), type(app.screen).__name__
        await pilot.press("2")
        await wait_until(pilot, lambda: "Ri␛]0;owned␇val" in screen_text(app), message="runs table")
        app.notify("competitor Ri\x1b]0;owned\x07val [b]saved")
        await pilot.pause()
        last = list(app._notifications)[-1]
        assert last.message == "competitor Ri␛]0;owned␇val [b]saved" and not last.markup, \
            "notifications too: shown as typed, not read as markup"


async def test_run_detail_keeps_at_least_8_log_lines_at_80x24(make_app, svc, brand):
    run_id = run_with_logs(svc, brand, [("info", f"line {i}") for i in range(40)], running=True)
    svc.runs.finish(run_id, 1, WORKER, "failed", error_type="Upstream5xx",
                    error_message="HTTP 503 from graph.facebook.com after 3 attempts; " * 3)
    app = make_app(live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        detail, log = await open_detail(pilot, app, run_id, 40)
        assert log.size.height >= 8, f"{log.size.height} log lines at 80x24"
        shown = [line for line in screen_text(app).splitlines() if " info    line " in line]
        assert len(shown) >= 8
