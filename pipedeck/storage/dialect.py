"""The one place the two engines differ: SQLite (one machine) and PostgreSQL (a team).

Storage writes its SQL once, in the forms both engines read the same way:
``?`` and ``:name`` placeholders, ``INSERT ... ON CONFLICT ... DO NOTHING / DO UPDATE SET
c = excluded.c``, ``RETURNING``, ``lower(name)`` for case-insensitive names, ``CASE WHEN``
rather than summing booleans. What cannot be written once is a property or method of a
:class:`Dialect`, and nothing outside storage asks which engine it is on:

- placeholders: PostgreSQL's driver takes ``%s`` / ``%(name)s``; its connection translates;
- the database's clock (``now``), so leases and heartbeats are judged by one clock for every host;
- locking: SQLite writers take turns (``BEGIN IMMEDIATE``), so a read-check-write needs no row
  lock there; PostgreSQL transactions run side by side, so they lock the rows they check
  (``for_update``, ``for_share``, ``skip_locked``);
- null-safe comparison (``same``, ``differ``) and case-insensitive ``like``;
- connecting, beginning a write, telling a broken connection, and the driver's errors;
- schema bookkeeping (the version, our mark, the migration lock) and the DDL of each step.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pipedeck.errors import StorageError

if TYPE_CHECKING:
    from pipedeck.concepts.database_urls import DatabaseURL

# "pdk1": written into every pipedeck SQLite file's header, and the key of PostgreSQL's migration lock.
APPLICATION_ID = 0x70646B31
# The oldest SQLite whose SQL we use (RETURNING).
MIN_SQLITE = (3, 35, 0)


class Dialect:
    name: str
    # Writers of this process take turns on one lock (SQLite has one write lock per file).
    serial_writes: bool
    # The database's clock in unix seconds.
    now: str
    # Appended to a SELECT that reads rows a transaction will then change (read-check-write).
    for_update: str
    # Appended to a SELECT that checks a row another transaction must not change until this one commits.
    for_share: str
    # Appended to a SELECT of rows to work on that any one of several workers may take.
    skip_locked: str
    # Case-insensitive LIKE.
    like: str
    # Whether run text is searched through a side full-text table (SQLite's FTS5 trigram index;
    # PostgreSQL scans the runs' own columns instead).
    text_index: bool

    def whole(self, expr: str) -> str:
        """``expr`` (a non-negative number) truncated to a whole number."""
        raise NotImplementedError

    def same(self, a: str, b: str) -> str:
        """Null-safe equality: true when both are NULL."""
        raise NotImplementedError

    def differ(self, a: str, b: str) -> str:
        raise NotImplementedError

    # -- connections --------------------------------------------------------------------------
    def connect(self, target: "DatabaseURL", *, busy_timeout: float, autocheckpoint: int) -> Any:
        raise NotImplementedError

    def begin(self, conn: Any, busy_timeout: float) -> None:
        raise NotImplementedError

    def begin_snapshot(self, conn: Any) -> None:
        """A read-only transaction whose reads all see one snapshot."""
        conn.execute("BEGIN")

    def stream(self, conn: Any, sql: str, size: int):
        """The rows of ``sql`` in lists of up to ``size``, without holding them all in memory."""
        cur = conn.execute(sql)
        while rows := cur.fetchmany(size):
            yield rows

    def commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def rollback(self, conn: Any) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except self.driver_errors:
                pass  # the transaction is gone with the connection's state; nothing was committed

    def broken(self, conn: Any) -> bool:
        """True when ``conn`` can no longer be used (its server went away)."""
        return False

    def close(self, conn: Any) -> None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass

    driver_errors: tuple[type[BaseException], ...] = ()

    def storage_error(self, where: str, exc: BaseException) -> StorageError:
        raise NotImplementedError

    # -- what a database holds --------------------------------------------------------------
    def tables(self, conn: Any) -> list[str]:
        raise NotImplementedError

    def columns(self, conn: Any, table: str) -> list[str]:
        raise NotImplementedError

    def table_bytes(self, conn: Any, table: str) -> int | None:
        return None

    def reset_identity(self, conn: Any, table: str, column: str = "id") -> None:
        """After rows were inserted with explicit ids: new rows continue after the largest."""

    def after_bulk_load(self, conn: Any, tables: Iterable[str]) -> None:
        """Outside any transaction, after many rows were loaded at once (a copy, a seeded history):
        bring the planner's statistics up to date, where the engine keeps them by table."""

    # -- schema bookkeeping -------------------------------------------------------------------
    def schema_version(self, conn: Any) -> int:
        raise NotImplementedError

    def set_schema_version(self, conn: Any, version: int) -> None:
        raise NotImplementedError

    def marked(self, conn: Any) -> bool:
        raise NotImplementedError

    def mark(self, conn: Any) -> None:
        raise NotImplementedError

    def lock_schema(self, conn: Any) -> None:
        """Inside a write transaction: wait until no other process is migrating."""

    def step(self, number: int) -> Callable[[Any], None]:
        """The DDL of schema step ``number`` on this engine (SQLite's are the steps of migrations.MIGRATIONS)."""
        raise NotImplementedError


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ============================================================================================
# SQLite
# ============================================================================================
class SqliteConnection(sqlite3.Connection):
    """sqlite3's own connection, knowing its dialect (code holding only a connection asks it)."""

    dialect: "SqliteDialect"


