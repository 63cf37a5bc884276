"""Queue figures, pipedeck against raw huey with a no-op task, in one script.

    .venv/bin/python bench/queue_bench.py            # SQLite: full run (~4 min)
    .venv/bin/python bench/queue_bench.py --quick    # fewer samples, shorter idle window
    .venv/bin/python bench/queue_bench.py --database postgresql://user:pass@host/empty_db   # PostgreSQL
    .venv/bin/python bench/queue_bench.py --database temp   # PostgreSQL: a throwaway durable server on loopback

With a PostgreSQL database, pipedeck's runs and queue live there and the baseline is raw
PostgresHuey in the same database (tables of its own).

Figures (issue 2):
- pickup latency, queue call -> handler start, worker idle >= 2 s before each sample: p50, p99
- throughput of 5,000 no-op runs with full bookkeeping / raw SqliteHuey no-op throughput, two ways:
  live (queued while the consumer drains; raw huey pays its idle-polling backoff) and
  drain (queue filled while the consumer is paused, then drained: pure consumer capacity)
- queue-call latency p99 while a worker drains
- idle worker CPU over 30 s, % of one core
- drain of the same no-op runs by 2 worker processes vs 1 on the same database
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_env, cpu_seconds, emit, median, pct, spawn, wait_until  # noqa: E402


def read_stamps(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        tag, ts = line.split()
        out[tag] = float(ts)
    return out


def stop(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except Exception:
            os.killpg(proc.pid, signal.SIGKILL)


class Raw:
    """Plain SqliteHuey (or PostgresHuey) + huey_consumer with its default settings."""

    def __init__(self, root: Path, workers: int, database_url: str | None) -> None:
        self.queue = root / "raw-queue.db"
        self.stamps = root / "raw-stamps.txt"
        where = {"BENCH_RAW_DSN": database_url} if database_url else {"BENCH_RAW_QUEUE": str(self.queue)}
        self.env = bench_env(root, BENCH_STAMP_FILE=str(self.stamps), **where)
        os.environ.update(BENCH_STAMP_FILE=str(self.stamps), **where)
        from bench import rawhuey_app

        self.app = rawhuey_app
        consumer = str(Path(sys.executable).parent / "huey_consumer")
        self.proc = spawn([sys.executable, consumer, "bench.rawhuey_app.huey", "-w", str(workers), "-k", "thread"],
                          self.env, root / "raw-consumer.log")
        time.sleep(1.0)

    def enqueue_stamp(self, i) -> None:
        self.app.stamp(i)

    def enqueue_noop(self, i) -> None:
        self.app.noop(i)

    def enqueue_done(self, i) -> None:
        self.app.done_marker(i)


class Pipedeck:
    def __init__(self, root: Path, workers: int, database_url: str | None) -> None:
        self.root = root
        self.workers = workers
        self.home = root / "pipedeck"
        self.stamps = root / "pd-stamps.txt"
        where = {"PIPEDECK_DATABASE_URL": database_url} if database_url else {}
        self.env = bench_env(self.home, PIPEDECK_PLUGINS="bench.jobs", BENCH_STAMP_FILE=str(self.stamps), **where)
        os.environ.update(PIPEDECK_HOME=str(self.home), PIPEDECK_PLUGINS="bench.jobs",
                          BENCH_STAMP_FILE=str(self.stamps), **where)
        from pipedeck.config import load_settings
        from pipedeck.queue.service import Service

        self.svc = Service(load_settings())
        self.svc.add_brand("Bench")
        self.procs = []
        self.proc = self.start_worker()

    def start_worker(self):
        proc = spawn([sys.executable, "-m", "pipedeck", "worker", "-w", str(self.workers)], self.env,
                     self.root / f"pd-worker-{len(self.procs)}.log")
        self.procs.append(proc)
        wait_until(lambda: len(self.svc.live_workers()) >= len(self.procs), 30, 0.05, "pipedeck worker")
        return proc

    def enqueue(self, job_type: str) -> int:
        return self.svc.queue_one_time_job("Bench", job_type, {})

    def succeeded(self) -> int:
        return self.svc.database.scalar("SELECT count(*) FROM runs WHERE status = 'succeeded'")

    def drain(self, n: int) -> float:
        """Runs per second of every worker draining ``n`` no-ops queued while they were all paused."""
        for proc in self.procs:
            os.killpg(proc.pid, signal.SIGSTOP)
        base = self.succeeded()
        for _ in range(n):
            self.enqueue("bench_noop")
        t0 = time.monotonic()
        for proc in self.procs:
            os.killpg(proc.pid, signal.SIGCONT)
        wait_until(lambda: self.succeeded() - base >= n, 600, 0.02, "pipedeck drain")
        return n / (time.monotonic() - t0)


def pickup_latencies(enqueue, stamps: Path, samples: int, idle: float, tag_of) -> list[float]:
    """Queue call -> handler start, each after ``idle`` s of nothing; a first, warm-up pickup is not counted
    (it pays for first-use costs: imports, plan caches)."""
    out = []
    for i in range(-1, samples):
        time.sleep(idle)
        t0 = time.time()
        tag = tag_of(enqueue(i), i)
        started = wait_until(lambda: read_stamps(stamps).get(str(tag)), 30, 0.002, "pickup")
        if i >= 0:
            out.append((started - t0) * 1000)
    return out


def idle_cpu(pid: int, seconds: float) -> float:
    time.sleep(2.0)  # let start-up and backoff settle
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--database", metavar="URL", default=None,
                    help="an empty PostgreSQL database (postgresql://...), or 'temp' for a throwaway server")
    args = ap.parse_args()
    server = None
    database_url = args.database
    if database_url == "temp":
        from tests.postgres_server import PostgresServer

        server = PostgresServer(durable=True)
        database_url = server.create_database("bench")
    try:
        run(args, database_url)
    finally:
        if server is not None:
            server.close()


def run(args, database_url: str | None) -> None:
    samples = 8 if args.quick else 25
    idle_window = 10.0 if args.quick else 30.0
    n = 1000 if args.quick else args.runs
    root = Path(tempfile.mkdtemp(prefix="pipedeck-bench-queue-"))
    engine = "postgresql" if database_url else "sqlite"
    print(f"bench dir {root}; engine {engine}; {samples} pickup samples after >= 2 s idle, {n} no-op runs, "
          f"{idle_window:.0f} s idle CPU window, {args.workers} worker threads each")

    pd = Pipedeck(root, args.workers, database_url)  # first: it makes the database a pipedeck one
    try:
        raw = Raw(root, args.workers, database_url)
    except BaseException:
        stop(pd.proc)
        raise
    try:
        # Idle CPU first, while both consumers are fresh and idle.
        raw_idle = idle_cpu(raw.proc.pid, idle_window)
        pd_idle = idle_cpu(pd.proc.pid, idle_window)
        print(f"idle CPU over {idle_window:.0f}s: pipedeck {pd_idle:.2f}% of a core, raw huey {raw_idle:.2f}%")

        raw_lat = pickup_latencies(lambda i: raw.enqueue_stamp(i), raw.stamps, samples, 2.05, lambda _, i: i)
        pd_lat = pickup_latencies(lambda i: pd.enqueue("bench_stamp"), pd.stamps, samples, 2.05, lambda rid, _: rid)
        print(f"pickup after idle (ms): pipedeck p50 {median(pd_lat):.1f} p99 {pct(pd_lat, 99):.1f}; "
              f"raw huey p50 {median(raw_lat):.1f} p99 {pct(raw_lat, 99):.1f}")

        # Throughput: enqueue n no-ops while the consumer drains; time to the last completion.
        t0 = time.monotonic()
        raw_calls = []
        for i in range(n):
            c = time.perf_counter()
            raw.enqueue_noop(i)
            raw_calls.append((time.perf_counter() - c) * 1000)
        raw.enqueue_done(n)
        wait_until(lambda: read_stamps(raw.stamps).get(f"done-{n}"), 600, 0.01, "raw drain")
        raw_secs = time.monotonic() - t0

        base = pd.succeeded()
        t0 = time.monotonic()
        pd_calls = []
        for _ in range(n):
            c = time.perf_counter()
            pd.enqueue("bench_noop")
            pd_calls.append((time.perf_counter() - c) * 1000)
        wait_until(lambda: pd.succeeded() - base >= n, 600, 0.02, "pipedeck drain")
        pd_secs = time.monotonic() - t0
        raw_tp, pd_tp = n / raw_secs, n / pd_secs
        print(f"throughput of {n} no-op runs: pipedeck {pd_tp:.0f}/s (full bookkeeping), raw huey {raw_tp:.0f}/s;"
              f" ratio {pd_tp / raw_tp:.2f}")
        print(f"queue-call latency while draining (ms): pipedeck p50 {median(pd_calls):.2f} p99 {pct(pd_calls, 99):.2f};"
              f" raw huey enqueue p50 {median(raw_calls):.2f} p99 {pct(raw_calls, 99):.2f}")

        # Drain: fill the queue while the consumer is paused (SIGSTOP), then time the drain alone.
        # This is the consumer's capacity, free of raw huey's idle-polling backoff.
        os.killpg(raw.proc.pid, signal.SIGSTOP)
        for i in range(n):
            raw.enqueue_noop(i)
        raw.enqueue_done(n + 1)
        t0 = time.monotonic()
        os.killpg(raw.proc.pid, signal.SIGCONT)
        wait_until(lambda: read_stamps(raw.stamps).get(f"done-{n + 1}"), 600, 0.01, "raw drain")
        raw_drain = n / (time.monotonic() - t0)
        pd_drain = pd.drain(n)
        print(f"drain of {n} queued no-op runs: pipedeck {pd_drain:.0f}/s, raw huey {raw_drain:.0f}/s;"
              f" ratio {pd_drain / raw_drain:.2f}")

        # The same drain by two worker processes on the same database.
        pd.start_worker()
        pd_drain2 = pd.drain(n)
        print(f"drain of {n} queued no-op runs by 2 worker processes: {pd_drain2:.0f}/s; "
              f"ratio to 1 worker {pd_drain2 / pd_drain:.2f}")
    finally:
        for proc in pd.procs:
            stop(proc)
        stop(raw.proc)
        pd.svc.close()

    emit({
        "bench": "queue", "engine": engine,
        "drain_2_workers_per_s": round(pd_drain2, 1), "two_workers_ratio": round(pd_drain2 / pd_drain, 3),
        "pickup_ms_p50": round(median(pd_lat), 2), "pickup_ms_p99": round(pct(pd_lat, 99), 2),
        "raw_pickup_ms_p50": round(median(raw_lat), 2), "raw_pickup_ms_p99": round(pct(raw_lat, 99), 2),
        "pickup_p99_ratio_to_raw": round(pct(pd_lat, 99) / pct(raw_lat, 99), 4),
        "throughput_runs_per_s": round(pd_tp, 1), "raw_throughput_per_s": round(raw_tp, 1),
        "throughput_ratio": round(pd_tp / raw_tp, 3), "runs": n,
        "drain_runs_per_s": round(pd_drain, 1), "raw_drain_per_s": round(raw_drain, 1),
        "drain_ratio": round(pd_drain / raw_drain, 3),
        "queue_call_ms_p99": round(pct(pd_calls, 99), 3), "raw_enqueue_ms_p99": round(pct(raw_calls, 99), 3),
        "idle_cpu_pct": round(pd_idle, 3), "raw_idle_cpu_pct": round(raw_idle, 3), "idle_window_s": idle_window,
    })


if __name__ == "__main__":
    main()
