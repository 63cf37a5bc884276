"""`pipedeck worker`: the huey consumer daemon, plus what huey lacks.

huey gives us the consumer threads, delivery and delayed messages. On top:
the run store claim (a run never executes twice at once), a heartbeat,
recovery of runs whose worker died, a sweep that re-sends lost messages,
the scheduler tick, and a shutdown that finishes or hands back its runs.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Callable

from huey.consumer import Consumer

from pipedeck.config import Settings, ensure_home
from pipedeck.handlers import registry
from pipedeck.queue.executor import Executor
from pipedeck.queue import scheduler
from pipedeck.queue.huey_app import Queue, set_task_runner
from pipedeck.queue.procs import HOSTNAME, pid_alive
from pipedeck.storage.db import Database
from pipedeck.storage.runs import QUEUED, RunStore

log = logging.getLogger("pipedeck.worker")

# Seconds a waiting run must sit with an empty queue before its message is presumed lost.
ORPHAN_AFTER = 10.0


def recover_dead_runs(runs: RunStore, settings: Settings, own_worker_id: str | None = None,
                      requeue: Callable[[int], None] | None = None,
                      echo: Callable[[str], None] | None = None) -> list[tuple[int, str]]:
    """Find running runs whose worker is gone; retry or fail them. Returns (run id, new status)."""
    now = runs.clock()
    recovered = []
    dead_workers = set()
    for row in runs.in_flight():
        if row["worker_id"] == own_worker_id:
            continue  # our own runs are alive by definition: we are heartbeating them
        reason = None
        if row["host"] == HOSTNAME and row["pid"] is not None:
            if not pid_alive(row["pid"], row["proc_start"]):
                reason = f"worker {row['worker_id']} (pid {row['pid']}) exited"
        if reason is None:
            last = max(row["heartbeat_at"] or 0, 0)
            if now - last > settings.stale_after:
                reason = f"no heartbeat from worker {row['worker_id']} for {now - last:.0f}s"
        if reason is None:
            continue
        status = runs.recover(row["id"], row["worker_id"], row["attempts"], reason)
        if status is None:
            continue
        dead_workers.add(row["worker_id"])
        recovered.append((row["id"], status))
        if echo:
            echo(f"run {row['id']} recovered ({reason}): now {status}")
        if status == QUEUED and requeue:
            requeue(row["id"])
    runs.mark_workers_dead([w for w in dead_workers if w and w != own_worker_id])
    return recovered


class WorkerDaemon:
    def __init__(self, settings: Settings, *, threads: int = 2, grace: float = 10.0,
                 echo: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.threads = threads
        self.grace = grace
        self.echo = echo
        self._stop = threading.Event()
        self._signals = 0

    def _print(self, text: str) -> None:
        if self.echo:
            self.echo(text)

    def run(self) -> int:
        settings = self.settings
        ensure_home(settings)
        registry.load_plugins(settings.plugins)
        registry.import_handlers()  # now, not in the first run of each job type
        self.database = Database(settings.db_path, busy_timeout=settings.busy_timeout, autocheckpoint=0)
        self.queue = Queue(settings)
        self.runs = RunStore(self.database)
        self.executor = Executor(settings=settings, database=self.database, kind="worker", threads=self.threads,
                                 queue_description=self.queue.description, echo=self.echo,
                                 on_requeue=self._requeue, maintenance=self._maintenance, maintenance_interval=2.0)
        set_task_runner(self.executor.execute)
        listener = self.queue.listen()
        self.executor.start()
        self._print(f"pipedeck worker {self.executor.worker_id}: {self.threads} thread(s), queue {self.queue.description},"
                    f" data {settings.home}")
        self._maintenance()
        consumer = Consumer(self.queue.huey, workers=self.threads, periodic=False, initial_delay=0.05,
                            max_delay=1.0, backoff=1.15, scheduler_interval=1, check_worker_health=True,
                            health_check_interval=10)
        consumer.start()
        # Our handlers replace huey's: both signals mean "finish or hand back, then exit".
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        last_health = time.monotonic()
        try:
            while not self._stop.wait(1.0):
                if time.monotonic() - last_health >= 10:
                    last_health = time.monotonic()
                    consumer.check_worker_health()
        finally:
            self._shutdown(consumer, listener)
        return 0

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        if self._signals == 1:
            self._print(f"{signal.Signals(signum).name}: finishing running jobs (up to {self.grace:.0f}s), "
                        "then handing back the rest; send again to stop now")
        else:
            self.grace = 0
            self.executor.request_shutdown()
        self._stop.set()

    def _shutdown(self, consumer: Consumer, listener) -> None:
        consumer.stop_flag.set()  # no new messages
        self.queue.stop_listening()
        deadline = time.monotonic() + self.grace
        while self.executor.active and time.monotonic() < deadline and self._signals < 2:
            time.sleep(0.05)
        if self.executor.active:
            self.executor.request_shutdown()
            deadline = time.monotonic() + 3.0
            while self.executor.active and time.monotonic() < deadline:
                time.sleep(0.05)
        handed = self.executor.hand_back_all()
        if handed:
            self._print(f"handed back runs {', '.join(map(str, handed))}")
        set_task_runner(None)
        self.executor.stop()
        self.queue.close()
        self._print("worker stopped")

    def _requeue(self, run_id: int, delay: float | None) -> None:
        try:
            self.queue.enqueue(run_id, delay=delay)
        except Exception as exc:
            log.error("could not requeue run %s: %s", run_id, exc)

    def _maintenance(self) -> None:
        self.database.checkpoint()
        recover_dead_runs(self.runs, self.settings, self.executor.worker_id,
                          requeue=lambda rid: self._requeue(rid, None), echo=self.echo)
        if self.queue.pending() == 0:
            orphans = self.runs.orphaned(ORPHAN_AFTER)
            if orphans:
                self.runs.resent(orphans)
                for run_id in orphans:
                    self._requeue(run_id, None)
                self._print(f"re-sent {len(orphans)} waiting run(s) whose queue message was lost")
        scheduler.tick(self.database, self.settings, time.time(), enqueue=lambda rid: self._requeue(rid, None))


def configure_logging(settings: Settings, verbose: bool = False) -> None:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(settings.log_dir / "worker.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("huey").setLevel(logging.INFO if verbose else logging.WARNING)
    # httpx logs every request URL at INFO, signed CDN query strings included.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.ERROR)
    stderr.setFormatter(logging.Formatter("pipedeck worker: %(message)s"))
    root.addHandler(stderr)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
