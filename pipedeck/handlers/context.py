"""What a handler gets: identity, settings, somewhere to log, report progress
and check for cancellation. Handlers never touch the run store directly; log
lines and progress are buffered here and flushed by the executor a few times
a second (and at the end), so a chatty handler costs few write transactions.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Callable

from pipedeck.errors import RunCancelled, WorkerShuttingDown
from pipedeck.storage.runs import LogLine

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


class RunContext:
    def __init__(self, *, run_id: int, attempt: int, job_type: str, brand: dict,
                 competitor: dict | None, settings: "Settings", database: "Database",
                 max_attempts: int = 1, cancel_event: threading.Event | None = None,
                 shutdown_event: threading.Event | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.job_type = job_type
        self.brand = brand
        self.competitor = competitor
        self.settings = settings
        self.database = database
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

    # -- reporting -----------------------------------------------------------
    def log(self, message: str, level: str = "info") -> None:
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

    # -- cancellation --------------------------------------------------------
    def request_cancel(self) -> None:
        self.cancel_event.set()
        self._wake.set()

    def request_shutdown(self) -> None:
        self.shutdown_event.set()
        self._wake.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set() or self.shutdown_event.is_set()

    def check_cancelled(self) -> None:
        """Call between units of work: raises when the run should stop."""
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