class SqliteDialect(Dialect):
    name = "sqlite"
    serial_writes = True
    now = "((julianday('now') - 2440587.5) * 86400.0)"
    for_update = ""
    for_share = ""
    skip_locked = ""
    like = "LIKE"  # case-insensitive for ASCII already
    text_index = True
    driver_errors = (sqlite3.Error,)

    def whole(self, expr: str) -> str:
        return f"CAST({expr} AS INTEGER)"  # truncates

    def same(self, a: str, b: str) -> str:
        return f"{a} IS {b}"

    def differ(self, a: str, b: str) -> str:
        return f"{a} IS NOT {b}"

    def connect(self, target: "DatabaseURL", *, busy_timeout: float, autocheckpoint: int) -> SqliteConnection:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StorageError(f"pipedeck needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer; this Python has "
                               f"{sqlite3.sqlite_version}")
        try:
            # Autocommit: a statement outside write() commits at once instead of
            # silently opening a transaction that holds the write lock.
            conn = sqlite3.connect(str(target.path), timeout=busy_timeout, check_same_thread=False,
                                   isolation_level=None, factory=SqliteConnection)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            conn.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
        except sqlite3.Error as exc:
            raise self.storage_error(str(target.path), exc) from exc
        return conn

    def begin(self, conn: Any, busy_timeout: float) -> None:
        begin_write(conn, "BEGIN IMMEDIATE", busy_timeout)

    def storage_error(self, where: str, exc: BaseException) -> StorageError:
        from pipedeck.storage.errors import storage_error

        return storage_error(where, exc)

    # Introspection (db status, db copy) through sqlite-utils, which knows SQLite's catalog; the
    # hot paths write their SQL by hand (docs/architecture.md says which is which, and why).
    def tables(self, conn: Any) -> list[str]:
        return sorted(name for name in _sqlite_utils(conn).table_names() if not name.startswith("sqlite_"))

    def columns(self, conn: Any, table: str) -> list[str]:
        return list(_sqlite_utils(conn)[table].columns_dict)

    def schema_version(self, conn: Any) -> int:
        return conn.execute("PRAGMA user_version").fetchone()[0]

    def set_schema_version(self, conn: Any, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def marked(self, conn: Any) -> bool:
        return conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID

    def mark(self, conn: Any) -> None:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _sqlite_utils(conn: sqlite3.Connection):
    import sqlite_utils  # imported here: a listing's start-up never needs it

    return sqlite_utils.Database(conn, execute_plugins=False)


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


# ============================================================================================
# PostgreSQL
# ============================================================================================
# A string or quoted name (left alone), a placeholder, or a percent sign (doubled for the driver).
_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|\?|(?<![:\w]):([A-Za-z_]\w*)|%""")


@lru_cache(maxsize=2048)
def to_pyformat(sql: str) -> str:
    """``?`` and ``:name`` placeholders as psycopg's ``%s`` and ``%(name)s``."""

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if match.group(1):
            return f"%({match.group(1)})s"
        return token

    return _TOKEN.sub(replace, sql)


class PgConnection:
    """A psycopg connection that takes storage's SQL (``?`` placeholders) and answers like sqlite3's."""

    def __init__(self, raw, dialect: "PostgresDialect") -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Any = ()):
        cur = self.raw.cursor()
        if params:
            cur.execute(to_pyformat(sql), params)
        else:
            cur.execute(sql)
        return cur

    def executemany(self, sql: str, rows: Iterable):
        cur = self.raw.cursor()
        cur.executemany(to_pyformat(sql), list(rows))
        return cur

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        # UNKNOWN (a lost connection) is no transaction: nothing of it can commit any more.
        return self.raw.info.transaction_status in (TransactionStatus.ACTIVE, TransactionStatus.INTRANS,
                                                    TransactionStatus.INERROR)

    def close(self) -> None:
        self.raw.close()


def _number_loader():
    """Load PostgreSQL's numeric (what sum() of integers returns) as int or float, as SQLite gives them."""
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        def load(self, data):
            text = bytes(data).decode()
            try:
                return int(text)
            except ValueError:
                return float(text)

    return NumberLoader


