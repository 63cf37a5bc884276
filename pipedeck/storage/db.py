"""The SQLite database: connections, pragmas, transactions and migrations.

Several processes share one file (the app, the worker, the CLI), so:
WAL journal, a busy timeout, and every write in a ``BEGIN IMMEDIATE``
transaction (a deferred transaction that reads and then writes can fail at
once with "database is locked" instead of waiting its turn). Connections are
per thread.

Nothing here lets a raw ``sqlite3`` error out: each becomes one of
pipedeck's StorageError family (locked, unwritable, corrupt, conflict), with
the driver's error kept as ``__cause__``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from pipedeck.errors import DatabaseCorrupt, StorageError
from pipedeck.storage.errors import recover_hint, storage_error

if TYPE_CHECKING:
    import sqlite_utils

DEFAULT_BUSY_TIMEOUT = 30.0
# A checkpoint copies the WAL back into the file and fsyncs it: tens of
# milliseconds on the connection whose commit triggers it. The worker runs
# them on its monitor thread (checkpoint()); other connections only as a
# safety net when no worker is running to do it.
CLIENT_AUTOCHECKPOINT = 10000

# The database's own clock in unix seconds, for statements that judge time
# across processes (lease expiry). PostgreSQL's is extract(epoch from clock_timestamp()).
NOW_SQL = "((julianday('now') - 2440587.5) * 86400.0)"

# A check run inside a write transaction before its statements (a run's lease).
Guard = Callable[[sqlite3.Connection], None]

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
        from pipedeck.storage import migrations

        # Before the first real connection: that one switches the file to WAL.
        migrations.check_file(self.path)
        if migrate:
            try:
                migrations.migrate(self)
            except BaseException:
                self.close()
                raise

    def error(self, exc: sqlite3.Error) -> StorageError:
        return storage_error(self.path, exc)

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
            conn.execute("PRAGMA recursive_triggers=on")  # as sqlite-utils sets it, whichever comes first
        except sqlite3.Error as exc:
            raise self.error(exc) from exc
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
        """This thread's sqlite-utils Database, over :attr:`conn`.

        sqlite-utils (a fifth of a listing's start-up to import) loads on the first write;
        reads go straight to the connection.
        """
        db = getattr(self._local, "db", None)
        if db is None:
            import sqlite_utils

            db = sqlite_utils.Database(self.conn, execute_plugins=False)
            self._local.db = db
        return db

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

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
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise self.error(exc) from exc

    def quick_check(self, tables: Iterable[str]) -> None:
        """Raise DatabaseCorrupt when SQLite's quick check finds one of ``tables`` damaged."""
        for table in tables:
            rows = self.query(f"PRAGMA quick_check({_ident(table)})")
            problems = [next(iter(r.values())) for r in rows if next(iter(r.values())) != "ok"]
            if problems:
                error = DatabaseCorrupt(f"database {self.path} is corrupt (table {table}: {problems[0]});"
                                        f" it was left untouched - {recover_hint(self.path)}")
                raise error

    def fenced(self, guard: Guard) -> "FencedDatabase":
        """This database with every write transaction first passing ``guard``."""
        return FencedDatabase(self, guard)

    # -- queries -----------------------------------------------------------
    def query(self, sql: str, params: Any = ()) -> list[dict]:
        try:
            cur = self.conn.execute(sql, params)
            cols = [c[0] for c in cur.description or ()]
            return [dict(zip(cols, row)) for row in cur.fetchall()]
        except sqlite3.Error as exc:
            raise self.error(exc) from exc

    def query_one(self, sql: str, params: Any = ()) -> dict | None:
        try:
            cur = self.conn.execute(sql, params)
            row = cur.fetchone()
        except sqlite3.Error as exc:
            raise self.error(exc) from exc
        if row is None:
            return None
        return dict(zip([c[0] for c in cur.description], row))

    def scalar(self, sql: str, params: Any = ()) -> Any:
        try:
            row = self.conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise self.error(exc) from exc
        return None if row is None else row[0]

    @contextmanager
    def write(self, guard: Guard | None = None) -> Iterator[sqlite_utils.Database]:
        """A write transaction that takes the write lock up front.

        ``guard`` runs first inside the transaction and may refuse it by
        raising. sqlite-utils calls inside it nest as savepoints.
        """
        db = self.db
        conn = db.conn
        if conn.in_transaction:  # nested: join the outer transaction
            if guard is not None:
                guard(conn)
            yield db
            return
        with self._write_lock:
            try:
                self._begin_immediate(conn)
            except sqlite3.Error as exc:
                raise self.error(exc) from exc
            try:
                if guard is not None:
                    guard(conn)
                yield db
            except BaseException as exc:
                _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise self.error(exc) from exc
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:  # disk full, I/O error at commit
                    _rollback(conn)
                    raise self.error(exc) from exc

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        begin_write(conn, "BEGIN IMMEDIATE", self.busy_timeout)


class FencedDatabase:
    """A Database whose write transactions are accepted only while ``guard`` passes.

    Handlers get one of these (``ctx.database``): the guard checks the
    attempt's lease inside the same transaction as the data it writes, so a
    write of an attempt that lost its run cannot land.
    """

    def __init__(self, base: Database, guard: Guard) -> None:
        self._base = base
        self._guard = guard

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        with self._base.write(guard=self._guard) as db:
            yield db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction is gone with the connection's state; nothing was committed


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
