"""Scheduler tick cost with 10,000 schedules, against one indexed SELECT of the due rows.

    .venv/bin/python bench/schedules.py [--schedules 10000] [--minutes 60]

10,000 daily schedules spread over the day; a simulated hour of ticks every
5 s (as workers tick). Before each tick the same script runs the baseline, one
indexed SELECT of the due rows, on the same state. Reported:
- tick_ratio: mean tick time / mean baseline SELECT time, in that steady state
  (each tick also creates the due runs, writes history and enqueues them);
- idle_tick_ratio: the same when nothing is due (the tick's fixed overhead);
- per-occurrence cost of firing.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, median  # noqa: E402

DUE_SQL = "SELECT * FROM schedules WHERE active = 1 AND next_run_at <= ? ORDER BY next_run_at LIMIT 500"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedules", type=int, default=10_000)
    ap.add_argument("--minutes", type=int, default=60)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pipedeck-bench-sched-"))
    os.environ.update(PIPEDECK_HOME=str(root), PIPEDECK_PLUGINS="bench.jobs")
    from pipedeck.config import load_settings
    from pipedeck.queue import scheduler
    from pipedeck.queue.service import Service

    t0 = datetime(2036, 3, 2, tzinfo=timezone.utc).timestamp()
    clock = [t0]
    svc = Service(load_settings(), clock=lambda: clock[0])
    svc.catalog.add_brand("Bench")
    rng = random.Random(42)
    # Insert directly (add_schedule validates each one; that is not what is measured here).
    rows = []
    for _ in range(args.schedules):
        cron = f"{rng.randrange(60)} {rng.randrange(24)} * * *"
        rows.append(("bench_noop", 1, None, "{}", cron, "UTC", 1, "skip",
                     scheduler.next_after(cron, "UTC", clock[0]), clock[0], clock[0]))
    with svc.database.write() as db:
        db.conn.executemany("INSERT INTO schedules (job_type, brand_id, competitor_id, params, cron, tz, active,"
                            " missed_policy, next_run_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                            rows)
    conn = svc.database.conn
    queue = svc.queue

    def enqueue(run_id):
        queue.enqueue(run_id)

    def timed_select(now):
        s = time.perf_counter()
        conn.execute(DUE_SQL, (now,)).fetchall()
        return time.perf_counter() - s

    # Warm-up: page cache, statement cache, imports.
    for _ in range(50):
        timed_select(t0)
    scheduler.tick(svc.database, svc.settings, t0, enqueue=enqueue)

    ticks, selects, fired_ticks, idle_ticks, idle_selects = [], [], [], [], []
    fired = 0
    now = t0
    end = t0 + args.minutes * 60
    while now <= end:
        clock[0] = now
        base = min(timed_select(now) for _ in range(3))
        s = time.perf_counter()
        result = scheduler.tick(svc.database, svc.settings, now, enqueue=enqueue)
        took = time.perf_counter() - s
        ticks.append(took)
        selects.append(base)
        if result.queued:
            fired += len(result.queued)
            fired_ticks.append((took - base) / len(result.queued))
        else:
            idle_ticks.append(took)
            idle_selects.append(base)
        now += 5.0
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    ratio = mean(ticks) / mean(selects)
    idle_ratio = mean(idle_ticks) / mean(idle_selects)
    print(f"{args.schedules} schedules, {len(ticks)} ticks over {args.minutes} simulated min, {fired} occurrences fired")
    print(f"baseline SELECT of due rows: mean {mean(selects) * 1e6:.0f} us")
    print(f"tick: mean {mean(ticks) * 1e6:.0f} us -> ratio {ratio:.2f}; with nothing due: mean "
          f"{mean(idle_ticks) * 1e6:.0f} us -> ratio {idle_ratio:.2f}")
    print(f"firing one occurrence (run + history + enqueue): median {median(fired_ticks) * 1e6:.0f} us")
    svc.close()
    emit({"bench": "schedules", "schedules": args.schedules, "ticks": len(ticks), "fired": fired,
          "select_us": round(mean(selects) * 1e6, 1), "tick_us": round(mean(ticks) * 1e6, 1),
          "tick_ratio": round(ratio, 3), "idle_tick_us": round(mean(idle_ticks) * 1e6, 1),
          "idle_tick_ratio": round(idle_ratio, 3), "fire_one_us": round(median(fired_ticks) * 1e6, 1)})


if __name__ == "__main__":
    main()