class PostgresDialect(Dialect):
    name = "postgresql"
    serial_writes = False
    # double precision (extract() gives numeric); clock_timestamp(): the real time, not the transaction's start
    now = "date_part('epoch', clock_timestamp())"
    for_update = " FOR UPDATE"
    for_share = " FOR SHARE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    like = "ILIKE"
    text_index = False

    def whole(self, expr: str) -> str:
        return f"CAST(trunc({expr}) AS BIGINT)"  # a bare CAST rounds on PostgreSQL
    # What a connection needs to be (re)made; after this long a try counts as unreachable.
    connect_timeout = 10

    def __init__(self) -> None:
        self._loader = None
        self._lock = threading.Lock()

    @property
    def driver_errors(self):  # type: ignore[override]
        import psycopg

        return (psycopg.Error,)

    def same(self, a: str, b: str) -> str:
        return f"{a} IS NOT DISTINCT FROM {b}"

    def differ(self, a: str, b: str) -> str:
        return f"{a} IS DISTINCT FROM {b}"

    def connect(self, target: "DatabaseURL", *, busy_timeout: float, autocheckpoint: int) -> PgConnection:
        try:
            import psycopg
        except ImportError:
            raise StorageError("PIPEDECK_DATABASE_URL names PostgreSQL but psycopg is not installed: "
                               "pip install 'pipedeck[postgres]'") from None
        try:
            raw = psycopg.connect(
                target.url, autocommit=True, connect_timeout=self.connect_timeout, application_name="pipedeck",
                # A server that vanished (a cable, a crash) is noticed in about 25 s, not at the OS's 2 h.
                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                # A row lock held past the busy timeout is an error (DatabaseLocked), as on SQLite.
                options=f"-c lock_timeout={max(1, int(busy_timeout * 1000))}")
        except psycopg.Error as exc:
            raise self.storage_error(target.shown, exc) from None
        with self._lock:
            if self._loader is None:
                self._loader = _number_loader()
        raw.adapters.register_loader("numeric", self._loader)
        return PgConnection(raw, self)

    def begin(self, conn: Any, busy_timeout: float) -> None:
        conn.execute("BEGIN")

    def begin_snapshot(self, conn: Any) -> None:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def stream(self, conn: Any, sql: str, size: int):
        with conn.raw.cursor(name="pipedeck_stream") as cur:  # a server-side cursor: rows come as read
            cur.execute(sql)
            while rows := cur.fetchmany(size):
                yield rows

    def broken(self, conn: Any) -> bool:
        raw = conn.raw
        return raw.closed or raw.broken

    def storage_error(self, where: str, exc: BaseException) -> StorageError:
        from pipedeck.storage.errors import postgres_error

        return postgres_error(where, exc)

    def tables(self, conn: Any) -> list[str]:
        return [name for (name,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename").fetchall()]

    def columns(self, conn: Any, table: str) -> list[str]:
        return [name for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ? ORDER BY ordinal_position", (table,)).fetchall()]

    def table_bytes(self, conn: Any, table: str) -> int | None:
        return conn.execute("SELECT pg_total_relation_size(to_regclass(?))", (_ident(table),)).fetchone()[0]

    def after_bulk_load(self, conn: Any, tables: Iterable[str]) -> None:
        # Autovacuum would get there in its own time; until it does, a count of a million fresh rows
        # reads the heap (no visibility map yet, measured 140 ms -> 16 ms) and the planner guesses.
        for table in tables:
            conn.execute(f"VACUUM (ANALYZE) {_ident(table)}")

    def reset_identity(self, conn: Any, table: str, column: str = "id") -> None:
        sequence = conn.execute("SELECT pg_get_serial_sequence(?, ?)", (_ident(table), column)).fetchone()[0]
        if sequence is not None:  # an identity column (workers.id, a text, has none)
            conn.execute(f"SELECT setval(?, coalesce(max({_ident(column)}), 0) + 1, false) FROM {_ident(table)}",
                         (sequence,))

    def schema_version(self, conn: Any) -> int:
        if not self.marked(conn):
            return 0
        return conn.execute("SELECT version FROM pipedeck_schema").fetchone()[0]

    def set_schema_version(self, conn: Any, version: int) -> None:
        conn.execute("UPDATE pipedeck_schema SET version = ?", (int(version),))

    def marked(self, conn: Any) -> bool:
        return conn.execute("SELECT to_regclass('pipedeck_schema') IS NOT NULL").fetchone()[0]

    def mark(self, conn: Any) -> None:
        conn.execute("CREATE TABLE pipedeck_schema (application TEXT NOT NULL, version BIGINT NOT NULL)")
        conn.execute("INSERT INTO pipedeck_schema (application, version) VALUES ('pipedeck', 0)")

    def lock_schema(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (APPLICATION_ID,))

    def step(self, number: int) -> Callable[[Any], None]:
        from pipedeck.storage.schema_postgres import STEPS

        if number not in STEPS:
            raise StorageError(f"schema step {number} has no PostgreSQL DDL yet (pipedeck/storage/schema_postgres.py)")
        return STEPS[number]


SQLITE = SqliteDialect()
SqliteConnection.dialect = SQLITE
POSTGRES = PostgresDialect()


def dialect_for(target: "DatabaseURL") -> Dialect:
    return POSTGRES if target.engine == "postgresql" else SQLITE
