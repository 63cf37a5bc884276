#!/usr/bin/env python3
"""The terminal app's figures with 100,000 runs in the database, each against a plain Textual DataTable.

    python bench/tui.py [--runs 100000] [--idle-seconds 30] [--repeat 3]

1. launch to first painted runs table: a fresh process, from spawn to the first
   screen refresh after the runs table has rows (aim ≤ 1.5 s);
2. UI-thread time per refresh when 50 runs changed: main-thread CPU from the
   live-refresh message to the repaint after it (aim ≤ 20 ms);
3. app CPU while idle over 30 s, live refresh on (aim ≤ 2 % of a core).

The baseline is a plain Textual DataTable app that loads the same 100,000 rows
(same query, same columns) in on_mount, and refreshes by reloading them. Each
figure is also given as pipedeck / baseline. Apps run headless (no terminal
output), the same for both. The last line of output is one JSON object.
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
JOB_TYPES = ["meta_sync", "asset_download", "template_scrape", "competitor_scrape"]
STATUSES = ["succeeded"] * 80 + ["failed"] * 15 + ["cancelled"] * 3 + ["queued"] * 2


# -- data -------------------------------------------------------------------------------
def seed(home: Path, n: int) -> None:
    """n runs over 10 brands and 20 competitors, inserted in one transaction (fast; not the code under test)."""
    os.environ["PIPEDECK_HOME"] = str(home)
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    svc = Service(load_settings())
    origin = svc.settings.ad_library_url
    brands = [svc.catalog.add_brand(f"Brand {i:02d}", str(1000 + i), str(5000 + i)) for i in range(10)]
    comps = [svc.catalog.add_competitor(b["id"], f"Rival {b['id']}-{j}", f"{origin}/ads/library/?view_all_page_id="
                                        f"{9000 + b['id'] * 10 + j}", origin) for b in brands for j in range(2)]
    rng = random.Random(5)
    now = time.time()
    rows = []
    for i in range(n):
        job = rng.choice(JOB_TYPES)
        brand = rng.choice(brands)
        comp = rng.choice([c for c in comps if c["brand_id"] == brand["id"]]) if job == "competitor_scrape" else None
        status = rng.choice(STATUSES)
        created = now - (n - i) * 30.0
        finished = created + rng.uniform(1, 120) if status in ("succeeded", "failed", "cancelled") else None
        error = ("Upstream5xx", "HTTP 503 from graph.facebook.com") if status == "failed" else (None, None)
        summary = f"result: rows={rng.randint(1, 5000)}" if status == "succeeded" else None
        rows.append((job, brand["id"], comp["id"] if comp else None, "{}", status, 1 if finished else 0, 3, created,
                     finished or created, created + 0.5 if finished else None, finished, summary, error[0], error[1],
                     i + 1))
    with svc.database.write() as db:
        db.conn.executemany(
            "INSERT INTO runs (job_type, brand_id, competitor_id, params, status, attempts, max_attempts, created_at,"
            " updated_at, started_at, finished_at, summary, error_type, error_message, rev)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    svc.database.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    svc.close()


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

        def load(self) -> None:
            table = self.query_one(DataTable)
            table.clear()
            rows = self.svc.list_runs(limit=None)
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

    original = PipelineScreen._loaded

    def loaded(self, data):
        original(self, data)
        self.app.call_after_refresh(callback)
        PipelineScreen._loaded = original

    PipelineScreen._loaded = loaded


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
        rev = conn.execute("SELECT max(rev) FROM runs").fetchone()[0]
        for i, run_id in enumerate(ids):
            conn.execute("UPDATE runs SET status = 'running', progress_current = ?, progress_total = 100,"
                         " summary = ?, updated_at = ?, rev = ? WHERE id = ?",
                         (round_no, f"step {round_no} of run {run_id}", time.time(), rev + i + 1, run_id))


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
    env.update({"PIPEDECK_HOME": str(home), "PYTHONPATH": str(REPO)})
    spawned = time.time()
    proc = subprocess.run([sys.executable, __file__, "--child", *args, "--spawned-at", repr(spawned)], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    lines = [l for l in proc.stdout.strip().splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"bench child {args} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def ratio(ours: float, plain: float) -> float | None:
    """pipedeck / baseline; None when the baseline measured zero (a ratio would be meaningless)."""
    return round(ours / plain, 4) if plain else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3, help="first-paint launches per app (median)")
    parser.add_argument("--rounds", type=int, default=15, help="refreshes measured for pipedeck (median)")
    parser.add_argument("--baseline-rounds", type=int, default=3,
                        help="refreshes measured for the plain DataTable (each reloads 100k rows: slow)")
    parser.add_argument("--child", nargs="*")
    parser.add_argument("--spawned-at", type=float)
    args = parser.parse_args()
    if args.child:
        kind, which, *rest = args.child
        if kind == "paint":
            out = child_paint(which, args.spawned_at)
        elif kind == "refresh":
            out = child_refresh(which, int(rest[0]))
        else:
            out = child_idle(which, float(rest[0]))
        print(json.dumps(out), flush=True)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="pipedeck-bench-tui-"))
    home = tmp / "home"
    try:
        t0 = time.monotonic()
        seed(home, args.runs)
        print(f"seeded {args.runs} runs in {time.monotonic() - t0:.1f}s ({home})", flush=True)
        paint = {w: [] for w in ("ours", "plain")}
        for i in range(args.repeat):
            for which in ("ours", "plain"):
                paint[which].append(run_child(home, "paint", which)["paint_s"])
        first_ours, first_plain = median(paint["ours"]), median(paint["plain"])
        print(f"launch to first painted runs table: pipedeck {first_ours:.3f}s, plain DataTable {first_plain:.3f}s "
              f"(runs: {[round(x, 3) for x in paint['ours']]} vs {[round(x, 3) for x in paint['plain']]})", flush=True)
        refresh = {"ours": run_child(home, "refresh", "ours", str(args.rounds)),
                   "plain": run_child(home, "refresh", "plain", str(args.baseline_rounds), timeout=1800)}
        print(f"UI-thread time per refresh with 50 runs changed: pipedeck {refresh['ours']['refresh_ui_ms']} ms "
              f"(handler {refresh['ours'].get('handler_ms')} ms), plain DataTable (reload) "
              f"{refresh['plain']['refresh_ui_ms']} ms", flush=True)
        idle = {w: run_child(home, "idle", w, str(args.idle_seconds), timeout=args.idle_seconds + 300)
                for w in ("ours", "plain")}
        print(f"CPU while idle over {args.idle_seconds:.0f}s: pipedeck {idle['ours']['idle_cpu_pct']}% of a core, "
              f"plain DataTable {idle['plain']['idle_cpu_pct']}%", flush=True)
        emit({
            "runs": args.runs,
            "first_paint_s": round(first_ours, 3),
            "first_paint_baseline_s": round(first_plain, 3),
            "first_paint_ratio": ratio(first_ours, first_plain),
            "refresh_ui_ms": refresh["ours"]["refresh_ui_ms"],
            "refresh_handler_ms": refresh["ours"].get("handler_ms"),
            "refresh_ui_baseline_ms": refresh["plain"]["refresh_ui_ms"],
            "refresh_ratio": ratio(refresh["ours"]["refresh_ui_ms"], refresh["plain"]["refresh_ui_ms"]),
            "idle_cpu_pct": idle["ours"]["idle_cpu_pct"],
            "idle_cpu_baseline_pct": idle["plain"]["idle_cpu_pct"],
            "idle_cpu_ratio": ratio(idle["ours"]["idle_cpu_pct"], idle["plain"]["idle_cpu_pct"]),
            "idle_seconds": args.idle_seconds,
            "aims": {"first_paint_s": 1.5, "refresh_ui_ms": 20, "idle_cpu_pct": 2},
        })
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
