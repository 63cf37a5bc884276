"""`pipedeck worker`: the huey consumer daemon, plus what huey lacks.

huey gives us the consumer threads, delivery and delayed messages. On top:
the run store claim under a lease (a run never executes twice at once), a
heartbeat that renews the leases, recovery of runs whose worker died, a sweep
that re-sends lost messages, the scheduler tick, and a shutdown that finishes
or hands back its runs.

Only the standard library and config are imported at module level: the
worker installs its signal handlers before the heavy imports (huey, the
handlers), so a SIGINT or SIGTERM in its first half second is not lost.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Callable, Collection

from pipedeck.config import Settings, ensure_home
from pipedeck.queue.procs import pid_alive

if TYPE_CHECKING:
    from pipedeck.errors import StorageError
    from pipedeck.storage.runs import RunStore

log = logging.getLogger("pipedeck.worker")

# Seconds a waiting run must sit with an empty queue before its message is presumed lost.
ORPHAN_AFTER = 10.0


def recover_dead_runs(runs: "RunStore", settings: Settings, own_worker_id: str | None = None,
                      requeue: Callable[[int], None] | None = None,
                      echo: Callable[[str], None] | None = None,
                      own_active: Collection[int] = ()) -> list[tuple[int, str]]:
    """Take back running runs whose attempt cannot go on; retry or fail them. Returns (run id, new status).

    - a run of this worker (``own_worker_id``) that is not among ``own_active``
      (its thread is gone) once its lease has lapsed;
    - a run of a worker on this host whose process has exited, at once;
    - a run of a worker on another host (or unknown) once its lease has expired.
    A live process on this host is never recovered by its heartbeat alone: a
    stopped or stalled worker keeps its runs, and resumes them.
    """
    from pipedeck.storage.runs import QUEUED

    own_active = set(own_active)
    recovered = []
    dead_workers = set()
    for row in runs.in_flight():
        expired_only = True
        if own_worker_id is not None and row["worker_id"] == own_worker_id:
            if row["id"] in own_active or not row["lease_expired"]:
                continue
            reason = f"its thread in worker {own_worker_id} is gone"
        elif row["host"] == settings.host_id and row["pid"] is not None:
            if pid_alive(row["pid"], row["proc_start"]):
                continue
            reason = f"worker {row['worker_id']} (pid {row['pid']}) exited"
            expired_only = False
        elif row["lease_expired"]:
            reason = f"lease expired: no heartbeat from worker {row['worker_id']} for {row['silent_for']:.0f}s"
        else:
            continue
        status = runs.recover(row["id"], row["lease"], reason, only_if_expired=expired_only)
        if status is None:
            continue
        if row["worker_id"] != own_worker_id:
            dead_workers.add(row["worker_id"])
        recovered.append((row["id"], status))
        if echo:
            echo(f"run {row['id']} recovered ({reason}): now {status}")
        if status == QUEUED and requeue:
            requeue(row["id"])
    runs.mark_workers_dead([w for w in dead_workers if w])
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
        self.executor = None
        self.consumer = None
        self.fatal: "StorageError | None" = None
        self._alerts = None
        self._alerts_checked = float("-inf")
        # Messages a consumer thread is executing, counted from before the claim: a run joins
        # executor.active only when its handler is about to start, and a shutdown must not miss it meanwhile.
        self._executing = 0
        self._executing_lock = threading.Lock()

    def _print(self, text: str) -> None:
        if self.echo:
            self.echo(text)

    def run(self) -> int:
        # First thing: both signals mean "finish or hand back, then exit" (they replace huey's).
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        from huey.consumer import Consumer

        from pipedeck.handlers import registry
        from pipedeck.queue.executor import Executor
        from pipedeck.queue.huey_app import Queue, set_task_runner
        from pipedeck.storage.db import open_database
        from pipedeck.storage.runs import RunStore

        from pipedeck.errors import DatabaseUnreachable
        from pipedeck.queue.outage import Outage

        settings = self.settings
        ensure_home(settings)
        registry.load_plugins(settings.plugins)
        registry.import_handlers()  # now, not in the first run of each job type
        outage = Outage(self._print)
        while True:
            # A server that cannot be reached (yet) is waited for; bad credentials, a missing database
            # or a damaged file stop the worker with one line: those need a person.
            try:
                self.database = open_database(settings, autocheckpoint=0)
                self.runs = RunStore(self.database)
                try:
                    # A damaged run store stops the worker before it takes anything off the queue.
                    self.runs.check_integrity()
                    if not self._stop.is_set():
                        self.queue = Queue(settings)
                except BaseException:
                    self.database.close()
                    raise
                break
            except DatabaseUnreachable as exc:
                if self._stop.wait(outage.failed(exc)):
                    return 0
        outage.recovered()
        if self._stop.is_set():
            self.database.close()
            return 0
        self.executor = Executor(settings=settings, database=self.database, kind="worker", threads=self.threads,
                                 queue_description=self.queue.description, echo=self.echo,
                                 on_requeue=self._requeue, maintenance=self._maintenance, maintenance_interval=2.0,
                                 on_fatal=self._on_fatal)
        set_task_runner(self._execute)
        self.queue.listen()
        consumer = None
        try:
            self.executor.start()
            self._print(f"pipedeck worker {self.executor.worker_id}: {self.threads} thread(s), queue "
                        f"{self.queue.description}, data {settings.home}")
            try:
                self._maintenance()
            except DatabaseUnreachable:
                pass  # the monitor's own maintenance waits for the server and says so
            if not self._stop.is_set():
                consumer = self.consumer = Consumer(
                    self.queue.huey, workers=self.threads, periodic=False, initial_delay=0.05, max_delay=1.0,
                    backoff=1.15, scheduler_interval=1, check_worker_health=True, health_check_interval=10)
                consumer._set_signal_handlers = lambda: None  # ours stay in charge, with no gap
                consumer.start()
                last_health = time.monotonic()
                while not self._stop.wait(1.0):
                    if time.monotonic() - last_health >= 10:
                        last_health = time.monotonic()
                        consumer.check_worker_health()
        finally:
            self._shutdown(consumer)
            set_task_runner(None)
        if self.fatal is not None:
            raise self.fatal
        return 0

    def _execute(self, run_id: int) -> str | None:
        with self._executing_lock:
            self._executing += 1
        try:
            return self.executor.execute(run_id)
        finally:
            with self._executing_lock:
                self._executing -= 1

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        if self._signals == 1:
            self._print(f"{signal.Signals(signum).name}: finishing running jobs (up to {self.grace:.0f}s), "
                        "then handing back the rest; send again to stop now")
        else:
            self.grace = 0
            if self.executor is not None:
                self.executor.request_shutdown()
        self._stop.set()

    def _on_fatal(self, exc: "StorageError") -> None:
        """The database is damaged: take nothing more off the queue, hand back, and stop."""
        if self.fatal is not None:
            return
        self.fatal = exc
        if self.consumer is not None:
            self.consumer.stop_flag.set()
        self.grace = 0
        if self.executor is not None:
            self.executor.request_shutdown()
        self._stop.set()

    def _shutdown(self, consumer) -> None:
        if consumer is not None:
            consumer.stop_flag.set()  # no new messages
        self.executor.stop_accepting()  # and one a consumer thread takes meanwhile goes back
        self.queue.stop_listening()
        deadline = time.monotonic() + self.grace
        while self._executing and time.monotonic() < deadline and self._signals < 2:
            time.sleep(0.05)
        if self._executing:
            self.executor.request_shutdown()
            deadline = time.monotonic() + 3.0
            while self._executing and time.monotonic() < deadline:
                time.sleep(0.05)
        handed = self.executor.hand_back_all()
        if handed:
            self._print(f"handed back runs {', '.join(map(str, handed))}")
        self.executor.stop()
        self.queue.close()
        self.database.close()
        self._print("worker stopped")

    def _requeue(self, run_id: int, delay: float | None) -> None:
        try:
            self.queue.enqueue(run_id, delay=delay)
        except Exception as exc:  # the sweep re-sends it once the queue answers again
            log.warning("could not requeue run %s (%s); the sweep re-sends it", run_id, exc)

    def _maintenance(self) -> None:
        from pipedeck.queue import scheduler

        self.database.checkpoint()
        with self.executor._active_lock:
            own_active = set(self.executor.active)
        recover_dead_runs(self.runs, self.settings, self.executor.worker_id,
                          requeue=lambda rid: self._requeue(rid, None), echo=self.echo, own_active=own_active)
        if self.queue.pending() == 0:
            orphans = self.runs.orphaned(ORPHAN_AFTER)
            if orphans:
                self.runs.resent(orphans)
                for run_id in orphans:
                    self._requeue(run_id, None)
                self._print(f"re-sent {len(orphans)} waiting run(s) whose queue message was lost")
        scheduler.tick(self.database, self.settings, time.time(), enqueue=lambda rid: self._requeue(rid, None))
        self._check_alerts()

    def _check_alerts(self) -> None:
        now = time.monotonic()
        if now - self._alerts_checked < self.settings.alert_interval:
            return
        self._alerts_checked = now
        if self._alerts is None:
            from pipedeck.queue.service import Service

            self._alerts = Service(self.settings, database=self.database, lazy_registry=True).alert_pump(
                self.executor.worker_id)
        try:
            self._alerts.check()
        except Exception:  # alerts are never worth a worker: log and go on
            log.exception("alert check failed")


class OneLineFormatter(logging.Formatter):
    """The terminal gets one line per record; the traceback goes to worker.log only."""

    def format(self, record: logging.LogRecord) -> str:
        from pipedeck.errors import one_line

        return one_line(record.getMessage() if not self._fmt else self._fmt % {"message": record.getMessage()})


def configure_logging(settings: Settings, verbose: bool = False) -> None:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    # Rotated, so a worker running as a service for months keeps at most ~50 MB of log.
    handler = logging.handlers.RotatingFileHandler(settings.log_dir / "worker.log", maxBytes=10_000_000, backupCount=4)
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
    stderr.setFormatter(OneLineFormatter("pipedeck worker: %(message)s"))
    root.addHandler(stderr)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
