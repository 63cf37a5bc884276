"""The huey instance named by PIPEDECK_QUEUE_URL, and the one task it carries.

The message is only a wake-up carrying a run id: huey deletes a message
before running it, so the durable truth lives in the run store and a lost
message is re-sent by the worker's sweep.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from huey import RedisHuey, SqliteHuey
from huey.storage import SqliteStorage

from pipedeck.config import Settings
from pipedeck.errors import StorageError, UserError
from pipedeck.queue.wake import WakeChannel, WakeListener, wake_dir_for
from pipedeck.storage.db import begin_write
from pipedeck.storage.errors import storage_error

TASK_NAME = "pipedeck.execute_run"
# Backstop poll while idle: a missed wake-up costs at most this long.
IDLE_POLL_SECONDS = 1.0


class WakingSqliteStorage(SqliteStorage):
    """SqliteStorage that wakes listening workers on enqueue and, when this
    process listens, blocks in dequeue until woken instead of polling."""

    def __init__(self, *args, wake_dir: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channel = WakeChannel(wake_dir)
        self.listener: WakeListener | None = None
        self.blocking = False

    @contextlib.contextmanager
    def db(self, commit=False, close=False):
        # huey's own db(), but taking the write lock with begin_write (short
        # polls) instead of SQLite's coarse busy-handler sleeps.
        with self.lock:
            conn = self.conn
            cursor = conn.cursor()
            try:
                if commit:
                    begin_write(conn, self.begin_sql, self._timeout)
                yield cursor
            except Exception:
                if commit and conn.in_transaction:
                    conn.rollback()
                raise
            else:
                if commit:
                    conn.commit()
            finally:
                cursor.close()
                if close:
                    conn.close()
                    self._conn = None

    def listen(self) -> WakeListener:
        self.listener = self.channel.listen()
        self.blocking = True
        return self.listener

    def stop_listening(self) -> None:
        if self.listener is not None:
            self.blocking = False
            self.listener.close()

    def enqueue(self, data, priority=None):
        super().enqueue(data, priority)
        self.channel.notify()

    def dequeue(self):
        data = super().dequeue()
        listener = self.listener
        if data is None and listener is not None and not listener.closed:
            if listener.wait(IDLE_POLL_SECONDS):
                data = super().dequeue()
        return data


def queue_error(path: Path | None, exc: sqlite3.Error) -> StorageError:
    """The StorageError for a driver error on the queue file (its class says locked, corrupt, ...)."""
    error = storage_error(path, exc)
    error.args = (str(error).replace("database", "queue database", 1),)
    return error


_task_runner: Callable[[int], object] | None = None
_task_runner_lock = threading.Lock()


def set_task_runner(runner: Callable[[int], object] | None) -> None:
    """Install the function that executes a run id in this (worker) process."""
    global _task_runner
    with _task_runner_lock:
        _task_runner = runner


def _execute_run(run_id: int):
    runner = _task_runner
    if runner is None:
        raise RuntimeError("no executor installed in this process; start one with `pipedeck worker`")
    return runner(run_id)


class Queue:
    """The huey instance plus the few operations pipedeck needs of it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = settings.queue_url
        if url.startswith("sqlite:"):
            path = Path(url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite:"):])
            self.path: Path | None = path
            self.description = f"sqlite:///{path}"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.huey = SqliteHuey(
                    "pipedeck", filename=str(path), results=False, utc=True,
                    storage_class=WakingSqliteStorage, wake_dir=wake_dir_for(path), fsync=False)
            except sqlite3.Error as exc:
                raise queue_error(path, exc) from exc
            except OSError as exc:
                raise UserError(f"queue file {path} cannot be created: {exc.strerror or exc}") from None
        else:
            try:
                import redis  # noqa: F401
            except ImportError:
                raise UserError("PIPEDECK_QUEUE_URL names Redis but the redis package is missing: "
                                "pip install 'pipedeck[redis]'") from None
            self.path = None
            parts = urlsplit(url)
            self.description = f"{parts.scheme}://{parts.hostname or ''}{':%d' % parts.port if parts.port else ''}{parts.path}"
            self.huey = RedisHuey("pipedeck", url=url, results=False, utc=True, blocking=True, read_timeout=1)
        self.task = self.huey.task(name=TASK_NAME)(_execute_run)

    @property
    def storage(self):
        return self.huey.storage

    def enqueue(self, run_id: int, delay: float | None = None) -> None:
        try:
            if delay and delay > 0:
                self.task.schedule(args=(run_id,), delay=delay)
            else:
                self.huey.enqueue(self.task.s(run_id))
        except sqlite3.Error as exc:
            raise queue_error(self.path, exc) from exc
        except Exception as exc:  # redis connection errors and the like
            if type(exc).__module__.startswith("redis"):
                raise UserError(f"queue {self.description} is unreachable: {exc}") from None
            raise

    def pending(self) -> int:
        try:
            return self.huey.pending_count()
        except sqlite3.Error as exc:
            raise queue_error(self.path, exc) from exc

    def scheduled(self) -> int:
        try:
            return self.huey.scheduled_count()
        except sqlite3.Error as exc:
            raise queue_error(self.path, exc) from exc

    def listen(self) -> WakeListener | None:
        storage = self.huey.storage
        return storage.listen() if isinstance(storage, WakingSqliteStorage) else None

    def stop_listening(self) -> None:
        storage = self.huey.storage
        if isinstance(storage, WakingSqliteStorage):
            storage.stop_listening()

    def close(self) -> None:
        storage = self.huey.storage
        if isinstance(storage, WakingSqliteStorage):
            storage.channel.close()
        try:
            storage.close()
        except Exception:
            pass
