"""While the database cannot be reached: say so once, wait with growing pauses, say when it is back.

A worker on a PostgreSQL database outlives the server's restarts: every loop that talks to
the database (the worker's start, its monitor, the queue's reads) goes through an
:class:`Outage`, which turns a run of failures into a few log lines with backoff
(1, 2, 4 ... 30 s) instead of a traceback per try or a busy loop.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger("pipedeck.worker")


class Outage:
    def __init__(self, say: Callable[[str], None] | None = None, *, first: float = 1.0,
                 longest: float = 30.0) -> None:
        self.say = say
        self.first = first
        self.longest = longest
        self._lock = threading.Lock()
        self._since: float | None = None
        self._delay = first

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> float:
        """Note a failure; returns how long to wait before the next try (and says so)."""
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                self._delay = self.first
            delay, self._delay = self._delay, min(self._delay * 2, self.longest)
            down_for = time.monotonic() - self._since
        line = f"{exc}; retrying in {delay:.0f}s" + (f" (unreachable for {down_for:.0f}s)" if down_for >= 1 else "")
        log.warning("%s", line)
        if self.say is not None:
            self.say(line)
        return delay

    def noticed(self) -> None:
        """Note a failure another path has already said in its own words (a run's claim or end that
        could not be written): no line now, but the next success says the database is back."""
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                self._delay = self.first

    def recovered(self, what: str = "database") -> None:
        """Note a success; after an outage, says the database is back."""
        if self._since is None:
            return
        with self._lock:
            since, self._since = self._since, None
        if since is None:
            return
        line = f"{what} reachable again after {time.monotonic() - since:.0f}s"
        log.warning("%s", line)
        if self.say is not None:
            self.say(line)
