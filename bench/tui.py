#!/usr/bin/env python3
"""The terminal app's runs table over a long history (default 1,000,000 runs), each figure against a
plain Textual DataTable holding the newest --baseline-runs (default 100,000: a DataTable of a million
rows does not load in any useful time).

    python bench/tui.py [--runs 1000000] [--baseline-runs 100000] [--idle-seconds 30] [--repeat 3]
                        [--home DIR] [--only all|filters|paint|refresh] [--database URL|temp (with --only filters)]

1. launch to first painted runs table: a fresh process, from spawn to the first
   screen refresh after the runs table has rows (aim ≤ 1 s);
2. UI-thread time per refresh when 50 runs changed: main-thread CPU from the
   live-refresh message to the repaint after it (aim ≤ 5 ms);
3. per key, from the key's action to the repaint with the rows of the new view
   drawn: ``end``, ``page down``, and a jump to a random row (aim ≤ 50 ms);
4. filter and search: from the new filter to the first window painted, in the
   app, and the store's answer alone (aim ≤ 200 ms);
5. app CPU while idle over 30 s, live refresh on (aim ≤ 2 % of a core);
6. the trends view over --trend-runs (100,000) runs: spawn to first paint
   (aim < 1 s), and the store's 7-day figures against reading every run
   into Python and grouping there.

The baseline is a plain Textual DataTable app that loads its rows (same query,
same columns) in on_mount, refreshes by reloading them, and filters by loading
the matching rows. Each figure is also given as pipedeck / baseline. Apps run
headless (no terminal output), the same for both. The runs are seeded through
the run store's bulk insert (``RunStore.insert_history``). The last line of
output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import emit, median  # noqa: E402

SIZE = (160, 45)
BASELINE_ROWS = int(os.environ.get("BENCH_BASELINE_ROWS", "100000"))
DATABASE_URL: str | None = None  # --database: a PostgreSQL database instead of the data dir's SQLite file
JOB_TYPES = ["meta_sync", "asset_download", "template_scrape", "competitor_scrape"]
STATUSES = ["succeeded"] * 80 + ["failed"] * 15 + ["cancelled"] * 3 + ["queued"] * 2


# -- data -------------------------------------------------------------------------------
def seed(home: Path, n: int) -> None:
    """n runs over 10 brands and 20 competitors, bulk-inserted through the run store."""
    use_home(home)
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    svc = Service(load_settings())
    origin = svc.settings.ad_library_url
    brands = [svc.catalog.add_brand(f"Brand {i:02d}", str(1000 + i), str(5000 + i)) for i in range(10)]
    comps = [svc.catalog.add_competitor(b["id"], f"Rival {b['id']}-{j}", f"{origin}/ads/library/?view_all_page_id="
                                        f"{9000 + b['id'] * 10 + j}", origin) for b in brands for j in range(2)]
    rivals = {b["id"]: [c["id"] for c in comps if c["brand_id"] == b["id"]] for b in brands}
    brand_ids = [b["id"] for b in brands]
    rng = random.Random(5)
    now = time.time()

    def runs():
        for i in range(n):
            job = rng.choice(JOB_TYPES)
            brand_id = rng.choice(brand_ids)
            status = rng.choice(STATUSES)
            created = now - (n - i) * 30.0
            ended = status in ("succeeded", "failed", "cancelled")
            finished = created + rng.uniform(1, 120) if ended else None
            yield {"job_type": job, "brand_id": brand_id,
                   "competitor_id": rng.choice(rivals[brand_id]) if job == "competitor_scrape" else None,
                   "status": status, "attempts": 1 if ended else 0, "max_attempts": 3, "created_at": created,
                   "started_at": created + 0.5 if ended else None, "finished_at": finished,
                   "summary": f"result: rows={rng.randint(1, 5000)}" if status == "succeeded" else None,
                   "error_type": "Upstream5xx" if status == "failed" else None,
                   "error_message": "HTTP 503 from graph.facebook.com" if status == "failed" else None}

    svc.runs.insert_history(runs())
    t0 = time.monotonic()
    while svc.sync_run_search(100_000):
        pass  # what the app's live feed does while idle, done up front
    print(f"text index built in {time.monotonic() - t0:.1f}s", flush=True)
    if svc.database.path is not None:
        svc.database.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    svc.close()


def use_home(home: Path) -> None:
    """This process's data dir (and --database, when given)."""
    os.environ["PIPEDECK_HOME"] = str(home)
    if DATABASE_URL:
        os.environ["PIPEDECK_DATABASE_URL"] = DATABASE_URL


