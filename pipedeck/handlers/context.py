"""What a handler gets: identity, settings, somewhere to log, report progress
and check for cancellation. Handlers never touch the run store directly; log
lines and progress are buffered here and flushed by the executor a few times
a second (and at the end), so a chatty handler costs few write transactions.

Under a worker the attempt holds a lease on its run (see storage/runs.py).
``ctx.database`` accepts a write only while the lease is the run's (checked
in the write's own transaction), and every ctx call first makes sure the
lease has not lapsed: once it is gone, the next call raises LeaseLost.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Callable

from pipedeck.errors import (DatabaseLocked, DatabaseUnreachable, DatabaseUnwritable, LeaseLost, RunCancelled,
                             WorkerShuttingDown)
from pipedeck.storage.runs import Lease, LogLine, check_lease

if TYPE_CHECKING:
    from pipedeck.config import Settings
    from pipedeck.storage.db import Database

LEVELS = ("debug", "info", "warning", "error")
_TOKEN_PARAM = re.compile(r"(access_token=)[^&\s\"']+", re.I)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+", re.I)


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Remove secrets from text bound for logs, the database or an error message."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _TOKEN_PARAM.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


def lease_clock() -> float:
    """Seconds on a clock that keeps counting while the process is stopped or the machine sleeps."""
    return time.clock_gettime(_LEASE_CLOCK)


_LEASE_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
# The share of a lease this process counts on without asking the database
# again: the database starts its expiry only when the renewal reaches it.
_SURE_SHARE = 0.8


class HeldLease:
    """This process's hold on an attempt's lease.

    ``renew`` extends the lease in the database (False: it is gone). The
    worker renews with its heartbeat and calls :meth:`renewed`; if it could
    not for most of a lease (the process was stopped, the monitor was held
    up), :meth:`check` asks the database itself before the handler goes on.
    """

    def __init__(self, lease: Lease, seconds: float, renew: Callable[[], bool], since: float) -> None:
        self.lease = lease
        self.seconds = seconds
        self._renew = renew
        self.lost = False  # set once, by any thread, never cleared
        self._sure_until = since + seconds * _SURE_SHARE

    def renewed(self, sent_at: float) -> None:
        self._sure_until = max(self._sure_until, sent_at + self.seconds * _SURE_SHARE)

    def mark_lost(self) -> None:
        self.lost = True

    def guard(self, conn) -> None:
        """The fence of ``ctx.database`` writes: runs inside each write transaction."""
        if self.lost:
            raise LeaseLost(f"run {self.lease.run_id}: attempt {self.lease.attempt} no longer holds the run")
        try:
            check_lease(conn, self.lease)
        except LeaseLost:
            self.lost = True
            raise

    def check(self, pause: Callable[[float], None]) -> None:
        """Raise LeaseLost once the lease is gone; ``pause(s)`` waits between tries while the
        database cannot answer (and may raise to stop waiting)."""
        if self.lost:
            raise LeaseLost(f"run {self.lease.run_id}: attempt {self.lease.attempt} no longer holds the run")
        if lease_clock() < self._sure_until:
            return
        delay = 0.05
        while True:
            sent = lease_clock()
            try:
                held = self._renew()
            except (DatabaseLocked, DatabaseUnwritable, DatabaseUnreachable):
                # Not knowing is not a licence to go on: another worker may hold the run by now.
                pause(delay)
                delay = min(delay * 2, 2.0)
                continue
            if held:
                self.renewed(sent)
                return
            self.lost = True
            raise LeaseLost(f"run {self.lease.run_id}: attempt {self.lease.attempt} no longer holds the run")


class RunContext:
    def __init__(self, *, run_id: int, attempt: int, job_type: str, brand: dict,
                 competitor: dict | None, settings: "Settings", database: "Database",
                 max_attempts: int = 1, cancel_event: threading.Event | None = None,
                 shutdown_event: threading.Event | None = None,
                 echo: Callable[[str], None] | None = None, lease: HeldLease | None = None) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.job_type = job_type
        self.brand = brand
        self.competitor = competitor
        self.settings = settings
        self.lease = lease
        self.database = database.fenced(lease.guard) if lease is not None else database
        self.cancel_event = cancel_event or threading.Event()
        self.shutdown_event = shutdown_event or threading.Event()
        self.result: dict = {}
        self._echo = echo
        self._secrets = tuple(settings.secrets())
        self._lock = threading.Lock()
        # Held by the executor while it stores what was drained, so a periodic
        # flush can never land after the attempt's final write.
        self.flush_lock = threading.Lock()
        self._logs: list[LogLine] = []
        self._progress: tuple | None = None
        self._dirty_progress = False
        # Wakes sleeping handlers at once on cancel or shutdown.
        self._wake = threading.Event()

    # -- the lease -------------------------------------------------------------
    @property
    def lease_lost(self) -> bool:
        return self.lease is not None and self.lease.lost

    def check_lease(self) -> None:
        """Raise LeaseLost when this attempt no longer holds its run (every ctx call does this first)."""
        if self.lease is not None:
            self.lease.check(self._pause_for_lease)

    def _pause_for_lease(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._raise_if_stopped()

    def lease_lost_now(self) -> None:
        """The executor learnt the lease is gone: wake the handler so its next call raises."""
        if self.lease is not None:
            self.lease.mark_lost()
        self._wake.set()

    # -- reporting -----------------------------------------------------------
    def log(self, message: str, level: str = "info") -> None:
        self.check_lease()
        self.note(message, level)

    def note(self, message: str, level: str = "info") -> None:
        """Add a log line without the lease check (the executor's own lines about the attempt)."""
        if level not in LEVELS:
            level = "info"
        line = LogLine(time.time(), level, redact(" ".join(str(message).split()), self._secrets))
        with self._lock:
            self._logs.append(line)
        if self._echo is not None:
            self._echo(f"run {self.run_id} [{level}] {line.message}")

    def warning(self, message: str) -> None:
        self.log(message, "warning")

    def error(self, message: str) -> None:
        self.log(message, "error")

    def progress(self, current: float, total: float | None = None, message: str | None = None) -> None:
        self.check_lease()
        with self._lock:
            self._progress = (current, total, redact(message, self._secrets) if message else None)
            self._dirty_progress = True

    def redact(self, text: str) -> str:
        return redact(str(text), self._secrets)

    def drain(self) -> tuple[list[LogLine], tuple | None]:
        """Take what was reported since the last drain (for the executor to store)."""
        with self._lock:
            logs, self._logs = self._logs, []
            progress = self._progress if self._dirty_progress else None
            self._dirty_progress = False
        return logs, progress

    def undrain(self, logs: list[LogLine], progress: tuple | None) -> None:
        """Put back what a drain took when storing it failed, ahead of anything newer."""
        with self._lock:
            self._logs[:0] = logs
            if progress is not None and not self._dirty_progress:
                self._progress, self._dirty_progress = progress, True

    # -- cancellation --------------------------------------------------------
    def request_cancel(self) -> None:
        self.cancel_event.set()
        self._wake.set()

    def request_shutdown(self) -> None:
        self.shutdown_event.set()
        self._wake.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set() or self.shutdown_event.is_set() or self.lease_lost

    def check_cancelled(self) -> None:
        """Call between units of work: raises when the run should stop."""
        self.check_lease()
        self._raise_if_stopped()

    def _raise_if_stopped(self) -> None:
        if self.cancel_event.is_set():
            raise RunCancelled()
        if self.shutdown_event.is_set():
            raise WorkerShuttingDown()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake and raise at once on cancel or worker shutdown."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            self.check_cancelled()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(min(remaining, 0.5))
