"""The live feed: one background thread that notices what changed and posts it.

Idle cost is one indexed ``max(rev)`` read per interval; only runs whose
``rev`` moved are read and sent, so screens patch their tables in place.
The queue counts of the top bar are read with those rows and travel in the
same message, so the bar and the tables always show the same change.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from pipedeck.errors import DatabaseCorrupt, DatabaseLocked, DatabaseUnreachable, DatabaseUnwritable
from pipedeck.tui.messages import CatalogChanged, DatabaseReachability, HealthChanged, RunsChanged, RunsReload

if TYPE_CHECKING:
    from textual.app import App

    from pipedeck.queue.service import Service

# More changed rows than this in one refresh: screens reload instead of patching.
MAX_PATCH_ROWS = 2000


class LiveFeed:
    def __init__(self, app: "App", service: "Service", *, interval: float = 0.5,
                 health_interval: float = 1.0, catalog_interval: float = 10.0) -> None:
        self.app = app
        self.service = service
        self.interval = interval
        self.health_interval = health_interval
        self.catalog_interval = catalog_interval
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._catalog_due = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_rev: int | None = None
        self.ticks = 0  # loop iterations, for tests that wait for "a few refreshes later"
        self.unreachable = False  # the database server stopped answering; the top bar says so until it is back

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pipedeck-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def kick(self, catalog: bool = False) -> None:
        """Refresh now rather than at the next interval."""
        if catalog:
            self._catalog_due.set()
        self._kick.set()

    def _post(self, message) -> None:
        if not self._stop.is_set():
            self.app.post_message(message)

    def _loop(self) -> None:
        last_health = last_catalog = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now - last_catalog >= self.catalog_interval or self._catalog_due.is_set():
                    self._catalog_due.clear()
                    last_catalog = now
                    self._post(CatalogChanged(self.service.brands(), self.service.competitors()))
                if now - last_health >= self.health_interval:
                    last_health = now
                    self._post(HealthChanged(self.service.worker_health()))
                if not self.paused.is_set():
                    self._poll_runs()
            except Exception as exc:  # noqa: BLE001 - a locked or busy database must not kill the feed
                if self._stop.is_set():
                    return
                if isinstance(exc, DatabaseUnreachable):
                    if not self.unreachable:  # said once, in the top bar; tried again every second
                        self.unreachable = True
                        self._post(DatabaseReachability(False, str(exc)))
                    self.ticks += 1
                    self._kick.wait(max(self.interval, 1.0))
                    self._kick.clear()
                    continue
                if isinstance(exc, DatabaseCorrupt):
                    from pipedeck.tui.screens.base import storage_failed

                    try:
                        self.app.call_from_thread(storage_failed, self.app, exc)
                    except RuntimeError:
                        pass
                    return
                try:
                    self.app.call_from_thread(self.app.notify, f"live refresh: {exc}", severity="warning",
                                              timeout=3)
                except RuntimeError:  # the app is shutting down
                    return
            else:
                if self.unreachable:
                    self.unreachable = False
                    self._post(DatabaseReachability(True))
            self.ticks += 1
            self._kick.wait(self.interval)
            self._kick.clear()

    def _index_text(self) -> None:
        """Idle: bring the runs' text index up by one batch. Opportunistic: a database busy with
        another process's write (or read-only) is no news for the user; search stays exact meanwhile."""
        try:
            self.service.sync_run_search()
        except (DatabaseLocked, DatabaseUnwritable):
            pass

    def _poll_runs(self) -> None:
        rev = self.service.live_rev()
        if self.last_rev is None:
            self.last_rev = rev
            self._post(RunsChanged([], rev, self.service.queue_depth()))
            return
        if rev == self.last_rev:
            self._index_text()
            return
        rows = self.service.runs_changed_since(self.last_rev, limit=MAX_PATCH_ROWS + 1)
        counts = self.service.queue_depth()
        if len(rows) > MAX_PATCH_ROWS:
            self.last_rev = rev
            self._post(RunsReload(counts))
            return
        self.last_rev = max([rev] + [r["rev"] for r in rows])
        self._post(RunsChanged(rows, self.last_rev, counts))
