"""Windows of run listings (storage/run_window.py): every sort and filter, at any offset, equals sorting the
whole history in Python; positions; the text index exact however far it lags; bulk history inserts."""

from __future__ import annotations

import random

import pytest

from pipedeck.concepts.run_query import RunFilter, RunOrder
from pipedeck.concepts.statuses import STATUSES
from pipedeck.storage import run_search
from pipedeck.storage.runs import LogLine

STATUS_MIX = ["succeeded", "failed", "cancelled", "queued", "running"]


@pytest.fixture(params=["dense ids", "ids with a gap"])
def history(request, svc):
    brands = [svc.catalog.add_brand(name) for name in ("Zeta", "Acme", "Moda")]
    rng = random.Random(3)
    now = svc.clock()
    runs = []
    for i in range(900):
        status = rng.choice(STATUS_MIX)
        created = now - 90_000 + i * 100
        started = created + 1 if status != "queued" else None
        finished = started + rng.randint(1, 500) if status in ("succeeded", "failed", "cancelled") else None
        runs.append({"job_type": rng.choice(["meta_sync", "asset_download", "template_scrape"]),
                     "brand_id": rng.choice(brands)["id"], "status": status, "attempts": rng.randint(0, 3),
                     "created_at": created, "started_at": started, "finished_at": finished,
                     "summary": f"rows={i}" if status == "succeeded" else None,
                     "error_type": "Upstream5xx" if status == "failed" else None,
                     "error_message": f"HTTP 503 number {i}" if status == "failed" else None})
    assert svc.runs.insert_history(runs[:450], chunk=250) == 450
    if request.param == "ids with a gap":  # ids are never reused; a gap means no arithmetic short cut
        with svc.database.write() as db:
            if svc.database.engine == "sqlite":
                db.conn.execute("UPDATE sqlite_sequence SET seq = seq + 1000 WHERE name = 'runs'")
            else:
                db.conn.execute("SELECT setval(pg_get_serial_sequence('runs', 'id'), max(id) + 1000) FROM runs")
    assert svc.runs.insert_history(runs[450:], chunk=250) == 450
    return svc, {b["id"]: b["name"] for b in brands}


def python_order(runs, key, reverse, names):
    """The order the store promises, computed over every run."""
    def newest(r):
        return -r["id"]
    if key is None:
        return sorted(runs, key=newest)
    if key == "id":
        return sorted(runs, key=lambda r: r["id"], reverse=reverse)
    if key == "status":
        ranked = sorted(runs, key=lambda r: (STATUSES.index(r["status"]), -r["id"]))
        groups = [[r for r in ranked if r["status"] == s] for s in STATUSES]
        return [r for g in (groups[::-1] if reverse else groups) for r in g]
    if key == "brand":
        order = sorted(names, key=lambda b: names[b].lower(), reverse=reverse)
        return [r for b in order for r in sorted(runs, key=newest) if r["brand_id"] == b]
    raise AssertionError(key)


@pytest.mark.parametrize("key,reverse", [(None, False), ("id", False), ("id", True), ("status", False),
                                         ("status", True), ("brand", False), ("brand", True)])