# -- the two apps -------------------------------------------------------------------------
def plain_app_class():
    from textual.app import App
    from textual.widgets import DataTable

    from pipedeck.concepts.summary import log_summary
    from pipedeck.queue.service import Service
    from pipedeck.config import load_settings

    class PlainApp(App):
        """What a straightforward app does: read every run, put every row in a DataTable."""

        def __init__(self) -> None:
            super().__init__()
            self.svc = Service(load_settings())
            self.on_painted = None

        def compose(self):
            yield DataTable(cursor_type="row")

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("ID", "STATUS", "TYPE", "BRAND", "COMPETITOR", "TRIES", "CREATED", "TOOK", "SUMMARY")
            self.load()

        def load(self, statuses=None, text=None) -> None:
            table = self.query_one(DataTable)
            table.clear()
            rows = self.svc.list_runs(limit=BASELINE_ROWS, statuses=statuses, text=text)
            table.add_rows([(r["id"], r["status"], r["job_type"], r["brand"], r["competitor"] or "",
                             f"{r['attempts']}/{r['max_attempts']}", r["created_at"], "", log_summary(r))
                            for r in rows])
            if self.on_painted:
                self.call_after_refresh(self.on_painted)

    return PlainApp


def ours_app(initial_view: str = "runs"):
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service
    from pipedeck.tui.app import PipedeckApp

    return PipedeckApp(Service(load_settings()), initial_view=initial_view)


def hook_first_paint(app, which: str, callback) -> None:
    """Call ``callback`` at the first refresh after the runs table has its rows."""
    if which == "plain":
        app.on_painted = callback
        return
    from pipedeck.tui.screens.pipeline import PipelineScreen

    # The Loaded handler is registered by @on at class creation; the info line it updates is not.
    original = PipelineScreen._update_info

    def loaded(self):
        original(self)
        if self.query_one("#runs").current_run() is not None:
            PipelineScreen._update_info = original
            self.app.call_after_refresh(callback)

    PipelineScreen._update_info = loaded


# -- children: one measurement each, in a fresh process ------------------------------------
def child_paint(which: str, spawned_at: float) -> dict:
    app = plain_app_class()() if which == "plain" else ours_app()
    result = {}

    def painted():
        result["paint_s"] = time.time() - spawned_at
        app.exit()

    hook_first_paint(app, which, painted)
    app.run(headless=True, size=SIZE)
    return result


def bump(svc, ids: list[int], round_no: int) -> None:
    """50 runs change, as a worker's progress flush would change them (one transaction, rev bumped)."""
    with svc.database.write() as db:
        conn = db.conn
        first = type(svc.runs)._take_revs(conn, len(ids))  # the live feed reads the change feed's counter
        for i, run_id in enumerate(ids):
            conn.execute("UPDATE runs SET status = 'running', progress_current = ?, progress_total = 100,"
                         " summary = ?, updated_at = ?, rev = ? WHERE id = ?",
                         (round_no, f"step {round_no} of run {run_id}", time.time(), first + i, run_id))


