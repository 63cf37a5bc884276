"""The runs table's lines: what a live refresh draws again, and what it takes as drawn before."""

from __future__ import annotations

from textual.widget import Widget

from pipedeck.tui.screens.pipeline import PipelineScreen
from pipedeck.tui.widgets.run_cells import FULL, CellMemo, run_cells
from tests.tui.conftest import screen_text, wait_for_screen, wait_until


async def open_runs(pilot, app):
    await pilot.press("2")
    screen = await wait_for_screen(pilot, app, PipelineScreen)
    await wait_until(pilot, lambda: not screen._loading, message="runs loaded")
    table = screen.query_one("#runs")
    await pilot.pause()
    return screen, table


def row_lines(table) -> dict[int, object]:
    """The line drawn for each run on screen, by run id (what the next frame would paint)."""
    lines = {}
    for y in range(1, table.page_rows + 1):
        run = table._rows.get(table.top + y - 1)
        if run is not None:
            lines[run["id"]] = table.render_line(y)
    return lines


async def test_a_live_change_redraws_its_row_and_the_other_rows_stay_as_drawn(make_app, svc, brand):
    queued = [svc.queue_one_time_job("Acme", "test_echo", {}) for _ in range(6)]
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen, table = await open_runs(pilot, app)
        before = row_lines(table)
        assert set(before) == set(queued)
        changed = queued[2]
        svc.cancel(changed)
        await wait_until(pilot, lambda: table.run(changed)["status"] == "cancelled", message="the change fed")
        await wait_until(pilot, lambda: "cancelled" in screen_text(app), message="the change painted")
        after = row_lines(table)
        assert "cancelled" in after[changed].text and "queued" not in after[changed].text
        assert "queued" in before[changed].text
        for run_id in set(queued) - {changed}:
            assert after[run_id] is before[run_id], f"run {run_id} did not change: its line is the one drawn"
            assert "queued" in after[run_id].text


async def test_a_drawn_row_is_one_segment_per_run_of_one_style_and_reads_as_its_cells(make_app, svc, brand):
    runs = [svc.queue_one_time_job("Acme", "test_echo", {}) for _ in range(3)]
    svc.cancel(runs[1])
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen, table = await open_runs(pilot, app)
        table.toggle_mark()  # the cursor row marked (and the cursor moves on): three kinds of row
        await pilot.pause()
        lines = row_lines(table)
        assert set(lines) == set(runs)
        for run_id, line in lines.items():
            segments = list(line)
            assert all(a.style != b.style for a, b in zip(segments, segments[1:])), \
                f"run {run_id}: neighbouring segments of one style in {[seg.text for seg in segments]}"
            cells = run_cells(table.run(run_id), [c.key for c, _ in table.column_layout],
                              run_id in table.marked, svc.clock())
            text, at = line.text, 0
            for cell in cells:  # each cell's text, in column order (text.index raises if it is not)
                if cell.plain.strip():
                    at = text.index(cell.plain, at) + len(cell.plain)
            assert ("●" in text) == (run_id in table.marked)


async def test_the_tables_frames_are_what_textuals_styles_cache_draws(make_app, svc, brand):
    for _ in range(4):
        svc.queue_one_time_job("Acme", "test_echo", {})
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen, table = await open_runs(pilot, app)
        table.toggle_mark()
        for focused in (True, False):
            if not focused:
                screen.action_search()  # the search box takes the focus: the table is drawn blurred
                await wait_until(pilot, lambda: not table.has_focus, message="the table blurred")
            await pilot.pause()
            crop = table.region.reset_offset
            ours = table.render_lines(crop)
            table._styles_cache.clear()
            textuals = Widget.render_lines(table, crop)
            assert [list(line) for line in ours] == [list(line) for line in textuals]
            assert [line.cell_length for line in ours] == [line.cell_length for line in textuals]


def test_a_cell_key_widens_when_a_branch_reads_another_field():
    memo = CellMemo(FULL)
    shown: dict[tuple, str] = {}

    def summary(run: dict) -> str:
        """As the table finds a cell: by its key when made before, else made and kept by its key."""
        key = memo.key(run, "summary", False)
        if key not in shown:
            text = memo.make(run, "summary", False, 0).plain
            shown[memo.key(run, "summary", False)] = text
            return text
        return shown[key]

    assert summary({"log_summary": "3/10 images", "summary": "a"}) == "3/10 images"
    # The summary column read only log_summary so far; a run without one shows its summary...
    assert summary({"log_summary": "", "summary": "done: 12 rows"}) == "done: 12 rows"
    # ...and the next such run its own, not the one made before it.
    assert summary({"log_summary": "", "summary": "done: 40 rows"}) == "done: 40 rows"
    assert summary({"log_summary": "3/10 images", "summary": "b"}) == "3/10 images"
