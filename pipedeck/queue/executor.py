"""Executes runs through their lifecycle: claim, run the handler with a
context, classify the outcome, record it, and reschedule retries.

The worker daemon and direct mode share this code, so a run behaves the same
wherever it executes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from typing import Callable

from pydantic import ValidationError

import pipedeck
from pipedeck.config import Settings
from pipedeck.errors import (DatabaseCorrupt, DatabaseLocked, DatabaseUnreachable, DatabaseUnwritable, HandlerError,
                             LeaseLost, PermanentError, RetryableError, RunCancelled, StorageError, UserError,
                             WorkerShuttingDown)
from pipedeck.handlers import registry
from pipedeck.handlers.context import HeldLease, RunContext, lease_clock, redact
from pipedeck.queue.outage import Outage
from pipedeck.queue.procs import new_worker_id, proc_start
from pipedeck.storage.catalog import Catalog
from pipedeck.storage.db import Database
from pipedeck.storage.runs import CANCELLED, FAILED, QUEUED, RETRYING, SUCCEEDED, Lease, RunStore

log = logging.getLogger("pipedeck.executor")

# How often running handlers' logs and progress are stored and cancel flags read.
FLUSH_INTERVAL = 0.2
_NO_LOCK = contextlib.nullcontext()


def classify(exc: BaseException) -> tuple[bool, str, str, float | None]:
    """(retryable, error_type, message, retry_after) for a handler's exception."""
    if isinstance(exc, RetryableError):
        return True, exc.error_type, str(exc), exc.retry_after
    if isinstance(exc, (DatabaseLocked, DatabaseUnwritable, DatabaseUnreachable)):  # these can pass
        return True, type(exc).__name__, str(exc), None
    if isinstance(exc, HandlerError):
        return False, exc.error_type, str(exc), None
    if isinstance(exc, UserError):
        return False, type(exc).__name__, str(exc), None
    if isinstance(exc, ValidationError):
        return False, "InvalidParams", str(exc).splitlines()[0], None
    try:
        import httpx

        if isinstance(exc, (httpx.TransportError, httpx.TimeoutException)):
            return True, "NetworkError", f"{type(exc).__name__}: {exc}", None
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True, "NetworkError", f"{type(exc).__name__}: {exc}", None
    if type(exc).__name__ == "TimeoutError" and type(exc).__module__.startswith("playwright"):
        return True, "BrowserTimeout", str(exc).splitlines()[0], None
    return False, type(exc).__name__, f"unexpected error: {type(exc).__name__}: {exc}", None



