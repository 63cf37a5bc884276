"""The huey instance named by PIPEDECK_QUEUE_URL, and the one task it carries.

The message is only a wake-up carrying a run id: huey deletes a message
before running it, so the durable truth lives in the run store and a lost
message is re-sent by the worker's sweep.

Two queues, one per engine: SqliteHuey in a file beside a SQLite database
(wake-ups through Unix sockets, see wake.py), and PostgresHuey in the team's
PostgreSQL database (LISTEN/NOTIFY wakes idle workers; ``SKIP LOCKED``
dequeues). Redis is gone: every supported set-up has its queue in its own
database, and a PostgreSQL database wakes its workers itself.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Callable

from huey import SqliteHuey
from huey.storage import SqliteStorage

from pipedeck.concepts import database_urls
from pipedeck.config import Settings
from pipedeck.errors import StorageError, UserError
from pipedeck.queue.wake import WakeChannel, WakeListener, wake_dir_for
from pipedeck.storage.db import begin_write
from pipedeck.storage.errors import storage_error

log = logging.getLogger("pipedeck.queue")

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


def queue_error(where: Path | str | None, exc: BaseException) -> StorageError:
    """The StorageError for a driver error on the queue (its class says locked, corrupt, unreachable ...)."""
    if isinstance(exc, sqlite3.Error):
        error = storage_error(where, exc)
    else:
        from pipedeck.storage.errors import postgres_error

        error = postgres_error(str(where), exc)
    error.args = (str(error).replace("database", "queue database", 1),)
    return error


def _postgres_storage_class():
    """huey's PostgresStorage, made to say a lost server in one line and wait for it with backoff.

    huey's consumer logs a traceback for every failed read and, with a blocking storage,
    tries again at once; here a failed read logs one line, sleeps (1, 2, 4 ... 30 s, cut
    short at shutdown) and returns nothing, and the first read that works again says so.
    """
    import psycopg
    from huey.storage import PostgresStorage

    from pipedeck.storage.dialect import APPLICATION_ID

    class ReconnectingPostgresStorage(PostgresStorage):
        def __init__(self, *args, shown: str, **kwargs) -> None:
            self.shown = shown
            self.stopping = threading.Event()
            self._failing_since: float | None = None
            self._backoff = threading.local()  # each consumer thread its own pauses
            super().__init__(*args, **kwargs)

        def initialize_schema(self):
            # Several workers starting together: CREATE TABLE IF NOT EXISTS races in PostgreSQL's catalog.
            with self.db(commit=True, close=True) as curs:
                curs.execute("select pg_advisory_xact_lock(%s)", (APPLICATION_ID + 1,))
                for sql in self.ddl:
                    curs.execute(sql)

        def _failed(self, exc: BaseException, what: str) -> None:
            import time

            if self._failing_since is None:
                self._failing_since = time.monotonic()
            delay = getattr(self._backoff, "delay", 1.0)
            # At most 5 s: once the server is back, a consumer thread picks work up within that.
            self._backoff.delay = min(delay * 2, 5.0)
            log.warning("%s while %s; retrying in %.0fs", queue_error(self.shown, exc), what, delay)
            self.stopping.wait(delay)

        def _worked(self) -> None:
            import time

            self._backoff.delay = 1.0
            since, self._failing_since = self._failing_since, None
            if since is not None:
                log.warning("queue database %s reachable again after %.0fs", self.shown, time.monotonic() - since)

        def dequeue(self):
            # huey's own, but one that stops taking messages once the worker is stopping.
            import time

            try:
                data = None if self.stopping.is_set() else self._dequeue()
                if data is None and self.blocking and not self.stopping.is_set():
                    conn = self._listen_conn()
                    deadline = time.monotonic() + self.read_timeout
                    while data is None and not self.stopping.is_set():
                        timeout = deadline - time.monotonic()
                        if timeout <= 0 or not list(conn.notifies(timeout=timeout, stop_after=1)):
                            break
                        if not self.stopping.is_set():
                            data = self._dequeue()  # None: another worker won; keep waiting
            except psycopg.Error as exc:
                self._failed(exc, "waiting for work")
                return None
            self._worked()
            return data

        def read_schedule(self, ts):
            try:
                items = super().read_schedule(ts)
            except psycopg.Error as exc:
                self._failed(exc, "reading delayed runs")
                return []
            self._worked()
            return items

    return ReconnectingPostgresStorage


class NoRevocation:
    """pipedeck cancels a run in its run store and never revokes a huey message, so the revocation
    lookups huey makes around every message (a read and a delete: two round trips per message on
    PostgreSQL, on the storage's one shared connection) are skipped."""

    def is_revoked(self, task, timestamp=None, peek=True) -> bool:
        return False

    def delete(self, key):
        if isinstance(key, str) and key.startswith("r:"):  # a task's revoke key: never set
            return False
        return super().delete(key)


class PipedeckSqliteHuey(NoRevocation, SqliteHuey):
    pass


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
        target = database_urls.parse(settings.queue_url)
        self.path: Path | None = target.path
        self.where: str | Path | None = target.path if target.path is not None else target.shown
        if target.engine == database_urls.SQLITE:
            path = target.path
            self.description = f"sqlite:///{path}"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.huey = PipedeckSqliteHuey(
                    "pipedeck", filename=str(path), results=False, utc=True,
                    storage_class=WakingSqliteStorage, wake_dir=wake_dir_for(path), fsync=False)
            except sqlite3.Error as exc:
                raise queue_error(path, exc) from exc
            except OSError as exc:
                raise UserError(f"queue file {path} cannot be created: {exc.strerror or exc}") from None
        else:
            self.description = target.shown
            try:
                import psycopg
                from huey import PostgresHuey

                class PipedeckPostgresHuey(NoRevocation, PostgresHuey):
                    pass
            except ImportError:
                raise UserError("PIPEDECK_QUEUE_URL names PostgreSQL but psycopg is not installed: "
                                "pip install 'pipedeck[postgres]'") from None
            try:
                # read_timeout: an idle worker, woken by NOTIFY, also looks once a second (the backstop).
                # synchronous_commit off: a message is only a wake-up (the run row, committed durably
                # first, is the truth), so the queue's commits need not wait for the disk. One lost in
                # a server crash is re-sent by the sweep; one delivered twice finds its run claimed.
                self.huey = PipedeckPostgresHuey(
                    "pipedeck", dsn=target.url, results=False, utc=True, blocking=True, read_timeout=IDLE_POLL_SECONDS,
                    storage_class=_postgres_storage_class(), shown=target.shown, connect_timeout=10,
                    application_name="pipedeck-queue", keepalives=1, keepalives_idle=10, keepalives_interval=5,
                    keepalives_count=3, options="-c synchronous_commit=off")
            except psycopg.Error as exc:
                raise queue_error(target.shown, exc) from None
        self.task = self.huey.task(name=TASK_NAME)(_execute_run)

    @property
    def _driver_errors(self) -> tuple:
        if self.path is not None:
            return (sqlite3.Error,)
        import psycopg

        return (psycopg.Error,)

    @property
    def storage(self):
        return self.huey.storage

    def enqueue(self, run_id: int, delay: float | None = None) -> None:
        try:
            if delay and delay > 0:
                self.task.schedule(args=(run_id,), delay=delay)
            else:
                self.huey.enqueue(self.task.s(run_id))
        except self._driver_errors as exc:
            raise queue_error(self.where, exc) from None

    def pending(self) -> int:
        try:
            return self.huey.pending_count()
        except self._driver_errors as exc:
            raise queue_error(self.where, exc) from None

    def scheduled(self) -> int:
        try:
            return self.huey.scheduled_count()
        except self._driver_errors as exc:
            raise queue_error(self.where, exc) from None

    def listen(self) -> WakeListener | None:
        """Start waking this process's consumer at once (SQLite: a wake-up socket; PostgreSQL: LISTEN, built in)."""
        storage = self.huey.storage
        return storage.listen() if isinstance(storage, WakingSqliteStorage) else None

    def stop_listening(self) -> None:
        storage = self.huey.storage
        if isinstance(storage, WakingSqliteStorage):
            storage.stop_listening()
        elif hasattr(storage, "stopping"):
            storage.stopping.set()

    def close(self) -> None:
        storage = self.huey.storage
        if isinstance(storage, WakingSqliteStorage):
            storage.channel.close()
        try:
            storage.close()
        except Exception:
            pass
