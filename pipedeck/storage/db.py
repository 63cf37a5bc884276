"""The database: connections, transactions and migrations, on SQLite or PostgreSQL.

``Database(target)`` opens a SQLite file (a path, or ``sqlite:///path``) or a PostgreSQL
database (``postgresql://…``); what differs between the two is the :mod:`dialect`.

SQLite: several processes share one file (the app, the worker, the CLI), so: WAL journal, a
busy timeout, and every write in a ``BEGIN IMMEDIATE`` transaction (a deferred transaction
that reads and then writes can fail at once with "database is locked" instead of waiting its
turn). PostgreSQL: transactions run side by side; storage locks the rows it checks before it
changes them (``dialect.for_update``). A connection that broke (the server restarted) is
replaced on its thread's next call.

Connections are per thread; a finished thread's connection is kept for the next thread
(Textual's thread workers come and go) instead of being closed and opened again.

Nothing here lets a raw driver error out: each becomes one of pipedeck's StorageError family
(locked, unwritable, corrupt, conflict, unreachable), with the driver's error kept as
``__cause__``, naming the file or the masked URL, never a password.
"""

from __future__ import annotations

import contextlib
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pipedeck.concepts import database_urls
from pipedeck.concepts.database_urls import DatabaseURL
from pipedeck.errors import DatabaseCorrupt, DatabaseUnreachable, StorageError
from pipedeck.storage.dialect import SQLITE, Dialect, begin_write, dialect_for  # noqa: F401 - begin_write: huey_app
from pipedeck.storage.errors import recover_hint

DEFAULT_BUSY_TIMEOUT = 30.0
# A checkpoint copies the WAL back into the file and fsyncs it: tens of
# milliseconds on the connection whose commit triggers it. The worker runs
# them on its monitor thread (checkpoint()); other connections only as a
# safety net when no worker is running to do it.
CLIENT_AUTOCHECKPOINT = 10000
# Connections of finished threads kept for the next threads.
_IDLE_CONNECTIONS = 4

# A check run inside a write transaction before its statements (a run's lease).
Guard = Callable[[Any], None]


def target_of(target: Path | str | DatabaseURL) -> DatabaseURL:
    """A path or a database URL as a DatabaseURL (a plain path is a SQLite file)."""
    if isinstance(target, DatabaseURL):
        return target
    if isinstance(target, Path) or "://" not in str(target):
        path = Path(target)
        return DatabaseURL(database_urls.SQLITE, database_urls.sqlite_url(path.absolute()), path)
    try:
        return database_urls.parse(str(target))
    except ValueError as exc:
        raise StorageError(f"database URL {database_urls.masked(str(target))}: {exc}") from None


class Transaction:
    """What ``write()`` yields: the transaction's connection (``tx.conn.execute(sql, params)``)."""

    __slots__ = ("conn",)

    def __init__(self, conn) -> None:
        self.conn = conn