def test_every_window_of_a_sorted_filtered_listing_matches_sorting_everything(history, key, reverse):
    svc, names = history
    everything = svc.run_window(RunFilter(), RunOrder("id"), 0, 10_000).rows
    for run_filter in (RunFilter(), RunFilter(status="failed"), RunFilter(job_type="meta_sync", brand_id=min(names)),
                       RunFilter(text="number 1"), RunFilter(status="succeeded", text="rows=1")):
        expected = [r["id"] for r in python_order([r for r in everything if run_filter.matches(r)], key, reverse, names)]
        order = RunOrder(key, reverse)
        for offset in (0, 7, len(expected) // 2, max(0, len(expected) - 5)):
            window = svc.run_window(run_filter, order, offset, 20)
            assert window.total == len(expected)
            assert [r["id"] for r in window.rows] == expected[offset:offset + 20], (run_filter, order, offset)
        some = expected[len(expected) // 3]
        assert svc.run_windows.position(run_filter, order, some) == len(expected) // 3
        left_out = next((r["id"] for r in everything if not run_filter.matches(r)), None)
        if left_out is not None:
            assert svc.run_windows.position(run_filter, order, left_out) is None


def test_a_window_anchored_on_a_run_puts_it_on_the_line_asked(history):
    svc, _ = history
    ids = [r["id"] for r in svc.run_window(RunFilter(), RunOrder(), 0, 10_000).rows]
    window = svc.run_window(RunFilter(), RunOrder(), 0, 30, anchor_id=ids[500], anchor_line=10)
    assert window.anchor == 500 and window.offset == 490 and window.rows[10]["id"] == ids[500]
    assert [r["id"] for r in window.rows] == ids[490:520]
    assert svc.run_windows.position(RunFilter(), RunOrder(), max(ids) + 5) is None
    assert svc.run_windows.position(RunFilter(), RunOrder("id"), ids[-1]) == 0


def test_search_is_exact_before_during_and_after_the_text_index_catches_up(history):
    svc, _ = history
    everything = svc.run_window(RunFilter(), RunOrder("id"), 0, 10_000).rows

    def found(text):
        return [r["id"] for r in svc.run_window(RunFilter(text=text), RunOrder("id"), 0, 10_000).rows]

    def expected(text):
        return [r["id"] for r in everything if RunFilter(text=text).matches(r)]

    for needle in ("number 1", "rows=12", "503", "acme", "zz"):
        assert found(needle) == expected(needle), "nothing indexed yet: a scan"
    svc.sync_run_search(batch=300)  # part of the history indexed (SQLite's side table; PostgreSQL has none)
    indexed = svc.database.dialect.text_index
    assert 0 < run_search.lag(svc.database) < 900 if indexed else run_search.lag(svc.database) == 0
    for needle in ("number 1", "rows=12", "503"):
        assert found(needle) == expected(needle), "half indexed"
    while svc.sync_run_search():
        pass
    assert run_search.lag(svc.database) == 0
    for needle in ("number 1", "rows=12", "503", "ROWS=8"):
        assert found(needle) == expected(needle), "all indexed"
    # A run changed after the index caught up is found by its new text, not its old one.
    changed = next(r["id"] for r in everything if r["status"] == "queued")
    claim = svc.runs.claim(changed, "w:1:x")
    svc.runs.finish(changed, claim.attempt, "w:1:x", "succeeded", lease=claim.lease,
                    logs=[LogLine(svc.clock(), "info", "brand-new words")])
    assert found("brand-new") == [changed]


def test_bulk_history_gets_one_rev_per_run_and_the_live_feed_sees_it(svc, brand):
    before = svc.runs.max_rev()
    svc.runs.insert_history([{"job_type": "meta_sync", "brand_id": brand["id"], "status": "succeeded"}] * 5)
    assert svc.runs.max_rev() == before + 5
    assert len(svc.runs.changed_since(before)) == 5


@pytest.mark.parametrize("key", [None, "status"])
def test_a_search_reads_its_matches_once_and_a_change_after_shows(history, key):
    """Count, windows and positions of a text search come from one read of its matching ids; runs changed
    afterwards (one joining the matches, one matching run moving to another status) show at once."""
    svc, names = history
    windows = svc.run_windows
    order = RunOrder(key)
    search = RunFilter(text="acme")  # a brand's name: matches its runs whatever their text

    def expected():
        everything = svc.run_window(RunFilter(), RunOrder("id"), 0, 10_000).rows
        return [r["id"] for r in python_order([r for r in everything if search.matches(r)], key, False, names)]

    ids = expected()
    reads = windows.match_reads
    for offset in (0, 11, len(ids) - 3):
        window = svc.run_window(search, order, offset, 20, anchor_id=None)
        assert window.total == len(ids) and [r["id"] for r in window.rows] == ids[offset:offset + 20]
    assert windows.count(search) == len(ids)
    assert windows.position(search, order, ids[len(ids) // 2]) == len(ids) // 2
    assert windows.match_reads == reads + 1, "one read of the matches for every answer"

    everything = svc.run_window(RunFilter(), RunOrder("id"), 0, 10_000).rows
    acme = next(b for b, name in names.items() if name == "Acme")
    moving = next(r["id"] for r in everything if r["status"] == "queued" and r["brand_id"] == acme)
    joining = next(r["id"] for r in everything if r["status"] == "queued" and r["brand_id"] != acme)
    for run_id, words in ((moving, "done"), (joining, "ACME's feed read")):
        claim = svc.runs.claim(run_id, "w:1:x")
        svc.runs.finish(run_id, claim.attempt, "w:1:x", "succeeded", lease=claim.lease,
                        logs=[LogLine(svc.clock(), "info", words)])
    ids = expected()
    assert joining in ids and moving in ids
    window = svc.run_window(search, order, 0, 10_000)
    assert window.total == len(ids) and [r["id"] for r in window.rows] == ids
    for run_id in (moving, joining):
        assert windows.position(search, order, run_id) == ids.index(run_id)
    assert windows.match_reads == reads + 1, "brought up to date from the runs changed, not read again"


@pytest.mark.parametrize("key", ["created", None])
def test_a_brand_renamed_into_a_search_counts_at_once(history, key):
    """A search names brands by their names: renaming one so the search now names it brings its runs
    into the count and the windows at once, though no run changed (the counts are not kept by rev alone)."""
    svc, names = history
    search, order = RunFilter(text="acme"), RunOrder(key)
    before = svc.run_window(search, order, 0, 10_000)
    moda = next(b for b, name in names.items() if name == "Moda")
    svc.catalog.update_brand(moda, name="Macme")
    everything = svc.run_window(RunFilter(), RunOrder("id"), 0, 10_000).rows
    wanted = {r["id"] for r in everything if r["brand_id"] == moda} | {r["id"] for r in before.rows}
    after = svc.run_window(search, order, 0, 10_000)
    assert after.total == len(wanted) > before.total
    assert {r["id"] for r in after.rows} == wanted
    assert svc.run_windows.count(search) == len(wanted)
