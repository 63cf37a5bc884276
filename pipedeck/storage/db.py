"""The SQLite database: connections, pragmas, transactions and migrations.

Several processes share one file (the app, the worker, the CLI), so:
WAL journal, a busy timeout, and every write in a ``BEGIN IMMEDIATE``
transaction (a deferred transaction that reads and then writes can fail at
once with "database is locked" instead of waiting its turn). Connections are
per thread.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from pipedeck.errors import StorageError

DEFAULT_BUSY_TIMEOUT = 30.0
# A checkpoint copies the WAL back into the file and fsyncs it: tens of
# milliseconds on the connection whose commit triggers it. The worker runs
# them on its monitor thread (checkpoint()); other connections only as a
# safety net when no worker is running to do it.
CLIENT_AUTOCHECKPOINT = 10000


def describe_db_error(path: Path | str, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"database {path} is locked by another process ({text}); try again, or stop the process holding it"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (f"database {path} is corrupt ({text}); it was left untouched - move it aside "
                "and restore a backup, or set PIPEDECK_HOME to another data dir")
    if "readonly" in text or "unable to open" in text or "disk I/O" in text:
        return f"database {path} cannot be written ({text}); check the data dir's permissions and free space"
    return f"database {path}: {text}"


class Database:
    """A database file shared between threads and processes."""

    def __init__(self, path: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                 migrate: bool = True, autocheckpoint: int = CLIENT_AUTOCHECKPOINT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.autocheckpoint = autocheckpoint
        self._local = threading.local()
        # Connections by owning thread, so those of finished threads (Textual
        # thread workers come and go) are closed instead of piling up.
        self._all: dict[threading.Thread, sqlite3.Connection] = {}
        self._all_lock = threading.Lock()
        # Threads of this process take turns for the write lock here; begin_write's
        # polling is then only for writers in other processes.
        self._write_lock = threading.Lock()
        if migrate:
            from pipedeck.storage.migrations import migrate as run_migrations

            try:
                run_migrations(self)
            except sqlite3.DatabaseError as exc:
                self.close()
                raise StorageError(describe_db_error(self.path, exc)) from None

    # -- connections -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            # Autocommit: a statement outside write() commits at once instead of
            # silently opening a transaction that holds the write lock.
            conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout, check_same_thread=False,
                                   isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute(f"PRAGMA wal_autocheckpoint={int(self.autocheckpoint)}")
        except sqlite3.DatabaseError as exc:
            raise StorageError(describe_db_error(self.path, exc)) from None
        with self._all_lock:
            for thread in [t for t in self._all if not t.is_alive()]:
                try:
                    self._all.pop(thread).close()
                except sqlite3.Error:
                    pass
            self._all[threading.current_thread()] = conn
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils Database."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self._connect(), execute_plugins=False)
            self._local.db = db
        return db

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = list(self._all.values()), {}
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    def checkpoint(self) -> None:
        """Fold the WAL back into the database file without blocking anyone."""
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- queries -----------------------------------------------------------
    def query(self, sql: str, params: Any = ()) -> list[dict]:
        cur = self.conn.execute(sql, params)
        cols = [c[0] for c in cur.description or ()]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def query_one(self, sql: str, params: Any = ()) -> dict | None:
        cur = self.conn.execute(sql, params)
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cur.description], row))

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction that takes the write lock up front.

        sqlite-utils calls inside it nest as savepoints.
        """
        db = self.db
        conn = db.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield db
            return
        with self._write_lock:
            self._begin_immediate(conn)
            try:
                yield db
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        begin_write(conn, "BEGIN IMMEDIATE", self.busy_timeout)


def begin_write(conn: sqlite3.Connection, begin_sql: str, timeout: float) -> None:
    """Start a write transaction, waiting up to ``timeout`` s for another writer.

    SQLite's own busy handler sleeps in coarse steps (1, 2, 5, 10 ms...), so a
    writer that arrives just after another one took the lock waits several
    milliseconds for a lock held for a fraction of one. Polling with short,
    growing sleeps keeps that wait close to the real hold time.
    """
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + timeout
        delay = 0.00005
        while True:
            try:
                conn.execute(begin_sql)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 1.5, 0.002)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