def thread_cpu_s(native_id: int) -> float:
    """CPU time a thread of this process has used, in seconds (ns resolution, from the kernel)."""
    with open(f"/proc/self/task/{native_id}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def child_refresh(which: str, rounds: int, settle: float = 0.3) -> dict:
    """Main-thread CPU from the refresh's start until the repaint is done (plus `settle` s of idle, ~0.1 ms)."""
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    app = plain_app_class()() if which == "plain" else ours_app()
    writer = Service(load_settings())
    main_tid = threading.main_thread().native_id
    samples, handler_samples = [], []
    ready, started, painted_event = threading.Event(), threading.Event(), threading.Event()
    start_cpu = {}

    hook_first_paint(app, which, ready.set)
    if which == "ours":
        original = type(app).on_runs_changed

        def measured(self, message):
            start_cpu["t"] = thread_cpu_s(main_tid)
            started.set()
            w0 = time.perf_counter()
            original(self, message)
            handler_samples.append(time.perf_counter() - w0)
            self.call_after_refresh(painted_event.set)

        type(app).on_runs_changed = measured

    def plain_refresh():
        start_cpu["t"] = thread_cpu_s(main_tid)
        started.set()
        app.on_painted = painted_event.set
        app.load()

    def driver():
        ready.wait(120)
        time.sleep(1.0)
        ids = [r["id"] for r in writer.list_runs(limit=50)]
        for n in range(rounds):
            started.clear()
            painted_event.clear()
            bump(writer, ids, n + 1)
            if which == "plain":
                app.call_from_thread(plain_refresh)
            started.wait(60)
            painted_event.wait(120)
            time.sleep(settle)
            samples.append(thread_cpu_s(main_tid) - start_cpu["t"])
        app.call_from_thread(app.exit)

    threading.Thread(target=driver, daemon=True).start()
    app.run(headless=True, size=SIZE)
    writer.close()
    out = {"refresh_ui_ms": round(median(samples) * 1000, 2), "samples": len(samples),
           "max_ms": round(max(samples) * 1000, 2)}
    if handler_samples:
        out["handler_ms"] = round(median(handler_samples) * 1000, 2)
    return out


FILTERS = {"status=failed": {"status": "failed"}, "search '503'": {"text": "503"},
           "search 'rows=4242'": {"text": "rows=4242"}}


def child_keys(which: str, rounds: int) -> dict:
    """Per key and per filter: wall time from the action to the repaint with the new view's rows drawn."""
    app = plain_app_class()() if which == "plain" else ours_app()
    ready = threading.Event()
    hook_first_paint(app, which, ready.set)
    times: dict[str, list[float]] = {}
    rng = random.Random(11)

    def table():
        from textual.widgets import DataTable

        return app.query_one(DataTable) if which == "plain" else app.screen.query_one("#runs")

    def view_drawn() -> bool:
        t = table()
        if which == "plain":
            return True  # a DataTable holds every row: drawn at the next refresh
        if t.is_loading or t.total is None:
            return False
        return all(p in t._rows for p in range(t.top, min(t.total, t.top + t.page_rows)))

    def timed(name: str, action) -> None:
        """Run ``action`` on the UI thread; wait until the view is drawn after it."""
        done = threading.Event()
        t0 = []

        def check():
            if view_drawn():
                times.setdefault(name, []).append(time.perf_counter() - t0[0])
                done.set()
            else:
                app.set_timer(0.001, lambda: app.call_after_refresh(check))

        def start():
            t0.append(time.perf_counter())
            action()
            app.call_after_refresh(check)

        app.call_from_thread(start)
        done.wait(120)

    def keys(t):
        if which == "plain":
            return {"end": t.action_scroll_bottom, "home": t.action_scroll_top, "page down": t.action_page_down,
                    "jump": lambda: t.move_cursor(row=rng.randrange(t.row_count), animate=False)}
        return {"end": t.action_last_row, "home": t.action_first_row, "page down": t.action_page_down,
                "jump": lambda: t.move_cursor(rng.randrange(t.row_count))}

    def set_filter(spec: dict):
        if which == "plain":
            statuses = [spec["status"]] if "status" in spec else None
            return lambda: app.load(statuses=statuses, text=spec.get("text"))
        return lambda: app.screen.set_filter(**{"status": None, "text": "", **spec})

    def driver():
        ready.wait(120)
        time.sleep(1.0)
        t = table()
        k = keys(t)
        for _ in range(rounds):
            timed("home", k["home"])
            timed("end", k["end"])
            timed("home", k["home"])
            for _ in range(3):
                timed("page down", k["page down"])
            timed("jump", k["jump"])
        for _ in range(max(1, rounds // 3)):
            for name, spec in FILTERS.items():
                timed(name, set_filter(spec))
                timed("no filter", set_filter({}))
        app.call_from_thread(app.exit)

    threading.Thread(target=driver, daemon=True).start()
    app.run(headless=True, size=SIZE)
    out = {name: round(median(v) * 1000, 2) for name, v in times.items()}
    # A search asked again finds its matches held (storage/run_window.py): the first time is the cold figure.
    out["first_ms"] = {name: round(times[name][0] * 1000, 2) for name in FILTERS if name in times}
    return out


def store_filters(home: Path, rounds: int = 5) -> dict:
    """The store's answer alone: the first window of each filter (ours) and the old first page (RunStore.list)."""
    use_home(home)
    from pipedeck.concepts.run_query import NEWEST_FIRST, RunFilter
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    svc = Service(load_settings())
    out = {}
    try:
        for name, spec in FILTERS.items():
            ours, page = [], []
            for _ in range(rounds):
                getattr(svc.run_windows, "forget", svc.run_windows._segments.clear)()  # nothing held: answers from the database
                t0 = time.perf_counter()
                svc.run_window(RunFilter(**spec), NEWEST_FIRST, 0, 130)
                ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                svc.list_runs(statuses=[spec["status"]] if "status" in spec else None, text=spec.get("text"),
                              limit=100)
                page.append(time.perf_counter() - t0)
            out[name] = {"window_ms": round(median(ours) * 1000, 2), "old_page_ms": round(median(page) * 1000, 2)}
    finally:
        svc.close()
    return out


def child_trends(spawned_at: float) -> dict:
    """Spawn to the first paint of the trends view (7 days) with its figures drawn."""
    from pipedeck.tui.screens.trends import TrendsScreen

    app = ours_app(initial_view="trends")
    result = {}
    original = TrendsScreen._loaded

    def loaded(self, data):
        original(self, data)
        TrendsScreen._loaded = original

        def painted():
            result["paint_s"] = time.time() - spawned_at
            app.exit()

        self.app.call_after_refresh(painted)

    TrendsScreen._loaded = loaded  # passed to fetch as a bound method at call time: patchable
    app.run(headless=True, size=SIZE)
    return result


def naive_trends(home: Path, window_key: str = "7d") -> float:
    """The baseline: every run of the window read into Python, then grouped and ranked there."""
    import math

    os.environ["PIPEDECK_HOME"] = str(home)
    from pipedeck.concepts.trends import WINDOWS
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    svc = Service(load_settings())
    try:
        t0 = time.perf_counter()
        since = time.time() - WINDOWS[window_key].seconds
        groups: dict = {}
        for r in svc.list_runs(limit=None):
            if r["created_at"] < since:
                continue
            for key in (r["job_type"], r["brand"]):
                g = groups.setdefault(key, {"runs": 0, "failed": 0, "took": []})
                g["runs"] += 1
                g["failed"] += r["status"] == "failed"
                if r["finished_at"] and r["started_at"]:
                    g["took"].append(r["finished_at"] - r["started_at"])
        for g in groups.values():
            took = sorted(g["took"])
            g["p95"] = took[math.ceil(0.95 * len(took)) - 1] if took else None
        return time.perf_counter() - t0
    finally:
        svc.close()


def store_trends(home: Path, window_key: str = "7d") -> float:
    os.environ["PIPEDECK_HOME"] = str(home)
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    svc = Service(load_settings())
    try:
        t0 = time.perf_counter()
        svc.trends(window_key)
        return time.perf_counter() - t0
    finally:
        svc.close()


def child_idle(which: str, seconds: float) -> dict:
    app = plain_app_class()() if which == "plain" else ours_app()
    result = {}

    def painted():
        def measure():
            time.sleep(2.0)  # let the first paint and the first refresh ticks settle
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            time.sleep(seconds)
            r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            result["idle_cpu_pct"] = round(100 * cpu / (t1 - t0), 4)
            app.call_from_thread(app.exit)

        threading.Thread(target=measure, daemon=True).start()

    hook_first_paint(app, which, painted)
    app.run(headless=True, size=SIZE)
    return result


# -- the parent ---------------------------------------------------------------------------------
def run_child(home: Path, *args: str, timeout: float = 600) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEDECK_")}
    env["BENCH_BASELINE_ROWS"] = str(BASELINE_ROWS)
    env.update({"PIPEDECK_HOME": str(home), "PYTHONPATH": str(REPO)})
    if DATABASE_URL:
        env["PIPEDECK_DATABASE_URL"] = DATABASE_URL
    spawned = time.time()
    proc = subprocess.run([sys.executable, __file__, "--child", *args, "--spawned-at", repr(spawned)], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    lines = [l for l in proc.stdout.strip().splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"bench child {args} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def filters_only(home: Path, rounds: int) -> int:
    """The filter and search figures alone (pipedeck's app and store; no baseline): a quick loop."""
    keys = run_child(home, "keys", "ours", str(rounds), timeout=1800)
    for name in FILTERS:
        print(f"{name}: pipedeck {keys[name]} ms, the first time {keys['first_ms'][name]} ms (aim 200 ms)", flush=True)
    store = store_filters(home)
    for name, figures in store.items():
        print(f"store, first window of {name}: {figures['window_ms']} ms", flush=True)
    emit({"bench": "tui", "only": "filters", "filter_ms": {n: keys.get(n) for n in FILTERS},
          "filter_first_ms": keys["first_ms"],
          "filter_store_ms": {n: store[n]["window_ms"] for n in FILTERS}, "aims": {"filter_ms": 200}})
    return 0


def refresh_only(home: Path, rounds: int, baseline_rounds: int) -> int:
    """The refresh figure alone, with its baseline."""
    ours = run_child(home, "refresh", "ours", str(rounds))
    plain = run_child(home, "refresh", "plain", str(baseline_rounds), timeout=1800)
    print(f"UI-thread time per refresh with 50 runs changed: pipedeck {ours['refresh_ui_ms']} ms (handler "
          f"{ours.get('handler_ms')} ms, max {ours['max_ms']} ms), plain DataTable (reload) {plain['refresh_ui_ms']} ms,"
          f" ratio {ratio(ours['refresh_ui_ms'], plain['refresh_ui_ms'])}", flush=True)
    emit({"bench": "tui", "only": "refresh", "refresh_ui_ms": ours["refresh_ui_ms"],
          "refresh_handler_ms": ours.get("handler_ms"), "refresh_ui_baseline_ms": plain["refresh_ui_ms"],
          "refresh_ratio": ratio(ours["refresh_ui_ms"], plain["refresh_ui_ms"]), "aims": {"refresh_ui_ms": 5}})
    return 0


def ratio(ours: float, plain: float) -> float | None:
    """pipedeck / baseline; None when the baseline measured zero (a ratio would be meaningless)."""
    return round(ours / plain, 4) if plain else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--baseline-runs", type=int, default=100_000,
                        help="rows the plain DataTable loads (the newest; it cannot hold a million)")
    parser.add_argument("--key-rounds", type=int, default=5)
    parser.add_argument("--trend-runs", type=int, default=100_000, help="runs in the trends view's database")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3, help="first-paint launches per app (median)")
    parser.add_argument("--rounds", type=int, default=15, help="refreshes measured for pipedeck (median)")
    parser.add_argument("--baseline-rounds", type=int, default=3,
                        help="refreshes measured for the plain DataTable (each reloads 100k rows: slow)")
    parser.add_argument("--only", choices=("all", "filters", "paint", "refresh"), default="all",
                        help="filters: only the filter and search figures (in the app and the store), pipedeck only;"
                             " paint / refresh: only that figure, with its baseline")
    parser.add_argument("--home", type=Path,
                        help="a seeded data dir to reuse (seeded there when empty; kept afterwards)")
    parser.add_argument("--database", metavar="URL",
                        help="with --only filters: a PostgreSQL database to seed and search (postgresql://...), "
                             "or 'temp' for a throwaway server")
    parser.add_argument("--child", nargs="*")
    parser.add_argument("--spawned-at", type=float)
    args = parser.parse_args()
    if args.child:
        kind, which, *rest = args.child
        if kind == "paint":
            out = child_paint(which, args.spawned_at)
        elif kind == "refresh":
            out = child_refresh(which, int(rest[0]))
        elif kind == "keys":
            out = child_keys(which, int(rest[0]))
        elif kind == "trends":
            out = child_trends(args.spawned_at)
        else:
            out = child_idle(which, float(rest[0]))
        print(json.dumps(out), flush=True)
        return 0

    global BASELINE_ROWS, DATABASE_URL
    BASELINE_ROWS = min(args.baseline_runs, args.runs)
    server = None
    if args.database:
        if args.only != "filters":
            parser.error("--database goes with --only filters")
        DATABASE_URL = args.database
        if DATABASE_URL == "temp":
            from tests.postgres_server import PostgresServer

            server = PostgresServer(durable=True)
            DATABASE_URL = server.create_database("bench")
    tmp = Path(tempfile.mkdtemp(prefix="pipedeck-bench-tui-"))
    home = args.home or tmp / "home"
    try:
        if args.home is None or not (home / "seeded").exists():
            t0 = time.monotonic()
            seed(home, args.runs)
            (home / "seeded").write_text(str(args.runs))
            print(f"seeded {args.runs:,} runs in {time.monotonic() - t0:.1f}s ({home}); the plain DataTable holds "
                  f"the newest {BASELINE_ROWS:,}", flush=True)
        else:
            print(f"reusing {home} ({(home / 'seeded').read_text()} runs seeded)", flush=True)
        if args.only == "filters":
            return filters_only(home, args.key_rounds)
        if args.only == "refresh":
            return refresh_only(home, args.rounds, args.baseline_rounds)
        paint = {w: [] for w in ("ours", "plain")}
        for i in range(args.repeat):
            for which in ("ours", "plain"):
                paint[which].append(run_child(home, "paint", which)["paint_s"])
        first_ours, first_plain = median(paint["ours"]), median(paint["plain"])
        print(f"launch to first painted runs table: pipedeck {first_ours:.3f}s, plain DataTable {first_plain:.3f}s "
              f"(runs: {[round(x, 3) for x in paint['ours']]} vs {[round(x, 3) for x in paint['plain']]}), "
              f"ratio {ratio(first_ours, first_plain)}", flush=True)
        if args.only == "paint":
            emit({"bench": "tui", "only": "paint", "runs": args.runs, "first_paint_s": round(first_ours, 3),
                  "first_paint_baseline_s": round(first_plain, 3), "first_paint_ratio": ratio(first_ours, first_plain),
                  "aims": {"first_paint_s": 1.0}})
            return 0
        refresh = {"ours": run_child(home, "refresh", "ours", str(args.rounds)),
                   "plain": run_child(home, "refresh", "plain", str(args.baseline_rounds), timeout=1800)}
        print(f"UI-thread time per refresh with 50 runs changed: pipedeck {refresh['ours']['refresh_ui_ms']} ms "
              f"(handler {refresh['ours'].get('handler_ms')} ms), plain DataTable (reload) "
              f"{refresh['plain']['refresh_ui_ms']} ms, ratio "
              f"{ratio(refresh['ours']['refresh_ui_ms'], refresh['plain']['refresh_ui_ms'])}", flush=True)
        keys = {w: run_child(home, "keys", w, str(args.key_rounds), timeout=1800) for w in ("ours", "plain")}
        for name in (n for n in keys["ours"] if n != "first_ms"):
            print(f"{name}: pipedeck {keys['ours'][name]} ms, plain DataTable {keys['plain'].get(name)} ms, ratio "
                  f"{ratio(keys['ours'][name], keys['plain'].get(name) or 0)}", flush=True)
        store = store_filters(home)
        for name, figures in store.items():
            print(f"store, first window of {name}: {figures['window_ms']} ms (the old first page of 100, "
                  f"RunStore.list: {figures['old_page_ms']} ms)", flush=True)
        idle = {w: run_child(home, "idle", w, str(args.idle_seconds), timeout=args.idle_seconds + 300)
                for w in ("ours", "plain")}
        print(f"CPU while idle over {args.idle_seconds:.0f}s: pipedeck {idle['ours']['idle_cpu_pct']}% of a core, "
              f"plain DataTable {idle['plain']['idle_cpu_pct']}%", flush=True)
        trend_home = tmp / "trends"
        seed(trend_home, args.trend_runs)
        trend_paint = median([run_child(trend_home, "trends", "ours")["paint_s"] for _ in range(args.repeat)])
        trend_store = median([store_trends(trend_home) for _ in range(3)])
        trend_naive = median([naive_trends(trend_home) for _ in range(3)])
        print(f"trends view with {args.trend_runs:,} runs: first paint {trend_paint:.3f}s (aim < 1 s); the store's "
              f"7-day figures {trend_store * 1000:.1f} ms against every run read into Python "
              f"{trend_naive * 1000:.1f} ms, ratio {ratio(trend_store, trend_naive)}", flush=True)
        key_names = [n for n in ("end", "page down", "jump") if n in keys["ours"]]
        filter_names = list(FILTERS)
        emit({
            "bench": "tui",
            "runs": args.runs,
            "baseline_runs": BASELINE_ROWS,
            "first_paint_s": round(first_ours, 3),
            "first_paint_baseline_s": round(first_plain, 3),
            "first_paint_ratio": ratio(first_ours, first_plain),
            "refresh_ui_ms": refresh["ours"]["refresh_ui_ms"],
            "refresh_handler_ms": refresh["ours"].get("handler_ms"),
            "refresh_ui_baseline_ms": refresh["plain"]["refresh_ui_ms"],
            "refresh_ratio": ratio(refresh["ours"]["refresh_ui_ms"], refresh["plain"]["refresh_ui_ms"]),
            "key_ms": {n: keys["ours"][n] for n in key_names},
            "key_baseline_ms": {n: keys["plain"].get(n) for n in key_names},
            "key_ratio": {n: ratio(keys["ours"][n], keys["plain"].get(n) or 0) for n in key_names},
            "filter_ms": {n: keys["ours"].get(n) for n in filter_names},
            "filter_first_ms": keys["ours"]["first_ms"],
            "filter_baseline_ms": {n: keys["plain"].get(n) for n in filter_names},
            "filter_ratio": {n: ratio(keys["ours"].get(n) or 0, keys["plain"].get(n) or 0) for n in filter_names},
            "filter_store_ms": {n: store[n]["window_ms"] for n in filter_names},
            "idle_cpu_pct": idle["ours"]["idle_cpu_pct"],
            "idle_cpu_baseline_pct": idle["plain"]["idle_cpu_pct"],
            "idle_cpu_ratio": ratio(idle["ours"]["idle_cpu_pct"], idle["plain"]["idle_cpu_pct"]),
            "idle_seconds": args.idle_seconds,
            "trend_runs": args.trend_runs,
            "trends_paint_s": round(trend_paint, 3),
            "trends_store_ms": round(trend_store * 1000, 2),
            "trends_naive_ms": round(trend_naive * 1000, 2),
            "trends_ratio": ratio(trend_store, trend_naive),
            "aims": {"trends_paint_s": 1.0, "first_paint_s": 1.0, "refresh_ui_ms": 5, "key_ms": 50, "filter_ms": 200, "idle_cpu_pct": 2},
        })
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if server is not None:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