class Database:
    """A SQLite file or a PostgreSQL database, shared between threads and processes."""

    def __init__(self, target: Path | str | DatabaseURL, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                 migrate: bool = True, autocheckpoint: int = CLIENT_AUTOCHECKPOINT) -> None:
        self.target = target_of(target)
        self.dialect: Dialect = dialect_for(self.target)
        # The SQLite file (None on PostgreSQL), and how messages name the database.
        self.path: Path | None = self.target.path
        self.where = str(self.path) if self.path is not None else self.target.shown
        self.busy_timeout = busy_timeout
        self.autocheckpoint = autocheckpoint
        self._local = threading.local()
        # Connections by owning thread, so those of finished threads are reused or closed.
        self._all: dict[threading.Thread, Any] = {}
        self._idle: list[Any] = []
        self._all_lock = threading.Lock()
        # Threads of this process take turns for SQLite's write lock here; begin_write's
        # polling is then only for writers in other processes.
        self._write_lock = threading.Lock() if self.dialect.serial_writes else None
        from pipedeck.storage import migrations

        if self.path is not None:
            # Before the first real connection: that one switches the file to WAL.
            migrations.check_file(self.path)
        if migrate:
            try:
                migrations.migrate(self)
            except BaseException:
                self.close()
                raise

    @property
    def engine(self) -> str:
        return self.dialect.name

    def error(self, exc: BaseException) -> StorageError:
        """The StorageError for a driver error; a connection it broke is dropped (the next call reconnects)."""
        error = self.dialect.storage_error(self.where, exc)
        self._drop_if_broken(gone=isinstance(error, DatabaseUnreachable))
        return error

    # -- connections -------------------------------------------------------
    def _connect(self):
        conn = None
        with self._all_lock:
            for thread in [t for t in self._all if not t.is_alive()]:
                old = self._all.pop(thread)
                if len(self._idle) < _IDLE_CONNECTIONS and not old.in_transaction and not self.dialect.broken(old):
                    self._idle.append(old)
                else:
                    self.dialect.close(old)
            while self._idle and conn is None:
                candidate = self._idle.pop()
                if self.dialect.broken(candidate):
                    self.dialect.close(candidate)
                else:
                    conn = candidate
        if conn is None:
            conn = self.dialect.connect(self.target, busy_timeout=self.busy_timeout,
                                        autocheckpoint=self.autocheckpoint)
        with self._all_lock:
            self._all[threading.current_thread()] = conn
        return conn

    @property
    def conn(self):
        """This thread's connection (SQLite: a sqlite3 connection; PostgreSQL: one that takes ``?`` too)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self.dialect.broken(conn):
            if conn is not None:
                self._forget(conn)
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _forget(self, conn) -> None:
        with self._all_lock:
            for thread, owned in list(self._all.items()):
                if owned is conn:
                    del self._all[thread]
        self.dialect.close(conn)
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None

    def _drop_if_broken(self, gone: bool = False) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and (gone or self.dialect.broken(conn)):
            self._forget(conn)

    def _gone(self, conn, exc: BaseException) -> bool:
        """Whether ``exc`` says the connection is no use any more (its server restarted, the line dropped)."""
        return self.dialect.broken(conn) or isinstance(self.dialect.storage_error(self.where, exc),
                                                        DatabaseUnreachable)

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = list(self._all.values()) + self._idle, {}
            self._idle = []
        for conn in conns:
            self.dialect.close(conn)
        self._local = threading.local()

    def checkpoint(self) -> None:
        """SQLite: fold the WAL back into the database file without blocking anyone."""
        if self.dialect is not SQLITE:
            return
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except self.dialect.driver_errors as exc:
            raise self.error(exc) from exc

    def quick_check(self, tables: Iterable[str]) -> None:
        """Raise DatabaseCorrupt when the engine's own check finds one of ``tables`` damaged
        (SQLite's quick check; PostgreSQL checks its pages itself and only needs to answer)."""
        if self.dialect is not SQLITE:
            self.scalar("SELECT 1")
            return
        for table in tables:
            rows = self.query(f"PRAGMA quick_check({_ident(table)})")
            problems = [next(iter(r.values())) for r in rows if next(iter(r.values())) != "ok"]
            if problems:
                raise DatabaseCorrupt(f"database {self.path} is corrupt (table {table}: {problems[0]});"
                                      f" it was left untouched - {recover_hint(self.path)}")

    def fenced(self, guard: Guard) -> "FencedDatabase":
        """This database with every write transaction first passing ``guard``."""
        return FencedDatabase(self, guard)

    # -- queries -----------------------------------------------------------
    def _run(self, sql: str, params: Any):
        """Execute a statement outside a transaction; once again on a fresh connection when the
        old one turns out to be broken (the server restarted since this thread last asked)."""
        conn = self.conn
        try:
            return conn.execute(sql, params)
        except self.dialect.driver_errors as exc:
            if conn.in_transaction or not self._gone(conn, exc):
                raise self.error(exc) from exc
            self._forget(conn)
        try:
            return self.conn.execute(sql, params)
        except self.dialect.driver_errors as exc:
            raise self.error(exc) from exc

    def query(self, sql: str, params: Any = ()) -> list[dict]:
        cur = self._run(sql, params)
        try:
            cols = [c[0] for c in cur.description or ()]
            return [dict(zip(cols, row)) for row in cur.fetchall()]
        except self.dialect.driver_errors as exc:
            raise self.error(exc) from exc

    def query_one(self, sql: str, params: Any = ()) -> dict | None:
        cur = self._run(sql, params)
        try:
            row = cur.fetchone()
        except self.dialect.driver_errors as exc:
            raise self.error(exc) from exc
        if row is None:
            return None
        return dict(zip([c[0] for c in cur.description], row))

    def scalar(self, sql: str, params: Any = ()) -> Any:
        cur = self._run(sql, params)
        try:
            row = cur.fetchone()
        except self.dialect.driver_errors as exc:
            raise self.error(exc) from exc
        return None if row is None else row[0]

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A read-only transaction: every read in it sees the database as of its first read."""
        conn = self.conn
        try:
            self.dialect.begin_snapshot(conn)
        except self.dialect.driver_errors as exc:
            raise self.error(exc) from exc
        try:
            yield Snapshot(self, conn)
        finally:
            self.dialect.rollback(conn)

    @contextmanager
    def write(self, guard: Guard | None = None) -> Iterator[Transaction]:
        """A write transaction (SQLite: taking the write lock up front).

        ``guard`` runs first inside the transaction and may refuse it by raising.
        A write inside another joins it.
        """
        conn = self.conn
        if conn.in_transaction:  # nested: join the outer transaction
            if guard is not None:
                guard(conn)
            yield Transaction(conn)
            return
        dialect = self.dialect
        with self._write_lock or contextlib.nullcontext():
            try:
                dialect.begin(conn, self.busy_timeout)
            except dialect.driver_errors as exc:
                if not self._gone(conn, exc):
                    raise self.error(exc) from exc
                # A connection the server dropped since this thread last used it: once more on a new one.
                self._forget(conn)
                conn = self.conn
                try:
                    dialect.begin(conn, self.busy_timeout)
                except dialect.driver_errors as exc2:
                    raise self.error(exc2) from exc2
            try:
                if guard is not None:
                    guard(conn)
                yield Transaction(conn)
            except BaseException as exc:
                dialect.rollback(conn)
                if isinstance(exc, dialect.driver_errors):
                    raise self.error(exc) from exc
                self._drop_if_broken()
                raise
            else:
                try:
                    dialect.commit(conn)
                except dialect.driver_errors as exc:  # disk full, I/O error, the server gone at commit
                    dialect.rollback(conn)
                    raise self.error(exc) from exc


class Snapshot:
    """Reads of one consistent snapshot of a database (see :meth:`Database.snapshot`)."""

    def __init__(self, database: "Database", conn) -> None:
        self.database = database
        self.conn = conn

    def columns(self, table: str) -> list[str]:
        return self.database.dialect.columns(self.conn, table)

    def batches(self, sql: str, size: int) -> Iterator[list[tuple]]:
        """The rows of ``sql`` in lists of up to ``size``, read as they are needed."""
        try:
            yield from self.database.dialect.stream(self.conn, sql, size)
        except self.database.dialect.driver_errors as exc:
            raise self.database.error(exc) from exc


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
    def write(self) -> Iterator[Transaction]:
        with self._base.write(guard=self._guard) as tx:
            yield tx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def open_database(settings, **kwargs) -> Database:
    """The database the settings name (PIPEDECK_DATABASE_URL), with their busy timeout."""
    kwargs.setdefault("busy_timeout", settings.busy_timeout)
    return Database(settings.database, **kwargs)