class Executor:
    def __init__(self, *, settings: Settings, database: Database, worker_id: str | None = None,
                 kind: str = "worker", threads: int = 1, queue_description: str = "",
                 echo: Callable[[str], None] | None = None,
                 on_requeue: Callable[[int, float | None], None] | None = None,
                 maintenance: Callable[[], None] | None = None, maintenance_interval: float = 5.0,
                 on_fatal: Callable[[StorageError], None] | None = None) -> None:
        self.settings = settings
        self.database = database
        self.runs = RunStore(database)
        self.catalog = Catalog(database)
        self.kind = kind
        self.worker_id = worker_id or new_worker_id(settings.host_id, kind)
        self.threads = threads
        self.queue_description = queue_description
        self.echo = echo
        self.on_requeue = on_requeue
        self.maintenance = maintenance
        self.maintenance_interval = maintenance_interval
        # Called when the database turns out to be damaged: the process should stop using it.
        self.on_fatal = on_fatal
        # An attempt's lease lasts as long as the stale limit; the heartbeat renews it.
        self.lease_seconds = settings.stale_after
        self.shutdown_event = threading.Event()
        self.active: dict[int, RunContext] = {}
        self._active_lock = threading.Lock()
        # Runs whose handler is done and whose end is being written (retried until it lands).
        self._ending: set[int] = set()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._monitor_idle = True
        self._monitor: threading.Thread | None = None
        self._secrets = settings.secrets()
        self._accepting = True
        # The database server gone (restarting, the network): the monitor waits for it with backoff.
        self.outage = Outage(self._say)

    # -- lifecycle of the executor itself ------------------------------------
    def start(self) -> "Executor":
        import os

        self.runs.register_worker(self.worker_id, kind=self.kind, host=self.settings.host_id, pid=os.getpid(),
                                  proc_start=proc_start(os.getpid()), threads=self.threads,
                                  version=pipedeck.__version__, queue=self.queue_description)
        self._monitor = threading.Thread(target=self._monitor_loop, name="pipedeck-monitor", daemon=True)
        self._monitor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        try:
            self.runs.stop_worker(self.worker_id)
        except StorageError as exc:  # the database may be gone at exit; its heartbeat then goes stale
            log.warning("could not mark worker %s stopped: %s", self.worker_id, exc)
        except Exception:
            log.exception("could not mark worker stopped")

    def _say(self, text: str) -> None:
        if self.echo is not None:
            self.echo(redact(text, self._secrets))

    def _fatal(self, exc: StorageError) -> None:
        log.warning("%s", exc, exc_info=exc)  # the traceback for worker.log; the person gets one line
        if self.on_fatal is not None:
            self.on_fatal(exc)

    # -- running one attempt -------------------------------------------------
    def stop_accepting(self) -> None:
        """The process is stopping: a message taken off the queue from now on goes back unclaimed."""
        self._accepting = False

    def execute(self, run_id: int) -> str | None:
        """Run one attempt of ``run_id`` if it can be claimed. Returns the new status."""
        if not self._accepting:
            if self.on_requeue:
                self.on_requeue(run_id, None)
            return None
        claimed_at = lease_clock()
        try:
            claim = self.runs.claim(run_id, self.worker_id, lease_seconds=self.lease_seconds)
        except StorageError as exc:
            # The queue message is spent: send it again so the run is not left to the orphan sweep.
            if self.on_requeue:
                self.on_requeue(run_id, None if isinstance(exc, DatabaseCorrupt) else 1.0)
            if isinstance(exc, DatabaseCorrupt):
                self._fatal(exc)
            else:
                if isinstance(exc, DatabaseUnreachable):
                    self.outage.noticed()  # the monitor's next good round says it is back
                self._say(f"run {run_id}: could not claim it ({exc}); sent back to the queue")
            return None
        if claim is None:
            return None
        run, attempt, lease = claim.run, claim.attempt, claim.lease
        held = HeldLease(lease, self.lease_seconds, lambda: self.runs.renew(lease, self.lease_seconds),
                         since=claimed_at)
        started = time.monotonic()
        try:
            brand = self.catalog.brand(run["brand_id"])
            competitor = self.catalog.competitor(run["competitor_id"]) if run["competitor_id"] else None
        except DatabaseCorrupt as exc:
            self._fatal(exc)
            return self._finish(run, attempt, None, "handed_back", lease=lease, started=started, quiet=True)
        except UserError as exc:
            return self._finish(run, attempt, None, FAILED, error=("NotFound", str(exc)), lease=lease,
                                started=started)
        ctx = RunContext(run_id=run_id, attempt=attempt, job_type=run["job_type"], brand=brand,
                         competitor=competitor, settings=self.settings, database=self.database,
                         max_attempts=run["max_attempts"], shutdown_event=None, echo=self.echo, lease=held)
        with self._active_lock:
            self.active[run_id] = ctx
            # Under the lock: a request_shutdown either sees this run in active or has set the event by now.
            if self.shutdown_event.is_set():
                ctx.request_shutdown()
        if self._monitor_idle:  # start flushing and watching for cancel at once, not after the idle sleep
            self._kick.set()
        self._say(f"run {run_id} {run['job_type']} brand={brand['name']}"
                  f"{' competitor=' + competitor['name'] if competitor else ''}: attempt {attempt}/{run['max_attempts']}")
        outcome, error, retry_at, result = SUCCEEDED, None, None, None
        job_type = None
        interrupted: BaseException | None = None
        try:
            job_type = registry.get(run["job_type"])
            handler = job_type.resolve_handler()
            if handler is None:
                raise PermanentError(f"no handler yet for job type {run['job_type']}", error_type="NoHandler")
            params = job_type.params_model.model_validate(
                run["params"], context={"ad_library_origin": self.settings.ad_library_url})
            ctx.check_cancelled()
            returned = handler(ctx, params)
            result = {**ctx.result, **(returned or {})}
        except LeaseLost:
            held.mark_lost()
        except RunCancelled:
            outcome = CANCELLED
            ctx.note("cancelled", "warning")
        except WorkerShuttingDown:
            outcome = "handed_back"
            ctx.note("worker shutting down: run handed back to the queue", "warning")
        except KeyboardInterrupt as exc:
            # Ctrl-C during a direct run: the person asked it to stop.
            interrupted = exc
            outcome = CANCELLED
            ctx.note("interrupted (Ctrl-C)", "warning")
        except SystemExit as exc:
            interrupted = exc
            outcome = "handed_back"
            ctx.note("process exiting: run handed back to the queue", "warning")
        except DatabaseCorrupt as exc:
            self._fatal(exc)
            outcome = "handed_back"
            ctx.note("the database is damaged: run handed back to the queue", "error")
        except Exception as exc:  # noqa: BLE001 - everything a handler raises ends the attempt
            retryable, error_type, message, retry_after = classify(exc)
            message = redact(message, self._secrets)
            outcome = FAILED
            error = (error_type, message)
            if not isinstance(exc, (HandlerError, UserError)):
                log.error("run %s: %s", run_id, redact("".join(traceback.format_exception(exc)), self._secrets))
            failures = run["failures"] + 1
            if ctx.cancel_event.is_set():
                outcome = CANCELLED
            elif retryable and failures < run["max_attempts"]:
                delay = retry_after if retry_after is not None else (job_type.backoff(failures) if job_type else 2.0)
                retry_at = time.time() + delay
                ctx.note(f"attempt {attempt} failed ({error_type}: {message}); retrying in {delay:.0f}s", "warning")
            else:
                why = "" if retryable else " (not retryable)"
                ctx.note(f"attempt {attempt} failed{why}: {error_type}: {message}", "error")
        if held.lost:
            # Another attempt holds the run now: whatever this one did or buffered is dropped.
            with self._active_lock:
                self.active.pop(run_id, None)
            self._say(f"run {run_id}: attempt {attempt} lost its lease (the run was recovered elsewhere);"
                      " stopped it, nothing of it was written")
            if interrupted is not None:
                raise interrupted
            return None
        if outcome == SUCCEEDED and result:
            ctx.note(_result_line(result))
        self._ending.add(run_id)
        try:
            status = self._finish(run, attempt, ctx, outcome, error=error, retry_at=retry_at, result=result,
                                  lease=lease, started=started, datasets=job_type.datasets if job_type else ())
        finally:
            self._ending.discard(run_id)
            with self._active_lock:
                self.active.pop(run_id, None)
        if interrupted is not None:
            raise interrupted  # KeyboardInterrupt / SystemExit, now that the run is recorded
        return status

    def _finish(self, run: dict, attempt: int, ctx: RunContext | None, outcome: str, *, lease: Lease,
                error=None, retry_at=None, result=None, started: float, datasets=(), quiet: bool = False) -> str | None:
        """Write the attempt's end, trying again with backoff while the database refuses writes
        (locked past the busy timeout, disk full): a finished run must not stay "running"."""
        logs: list = []
        progress = None
        delay = 0.05
        while True:
            with ctx.flush_lock if ctx else _NO_LOCK:
                more, newer = ctx.drain() if ctx else ([], None)
                logs += more
                progress = newer or progress
                try:
                    status = self.runs.finish(run["id"], attempt, self.worker_id, outcome,
                                              error_type=error[0] if error else None,
                                              error_message=error[1] if error else None, result=result or None,
                                              retry_at=retry_at, datasets=datasets, logs=logs, progress=progress,
                                              lease=lease)
                    break
                except DatabaseCorrupt as exc:
                    self._fatal(exc)
                    return None
                except (DatabaseLocked, DatabaseUnwritable, DatabaseUnreachable) as exc:
                    if self._stop.is_set():
                        self._say(f"run {run['id']}: its end could not be written before this process stopped"
                                  f" ({exc}); the next worker will recover it")
                        return None
                    if isinstance(exc, DatabaseUnreachable):
                        self.outage.noticed()  # the monitor's next good round says it is back
                    log.warning("run %s: could not write its end (%s); trying again in %.1fs", run["id"], exc, delay)
                    self._say(f"run {run['id']}: could not write its end ({exc}); trying again in {delay:.1f}s")
            self._stop.wait(delay)
            delay = min(delay * 2, 5.0)
        took = time.monotonic() - started
        if status is None:
            self._say(f"run {run['id']}: no longer ours (recovered elsewhere); result discarded")
            return None
        detail = f": {error[0]}: {error[1]}" if error and status != SUCCEEDED else ""
        if not quiet:
            self._say(f"run {run['id']} {status} after {took:.1f}s{detail}")
        if status == RETRYING and self.on_requeue:
            self.on_requeue(run["id"], max(0.0, (retry_at or time.time()) - time.time()))
        elif status == QUEUED and self.on_requeue:
            self.on_requeue(run["id"], None)
        return status

    def execute_until_settled(self, run_id: int) -> str:
        """Direct mode: run attempts in this thread, waiting out retry backoff, until the run ends."""
        while True:
            self.execute(run_id)
            run = self.runs.get(run_id)
            if run["status"] != RETRYING:
                return run["status"]  # ended, or handed back / taken over by a worker
            while time.time() < (run["next_attempt_at"] or 0):
                if self.shutdown_event.wait(min(0.2, run["next_attempt_at"] - time.time())):
                    return run["status"]
                if self.runs.get(run_id)["status"] != RETRYING:  # cancelled meanwhile
                    return self.runs.get(run_id)["status"]

    # -- shutdown ------------------------------------------------------------
    def request_shutdown(self) -> None:
        """Ask running handlers to stop at their next check and hand their runs back."""
        self.shutdown_event.set()
        with self._active_lock:
            for ctx in self.active.values():
                ctx.request_shutdown()

    def hand_back_all(self) -> list[int]:
        """For handlers that did not stop: record their runs as handed back (process is exiting).

        Runs whose handler finished and whose end is still being written are
        left to that write.
        """
        with self._active_lock:
            items = [(rid, ctx) for rid, ctx in self.active.items() if rid not in self._ending]
        handed = []
        for run_id, ctx in items:
            if ctx.lease_lost:
                continue
            ctx.note("worker exiting before the handler stopped: run handed back to the queue", "warning")
            with ctx.flush_lock:
                logs, progress = ctx.drain()
                try:
                    status = self.runs.finish(run_id, ctx.attempt, self.worker_id, "handed_back", logs=logs,
                                              progress=progress, lease=ctx.lease.lease if ctx.lease else None)
                except StorageError as exc:
                    self._say(f"run {run_id}: could not hand it back ({exc}); the next worker will recover it")
                    continue
            if status == QUEUED:
                handed.append(run_id)
                if self.on_requeue:
                    self.on_requeue(run_id, None)
        return handed

    # -- the monitor thread ----------------------------------------------------
    def _monitor_loop(self) -> None:
        last_beat = 0.0
        last_maintenance = 0.0
        while not self._stop.is_set():
            with self._active_lock:
                busy = bool(self.active)
            self._monitor_idle = not busy
            self._kick.wait(FLUSH_INTERVAL if busy else min(self.settings.heartbeat_interval, 1.0))
            self._kick.clear()
            self._monitor_idle = False
            if self._stop.is_set():
                break
            try:
                with self._active_lock:
                    items = list(self.active.items())
                for run_id, ctx in items:
                    self._flush(run_id, ctx)
                if items:
                    for run_id in self.runs.cancel_requested([rid for rid, _ in items]):
                        ctx = dict(items).get(run_id)
                        if ctx is not None and not ctx.cancel_event.is_set():
                            ctx.request_cancel()
                now = time.monotonic()
                if now - last_beat >= self.settings.heartbeat_interval:
                    last_beat = now
                    self._heartbeat(items)
                if self.maintenance and now - last_maintenance >= self.maintenance_interval:
                    last_maintenance = now
                    self.maintenance()
            except DatabaseCorrupt as exc:
                self._fatal(exc)
                time.sleep(0.5)
            except DatabaseUnreachable as exc:  # the server restarts, the network is down: wait for it
                self._stop.wait(self.outage.failed(exc))
            except StorageError as exc:  # locked past the busy timeout, disk full: try again next round
                log.warning("monitor: %s", exc)
                time.sleep(0.5)
            except Exception:  # keep heartbeating through a transient database error
                log.exception("monitor loop error")
                time.sleep(0.5)
            else:
                self.outage.recovered()

    def _flush(self, run_id: int, ctx: RunContext) -> None:
        # Never after the attempt's final write; a run busy finishing stores its own.
        if not ctx.flush_lock.acquire(blocking=False):
            return
        try:
            logs, progress = ctx.drain()
            if not (logs or progress):
                return
            try:
                self.runs.flush(run_id, ctx.attempt, logs, progress, lease=ctx.lease.lease if ctx.lease else None)
            except LeaseLost:
                ctx.lease_lost_now()
            except StorageError:
                ctx.undrain(logs, progress)  # kept for the next flush or the final write
                raise
        finally:
            ctx.flush_lock.release()

    def _heartbeat(self, items: list[tuple[int, RunContext]]) -> None:
        held = [(run_id, ctx) for run_id, ctx in items if ctx.lease is not None and not ctx.lease_lost]
        sent = lease_clock()
        lost = self.runs.heartbeat(self.worker_id, [ctx.lease.lease for _, ctx in held],
                                   lease_seconds=self.lease_seconds)
        for run_id, ctx in held:
            if run_id in lost:
                ctx.lease_lost_now()
            else:
                ctx.lease.renewed(sent)


def _result_line(result: dict) -> str:
    parts = [f"{k}={v}" for k, v in result.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return "result: " + ", ".join(parts[:8]) if parts else "done"
