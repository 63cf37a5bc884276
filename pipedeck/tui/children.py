"""What the app runs besides itself: a background `pipedeck worker` child and direct runs.

Both are plain threads and processes (no Textual here) so the app can stop
them on exit, crash or not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from pipedeck.config import Settings


def pipedeck_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment pinned to the app's data dir, database and queue."""
    env = dict(os.environ)
    env["PIPEDECK_HOME"] = str(settings.home)
    env["PIPEDECK_DATABASE_URL"] = settings.database_url.get_secret_value()
    env["PIPEDECK_QUEUE_URL"] = settings.queue_url
    if settings.plugins:
        env["PIPEDECK_PLUGINS"] = ",".join(settings.plugins)
    env.update(extra or {})
    return env


class WorkerChild:
    """`pipedeck worker` started in the background by the app, stopped when the app exits."""

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.env = env or pipedeck_env(settings)
        self.proc: subprocess.Popen | None = None
        self.signalled = 0  # SIGTERMs sent to the running process
        self.log_path: Path = settings.log_dir / "worker-started-by-app.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def state(self) -> str:
        if self.proc is None:
            return ""
        code = self.proc.poll()
        return "running" if code is None else f"exited {code}"

    def start(self) -> int:
        if self.running:
            return self.proc.pid
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.signalled = 0
        with open(self.log_path, "ab") as out:
            # Its own session: a Ctrl+C meant for the app does not reach it; we stop it ourselves.
            self.proc = subprocess.Popen([sys.executable, "-m", "pipedeck", "worker"], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self.proc.pid

    def terminate(self) -> None:
        """Send SIGTERM without waiting. The first one: the worker finishes its running jobs (up to its
        grace period) and hands back the rest; a second one: it hands them back now."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                self.signalled += 1
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (unless already sent), wait for the worker to finish or hand back its runs, SIGKILL after
        ``timeout``."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            if not self.signalled:
                self.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.signalled = 0
        return proc.returncode


class DirectRuns:
    """Runs executed inside the app ("run directly"), each on its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executors: dict[int, object] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._handed_back = False

    def active(self) -> int:
        return len(self.running_ids())

    def running_ids(self) -> list[int]:
        with self._lock:
            return sorted(run_id for run_id, t in self._threads.items() if t.is_alive())

    def start(self, run_id: int, execute: Callable[[Callable[[object], None]], str],
              done: Callable[[int, str | None, BaseException | None], None]) -> None:
        def hook(executor) -> None:
            with self._lock:
                self._executors[run_id] = executor

        def body() -> None:
            status, error = None, None
            try:
                status = execute(hook)
            except BaseException as exc:  # noqa: BLE001 - reported to the app, which decides
                error = exc
            finally:
                with self._lock:
                    self._executors.pop(run_id, None)
                    self._threads.pop(run_id, None)
            done(run_id, status, error)

        thread = threading.Thread(target=body, name=f"pipedeck-direct-{run_id}", daemon=True)
        with self._lock:
            self._threads[run_id] = thread
        thread.start()

    def stop_all(self, timeout: float = 10.0) -> None:
        """Ask running handlers to stop and hand their runs back to the queue; after ``timeout`` (0: at
        once) record the runs of handlers still going as handed back (their threads end with the app)."""
        with self._lock:
            executors = list(self._executors.values())
            threads = list(self._threads.values())
            if self._handed_back:
                timeout = 0.0  # already told to stop now: do not wait again
            self._handed_back = self._handed_back or timeout == 0
        for executor in executors:
            executor.request_shutdown()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for executor in executors:
            try:
                executor.hand_back_all()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
